"""The stand-in's HTTP side: `/bot{token}/{method}` and `/file/bot{token}/{path}`."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.sandbox.telegram_api.faults import Faults
from bot.sandbox.telegram_api.state import BotApiState
from bot.sandbox.telegram_api.wire import ApiError, read_params


def build_app(state: BotApiState, faults: Faults) -> Starlette:
    """The ASGI app of a Bot API over `state`, meeting `faults` on every call."""

    async def endpoint(request: Request) -> JSONResponse:
        if request.path_params["token"] != state.token:
            return ApiError(401, "Unauthorized").response()
        entry = state.method(request.path_params["method"])
        if entry is None:
            return ApiError(404, "Not Found").response()
        name, handler = entry
        try:
            params = await read_params(request)
            with state.cond:
                state.record(name, params)
                try:
                    faults.check(name, params)
                    result = handler(params)
                finally:
                    state.cond.notify_all()
            if name == "getUpdates":
                result = await state.get_updates(params)
            response = JSONResponse({"ok": True, "result": result})
        except ApiError as err:
            response = err.response()
        # The effect has happened already: a slow answer, like Telegram's that a client may
        # give up on after the message was delivered.
        delay = faults.delay(name)
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    async def file_endpoint(request: Request) -> JSONResponse:
        return ApiError(404, "Not Found").response()

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", file_endpoint, methods=["GET"]),
        ]
    )
