"""A local stand-in of the Telegram Bot API, served over real HTTP.

The real python-telegram-bot reaches it through ``base_url``, so end-to-end tests, benchmarks
and the sandbox exercise the library's own request, parsing and error paths. Tests push
updates, read what the bot sent and inject faults (errors, slowness, blocked users, flood
limits). State sits behind one lock: tests drive it from a thread other than the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import http
import itertools
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.sandbox.threaded import ThreadedServer
from bot.sandbox.waiting import poll_until

# Form posts carry every value as a string; these are decoded back to what Telegram sees.
JSON_FIELDS = frozenset(
    {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope"}
    | {"link_preview_options", "reply_parameters"}
)
INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"})
BOOL_FIELDS = frozenset({"show_alert", "drop_pending_updates", "disable_notification"})
LIMITED_METHODS = frozenset({"sendMessage", "editMessageText", "sendPhoto", "sendDocument"})
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = "Conflict: can't use getUpdates method while webhook is active"
BLOCKED = "Forbidden: bot was blocked by the user"

Call = tuple[str, dict[str, Any], float]


class ApiError(Exception):
    """An ``ok: false`` answer; raised inside method handlers to keep them linear."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": self.status}
        body["description"] = self.description
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return JSONResponse(body, status_code=self.status)


