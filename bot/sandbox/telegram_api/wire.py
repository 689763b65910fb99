"""The Bot API's wire format: how parameters arrive and how an error is answered."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

# Form posts carry every value as a string; these are decoded back to what Telegram sees.
JSON_FIELDS = frozenset(
    {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope"}
    | {"link_preview_options", "reply_parameters"}
)
INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"})
BOOL_FIELDS = frozenset({"show_alert", "drop_pending_updates", "disable_notification"})


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


def coerce(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    elif name in INT_FIELDS:
        with contextlib.suppress(ValueError):
            return int(value)
    elif name in BOOL_FIELDS:
        return value.lower() == "true"
    return value


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """Split a multipart body into fields and uploads (stdlib only: no python-multipart)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, Any] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode()
        else:
            mime = part.get_content_type()
            files[name] = {"file_name": filename, "file_size": len(payload), "mime_type": mime}
    return fields, files


async def read_params(request: Request) -> dict[str, Any]:
    """Read JSON, url-encoded or multipart parameters; uploads become {file_name, file_size}."""
    raw: dict[str, Any] = dict(request.query_params)
    files: dict[str, Any] = {}
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if body and content_type.startswith("application/json"):
            raw.update(json.loads(body))
        elif body and content_type.startswith("multipart/form-data"):
            fields, files = parse_multipart(content_type, body)
            raw.update(fields)
        elif body:
            raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    except ValueError as err:
        raise ApiError(400, f"Bad Request: can't parse request: {err}") from err
    params = {k: coerce(k, v) if isinstance(v, str) else v for k, v in raw.items()}
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = files.pop(value.removeprefix("attach://"), value)
    params.update(files)  # parts named after the parameter itself
    return params


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
