"""Telegram's budget is the bot's: two instances on one PostgreSQL database keep it together."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from telegram.ext import Application

from bot.app import build_application, build_delivery
from bot.wiring import build_deps
from storage.db import make_engine, upgrade
from storage.models import Customer, InvitationStatus, SurveyInvitation
from surveys.delivery import Delivery, DeliveryReport
from tests.auxil.environment import make_settings
from tests.auxil.factories import seed_due_invitations
from tests.auxil.telegram_api import FakeTelegram, TelegramServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CUSTOMERS = 120
TWICE = 20  # customers with a second due survey: their chat gets two within seconds
CHAT_BASE = 70_000


def _seed(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    seed_due_invitations(engine, CUSTOMERS, chat_base=CHAT_BASE)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        ids = connection.execute(
            select(Customer.id).order_by(Customer.id).limit(TWICE)  # type: ignore[arg-type]
        ).scalars()
        connection.execute(
            insert(SurveyInvitation),
            [
                {
                    "customer_id": customer_id,
                    "survey_key": "exit",
                    "status": "pending",
                    "due_at": now - timedelta(seconds=1),
                    "expires_at": now + timedelta(days=7),
                    "send_attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for customer_id in ids
            ],
        )
    engine.dispose()


@asynccontextmanager
async def _instance(
    telegram_server: TelegramServer, database_url: str
) -> AsyncIterator[tuple[Application, Delivery]]:
    """One churnbot instance's Telegram stack and outbox worker (its own pacer)."""
    settings = make_settings(
        database_url, telegram_api_base_url=telegram_server.base_url, delivery_batch=50
    )
    deps = await asyncio.to_thread(build_deps, settings)
    application = build_application(deps)
    delivery = build_delivery(deps, application)
    try:
        async with application:
            yield application, delivery
    finally:
        await asyncio.to_thread(delivery.close)
        deps.db.dispose()


def _pending(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(func.count()).where(
                    SurveyInvitation.status == InvitationStatus.PENDING  # type: ignore[arg-type]
                )
            ).scalar_one()
    finally:
        engine.dispose()


async def _deliver_until_done(
    delivery: Delivery, database_url: str, log: list[DeliveryReport]
) -> None:
    """What the scheduler does: a pass every tick (here 0.2 s), at once after a full batch."""
    while await asyncio.to_thread(_pending, database_url):
        report = await delivery.run_once()
        log.append(report)
        if report.claimed < delivery.batch:
            await asyncio.sleep(0.2)


def _assert_within_telegrams_limits(fake: FakeTelegram) -> None:
    times = sorted(at for _, _, at in fake.calls("sendMessage"))
    busiest = max(
        sum(1 for other in times[index:] if other - at < 1.0) for index, at in enumerate(times)
    )
    assert busiest <= 30, f"{busiest} sendMessage in one second"
    per_chat: dict[int, list[float]] = defaultdict(list)
    for _, params, at in fake.calls("sendMessage"):
        per_chat[params["chat_id"]].append(at)
    gaps = [b - a for chat in per_chat.values() for a, b in itertools.pairwise(chat)]
    assert gaps, "no chat got two messages: the per-chat limit was not exercised"
    assert min(gaps) >= 1.0, f"two messages {min(gaps):.3f} s apart in one chat"
    assert fake.count_429 == 0


async def test_two_instances_starting_together_keep_one_budget_and_send_each_survey_once(
    telegram_server: TelegramServer, postgres_database_url: str
) -> None:
    database_url = postgres_database_url
    await asyncio.to_thread(_seed, database_url)
    fake = telegram_server.fake
    fake.enforce_limits(global_per_second=30, per_chat_per_second=1)
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(_instance(telegram_server, database_url))
        two = await stack.enter_async_context(_instance(telegram_server, database_url))
        logs: list[list[DeliveryReport]] = [[], []]
        await asyncio.wait_for(
            asyncio.gather(
                _deliver_until_done(one[1], database_url, logs[0]),
                _deliver_until_done(two[1], database_url, logs[1]),
            ),
            timeout=60,
        )

    surveys = [p["chat_id"] for _, p, _ in fake.calls("sendMessage") if "main reason" in p["text"]]
    assert len(surveys) == CUSTOMERS + TWICE
    assert sorted(set(surveys)) == list(range(CHAT_BASE, CHAT_BASE + CUSTOMERS))
    _assert_within_telegrams_limits(fake)
    # Both tried from the start; one was the sender, the other stood by.
    senders = [sum(r.sent for r in log) for log in logs]
    assert sorted(senders) == [0, CUSTOMERS + TWICE]
    assert all(log and log[0].standby for log, sent in zip(logs, senders, strict=True) if not sent)


async def test_when_the_sender_stops_the_other_instance_takes_over_within_the_budget(
    telegram_server: TelegramServer, postgres_database_url: str
) -> None:
    database_url = postgres_database_url
    await asyncio.to_thread(_seed, database_url)
    fake = telegram_server.fake
    fake.enforce_limits(global_per_second=30, per_chat_per_second=1)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(_instance(telegram_server, database_url))
        second = await stack.enter_async_context(_instance(telegram_server, database_url))
        first_log: list[DeliveryReport] = []
        report = await first[1].run_once()
        first_log.append(report)
        assert report.sent == 50
        # The sender goes away (its lock's session ends) while the other keeps trying.
        await asyncio.to_thread(first[1].close)
        second_log: list[DeliveryReport] = []
        await asyncio.wait_for(
            _deliver_until_done(second[1], database_url, second_log), timeout=60
        )

    assert sum(r.sent for r in second_log) == CUSTOMERS + TWICE - 50
    surveys = [p["chat_id"] for _, p, _ in fake.calls("sendMessage") if "main reason" in p["text"]]
    assert len(surveys) == CUSTOMERS + TWICE
    _assert_within_telegrams_limits(fake)