def _coerce(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    elif name in INT_FIELDS:
        with contextlib.suppress(ValueError):
            return int(value)
    elif name in BOOL_FIELDS:
        return value.lower() == "true"
    return value


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """Split a multipart body into fields and uploads (stdlib only: no python-multipart)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode()
        else:
            mime = part.get_content_type()
            files[name] = {"file_name": filename, "file_size": len(payload), "mime_type": mime}
    return fields, files


async def _read_params(request: Request) -> dict[str, Any]:
    """Read JSON, url-encoded or multipart parameters; uploads become {file_name, file_size}."""
    raw: dict[str, Any] = dict(request.query_params)
    files: dict[str, Any] = {}
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if body and content_type.startswith("application/json"):
            raw.update(json.loads(body))
        elif body and content_type.startswith("multipart/form-data"):
            fields, files = _parse_multipart(content_type, body)
            raw.update(fields)
        elif body:
            raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    except ValueError as err:
        raise ApiError(400, f"Bad Request: can't parse request: {err}") from err
    params = {k: _coerce(k, v) if isinstance(v, str) else v for k, v in raw.items()}
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = files.pop(value.removeprefix("attach://"), value)
    params.update(files)  # parts named after the parameter itself
    return params


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class FakeTelegram:
    """State and ASGI app of a fake Bot API; ``self.app`` serves ``/bot{token}/{method}``."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "churnbot_test_bot",
        bot_first_name: str = "Churnbot",
    ) -> None:
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        # RLock: predicates given to wait_for call back into the locked accessors.
        self._cond = threading.Condition(threading.RLock())
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._open_queries: set[str] = set()
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}  # the bot's, in send order
        self._last_message_id: dict[int, int] = {}
        self._chat_names: dict[int, str] = {}
        self._calls: list[Call] = []
        self._answers: list[dict[str, Any]] = []
        self._failures: dict[str, deque[ApiError]] = {}
        self._delays: dict[str, float] = {}
        self._blocked: set[int] = set()
        self._limits: tuple[int, int] | None = None
        self._window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = {}
        self._count_429 = 0
        self._webhook_url = ""
        self._commands: dict[str, list[Any]] = {}
        self._poll_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._poll_epoch = 0
        handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda _: dict(self.bot_user),
            "getUpdates": lambda _: None,  # answered asynchronously by _get_updates
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda p: self._commands.get(self._commands_key(p), []),
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": lambda p: bool(self._chat_id(p)),
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "close": lambda _: True,
            "logOut": lambda _: True,
        }
        self._methods = {name.lower(): (name, fn) for name, fn in handlers.items()}
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )

    # --- HTTP ---------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        entry = self._methods.get(request.path_params["method"].lower())
        if entry is None:
            return ApiError(404, "Not Found").response()
        name, handler = entry
        try:
            params = await _read_params(request)
            with self._cond:
                self._calls.append((name, params, time.time()))
                try:
                    self._check_faults(name, params)
                    result = handler(params)
                finally:
                    self._cond.notify_all()
            if name == "getUpdates":
                result = await self._get_updates(params)
            response = JSONResponse({"ok": True, "result": result})
        except ApiError as err:
            response = err.response()
        # The effect has happened already: a slow answer, like Telegram's that a client may
        # give up on after the message was delivered.
        with self._cond:
            delay = self._delays.get(name, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    async def _file_endpoint(self, request: Request) -> JSONResponse:
        return ApiError(404, "Not Found").response()

    def _check_faults(self, name: str, params: dict[str, Any]) -> None:
        queued = self._failures.get(name)
        if queued:
            raise queued.popleft()
        chat_id = params.get("chat_id")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if self._limits is not None and name in LIMITED_METHODS:
            self._check_limits(chat_id)

    def _check_limits(self, chat_id: Any) -> None:
        """Sliding one-second windows, global and per chat, as Telegram's flood control."""
        now = time.monotonic()
        assert self._limits is not None
        chat_window = self._chat_windows.setdefault(chat_id, deque())
        for window, limit in zip((self._window, chat_window), self._limits, strict=True):
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                self._count_429 += 1
                retry_after = max(1, math.ceil(1.0 - (now - window[0])))
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._window.append(now)
        chat_window.append(now)

    # --- Bot API methods (called with the lock held) -------------------------------------

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Long-poll without blocking the server's loop: pushes resolve a future on it."""
        loop = asyncio.get_running_loop()
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = loop.time() + float(params.get("timeout") or 0)
        with self._cond:
            if self._webhook_url:
                raise ApiError(409, WEBHOOK_ACTIVE)
            epoch = self._poll_epoch
        while True:
            with self._cond:
                if offset is not None:
                    self._confirm(int(offset))
                remaining = deadline - loop.time()
                if self._updates or remaining <= 0 or epoch != self._poll_epoch:
                    return copy.deepcopy(self._updates[:limit])
                entry = (loop, loop.create_future())
                self._poll_waiters.append(entry)
            try:
                async with asyncio.timeout(remaining):
                    await entry[1]
            except TimeoutError:
                pass
            finally:
                with self._cond, contextlib.suppress(ValueError):
                    self._poll_waiters.remove(entry)

    def _confirm(self, offset: int) -> None:
        before = len(self._updates)
        if offset < 0:
            self._updates = self._updates[offset:]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if len(self._updates) != before:
            self._cond.notify_all()

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = ""
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook_url = str(params.get("url") or "")
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _next_message_id(self, chat_id: int) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return {
            "id": chat_id,
            "type": "private",
            "first_name": self._chat_names.get(chat_id, "Ann"),
        }

    @staticmethod
    def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
        """Return the inline keyboard Telegram would echo; reject oversized callback data."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                if len(str(button.get("callback_data", "")).encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        markup = self._inline_markup(params)
        message = {
            "message_id": self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": dict(self.bot_user),
            **{k: v for k, v in content.items() if v is not None},
        }
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._new_message(params, text=text, entities=params.get("entities"))

    def _upload(self, params: dict[str, Any], field: str) -> dict[str, Any]:
        sent = params.get(field)
        if not sent:
            raise ApiError(400, f"Bad Request: there is no {field} in the request")
        n = len(self._calls)
        info = sent if isinstance(sent, dict) else {}
        return {"file_id": f"{field}-{n}", "file_unique_id": f"u{field}-{n}", **info}

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(params, "photo")
        size = {k: upload[k] for k in ("file_id", "file_unique_id", "file_size") if k in upload}
        photo = [{**size, "width": 800, "height": 600}]
        return self._new_message(params, photo=photo, caption=params.get("caption"))

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        document = self._upload(params, "document")
        return self._new_message(params, document=document, caption=params.get("caption"))

    def _stored(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        message = self._messages.get((self._chat_id(params), params.get("message_id")))
        if message is None:
            raise ApiError(400, f"Bad Request: {missing}")
        return message

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True
        message = self._stored(params, "message to edit not found")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, markup = str(params.get("text") or ""), self._inline_markup(params)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        new = {"text": text, "entities": params.get("entities"), "reply_markup": markup}
        if all(message.get(k) == v for k, v in new.items()):
            raise ApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, new)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if "inline_message_id" in params:
            return True
        message = self._stored(params, "message to edit not found")
        markup = self._inline_markup(params)
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        return self._apply_edit(message, {"reply_markup": markup})

    @staticmethod
    def _apply_edit(message: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        # Omitted fields are removed, as Telegram drops a keyboard not sent with an edit.
        for key, value in new.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        message = self._stored(params, "message to delete not found")
        del self._messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        if str(params.get("callback_query_id")) not in self._open_queries:
            raise ApiError(400, QUERY_TOO_OLD)
        self._answers.append(params)
        return True

    # --- test side: updates --------------------------------------------------------------

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }

    def _enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        self._wake_polls()
        self._cond.notify_all()
        return copy.deepcopy(update)

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Ann",
        language_code: str = "en",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a user's text message; a leading /command gets its bot_command entity."""
        with self._cond:
            self._chat_names[chat_id] = first_name
            user_id = chat_id if user_id is None else user_id
            user = self._user(user_id, first_name, language_code)
            message: dict[str, Any] = {
                "message_id": self._next_message_id(chat_id),
                "date": int(time.time()),
                "chat": self._chat(chat_id),
                "from": user,
                "text": text,
            }
            if text.startswith("/"):
                length = _utf16_len(text.split(maxsplit=1)[0])
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
            return self._enqueue({"message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        language_code: str = "en",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent; ``data`` may be anything (forged)."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                raise LookupError(f"the bot has no message {message_id} in chat {chat_id}")
            query_id = f"{self.bot_user['id']}{next(self._query_ids):08d}"
            self._open_queries.add(query_id)
            user_id = chat_id if user_id is None else user_id
            first_name = self._chat_names.get(chat_id, "Ann")
            query = {
                "id": query_id,
                "from": self._user(user_id, first_name, language_code),
                "message": copy.deepcopy(message),
                "chat_instance": f"{chat_id}{self.bot_user['id']}",
                "data": data,
            }
            return self._enqueue({"callback_query": query})

    def expire_callback_queries(self) -> None:
        """Forget every open callback query, as Telegram does after a while: answering one
        now gets 400 "query is too old" (what a redelivered button update meets)."""
        with self._cond:
            self._open_queries.clear()

    def pending_updates(self) -> int:
        """Count the updates queued and not yet confirmed by an offset."""
        with self._cond:
            return len(self._updates)

    def release_polls(self) -> None:
        """Answer every waiting getUpdates now, so a server can stop without waiting them out."""
        with self._cond:
            self._poll_epoch += 1
            self._wake_polls()

    def _wake_polls(self) -> None:
        for loop, waiter in self._poll_waiters:
            with contextlib.suppress(RuntimeError):  # that server's loop is already closed
                loop.call_soon_threadsafe(_resolve, waiter)
        self._poll_waiters.clear()

    # --- test side: what the bot did ------------------------------------------------------

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The bot's messages as they stand now (edits applied, deleted ones gone)."""
        with self._cond:
            return [
                copy.deepcopy(m)
                for (cid, _), m in self._messages.items()
                if chat_id is None or cid == chat_id
            ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """One of the bot's messages as it stands now; a dictionary look-up, so a script
        driving thousands of chats can poll it (`sent_messages` scans every message)."""
        with self._cond:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found is not None else None

    def calls(self, method: str | None = None) -> list[Call]:
        """Every request with the right token, failed ones included, as (method, params, time)."""
        with self._cond:
            return [copy.deepcopy(c) for c in self._calls if method is None or c[0] == method]

    def call_count(self, method: str | None = None) -> int:
        """Count calls without copying them: cheap enough for predicates polled in benchmarks."""
        with self._cond:
            return sum(method is None or c[0] == method for c in self._calls)

    def callback_answers(self) -> list[dict[str, Any]]:
        """Parameters of the successful answerCallbackQuery calls."""
        with self._cond:
            return copy.deepcopy(self._answers)

    @property
    def count_429(self) -> int:
        with self._cond:
            return self._count_429

    def dump(self, last: int = 20) -> str:
        """Describe the recent traffic, for assertion messages."""
        with self._cond:
            lines = [f"pending updates: {len(self._updates)}", f"last {last} calls:"]
            for method, params, _ in self._calls[-last:]:
                lines.append(f"  {method} {json.dumps(params, default=str)[:200]}")
            lines.append("sent messages:")
            for (chat_id, message_id), message in self._messages.items():
                shown = message.get("text", message.get("caption"))
                lines.append(f"  chat {chat_id} #{message_id}: {shown!r}")
            return "\n".join(lines)

    def wait_for(self, predicate: Callable[[FakeTelegram], bool], timeout: float = 10.0) -> None:
        """Block this thread until ``predicate(fake)`` holds; never call it on the bot's loop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not true within {timeout}s\n{self.dump()}")
                self._cond.wait(remaining)

    # A timeout parameter (not asyncio.timeout around the call) so the failure can show the dump.
    async def async_wait_for(
        self,
        predicate: Callable[[FakeTelegram], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Poll ``predicate(fake)`` with asyncio.sleep, leaving a bot on this loop free to run."""
        await poll_until(self._cond, lambda: predicate(self), self.dump, timeout)

    def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot has ``count`` messages in the chat; return them all."""
        self.wait_for(lambda fake: len(fake.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    async def async_wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """The async twin of wait_for_messages."""
        await self.async_wait_for(lambda fake: len(fake.sent_messages(chat_id)) >= count, timeout)
        return self.sent_messages(chat_id)

    # --- test side: faults ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail; nothing else of them happens."""
        if description is None:
            description = http.HTTPStatus(status).phrase
            if retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        with self._cond:
            queued = self._failures.setdefault(method, deque())
            queued.extend(ApiError(status, description, retry_after) for _ in range(count))

    def set_delay(self, method: str, seconds: float) -> None:
        """Answer ``method`` ``seconds`` late (0 to stop); the call still takes effect at once."""
        with self._cond:
            self._delays[method] = seconds

    def block_chat(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.discard(chat_id)

    def enforce_limits(self, global_per_second: int = 30, per_chat_per_second: int = 1) -> None:
        """Answer 429 with retry_after beyond these rates of sends and edits."""
        with self._cond:
            self._limits = (global_per_second, per_chat_per_second)
            self._window.clear()
            self._chat_windows.clear()

    def limits_off(self) -> None:
        with self._cond:
            self._limits = None


class TelegramServer:
    """Serve a FakeTelegram with uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, fake: FakeTelegram | None = None, *, port: int = 0) -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self._serving = ThreadedServer(self.fake.app, name="telegram-standin", port=port)

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self, timeout: float = 10.0) -> TelegramServer:
        self._serving.start(timeout)
        return self

    def stop(self) -> None:
        self.fake.release_polls()
        self._serving.stop()

    def __enter__(self) -> TelegramServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
