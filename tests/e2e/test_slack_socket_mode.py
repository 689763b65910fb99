"""Slack over Socket Mode: real bolt and slack_sdk over a real WebSocket to the stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.slack_wiring import SlackParts
from tests.auxil.environment import FakeClock
from tests.auxil.slack_api import APP_TOKEN, SlackServer
from tests.handlers.slack.helpers import MANAGER, STRANGER, command_body, slack_deps, slack_parts
from tests.surveys.reports.dataset import build

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


@pytest.fixture
async def connected(database_url: str, slack_server: SlackServer) -> AsyncIterator[SlackParts]:
    """churnbot's Slack side with SLACK_APP_TOKEN set, connected over Socket Mode."""
    deps = slack_deps(
        database_url,
        slack_server,
        FakeClock(NOW),
        slack_app_token=APP_TOKEN,
        slack_signing_secret="",
    )
    build(deps.db)
    parts = slack_parts(deps)
    handler = parts.socket_mode_handler()
    await handler.connect_async()
    try:
        await slack_server.fake.async_wait_for(lambda fake: fake.socket_connections() == 1)
        yield parts
    finally:
        await handler.close_async()
        deps.db.dispose()


def slash_command(server: SlackServer, text: str, key: str, *, user: str) -> dict[str, Any]:
    """The payload of a /churn command as Socket Mode carries it (the same fields as HTTP)."""
    return dict(parse_qsl(command_body(text, user=user, response_url=server.response_url(key))))


async def ack_of(server: SlackServer, envelope_id: str) -> dict[str, Any]:
    await server.fake.async_wait_for(lambda fake: bool(fake.acks(envelope_id)))
    (ack,) = server.fake.acks(envelope_id)
    return ack


async def test_socket_mode_takes_no_http_routes_and_answers_churn_stats(
    connected: SlackParts, slack_server: SlackServer
) -> None:
    envelope = slack_server.fake.push_envelope(
        "slash_commands", slash_command(slack_server, "stats 2026-W46", "stats", user=MANAGER)
    )

    await ack_of(slack_server, envelope)
    await slack_server.fake.async_wait_for(lambda fake: bool(fake.responses("stats")))
    (answer,) = slack_server.fake.responses("stats")
    assert connected.routes == []
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("Churn figures · 2026-W46")
    assert "churn rate = L / S = 4 / 11 x 100 = 36.4%" in answer["text"]


async def test_socket_mode_refuses_a_non_manager_in_the_acknowledgement(
    connected: SlackParts, slack_server: SlackServer
) -> None:
    envelope = slack_server.fake.push_envelope(
        "slash_commands", slash_command(slack_server, "stats", "refused", user=STRANGER)
    )

    ack = await ack_of(slack_server, envelope)
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "only churnbot managers" in ack["payload"]["text"]
    assert slack_server.fake.responses("refused") == []
