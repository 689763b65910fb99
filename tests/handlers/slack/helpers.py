"""Run churnbot's Slack side against the Slack stand-in: settings, parts, an HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from starlette.applications import Starlette

from bot.context import Deps
from bot.slack_wiring import SlackParts, build_slack
from bot.wiring import build_deps
from storage.clock import Clock
from tests.auxil.environment import make_settings
from tests.auxil.slack_api import TOKEN, SlackServer, signed_headers

SECRET = "test-signing-secret"
MANAGER = "U0MANAGER"
STRANGER = "U0STRANGER"
SUMMARY_CHANNEL = "C0SUMMARY"
ALERTS_CHANNEL = "C0ALERTS"


def slack_deps(database_url: str, server: SlackServer, clock: Clock, **overrides: Any) -> Deps:
    values: dict[str, Any] = {
        "slack_bot_token": TOKEN,
        "slack_signing_secret": SECRET,
        "slack_api_base_url": server.api_url,
        "slack_summary_channel": SUMMARY_CHANNEL,
        "slack_alerts_channel": ALERTS_CHANNEL,
        "slack_manager_ids": MANAGER,
    }
    values.update(overrides)
    return build_deps(make_settings(database_url, **values), clock=clock)


def slack_parts(deps: Deps) -> SlackParts:
    parts = build_slack(deps)
    assert parts is not None
    return parts


def free_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1 (no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serving(parts: SlackParts) -> AsyncIterator[httpx.AsyncClient]:
    """Serve the bolt routes with uvicorn on this loop (as churnbot does); yield a client."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Starlette(routes=parts.routes),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


def command_body(
    text: str, *, user: str = MANAGER, response_url: str, command: str = "/churn"
) -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": "C0COMMANDS",
            "channel_name": "churn",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def select_body(
    *, user: str, block_id: str, value: str, response_url: str, action_id: str, ts: str = "1.1"
) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0TEST", "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
        "api_app_id": "A0TEST",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": ALERTS_CHANNEL},
        "trigger_id": "1.2.3",
        "channel": {"id": ALERTS_CHANNEL, "name": "alerts"},
        "message": {"ts": ts, "text": "alert"},
        "response_url": response_url,
        "actions": [
            {
                "type": "static_select",
                "action_id": action_id,
                "block_id": block_id,
                "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
                "action_ts": "1.3",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


async def post_signed(
    client: httpx.AsyncClient, path: str, body: str, *, secret: str = SECRET, **kw: Any
) -> httpx.Response:
    return await client.post(path, content=body, headers=signed_headers(secret, body, **kw))
