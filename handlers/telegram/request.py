"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

PTB's `HTTPXRequest` costs about 1.3 ms of CPU per Bot API call (httpx, httpcore and h11
are pure Python); aiohttp parses HTTP in C and measured about three times cheaper per
`send_message` against the local stand-in (docs/benchmarks.md). This class keeps
`HTTPXRequest`'s contract: the same defaults and per-call timeouts (pool, connect, write,
read; uploads get the media write timeout), timeouts raised as `TimedOut` and every other
transport failure as `NetworkError`, with the library's exception as `__cause__`.

Whether a failed request may have reached Telegram matters to delivery (a send that may
have arrived is never repeated), so failures that certainly happened before anything was
sent carry a `RequestNotSent` cause: waiting for a pooled connection, connecting, or being
refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)
# Bodies are written in slices of this size, each within the write timeout.
WRITE_SLICE = 64 * 1024


class RequestNotSent(Exception):
    """The cause of a `TimedOut` or `NetworkError` raised before any byte left."""


class _WriteTimeout(TimeoutError):
    """A slice of the request body could not be written within the write timeout."""


class _TimedBody(BytesPayload):
    """A request body written slice by slice, each slice within `timeout` seconds
    (aiohttp itself has no write timeout: its read timeout starts after the body)."""

    def __init__(self, value: bytes, timeout: float | None, **kwargs: Any) -> None:
        super().__init__(value, **kwargs)
        self._write_timeout = timeout

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        body = memoryview(self._value)
        if content_length is not None:
            body = body[:content_length]
        for start in range(0, len(body), WRITE_SLICE):
            try:
                async with asyncio.timeout(self._write_timeout):
                    await writer.write(body[start : start + WRITE_SLICE])
            except TimeoutError as error:
                raise _WriteTimeout("timed out writing the request body") from error


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on aiohttp, with `HTTPXRequest`'s defaults and error mapping."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        # Waiting for a free connection is ours, not aiohttp's, so that it has its own
        # timeout as in httpx (aiohttp counts it in the connect timeout).
        self._pool: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the connection pool (it must be created inside the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                # Telegram's answers are JSON: no cookie jar, no automatic decompression.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
            )
            self._pool = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        """Close the connection pool."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return the status code and the body.

        A timeout PTB leaves at `BaseRequest.DEFAULT_NONE` (its documented "not passed")
        takes this transport's default."""
        session, pool = self._session, self._pool
        if session is None or session.closed or pool is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _timeout(read_timeout, self._read_timeout)
        connect = _timeout(connect_timeout, self._connect_timeout)
        in_pool = _timeout(pool_timeout, self._pool_timeout)
        write = _timeout(
            write_timeout, self._media_write_timeout if files else self._write_timeout
        )
        body, content_type = await _encode(request_data, files)
        headers = {"User-Agent": self.USER_AGENT}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            async with asyncio.timeout(in_pool):
                await pool.acquire()
        except TimeoutError as error:
            raise TimedOut(message=POOL_TIMEOUT_MESSAGE) from RequestNotSent(str(error))
        try:
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)
            data = None if body is None else _TimedBody(body, write)
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise TimedOut from _not_sent(error)
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise TimedOut from error
        except aiohttp.ClientConnectorError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from _not_sent(error)
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        finally:
            pool.release()


def _timeout(value: object, default: float | None) -> float | None:
    """A per-call timeout in seconds (None: no limit), or `default` for PTB's "not passed"
    marker (`BaseRequest.DEFAULT_NONE`; any non-number is taken as that marker)."""
    if value is None or isinstance(value, int | float):
        return value
    return default


def _not_sent(error: Exception) -> RequestNotSent:
    cause = RequestNotSent(f"{type(error).__name__}: {error}")
    cause.__cause__ = error
    return cause


async def _encode(
    request_data: RequestData | None, files: dict[str, Any] | None
) -> tuple[bytes | None, str | None]:
    """The body as httpx would send it: form fields url-encoded, or multipart with files."""
    if request_data is None:
        return None, None
    if not files:
        parameters = request_data.json_parameters
        if not parameters:
            return None, None
        return request_data.url_encoded_parameters().encode(), "application/x-www-form-urlencoded"
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, upload in files.items():
        if isinstance(upload, tuple):
            file_name, content, *rest = upload
            mime = rest[0] if rest else None
            form.add_field(name, content, filename=file_name, content_type=mime)
        else:
            form.add_field(name, upload)
    payload = form()
    return await payload.as_bytes(), payload.content_type
