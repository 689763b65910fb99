"""Delivery through the real python-telegram-bot stack while the Bot API misbehaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlmodel import select
from telegram.ext import Application

from bot.app import build_application, build_delivery
from bot.context import Deps
from bot.wiring import build_deps
from storage.models import Customer, InvitationStatus, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.delivery import Delivery
from tests.auxil.environment import FakeClock, make_settings
from tests.auxil.telegram_api import FakeTelegram, TelegramServer

pytestmark = pytest.mark.e2e


@dataclass
class Rig:
    deps: Deps
    fake: FakeTelegram
    clock: FakeClock
    delivery: Delivery
    application: Application


@pytest.fixture
async def rig(
    telegram_server: TelegramServer, database_url: str, clock: FakeClock
) -> AsyncIterator[Rig]:
    settings = make_settings(
        database_url,
        telegram_api_base_url=telegram_server.base_url,
        telegram_timeout_seconds=0.5,
    )
    deps = await asyncio.to_thread(build_deps, settings, clock=clock)
    application = build_application(deps)
    async with application:
        yield Rig(
            deps, telegram_server.fake, clock, build_delivery(deps, application), application
        )
    deps.db.dispose()


def _cancel(rig: Rig, customer: str, chat_id: int) -> int:
    def work(session) -> int:
        row = customer_queries.upsert_customer(session=session, external_id=customer)
        customer_queries.link_chat(session=session, customer=row, chat_id=chat_id, language="en")
        event = events.EventInput(
            f"cancel:{customer}", events.SUBSCRIPTION_CANCELLED, customer, rig.clock(), {}
        )
        outcome = events.record_event(
            session, event, surveys=rig.deps.definitions, now=rig.clock()
        )
        return outcome.invitations[0]

    return run_unit(rig.deps.db, work)


def _get(rig: Rig, invitation_id: int) -> SurveyInvitation:
    found = run_unit(rig.deps.db, lambda session: session.get(SurveyInvitation, invitation_id))
    assert found is not None
    return found


def _surveys_in(fake: FakeTelegram, chat_id: int) -> int:
    return sum("main reason" in m.get("text", "") for m in fake.sent_messages(chat_id))


async def test_429_with_retry_after_is_waited_out_and_sent_once(rig: Rig) -> None:
    invitation_id = await asyncio.to_thread(_cancel, rig, "r429", 601)
    rig.fake.fail_next("sendMessage", status=429, retry_after=1)
    report = await rig.delivery.run_once()
    assert report.sent == 1
    assert _surveys_in(rig.fake, 601) == 1
    assert len(rig.fake.calls("sendMessage")) == 2
    assert _get(rig, invitation_id).status == InvitationStatus.SENT


async def test_server_error_is_retried_later_with_backoff_and_sent_once(rig: Rig) -> None:
    invitation_id = await asyncio.to_thread(_cancel, rig, "r500", 602)
    rig.fake.fail_next("sendMessage", status=500)
    first = await rig.delivery.run_once()
    assert first.retried == 1
    waiting = _get(rig, invitation_id)
    assert waiting.status == InvitationStatus.PENDING
    assert (waiting.status_reason or "").startswith("retrying")
    await rig.delivery.run_once()
    assert _surveys_in(rig.fake, 602) == 0
    rig.clock.advance(seconds=6)
    second = await rig.delivery.run_once()
    assert second.sent == 1
    assert _surveys_in(rig.fake, 602) == 1
    assert _get(rig, invitation_id).status == InvitationStatus.SENT


async def test_slow_response_that_may_have_arrived_is_never_sent_twice(rig: Rig) -> None:
    invitation_id = await asyncio.to_thread(_cancel, rig, "rslow", 603)
    rig.fake.set_delay("sendMessage", 1.5)
    report = await rig.delivery.run_once()
    rig.fake.set_delay("sendMessage", 0)
    assert report.unconfirmed == 1
    for _ in range(3):
        rig.clock.advance(minutes=5)
        await rig.delivery.run_once()
    unconfirmed = _get(rig, invitation_id)
    assert unconfirmed.status == InvitationStatus.SENT
    assert (unconfirmed.status_reason or "").startswith("unconfirmed")
    assert _surveys_in(rig.fake, 603) == 1


async def test_blocked_bot_marks_the_customer_unreachable_and_stops(rig: Rig) -> None:
    rig.fake.block_chat(604)
    invitation_id = await asyncio.to_thread(_cancel, rig, "rblocked", 604)
    report = await rig.delivery.run_once()
    assert report.failed == 1
    failed = _get(rig, invitation_id)
    assert failed.status == InvitationStatus.FAILED
    assert "blocked" in (failed.status_reason or "")
    customer = run_unit(
        rig.deps.db,
        lambda s: s.exec(select(Customer).where(Customer.external_id == "rblocked")).one(),
    )
    assert customer.unreachable is True
    rig.clock.advance(days=30)
    later = await asyncio.to_thread(_cancel_again, rig, "rblocked")
    await rig.delivery.run_once()
    assert _get(rig, later).status_reason == "customer is unreachable (bot blocked)"
    assert len(rig.fake.calls("sendMessage")) == 1


def _cancel_again(rig: Rig, customer: str) -> int:
    event = events.EventInput(
        f"cancel-again:{customer}", events.SUBSCRIPTION_CANCELLED, customer, rig.clock(), {}
    )
    outcome = run_unit(
        rig.deps.db,
        lambda session: events.record_event(
            session, event, surveys=rig.deps.definitions, now=rig.clock()
        ),
    )
    return outcome.invitations[0]


async def test_burst_respects_telegrams_limits_without_a_single_429(rig: Rig) -> None:
    rig.fake.enforce_limits(global_per_second=30, per_chat_per_second=1)
    ids = [await asyncio.to_thread(_cancel, rig, f"burst-{n}", 700 + n) for n in range(45)]
    report = await rig.delivery.run_once()
    assert report.sent == 45
    assert rig.fake.count_429 == 0
    assert all(_surveys_in(rig.fake, 700 + n) == 1 for n in range(45))
    statuses = {_get(rig, i).status for i in ids}
    assert statuses == {InvitationStatus.SENT}
