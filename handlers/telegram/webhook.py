"""Telegram webhook mode: updates arrive on our HTTP server instead of by polling."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(configured: str | None, secret: bytes) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from SECRET_KEY (Telegram allows
    1-256 characters of A-Z, a-z, 0-9, _ and -)."""
    if configured:
        return configured
    return hmac.new(secret, b"telegram-webhook", hashlib.sha256).hexdigest()


def webhook_path(secret_token: str) -> str:
    """An unguessable path, so stray scanners never reach the secret check."""
    return "/telegram/" + hashlib.sha256(secret_token.encode()).hexdigest()[:24]


def routes(
    application: Application[Any, Any, Any, Any, Any, Any], secret_token: str
) -> list[Route]:
    async def receive(request: Request) -> Response:
        """Check Telegram's secret header, then queue the update for the handlers."""
        supplied = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(supplied.encode(), secret_token.encode()):
            return JSONResponse({"error": "wrong secret token"}, status_code=403)
        try:
            parsed = json.loads(await request.body())
            if not isinstance(parsed, dict) or not isinstance(parsed.get("update_id"), int):
                raise ValueError("not an object with an integer update_id")
            update = Update.de_json(parsed, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            # Only what the secret holder sent can get here; still a 400, never a 500.
            log.warning("malformed webhook update: %s", type(error).__name__)
            return JSONResponse({"error": "malformed update"}, status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return [Route(webhook_path(secret_token), receive, methods=["POST"])]
