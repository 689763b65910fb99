"""End to end over HTTP: hostile and odd bodies on the events API never give a 500."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlmodel import select

from storage.models import Customer, Event
from storage.session import run_unit
from tests.auxil.running_bot import RunningBot

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer test-events-token", "Content-Type": "application/json"}


def _cancel(event_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event_id,
        "type": "subscription.cancelled",
        "customer_id": "cust-edge",
        "data": {"voluntary": True, "monthly_revenue": 49},
    }
    body.update(overrides)
    return body


def _stored_events(bot: RunningBot) -> int:
    return len(run_unit(bot.deps.db, lambda session: session.exec(select(Event.id)).all()))


async def _post(bot: RunningBot, content: str | bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=bot.http_url, headers=AUTH) as client:
        return await client.post("/api/events", content=content)


async def test_nul_in_a_name_is_removed_and_the_same_name_is_stored_on_every_database(
    running_bot: RunningBot,
) -> None:
    body = (
        '{"event_id": "u-nul", "type": "customer.upserted", "customer_id": "cust\\u0000-nul",'
        ' "data": {"name": "Bad\\u0000Name", "note\\u0000": ["a\\u0000b"]}}'
    )
    response = await _post(running_bot, body)
    assert response.status_code == 202, response.text

    def stored(session) -> tuple[str, str | None, dict]:
        customer = session.exec(select(Customer)).one()
        return customer.external_id, customer.name, customer.attributes

    external_id, name, attributes = await asyncio.to_thread(run_unit, running_bot.deps.db, stored)
    assert (external_id, name) == ("cust-nul", "BadName")
    assert attributes == {"note": ["ab"]}


async def test_deep_nesting_is_refused_with_400(running_bot: RunningBot) -> None:
    very_deep = await _post(running_bot, "[" * 50_000)
    deep_data = await _post(
        running_bot, json.dumps(_cancel("deep", data={"x": json.loads("[" * 40 + "]" * 40)}))
    )
    assert very_deep.status_code == 400
    assert "nested deeper" in very_deep.json()["error"]
    assert deep_data.status_code == 400
    assert deep_data.json()["field"].startswith("data.x")
    assert await asyncio.to_thread(_stored_events, running_bot) == 0


@pytest.mark.parametrize(
    ("occurred_at", "reason"),
    [
        ("9999-12-31T23:30:00Z", "future"),
        ("9999-12-31T23:30:00-01:00", "range"),
        ("3000-01-01T00:00:00Z", "future"),
        ("0001-01-01T00:00:00Z", "before 2000"),
        ("1999-12-31T23:59:59Z", "before 2000"),
    ],
)
async def test_occurred_at_outside_a_sane_window_is_refused_naming_the_field(
    running_bot: RunningBot, occurred_at: str, reason: str
) -> None:
    response = await _post(running_bot, json.dumps(_cancel("when", occurred_at=occurred_at)))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "occurred_at"
    assert reason in response.json()["error"]
    assert await asyncio.to_thread(_stored_events, running_bot) == 0


@pytest.mark.parametrize(
    ("revenue", "field"),
    [
        ("Infinity", "data.monthly_revenue"),
        ("-Infinity", "data.monthly_revenue"),
        ("NaN", "data.monthly_revenue"),
        ("1e400", "data.monthly_revenue"),
        ("-5", "data.monthly_revenue"),
    ],
)
async def test_non_finite_or_negative_money_is_refused_naming_the_field(
    running_bot: RunningBot, revenue: str, field: str
) -> None:
    body = (
        '{"event_id": "money", "type": "subscription.cancelled", "customer_id": "c",'
        f' "data": {{"monthly_revenue": {revenue}}}}}'
    )
    response = await _post(running_bot, body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert await asyncio.to_thread(_stored_events, running_bot) == 0


ODD_BODIES: list[str | bytes] = [
    b"",
    b"\xff\xfe\x00",
    "null",
    "0",
    "-0.0",
    '"text"',
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "[[]]",
    "[null]",
    '{"event_id": null}',
    '{"event_id": 5, "type": 5, "customer_id": 5}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c", "data": []}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c", "data": null}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c",'
    ' "data": {"telegram_chat_id": 99999999999999999999999}}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c",'
    ' "data": {"attribute": 1e308, "big": 99999999999999999999999999}}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c",'
    ' "data": {"name": "x", "name": "y"}}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "c",'
    ' "data": {"language": "\\ud800"}}',
    '{"event_id": "e", "type": "subscription.cancelled", "customer_id": "c",'
    ' "occurred_at": 1e300}',
    '{"event_id": "e", "type": "subscription.cancelled", "customer_id": "c",'
    ' "occurred_at": -1e300}',
    '{"event_id": "e", "type": "subscription.cancelled", "customer_id": "c",'
    ' "occurred_at": "not a date"}',
    '{"event_id": "e", "type": "customer.inactive", "customer_id": "c", "data": {"days": 1e20}}',
    '{"event_id": "e", "type": "customer.inactive", "customer_id": "c",'
    ' "data": {"days": 99999999999999999999999999}}',
    '{"event_id": "' + "x" * 300 + '", "type": "customer.upserted", "customer_id": "c"}',
    '{"event_id": "e", "type": "customer.upserted", "customer_id": "   "}',
    '{"event_id": "\\u0000", "type": "customer.upserted", "customer_id": "c"}',
    "[" + ", ".join(["{}"] * 1001) + "]",
    "{" * 30 + "}" * 30,
]


async def test_no_odd_body_gets_a_server_error(running_bot: RunningBot) -> None:
    statuses = []
    for body in ODD_BODIES:
        response = await _post(running_bot, body)
        statuses.append(response.status_code)
        assert response.status_code < 500, (body[:80], response.text)
        assert response.headers["content-type"].startswith("application/json")
    assert any(200 <= status < 300 for status in statuses)
    assert any(400 <= status < 500 for status in statuses)
