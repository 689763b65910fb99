"""Win-back offers end to end: the real bot (PTB) shows the offer, the customer taps Accept,
the real `stripe` client resumes the subscription with the coupon in the Stripe stand-in,
and real slack_sdk posts "Saved" to the Slack stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import select

from bot.wiring import build_deps
from storage.models import OfferStatus, WinbackOffer
from storage.session import run_unit
from surveys.definition import SurveyRoles
from surveys.events import SUBSCRIPTION_CANCELLED
from surveys.reports.figures import compute_figures
from surveys.reports.periods import Period
from surveys.reports.render import stats_text
from tests.auxil.environment import make_settings
from tests.auxil.factories import arecord, link_token, message_button_data
from tests.auxil.running_bot import RunningBot, run_bot
from tests.auxil.slack_api import TOKEN, SlackServer
from tests.auxil.stripe_api import (
    API_KEY,
    WEBHOOK_SECRET,
    WINBACK_COUPON,
    FakeStripe,
    StripeServer,
)
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.handlers.slack.helpers import ALERTS_CHANNEL, MANAGER, SECRET

pytestmark = pytest.mark.e2e

CHAT = 4201
CUSTOMER = "cust-42"


def _settings(stripe_server: StripeServer, slack_server: SlackServer) -> dict[str, Any]:
    return {
        "slack_bot_token": TOKEN,
        "slack_signing_secret": SECRET,
        "slack_api_base_url": slack_server.api_url,
        "slack_alerts_channel": ALERTS_CHANNEL,
        "slack_manager_ids": MANAGER,
        "stripe_api_key": API_KEY,
        "stripe_api_base_url": stripe_server.base,
        "stripe_winback_coupon": WINBACK_COUPON,
    }


@asynccontextmanager
async def _bot(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> AsyncIterator[RunningBot]:
    async with run_bot(
        telegram_server, database_url, **_settings(stripe_server, slack_server)
    ) as running:
        yield running


def _cancelling_subscription(fake: FakeStripe) -> str:
    """A Stripe subscription of cust-42 whose cancellation is scheduled."""
    customer = fake.create_customer(churnbot_customer_id=CUSTOMER)
    created = fake.create_subscription(customer["id"], unit_amount=4900)
    subscription_id = str(created["data"]["object"]["id"])
    fake.schedule_cancel(subscription_id, feedback="too_expensive")
    return subscription_id


async def _tap(fake: FakeTelegram, message: dict[str, Any], label: str) -> None:
    taps = len(fake.callback_answers())
    fake.push_callback(CHAT, message["message_id"], message_button_data(message, label))
    await fake.async_wait_for(lambda f: len(f.callback_answers()) > taps)


def _message(fake: FakeTelegram, message_id: int) -> dict[str, Any]:
    return next(m for m in fake.sent_messages(CHAT) if m["message_id"] == message_id)


async def _to_the_offer(bot: RunningBot, subscription_id: str) -> dict[str, Any]:
    """Link cust-42, cancel, answer "too expensive" and skip the details: the closing
    message with the offer's buttons."""
    token = await asyncio.to_thread(link_token, bot.deps, CUSTOMER, monthly_revenue=49.0)
    bot.fake.push_message(CHAT, f"/start {token}")
    await bot.fake.async_wait_for_messages(CHAT, 1)
    await arecord(bot.deps, SUBSCRIPTION_CANCELLED, CUSTOMER, subscription_id)
    question = (await bot.fake.async_wait_for_messages(CHAT, 2))[-1]
    await _tap(bot.fake, question, "too expensive")
    await bot.fake.async_wait_for(lambda f: "Skip" in str(_message(f, question["message_id"])))
    await _tap(bot.fake, _message(bot.fake, question["message_id"]), "Skip")
    await bot.fake.async_wait_for(
        lambda f: "Accept 30% off" in str(_message(f, question["message_id"]))
    )
    return _message(bot.fake, question["message_id"])


def _saved_alerts(slack_server: SlackServer) -> list[str]:
    return [m["text"] for m in slack_server.fake.messages(ALERTS_CHANNEL) if "Saved" in m["text"]]


