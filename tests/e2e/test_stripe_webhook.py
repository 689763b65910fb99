"""Stripe as an event source, end to end: events signed as Stripe signs them (checked by the
real `stripe` library inside churnbot) over real HTTP, into the running application."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import stripe
from sqlmodel import Session, select

from storage.models import Answer, Customer, Event, StripeEvent, SurveyInvitation
from storage.session import run_unit
from tests.auxil.running_bot import RunningBot, run_bot
from tests.auxil.stripe_api import API_KEY, WEBHOOK_SECRET, FakeStripe, StripeServer, sign_payload
from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": "Bearer test-events-token"}
CHAT_ID = 4242


@pytest.fixture
async def bot(telegram_server: TelegramServer, database_url: str) -> AsyncIterator[RunningBot]:
    async with run_bot(
        telegram_server, database_url, stripe_webhook_secret=WEBHOOK_SECRET
    ) as running:
        yield running


def _ticking() -> Callable[[], float]:
    """A Stripe clock a second further at every reading (Stripe's `created` is in seconds:
    events of one second cannot be ordered), starting a minute ago."""
    seconds = itertools.count(int(time.time()) - 60)
    return lambda: float(next(seconds))


async def _deliver(bot: RunningBot, fake: FakeStripe, event: dict[str, Any]) -> httpx.Response:
    body, headers = fake.signed_delivery(event)
    async with httpx.AsyncClient(base_url=bot.http_url) as client:
        return await client.post("/api/stripe/webhook", content=body, headers=headers)


async def _query(bot: RunningBot, work: Any) -> Any:
    return await asyncio.to_thread(run_unit, bot.deps.db, work)


def _exit_invitations(session: Session) -> list[SurveyInvitation]:
    statement = select(SurveyInvitation).where(SurveyInvitation.survey_key == "exit")
    return list(session.exec(statement))


def _domain_events(session: Session) -> list[tuple[str, str]]:
    rows = session.exec(select(Event.source_event_id, Event.type).order_by(Event.id))
    return [(source, kind) for source, kind in rows if not source.endswith(":customer")]


async def _link_chat(bot: RunningBot, customer_id: str, **data: object) -> None:
    event = {
        "event_id": f"upsert-{customer_id}-{len(data)}",
        "type": "customer.upserted",
        "customer_id": customer_id,
        "data": {"telegram_chat_id": CHAT_ID, "language": "de", **data},
    }
    async with httpx.AsyncClient(base_url=bot.http_url, headers=AUTH) as client:
        response = await client.post("/api/events", json=event)
    assert response.status_code == 202, response.text


async def test_a_forged_or_missing_signature_gets_400_and_stores_nothing(bot: RunningBot) -> None:
    fake = FakeStripe(clock=_ticking())
    event = fake.create_subscription(fake.create_customer(churnbot_customer_id="c1")["id"])
    body, headers = fake.signed_delivery(event, secret="whsec_someone_else")
    stale_body, stale_headers = fake.signed_delivery(event, timestamp=1_600_000_000)

    async with httpx.AsyncClient(base_url=bot.http_url) as client:
        forged = await client.post("/api/stripe/webhook", content=body, headers=headers)
        missing = await client.post("/api/stripe/webhook", content=body)
        stale = await client.post("/api/stripe/webhook", content=stale_body, headers=stale_headers)
        tampered = await client.post(
            "/api/stripe/webhook",
            content=body.replace(b"c1", b"c2"),
            headers={"Stripe-Signature": sign_payload(body, WEBHOOK_SECRET)},
        )

    assert [r.status_code for r in (forged, missing, stale, tampered)] == [400] * 4
    assert await _query(bot, lambda s: s.exec(select(StripeEvent)).all()) == []
    assert await _query(bot, lambda s: s.exec(select(Customer)).all()) == []


async def test_a_replayed_event_is_recorded_once(bot: RunningBot) -> None:
    fake = FakeStripe(clock=_ticking())
    customer = fake.create_customer(churnbot_customer_id="cust-7")
    event = fake.create_subscription(customer["id"], unit_amount=120000, interval="year")

    first = await _deliver(bot, fake, event)
    again = await _deliver(bot, fake, event)

    assert first.status_code == again.status_code == 200
    assert first.json()["outcome"] == "subscription started"
    assert again.json()["duplicate"] is True
    subscription_id = event["data"]["object"]["id"]
    assert await _query(bot, _domain_events) == [
        (f"stripe:{event['id']}:profile", "customer.upserted"),
        (f"stripe:{subscription_id}:started", "subscription.started"),
    ]
    stored = await _query(
        bot, lambda s: s.exec(select(Customer).where(Customer.external_id == "cust-7")).one()
    )
    assert stored.stripe_customer_id == customer["id"]
    assert stored.monthly_revenue == 100.0  # 1,200.00 a year
    assert stored.plan == "Pro"


async def test_a_scheduled_cancel_sends_the_exit_survey_now_with_stripes_reason_stored(
    bot: RunningBot,
) -> None:
    fake = FakeStripe(clock=_ticking())
    await _link_chat(bot, "cust-9")
    customer = fake.create_customer(churnbot_customer_id="cust-9")
    created = fake.create_subscription(customer["id"])
    subscription_id = created["data"]["object"]["id"]
    scheduled = fake.schedule_cancel(
        subscription_id, feedback="switched_service", comment="Went with a rival"
    )
    ended = fake.end_subscription(subscription_id)

    for event in (created, scheduled):
        assert (await _deliver(bot, fake, event)).status_code == 200
    await bot.fake.async_wait_for(lambda f: bool(f.sent_messages(CHAT_ID)), timeout=15)
    assert (await _deliver(bot, fake, ended)).json()["outcome"] == "lost (voluntary)"

    invitations = await _query(bot, _exit_invitations)
    assert [(i.survey_key, i.subscription_ref) for i in invitations] == [("exit", subscription_id)]
    reasons = await _query(
        bot, lambda s: s.exec(select(Answer).where(Answer.question_key == "reason")).all()
    )
    assert [(a.choice_key, a.text, a.invitation_id) for a in reasons] == [
        ("competitor", "Went with a rival", None)
    ]
    kinds = [kind for _, kind in await _query(bot, _domain_events)]
    assert kinds[-2:] == ["subscription.cancel_scheduled", "subscription.cancelled"]


async def test_out_of_order_events_end_in_the_true_state(bot: RunningBot) -> None:
    with StripeServer(FakeStripe(clock=_ticking())) as stripe_server:
        outcomes = await _resume_before_schedule(bot, stripe_server)

    assert outcomes == [
        "nothing to do",
        "subscription started",
        "older than an update already applied: ignored",
    ]
    assert await _query(bot, _exit_invitations) == []


async def _resume_before_schedule(bot: RunningBot, stripe_server: StripeServer) -> list[str]:
    fake = stripe_server.fake
    customer = fake.create_customer(churnbot_customer_id="cust-o")
    created = fake.create_subscription(customer["id"])
    subscription_id = created["data"]["object"]["id"]
    scheduled = fake.schedule_cancel(subscription_id)
    client = stripe.StripeClient(API_KEY, base_addresses={"api": stripe_server.base})
    await asyncio.to_thread(
        client.v1.subscriptions.update, subscription_id, {"cancel_at_period_end": False}
    )
    resumed = fake.events("customer.subscription.updated")[-1]

    # Stripe delivers the resume first, then the creation, then the older scheduling.
    outcomes = [
        (await _deliver(bot, fake, event)).json()["outcome"]
        for event in (resumed, created, scheduled)
    ]
    return outcomes


async def test_a_deleted_subscription_before_its_creation_counts_the_customer_lost_once(
    bot: RunningBot,
) -> None:
    fake = FakeStripe(clock=_ticking())
    customer = fake.create_customer(churnbot_customer_id="cust-d")
    created = fake.create_subscription(customer["id"])
    subscription_id = created["data"]["object"]["id"]
    ended = fake.end_subscription(subscription_id, reason="payment_failed")

    assert (await _deliver(bot, fake, ended)).json()["outcome"] == "lost (involuntary)"
    assert (await _deliver(bot, fake, created)).json()["outcome"] == "subscription started"

    events = await _query(
        bot,
        lambda s: s.exec(
            select(Event).where(Event.type.in_(["subscription.started", "subscription.cancelled"]))  # type: ignore[attr-defined]
        ).all(),
    )
    ordered = sorted(events, key=lambda e: e.occurred_at)
    assert [e.type for e in ordered] == ["subscription.started", "subscription.cancelled"]
    assert ordered[1].data["voluntary"] is False
    invitations = await _query(bot, _exit_invitations)
    assert [i.status for i in invitations] == ["skipped"]


async def test_events_of_an_unknown_customer_wait_and_apply_when_linked(bot: RunningBot) -> None:
    fake = FakeStripe(clock=_ticking())
    customer = fake.create_customer()  # no churnbot_customer_id in Stripe
    created = fake.create_subscription(customer["id"], unit_amount=2900)
    subscription_id = created["data"]["object"]["id"]
    scheduled = fake.schedule_cancel(subscription_id, feedback="too_expensive")

    waiting = [(await _deliver(bot, fake, e)).json()["outcome"] for e in (created, scheduled)]
    assert waiting == ["waiting for the customer to be linked"] * 2
    assert await _query(bot, _exit_invitations) == []

    await _link_chat(bot, "cust-late", stripe_customer_id=customer["id"])

    await bot.fake.async_wait_for(lambda f: bool(f.sent_messages(CHAT_ID)), timeout=15)
    rows = await _query(bot, lambda s: s.exec(select(StripeEvent)).all())
    assert {row.status for row in rows} == {"applied"}
    invitations = await _query(bot, _exit_invitations)
    assert [(i.survey_key, i.subscription_ref) for i in invitations] == [("exit", subscription_id)]
    stored = await _query(
        bot, lambda s: s.exec(select(Customer).where(Customer.external_id == "cust-late")).one()
    )
    assert stored.monthly_revenue == 29.0


async def test_a_failed_payment_is_recorded_once_per_invoice_and_its_payment_recovers(
    bot: RunningBot,
) -> None:
    fake = FakeStripe(clock=_ticking())
    customer = fake.create_customer(churnbot_customer_id="cust-p")
    subscription_id = fake.create_subscription(customer["id"])["data"]["object"]["id"]
    failed = fake.fail_payment(subscription_id)
    invoice_id = failed["data"]["object"]["id"]
    failed_again = fake.retry_failed_payment(invoice_id)
    paid = fake.pay_invoice(invoice_id)

    outcomes = [
        (await _deliver(bot, fake, e)).json()["outcome"] for e in (failed, failed_again, paid)
    ]

    assert outcomes == ["payment failed", "payment failed", "payment recovered"]
    events = await _query(
        bot,
        lambda s: s.exec(select(Event).where(Event.type.like("payment.%"))).all(),  # type: ignore[attr-defined]
    )
    assert [e.type for e in events] == ["payment.failed", "payment.recovered"]
    assert events[0].data["hosted_invoice_url"].endswith(invoice_id)
    assert events[0].data["amount_due"] == 49.0


async def test_the_webhook_is_off_without_its_secret(running_bot: RunningBot) -> None:
    fake = FakeStripe(clock=_ticking())
    event = fake.create_subscription(fake.create_customer()["id"])
    response = await _deliver(running_bot, fake, event)
    assert response.status_code == 503


async def test_a_failed_payment_sends_its_link_once_per_invoice_in_the_customers_language(
    bot: RunningBot,
) -> None:
    fake = FakeStripe(clock=_ticking())
    await _link_chat(bot, "cust-pay")  # German
    customer = fake.create_customer(churnbot_customer_id="cust-pay")
    subscription_id = fake.create_subscription(customer["id"], unit_amount=4900)["data"]["object"][
        "id"
    ]
    failed = fake.fail_payment(subscription_id)
    invoice = failed["data"]["object"]
    failed_again = fake.retry_failed_payment(invoice["id"])

    for event in (failed, failed_again, failed):
        assert (await _deliver(bot, fake, event)).status_code == 200

    def payment_messages(f: Any) -> list[dict[str, Any]]:
        return [m for m in f.sent_messages(CHAT_ID) if "Zahlung" in (m.get("text") or "")]

    await bot.fake.async_wait_for(lambda f: bool(payment_messages(f)), timeout=15)
    await asyncio.sleep(1.0)  # a few delivery ticks: a second message would show by now
    sent = payment_messages(bot.fake)
    assert len(sent) == 1
    assert invoice["hosted_invoice_url"] in sent[0]["text"]
    assert "49.00 USD" in sent[0]["text"]


async def test_a_customer_named_only_in_stripes_customer_metadata_is_matched_through_the_api(
    telegram_server: TelegramServer, database_url: str
) -> None:
    with StripeServer(FakeStripe(clock=_ticking())) as stripe_server:
        fake = stripe_server.fake
        customer = fake.create_customer(churnbot_customer_id="cust-api")
        created = fake.create_subscription(customer["id"], metadata={})
        # Subscriptions made elsewhere carry no churnbot metadata of their own.
        created["data"]["object"]["metadata"] = {}
        async with run_bot(
            telegram_server,
            database_url,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_key=API_KEY,
            stripe_api_base_url=stripe_server.base,
        ) as running:
            response = await _deliver(running, fake, created)
            stored = await _query(
                running,
                lambda s: s.exec(select(Customer).where(Customer.external_id == "cust-api")).one(),
            )

    assert response.json()["outcome"] == "subscription started"
    assert [c.operation for c in fake.calls()] == ["customers.retrieve"]
    assert stored.stripe_customer_id == customer["id"]
