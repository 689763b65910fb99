"""A local stand-in of the Slack Web API (and of response_url), served over real HTTP.

The real slack_sdk AsyncWebClient reaches it through ``base_url=server.api_url``; bolt's
``respond()`` reaches it through the ``response_url`` put in a slash command. Tests and the
sandbox (bot/sandbox) both use it; ``feed()`` is what a person in the channel would see.
It records every call, answers like Slack (HTTP 200 with ``ok``), and injects faults:
429 with Retry-After, 500. State sits behind one lock: tests read it from another thread.

Socket Mode: ``apps.connections.open`` (with the app token) hands out a WebSocket URL of
this server; ``push_envelope()`` sends an event over it as Slack would, and ``acks()`` holds
what the app sent back (WebSockets need uvicorn's ``websockets`` extra, a dev dependency).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.sandbox.threaded import ThreadedServer
from bot.sandbox.waiting import poll_until

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
JSON_FIELDS = frozenset({"blocks", "attachments", "files", "metadata"})

SlackCall = tuple[str, dict[str, Any]]


class FakeSlack:
    """State and ASGI app; ``/api/{method}``, ``/upload/{file_id}``, ``/respond/{key}``."""

    def __init__(
        self, token: str = TOKEN, *, bot_user_id: str = "UBOT", app_token: str = APP_TOKEN
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.base = ""  # set by the server once the port is known
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[SlackCall] = []
        self._messages: list[dict[str, Any]] = []
        self._uploads: dict[str, dict[str, Any]] = {}
        self._responses: list[tuple[str, dict[str, Any]]] = []
        self._failures: dict[str, deque[tuple[int, int | None]]] = {}
        self._delays: dict[str, float] = {}
        self._ts = itertools.count(100)
        self._file_ids = itertools.count(1)
        # (kind, key) in arrival order: the sandbox page shows posts, answers and files in turn.
        self._timeline: list[tuple[str, Any]] = []
        self._notes: list[dict[str, Any]] = []
        self._envelopes: deque[dict[str, Any]] = deque()  # waiting to go out over the socket
        self._acks: list[dict[str, Any]] = []
        self._envelope_ids = itertools.count(1)
        self._sockets = 0
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.update": self._update,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
                Route("/respond/{key}", self._respond, methods=["POST"]),
                WebSocketRoute("/socket", self._socket),
            ]
        )

    # --- HTTP ---------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await self._params(request)
        with self._cond:
            self._calls.append((method, params))
            self._cond.notify_all()
            failure = self._failures.get(method)
            fault = failure.popleft() if failure else None
            delay = self._delays.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            error = "ratelimited" if status == 429 else "internal_error"
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        authorization = request.headers.get("authorization", "")
        if method == "apps.connections.open":
            if authorization != f"Bearer {self.app_token}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            return JSONResponse(
                {"ok": True, "url": self.base.replace("http", "ws", 1) + "/socket"}
            )
        if authorization != f"Bearer {self.token}" and params.get("token") != self.token:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        handler = self._methods.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"}, status_code=404)
        with self._cond:
            try:
                result = handler(params)
            finally:
                self._cond.notify_all()
        return JSONResponse(result)

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params.update(json.loads(body or b"{}"))
        elif body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        for key in JSON_FIELDS & params.keys():
            if isinstance(params[key], str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    async def _upload(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        body = await request.body()
        with self._cond:
            self._calls.append(("upload", {"file_id": file_id, "size": len(body)}))
            entry = self._uploads.get(file_id)
            if entry is None:
                return PlainTextResponse("unknown upload", status_code=404)
            entry["content"] = body
            self._cond.notify_all()
        return PlainTextResponse(f"OK - {len(body)}")

    async def _respond(self, request: Request) -> Response:
        payload = json.loads(await request.body() or b"{}")
        with self._cond:
            self._responses.append((request.path_params["key"], payload))
            self._timeline.append(("response", len(self._responses) - 1))
            self._cond.notify_all()
        return PlainTextResponse("ok")

    async def _socket(self, websocket: WebSocket) -> None:
        """One Socket Mode connection: hello, then queued envelopes out and acks in."""
        await websocket.accept()
        await websocket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}}
        )
        with self._cond:
            self._sockets += 1
            self._cond.notify_all()
        sending = asyncio.create_task(self._send_envelopes(websocket))
        try:
            while True:
                ack = json.loads(await websocket.receive_text())
                with self._cond:
                    self._acks.append(ack)
                    self._cond.notify_all()
        except WebSocketDisconnect:
            pass
        finally:
            sending.cancel()
            with self._cond:
                self._sockets -= 1
                self._cond.notify_all()

    async def _send_envelopes(self, websocket: WebSocket) -> None:
        while True:
            with self._cond:
                envelope = self._envelopes.popleft() if self._envelopes else None
            if envelope is None:
                await asyncio.sleep(0.02)
            else:
                await websocket.send_json(envelope)

    # --- Web API methods (lock held) ------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "churnbot",
            "team_id": "T0TEST",
            "user_id": self.bot_user_id,
            "bot_id": "B0TEST",
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        message = {
            "channel": channel,
            "ts": self._next_ts(),
            "text": params.get("text"),
            "blocks": params.get("blocks") or [],
            "thread_ts": params.get("thread_ts"),
        }
        self._messages.append(message)
        self._timeline.append(("message", len(self._messages) - 1))
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        message = {**self._post_message(params), "user": params.get("user"), "ephemeral": True}
        return {"ok": True, "message_ts": message.get("ts")}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        for message in self._messages:
            if message["channel"] == params.get("channel") and message["ts"] == params.get("ts"):
                message["text"] = params.get("text")
                message["blocks"] = params.get("blocks") or []
                return {"ok": True, "channel": message["channel"], "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not params.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):06d}"
        self._uploads[file_id] = {
            "filename": params["filename"],
            "length": int(params["length"]),
            "content": None,
            "completed": False,
        }
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files") or []
        done = []
        for item in files:
            entry = self._uploads.get(item.get("id"))
            if entry is None or entry["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            entry.update(
                completed=True,
                title=item.get("title"),
                channel=params.get("channel_id"),
                thread_ts=params.get("thread_ts"),
            )
            done.append({"id": item["id"], "title": item.get("title")})
            self._timeline.append(("file", item["id"]))
        return {"ok": True, "files": done}

    # --- test side ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        with self._cond:
            return [copy.deepcopy(c) for c in self._calls if method is None or c[0] == method]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in self._messages
                if channel is None or m["channel"] == channel
            ]

    def uploads(self, completed_only: bool = True) -> list[dict[str, Any]]:
        with self._cond:
            return [
                copy.deepcopy(u)
                for u in self._uploads.values()
                if u["completed"] or not completed_only
            ]

    def responses(self, key: str | None = None) -> list[dict[str, Any]]:
        """What bolt's respond() sent to ``{server.base}/respond/{key}``."""
        with self._cond:
            return [copy.deepcopy(p) for k, p in self._responses if key is None or k == key]

    def feed(self) -> list[dict[str, Any]]:
        """Posts, command answers and uploaded files in arrival order, as they stand now."""
        with self._cond:
            entries: list[dict[str, Any]] = []
            for kind, key in self._timeline:
                if kind == "message":
                    entry = {"kind": kind, **copy.deepcopy(self._messages[key])}
                elif kind == "response":
                    name, payload = self._responses[key]
                    entry = {"kind": kind, "key": name, **copy.deepcopy(payload)}
                elif kind == "note":
                    entry = {"kind": kind, **copy.deepcopy(self._notes[key])}
                else:
                    upload = self._uploads[key]
                    entry = {"kind": kind, "file_id": key}
                    entry |= {k: v for k, v in upload.items() if k != "content"}
                entries.append(entry)
            return entries

    def add_note(self, **entry: Any) -> None:
        """Add something no API call made (a manager's typed command) to the feed."""
        with self._cond:
            self._notes.append(entry)
            self._timeline.append(("note", len(self._notes) - 1))
            self._cond.notify_all()

    def upload_content(self, file_id: str) -> bytes | None:
        """The bytes of an uploaded file, or None."""
        with self._cond:
            entry = self._uploads.get(file_id)
            return None if entry is None else entry["content"]

    def push_envelope(self, kind: str, payload: dict[str, Any]) -> str:
        """Queue a Socket Mode envelope (``slash_commands``, ``interactive``, ``events_api``)
        for the connected app; return its envelope id."""
        envelope_id = f"envelope-{next(self._envelope_ids)}"
        with self._cond:
            self._envelopes.append(
                {
                    "envelope_id": envelope_id,
                    "type": kind,
                    "accepts_response_payload": kind != "events_api",
                    "payload": payload,
                }
            )
        return envelope_id

    def acks(self, envelope_id: str | None = None) -> list[dict[str, Any]]:
        """What the app sent back over the socket, optionally for one envelope."""
        with self._cond:
            return [
                copy.deepcopy(ack)
                for ack in self._acks
                if envelope_id is None or ack.get("envelope_id") == envelope_id
            ]

    def socket_connections(self) -> int:
        with self._cond:
            return self._sockets

    def fail_next(
        self, method: str, *, status: int = 500, retry_after: int | None = None, count: int = 1
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an HTTP error; nothing happens."""
        with self._cond:
            self._failures.setdefault(method, deque()).extend([(status, retry_after)] * count)

    def set_delay(self, method: str, seconds: float) -> None:
        with self._cond:
            self._delays[method] = seconds

    def dump(self) -> str:
        with self._cond:
            lines = [f"{method} {json.dumps(params)[:200]}" for method, params in self._calls]
            lines += [f"response {key} {json.dumps(p)[:200]}" for key, p in self._responses]
            return "\n".join(lines[-30:])

    async def async_wait_for(
        self,
        predicate: Callable[[FakeSlack], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Poll ``predicate(fake)`` with asyncio.sleep, leaving the loop free for the bot."""
        await poll_until(self._cond, lambda: predicate(self), self.dump, timeout)


class SlackServer:
    """Serve a FakeSlack with uvicorn on 127.0.0.1 from a background thread."""

    def __init__(self, fake: FakeSlack | None = None) -> None:
        self.fake = fake if fake is not None else FakeSlack()
        self._serving = ThreadedServer(self.fake.app, name="slack-standin")

    @property
    def port(self) -> int:
        return self._serving.port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_BASE_URL would be (slack_sdk wants the trailing slash)."""
        return f"{self.base}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.base}/respond/{key}"

    def start(self, timeout: float = 10.0) -> SlackServer:
        self._serving.start(timeout)
        self.fake.base = self.base
        return self

    def stop(self) -> None:
        self._serving.stop()

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def signed_headers(secret: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a request Slack signed with `secret` (v0 HMAC-SHA256 of "v0:ts:body")."""
    from slack_sdk.signature import SignatureVerifier

    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