def _resumed_with_coupon(fake: FakeStripe, subscription_id: str) -> bool:
    subscription = fake.subscription(subscription_id)
    coupons = [d["coupon"]["id"] for d in subscription["discounts"]]
    return subscription["cancel_at_period_end"] is False and coupons == [WINBACK_COUPON]


async def test_accepting_the_price_offer_resumes_the_subscription_with_the_coupon(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    subscription_id = _cancelling_subscription(stripe)
    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        closing = await _to_the_offer(bot, subscription_id)
        assert "No thanks" in str(closing["reply_markup"])

        await _tap(bot.fake, closing, "Accept 30% off")
        await slack_server.fake.async_wait_for(lambda _: bool(_saved_alerts(slack_server)))
        await bot.fake.async_wait_for(
            lambda f: "your offer is applied" in f.sent_messages(CHAT)[-1]["text"]
        )

    assert _resumed_with_coupon(stripe, subscription_id)
    (update,) = stripe.calls("subscriptions.update")
    assert update.params == {
        "cancel_at_period_end": "false",
        "discounts": [{"coupon": WINBACK_COUPON}],
    }
    assert update.idempotency_key is not None
    assert update.idempotency_key.startswith("churnbot-offer-")
    (saved,) = _saved_alerts(slack_server)
    assert f"*{CUSTOMER}* accepted 30% off for 3 months" in saved
    assert "Revenue kept: 49.00 USD a month" in saved
    # The buttons are gone from the closing message: a second tap cannot happen.
    assert "Accept" not in str(_message(bot.fake, closing["message_id"]).get("reply_markup"))


async def test_a_stripe_500_is_retried_with_the_same_idempotency_key_and_applied_once(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    subscription_id = _cancelling_subscription(stripe)
    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        closing = await _to_the_offer(bot, subscription_id)
        stripe.fail_next("subscriptions.update", status=500)

        await _tap(bot.fake, closing, "Accept 30% off")
        await slack_server.fake.async_wait_for(lambda _: bool(_saved_alerts(slack_server)))

    failed, succeeded = stripe.calls("subscriptions.update")
    assert (failed.status, succeeded.status) == (500, 200)
    assert failed.idempotency_key == succeeded.idempotency_key
    assert _resumed_with_coupon(stripe, subscription_id)
    assert len(stripe.events("customer.subscription.updated")) == 2  # schedule_cancel + ours
    assert len(_saved_alerts(slack_server)) == 1


async def test_an_offer_accepted_just_before_a_crash_is_applied_once_after_the_restart(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    subscription_id = _cancelling_subscription(stripe)
    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        closing = await _to_the_offer(bot, subscription_id)
    # The process died right after the accept was committed, before any Stripe call: the
    # accept is recorded as the tap would have recorded it, and nothing applies it.
    settings = make_settings(database_url, **_settings(stripe_server, slack_server))
    deps = await asyncio.to_thread(build_deps, settings)
    accept = message_button_data(closing, "Accept 30% off")
    tap = await asyncio.to_thread(
        run_unit,
        deps.db,
        lambda session: deps.offers.on_button(
            session, chat_id=CHAT, language_code="en", raw=accept
        ),
    )
    deps.db.dispose()
    assert tap.accepted is not None
    assert stripe.calls("subscriptions.update") == []

    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        await slack_server.fake.async_wait_for(lambda _: bool(_saved_alerts(slack_server)))
        await bot.fake.async_wait_for(
            lambda f: "your offer is applied" in f.sent_messages(CHAT)[-1]["text"]
        )
    async with _bot(telegram_server, slack_server, stripe_server, database_url):
        await asyncio.sleep(0.5)  # a second restart finds nothing left to do

    assert len(stripe.calls("subscriptions.update")) == 1
    assert _resumed_with_coupon(stripe, subscription_id)
    assert len(_saved_alerts(slack_server)) == 1


async def test_a_forged_offer_button_changes_nothing(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    subscription_id = _cancelling_subscription(stripe)
    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        closing = await _to_the_offer(bot, subscription_id)
        genuine = message_button_data(closing, "Accept 30% off")
        forged = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
        taps = len(bot.fake.callback_answers())
        bot.fake.push_callback(CHAT, closing["message_id"], forged)
        await bot.fake.async_wait_for(lambda f: len(f.callback_answers()) > taps)
        await asyncio.sleep(0.3)

        answer = bot.fake.callback_answers()[-1]
        offers = await asyncio.to_thread(
            run_unit, bot.deps.db, lambda s: list(s.exec(select(WinbackOffer)).all())
        )

    assert answer["text"] == "This button is no longer valid."
    (offer,) = offers
    assert offer.status == OfferStatus.OFFERED
    assert stripe.calls("subscriptions.update") == []
    assert _saved_alerts(slack_server) == []
    assert "Accept 30% off" in str(_message(bot.fake, closing["message_id"])["reply_markup"])


async def test_an_offer_accepted_after_the_subscription_ended_is_told_honestly(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    subscription_id = _cancelling_subscription(stripe)
    async with _bot(telegram_server, slack_server, stripe_server, database_url) as bot:
        closing = await _to_the_offer(bot, subscription_id)
        stripe.end_subscription(subscription_id)

        await _tap(bot.fake, closing, "Accept 30% off")
        await slack_server.fake.async_wait_for(
            lambda f: any("Follow up by hand" in m["text"] for m in f.messages(ALERTS_CHANNEL))
        )
        await bot.fake.async_wait_for(
            lambda f: "couldn't apply your offer" in f.sent_messages(CHAT)[-1]["text"]
        )

    assert stripe.calls("subscriptions.update") == []
    (follow_up,) = [
        m["text"]
        for m in slack_server.fake.messages(ALERTS_CHANNEL)
        if "Follow up by hand" in m["text"]
    ]
    assert "the subscription has ended (canceled)" in follow_up
    assert _saved_alerts(slack_server) == []


async def test_the_whole_save_loop_from_a_cancellation_scheduled_in_stripe(
    telegram_server: TelegramServer,
    slack_server: SlackServer,
    stripe_server: StripeServer,
    database_url: str,
) -> None:
    stripe = stripe_server.fake
    settings = {**_settings(stripe_server, slack_server), "stripe_webhook_secret": WEBHOOK_SECRET}
    async with run_bot(telegram_server, database_url, **settings) as bot:
        token = await asyncio.to_thread(link_token, bot.deps, CUSTOMER)
        bot.fake.push_message(CHAT, f"/start {token}")
        await bot.fake.async_wait_for_messages(CHAT, 1)
        customer = stripe.create_customer(churnbot_customer_id=CUSTOMER)
        created = stripe.create_subscription(customer["id"], unit_amount=4900)
        subscription_id = str(created["data"]["object"]["id"])
        scheduled = stripe.schedule_cancel(subscription_id)
        async with httpx.AsyncClient(base_url=bot.http_url) as client:
            for event in (created, scheduled):
                body, headers = stripe.signed_delivery(event)
                response = await client.post("/api/stripe/webhook", content=body, headers=headers)
                assert response.status_code == 200, response.text

        question = (await bot.fake.async_wait_for_messages(CHAT, 2))[-1]
        await _tap(bot.fake, question, "too expensive")
        await bot.fake.async_wait_for(lambda f: "Skip" in str(_message(f, question["message_id"])))
        await _tap(bot.fake, _message(bot.fake, question["message_id"]), "Skip")
        await bot.fake.async_wait_for(
            lambda f: "Accept 30% off" in str(_message(f, question["message_id"]))
        )
        await _tap(bot.fake, _message(bot.fake, question["message_id"]), "Accept 30% off")
        await slack_server.fake.async_wait_for(lambda _: bool(_saved_alerts(slack_server)))
        now = datetime.now(UTC)
        period = Period(now - timedelta(days=1), now + timedelta(hours=1), "1d")
        figures = await asyncio.to_thread(
            run_unit,
            bot.deps.db,
            lambda session: compute_figures(
                session=session, period=period, now=now, roles=SurveyRoles.of(bot.deps.definitions)
            ),
        )

    assert _resumed_with_coupon(stripe, subscription_id)
    (saved,) = _saved_alerts(slack_server)
    assert "Revenue kept: 49.00 USD a month" in saved
    assert "Save rate: 100.0% (1 of 1 offer accepted), 49.00 USD a month saved" in stats_text(
        figures
    )
