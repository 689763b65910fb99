"""`POST /api/events`: the business's billing and helpdesk systems report events here.

Every string of the body passes `surveys.inbound.clean_json` (NUL removed, the same text on
SQLite and PostgreSQL); nesting, non-finite numbers and out-of-range values get a 400
naming the field, never a 500.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from surveys import events
from surveys.inbound import MAX_JSON_DEPTH, UnacceptableJson, clean_json
from surveys.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 1000

# Hears of each event handled: its type and whether it was new (True) or a duplicate.
OnEvent = Callable[[str, bool], None]


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def routes(services: Services, *, token: str | None, on_event: OnEvent) -> list[Route]:
    """The events endpoint, open to callers bearing `token` (disabled without one)."""

    async def receive_events(request: Request) -> JSONResponse:
        """Validate the whole body, then record every event in one transaction."""
        if not token:
            return _error(503, "the events API is disabled: set EVENTS_API_TOKEN")
        supplied = request.headers.get("authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            return _error(401, "missing or wrong bearer token")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"body over {MAX_BODY_BYTES} bytes")
        try:
            parsed = clean_json(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return _error(400, f"malformed JSON: {error}")
        except RecursionError:
            # json's C parser gives up on very deep nesting before we can count it.
            return _error(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        except UnacceptableJson as error:
            return _error(400, str(error), field=error.field or None)
        batch = parsed if isinstance(parsed, list) else [parsed]
        if not batch:
            return _error(400, "no events in the body")
        if len(batch) > MAX_BATCH:
            return _error(400, f"at most {MAX_BATCH} events per request")
        now = services.clock()
        try:
            inputs = [
                events.parse_event(
                    raw, now=now, where=f"[{index}]." if isinstance(parsed, list) else ""
                )
                for index, raw in enumerate(batch)
            ]
        except events.EventError as error:
            message = str(error)
            return _error(400, message, field=message.split(":", 1)[0])
        outcomes = await services.events.record(inputs, now=now)
        for event, outcome in zip(inputs, outcomes, strict=True):
            on_event(event.type, outcome.recorded)
        results = [
            {
                "event_id": outcome.event_id,
                "recorded": outcome.recorded,
                "duplicate": not outcome.recorded,
                "invitations": list(outcome.invitations),
            }
            for outcome in outcomes
        ]
        if isinstance(parsed, list):
            return JSONResponse({"accepted": len(results), "events": results}, status_code=202)
        return JSONResponse(results[0], status_code=202)

    return [Route("/api/events", receive_events, methods=["POST"])]
