"""End to end over HTTP: the events API, health and metrics, and webhook mode."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlmodel import func, select

from storage.models import Event, SurveyInvitation
from storage.session import run_unit
from tests.auxil.factories import link_token
from tests.auxil.running_bot import RunningBot, run_bot
from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer test-events-token"}


def _counts(bot: RunningBot) -> tuple[int, int]:
    def work(session) -> tuple[int, int]:
        events = session.exec(select(func.count()).select_from(Event)).one()
        invitations = session.exec(select(func.count()).select_from(SurveyInvitation)).one()
        return events, invitations

    return run_unit(bot.deps.db, work)


def _event(event_id: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": event_id,
        "type": "subscription.cancelled",
        "customer_id": "cust-api",
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "data": {"voluntary": True, "plan": "pro", "monthly_revenue": 49},
    }
    body.update(overrides)
    return body


async def test_event_is_accepted_once_and_repeating_it_changes_nothing(
    running_bot: RunningBot,
) -> None:
    async with httpx.AsyncClient(base_url=running_bot.http_url, headers=AUTH) as client:
        first = await client.post("/api/events", json=_event("evt-1"))
        again = await client.post("/api/events", json=_event("evt-1"))
    assert first.status_code == 202
    assert first.json()["recorded"] is True
    assert len(first.json()["invitations"]) == 1
    assert again.status_code == 202
    assert again.json() == {
        "event_id": "evt-1",
        "recorded": False,
        "duplicate": True,
        "invitations": [],
    }
    assert await asyncio.to_thread(_counts, running_bot) == (1, 1)


async def test_a_batch_is_recorded_whole(running_bot: RunningBot) -> None:
    batch = [
        {
            "event_id": "c-1",
            "type": "customer.upserted",
            "customer_id": "b1",
            "data": {"plan": "pro"},
        },
        _event("b-2", customer_id="b1"),
        _event("b-3", type="interaction.completed", customer_id="b2", data={"kind": "purchase"}),
    ]
    async with httpx.AsyncClient(base_url=running_bot.http_url, headers=AUTH) as client:
        response = await client.post("/api/events", json=batch)
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    assert [e["recorded"] for e in response.json()["events"]] == [True, True, True]
    assert await asyncio.to_thread(_counts, running_bot) == (3, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_event("x", type="subscription.exploded"), "type"),
        ({k: v for k, v in _event("x").items() if k != "event_id"}, "event_id"),
        (_event("x", occurred_at="yesterday-ish"), "occurred_at"),
        (_event("x", data={"monthly_revenue": "lots"}), "data.monthly_revenue"),
        ([_event("ok-1"), _event("bad", customer_id="")], "[1].customer_id"),
        (_event("x", surprise=True), "surprise"),
    ],
)
async def test_invalid_event_gets_400_naming_the_field_and_nothing_is_stored(
    running_bot: RunningBot, body: object, field: str
) -> None:
    async with httpx.AsyncClient(base_url=running_bot.http_url, headers=AUTH) as client:
        response = await client.post("/api/events", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert await asyncio.to_thread(_counts, running_bot) == (0, 0)


async def test_malformed_json_wrong_token_and_huge_body_are_refused(
    running_bot: RunningBot,
) -> None:
    async with httpx.AsyncClient(base_url=running_bot.http_url) as client:
        malformed = await client.post("/api/events", content=b"{not json", headers=AUTH)
        no_token = await client.post("/api/events", json=_event("t-1"))
        wrong = await client.post(
            "/api/events", json=_event("t-2"), headers={"Authorization": "Bearer nope"}
        )
        huge = await client.post(
            "/api/events",
            content=json.dumps([_event(f"h-{i}", data={"pad": "x" * 2000}) for i in range(600)]),
            headers=AUTH,
        )
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["error"]
    assert no_token.status_code == 401
    assert wrong.status_code == 401
    assert huge.status_code == 413
    assert await asyncio.to_thread(_counts, running_bot) == (0, 0)


async def test_event_through_the_api_reaches_the_customer_in_telegram(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    token = await asyncio.to_thread(link_token, deps, "cust-api")
    fake.push_message(3001, f"/start {token}")
    await fake.async_wait_for_messages(3001, 1)
    # The running bot keeps real time: an event without `occurred_at` happens now (one from
    # a fixed date would have expired by the time the suite runs, a week on).
    live = _event("evt-live")
    del live["occurred_at"]
    async with httpx.AsyncClient(base_url=running_bot.http_url, headers=AUTH) as client:
        response = await client.post("/api/events", json=live)
    assert response.status_code == 202
    survey = (await fake.async_wait_for_messages(3001, 2))[-1]
    assert "main reason" in survey["text"]


async def test_healthz_reports_each_check_and_metrics_speak_prometheus(
    running_bot: RunningBot,
) -> None:
    async with httpx.AsyncClient(base_url=running_bot.http_url, headers=AUTH) as client:
        await client.post("/api/events", json=_event("m-1"))
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "checks": {"database": True, "telegram": True, "scheduler": True},
    }
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert (
        'churnbot_events_received_total{outcome="recorded",type="subscription.cancelled"} 1.0'
        in text
    )
    assert "churnbot_invitations{status=" in text
    assert "churnbot_answers 0.0" in text


async def test_healthz_is_503_when_telegram_is_unreachable(running_bot: RunningBot) -> None:
    running_bot.fake.fail_next("getMe", status=502, count=5)
    async with httpx.AsyncClient(base_url=running_bot.http_url) as client:
        health = await client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"]["telegram"] is False


async def test_webhook_mode_checks_the_secret_and_serves_updates(
    telegram_server: TelegramServer, database_url: str
) -> None:
    async with run_bot(
        telegram_server,
        database_url,
        telegram_webhook_url="https://bot.example.test",
        telegram_webhook_secret="hook-secret",
    ) as bot:
        fake = bot.fake
        (set_webhook,) = [params for _, params, _ in fake.calls("setWebhook")]
        assert set_webhook["secret_token"] == "hook-secret"
        path = set_webhook["url"].removeprefix("https://bot.example.test")
        assert not fake.calls("getUpdates")
        update = {
            "update_id": 77,
            "message": {
                "message_id": 1,
                "date": 1_763_000_000,
                "chat": {"id": 4001, "type": "private"},
                "from": {"id": 4001, "is_bot": False, "first_name": "Ann"},
                "text": "/help",
                "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }
        async with httpx.AsyncClient(base_url=bot.http_url) as client:
            forged = await client.post(
                path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
            genuine = await client.post(
                path, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
            )
        assert forged.status_code == 403
        assert genuine.status_code == 200
        reply = (await fake.async_wait_for_messages(4001, 1))[-1]
        assert "/stop" in reply["text"]
        assert len(fake.sent_messages(4001)) == 1
