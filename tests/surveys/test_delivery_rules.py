"""Delivery rules with a controllable clock: delay, reminder, expiry, fatigue, quiet hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.context import Deps
from storage.models import Customer, InvitationStatus
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.delivery import Delivery, DeliveryPolicy
from surveys.quiet_hours import QuietHours
from surveys.replies import Prompt
from tests.auxil.environment import FakeClock
from tests.auxil.factories import invitation


class RecordingSender:
    """A Sender that records what would reach each chat (the domain's port, not PTB)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Prompt]] = []

    async def send(self, chat_id: int, prompt: Prompt) -> int:
        self.sent.append((chat_id, prompt))
        return len(self.sent)


def _delivery(deps: Deps, clock: FakeClock, sender: RecordingSender, quiet: str = "") -> Delivery:
    return Delivery(
        db=deps.db,
        engine=deps.surveys,
        sender=sender,
        clock=clock,
        policy=DeliveryPolicy(zone=ZoneInfo("Europe/Berlin"), quiet_hours=QuietHours.parse(quiet)),
    )


def _linked_customer(deps: Deps, external_id: str, chat_id: int, **profile: object) -> None:
    def work(session) -> None:
        customer = customer_queries.upsert_customer(
            session=session, external_id=external_id, attributes=dict(profile) or None
        )
        customer_queries.link_chat(
            session=session, customer=customer, chat_id=chat_id, language="en"
        )

    run_unit(deps.db, work)


def _event(deps: Deps, event_type: str, customer: str, ref: str, at: datetime) -> int:
    event = events.EventInput(f"{event_type}:{ref}", event_type, customer, at, {})
    outcome = run_unit(
        deps.db,
        lambda session: events.record_event(session, event, surveys=deps.definitions, now=at),
    )
    (invitation_id,) = outcome.invitations
    return invitation_id


async def test_csat_waits_for_its_delay_then_goes_out_once(deps: Deps, clock: FakeClock) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c1", 501)
    invitation_id = _event(deps, events.INTERACTION_COMPLETED, "c1", "t1", clock())
    delivery = _delivery(deps, clock, sender)
    await delivery.run_once()
    assert sender.sent == []
    clock.advance(minutes=59)
    await delivery.run_once()
    assert sender.sent == []
    clock.advance(minutes=1)
    await delivery.run_once()
    await delivery.run_once()
    assert [chat for chat, _ in sender.sent] == [501]
    assert invitation(deps.db, invitation_id).status == InvitationStatus.SENT


async def test_one_reminder_after_the_configured_hours_without_an_answer(
    deps: Deps, clock: FakeClock
) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c2", 502)
    _event(deps, events.SUBSCRIPTION_CANCELLED, "c2", "s2", clock())
    delivery = _delivery(deps, clock, sender)
    await delivery.run_once()
    clock.advance(hours=23)
    await delivery.run_once()
    assert len(sender.sent) == 1
    clock.advance(hours=1, minutes=1)
    report = await delivery.run_once()
    assert report.reminded == 1
    clock.advance(hours=30)
    await delivery.run_once()
    assert len(sender.sent) == 2
    reminder = sender.sent[1][1]
    assert reminder.text.startswith("A gentle reminder")
    assert "main reason" in reminder.text
    assert len([b for row in reminder.buttons for b in row]) == 11


async def test_unanswered_survey_expires_after_its_days(deps: Deps, clock: FakeClock) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c3", 503)
    invitation_id = _event(deps, events.SUBSCRIPTION_CANCELLED, "c3", "s3", clock())
    delivery = _delivery(deps, clock, sender)
    await delivery.run_once()
    clock.advance(hours=168)
    report = await delivery.run_once()
    assert report.expired == 1
    assert invitation(deps.db, invitation_id).status == InvitationStatus.EXPIRED


async def test_a_second_csat_within_the_fatigue_window_is_skipped_with_the_reason(
    deps: Deps, clock: FakeClock
) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c4", 504)
    delivery = _delivery(deps, clock, sender)
    first = _event(deps, events.INTERACTION_COMPLETED, "c4", "t1", clock())
    clock.advance(hours=2)
    await delivery.run_once()
    clock.advance(days=3)
    second = _event(deps, events.INTERACTION_COMPLETED, "c4", "t2", clock())
    clock.advance(hours=2)
    await delivery.run_once()
    assert invitation(deps.db, first).status == InvitationStatus.SENT
    skipped = invitation(deps.db, second)
    assert skipped.status == InvitationStatus.SKIPPED
    assert skipped.status_reason is not None
    assert skipped.status_reason.startswith("survey fatigue")
    clock.advance(days=15)
    third = _event(deps, events.INTERACTION_COMPLETED, "c4", "t3", clock())
    clock.advance(hours=2)
    await delivery.run_once()
    assert invitation(deps.db, third).status == InvitationStatus.SENT


async def test_exit_survey_is_sent_even_right_after_another_survey(
    deps: Deps, clock: FakeClock
) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c5", 505)
    delivery = _delivery(deps, clock, sender)
    _event(deps, events.INTERACTION_COMPLETED, "c5", "t1", clock())
    clock.advance(hours=2)
    await delivery.run_once()
    exit_id = _event(deps, events.SUBSCRIPTION_CANCELLED, "c5", "s5", clock())
    clock.advance(seconds=2)
    await delivery.run_once()
    assert invitation(deps.db, exit_id).status == InvitationStatus.SENT
    assert len(sender.sent) == 2


@pytest.mark.parametrize(
    ("timezone", "hour_utc", "held"),
    [
        (None, 21, True),  # 22:00 in Berlin (the default zone): quiet
        (None, 8, False),  # 09:00 in Berlin: allowed
        ("Asia/Seoul", 8, False),  # 17:00 in Seoul
        ("Asia/Seoul", 14, True),  # 23:00 in Seoul
    ],
)
async def test_quiet_hours_hold_surveys_until_morning_in_the_customers_zone(
    deps: Deps, timezone: str | None, hour_utc: int, held: bool
) -> None:
    clock = FakeClock(datetime(2026, 11, 2, hour_utc, 0, tzinfo=ZoneInfo("UTC")))
    sender = RecordingSender()
    profile = {"timezone": timezone} if timezone else {}
    _linked_customer(deps, "c6", 506, **profile)
    invitation_id = _event(deps, events.SUBSCRIPTION_CANCELLED, "c6", "s6", clock())
    delivery = _delivery(deps, clock, sender, quiet="21:00-09:00")
    await delivery.run_once()
    assert (sender.sent == []) is held
    if held:
        pending = invitation(deps.db, invitation_id)
        assert pending.status == InvitationStatus.PENDING
        assert pending.status_reason == "deferred: quiet hours"
        zone = ZoneInfo(timezone or "Europe/Berlin")
        assert pending.due_at.astimezone(zone).hour == 9
        clock.now = pending.due_at
        await delivery.run_once()
        assert len(sender.sent) == 1


async def test_involuntary_cancellation_records_the_exit_survey_as_skipped(
    deps: Deps, clock: FakeClock
) -> None:
    _linked_customer(deps, "c7", 507)
    event = events.EventInput(
        "cancel:c7", events.SUBSCRIPTION_CANCELLED, "c7", clock(), {"voluntary": False}
    )
    outcome = run_unit(
        deps.db,
        lambda session: events.record_event(session, event, surveys=deps.definitions, now=clock()),
    )
    skipped = invitation(deps.db, outcome.invitations[0])
    assert skipped.status == InvitationStatus.SKIPPED
    assert "involuntary" in (skipped.status_reason or "")


async def test_onboarding_and_checkin_surveys_follow_their_events(
    deps: Deps, clock: FakeClock
) -> None:
    sender = RecordingSender()
    _linked_customer(deps, "c8", 508)
    _linked_customer(deps, "c9", 509)
    delivery = _delivery(deps, clock, sender)
    _event(deps, events.SUBSCRIPTION_STARTED, "c8", "sub", clock())
    _event(deps, events.CUSTOMER_INACTIVE, "c9", "idle", clock())
    await delivery.run_once()
    assert [chat for chat, _ in sender.sent] == [509]
    assert "haven't seen you" in sender.sent[0][1].text
    clock.advance(days=2, hours=23)
    await delivery.run_once()
    assert [chat for chat, _ in sender.sent] == [509]
    clock.advance(hours=1)
    await delivery.run_once()
    onboarding = [prompt for chat, prompt in sender.sent if chat == 508]
    assert len(onboarding) == 1
    assert "get started" in onboarding[0].text
    assert len(onboarding[0].buttons[0]) == 7


async def test_customer_record_without_chat_is_skipped_never_silently(
    deps: Deps, clock: FakeClock
) -> None:
    invitation_id = _event(deps, events.SUBSCRIPTION_CANCELLED, "nochat", "s", clock())
    await _delivery(deps, clock, RecordingSender()).run_once()
    skipped = invitation(deps.db, invitation_id)
    assert skipped.status == InvitationStatus.SKIPPED
    assert skipped.status_reason == "customer has not linked a Telegram chat"
    assert run_unit(deps.db, lambda s: s.get(Customer, skipped.customer_id)) is not None
