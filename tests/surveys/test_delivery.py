"""Delivery: due invitations go out exactly once; unknown outcomes are never repeated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session

from bot.context import Deps
from storage.models import InvitationStatus, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.queries import delivering
from storage.session import run_unit
from surveys import events
from surveys.delivery import (
    Delivery,
    DeliveryPolicy,
    DeliveryUncertain,
    RecipientUnreachable,
    TemporaryFailure,
)
from surveys.replies import Prompt
from tests.conftest import FakeClock
from tests.surveys.helpers import customer_row, invitation, queue_survey, say, tap

CHAT = 1001


class RecordingSender:
    """Records every send; raises the queued failures first, one per send."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, Prompt]] = []
        self.failures: list[Exception] = []
        self.attempts = 0
        self._next_message_id = 500

    def fail_next(self, error: Exception) -> None:
        self.failures.append(error)

    async def send(self, chat_id: int, prompt: Prompt) -> int:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat_id, prompt))
        self._next_message_id += 1
        return self._next_message_id


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def delivery(deps: Deps, sender: RecordingSender, clock: FakeClock) -> Delivery:
    return Delivery(
        db=deps.db,
        engine=deps.surveys,
        sender=sender,
        clock=clock,
        policy=DeliveryPolicy(zone=ZoneInfo("UTC"), quiet_hours=None),
    )


@pytest.fixture
def queue_due(deps: Deps, clock: FakeClock) -> Callable[..., int]:
    """Queue an invitation for a linked customer and move the clock to when it is due."""

    def queue(**options: Any) -> int:
        invitation_id = queue_survey(deps, **options)
        clock.now = max(clock.now, invitation(deps.db, invitation_id).due_at)
        return invitation_id

    return queue


async def test_due_invitation_is_sent_once_and_marked_sent_with_message_id(
    deps: Deps, delivery: Delivery, sender: RecordingSender, queue_due: Callable[..., int]
) -> None:
    invitation_id = queue_due(chat_id=CHAT)

    report = await delivery.run_once()

    assert report.sent == 1
    [(chat_id, prompt)] = sender.sent
    assert chat_id == CHAT
    assert prompt.invitation_id == invitation_id
    csat = deps.definitions["post_interaction"].question("csat")
    assert prompt.text.startswith(csat.text["en"])
    assert [button.label for button in prompt.buttons[0]] == ["1", "2", "3", "4", "5"]
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SENT
    assert stored.telegram_message_id == 501
    assert stored.sent_at == deps.clock()
    assert stored.current_step == "csat"
    assert stored.status_reason is None

    again = await delivery.run_once()

    assert again.sent == 0
    assert len(sender.sent) == 1


async def test_invitation_is_sent_in_the_customers_language(
    deps: Deps, delivery: Delivery, sender: RecordingSender, queue_due: Callable[..., int]
) -> None:
    invitation_id = queue_due(event_type=events.SUBSCRIPTION_CANCELLED, language="ko")

    await delivery.run_once()

    [(_, prompt)] = sender.sent
    assert prompt.text == deps.definitions["exit"].question("reason").text["ko"]
    assert invitation(deps.db, invitation_id).language == "ko"


async def test_opted_out_customers_invitation_is_skipped_with_reason(
    deps: Deps, delivery: Delivery, sender: RecordingSender, queue_due: Callable[..., int]
) -> None:
    invitation_id = queue_due()

    def opt_out(session: Session) -> None:
        customer = customer_queries.get_by_external_id(session=session, external_id="cust-1")
        assert customer is not None
        customer_queries.set_opted_out(session=session, customer=customer, opted_out=True)

    run_unit(deps.db, opt_out)

    report = await delivery.run_once()

    assert report.skipped == 1
    assert sender.attempts == 0
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SKIPPED
    assert stored.status_reason == "customer opted out"


async def test_unlinked_customers_invitation_is_skipped_with_reason(
    deps: Deps, delivery: Delivery, sender: RecordingSender, queue_due: Callable[..., int]
) -> None:
    invitation_id = queue_due(chat_id=None)

    report = await delivery.run_once()

    assert report.skipped == 1
    assert sender.attempts == 0
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SKIPPED
    assert stored.status_reason is not None
    assert "not linked" in stored.status_reason


async def test_unreachable_recipient_marks_customer_unreachable_and_invitation_failed(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    invitation_id = queue_due()
    sender.fail_next(RecipientUnreachable("Forbidden: bot was blocked by the user"))

    report = await delivery.run_once()

    assert report.failed == 1
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.FAILED
    assert stored.status_reason is not None
    assert "blocked" in stored.status_reason
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.unreachable is True

    clock.advance(hours=1)
    await delivery.run_once()
    assert sender.attempts == 1


async def test_temporary_failure_retries_later_and_sends_after_the_clock_advances(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    invitation_id = queue_due()
    sender.fail_next(TemporaryFailure("Too Many Requests", retry_after=30))

    report = await delivery.run_once()

    assert report.retried == 1
    assert sender.sent == []
    waiting = invitation(deps.db, invitation_id)
    assert waiting.status == InvitationStatus.PENDING
    assert waiting.send_claimed_at is None
    assert waiting.due_at == clock() + timedelta(seconds=30)

    await delivery.run_once()
    assert sender.attempts == 1

    clock.advance(seconds=31)
    later = await delivery.run_once()

    assert later.sent == 1
    assert sender.attempts == 2
    assert len(sender.sent) == 1
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SENT
    assert stored.telegram_message_id == 501
    assert stored.send_attempts == 2


async def test_uncertain_delivery_is_marked_sent_unconfirmed_and_never_resent(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    invitation_id = queue_due()
    sender.fail_next(DeliveryUncertain("timed out"))

    report = await delivery.run_once()

    assert report.sent == 1
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SENT
    assert stored.status_reason is not None
    assert stored.status_reason.startswith("unconfirmed")
    assert stored.telegram_message_id is None

    for _ in range(3):
        clock.advance(minutes=10)
        await delivery.run_once()
    assert sender.attempts == 1


class WorkerCrash(BaseException):
    """The process dies while the request is in flight (not an error the sender reports)."""


async def test_send_interrupted_mid_request_becomes_sent_unconfirmed_and_is_never_resent(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    invitation_id = queue_due()
    sender.fail_next(WorkerCrash())
    with pytest.raises(WorkerCrash):
        await delivery.run_once()
    assert sender.attempts == 1

    clock.advance(minutes=1)
    await delivery.run_once()
    assert invitation(deps.db, invitation_id).status == InvitationStatus.PENDING

    clock.advance(minutes=1, seconds=1)
    await delivery.run_once()

    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SENT
    assert stored.status_reason is not None
    assert stored.status_reason.startswith("unconfirmed")
    clock.advance(hours=2)
    await delivery.run_once()
    assert sender.attempts == 1


async def test_claims_of_a_sender_that_is_gone_are_sent_at_once_by_the_next_sender(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    unstarted = queue_due(customer="cust-1", chat_id=CHAT)
    interrupted = queue_due(customer="cust-2", chat_id=CHAT + 1)
    # The previous sender claimed both, started sending one, then died.
    run_unit(
        deps.db,
        lambda session: delivering.claim_due(session=session, now=clock(), limit=10),
    )
    with deps.db.begin() as connection:
        connection.execute(
            update(SurveyInvitation)
            .where(SurveyInvitation.id == interrupted)  # type: ignore[arg-type]
            .values(send_started_at=clock())
        )

    # This sender's first pass, long before the claim timeout.
    clock.advance(seconds=1)
    report = await delivery.run_once()

    assert report.sent == 1
    assert [chat for chat, _ in sender.sent] == [CHAT]
    assert invitation(deps.db, unstarted).status == InvitationStatus.SENT
    closed = invitation(deps.db, interrupted)
    assert closed.status == InvitationStatus.SENT
    assert (closed.status_reason or "").startswith("unconfirmed")
    await delivery.run_once()
    assert sender.attempts == 1


async def test_claim_abandoned_under_a_live_sender_is_sent_once_after_the_claim_timeout(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    await delivery.run_once()  # this instance is the sender from now on
    invitation_id = queue_due()
    # A pass of this sender claimed the due invitations, then failed before any request
    # left; the claim may still be in use, so only the timeout frees it.
    claimed = run_unit(
        deps.db,
        lambda session: delivering.claim_due(session=session, now=clock(), limit=10),
    )
    assert claimed == [invitation_id]

    clock.advance(minutes=1)
    await delivery.run_once()
    assert sender.attempts == 0

    clock.advance(minutes=1, seconds=1)
    await delivery.run_once()
    await delivery.run_once()

    assert sender.attempts == 1
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.SENT
    assert stored.status_reason is None


async def test_invitation_past_its_expiry_is_expired_not_sent(
    deps: Deps,
    delivery: Delivery,
    sender: RecordingSender,
    clock: FakeClock,
    queue_due: Callable[..., int],
) -> None:
    invitation_id = queue_due()
    expires_at = invitation(deps.db, invitation_id).expires_at
    assert expires_at is not None
    clock.now = expires_at + timedelta(seconds=1)

    report = await delivery.run_once()

    assert report.expired == 1
    assert sender.attempts == 0
    assert invitation(deps.db, invitation_id).status == InvitationStatus.EXPIRED


async def test_invitation_not_yet_due_is_not_sent(
    deps: Deps, delivery: Delivery, sender: RecordingSender, clock: FakeClock
) -> None:
    invitation_id = queue_survey(deps, event_type=events.SUBSCRIPTION_CANCELLED)

    def postpone(session: Session) -> None:
        row = session.get(SurveyInvitation, invitation_id)
        assert row is not None
        row.due_at = clock() + timedelta(hours=1)
        session.add(row)

    run_unit(deps.db, postpone)

    report = await delivery.run_once()

    assert report.sent == 0
    assert sender.attempts == 0
    assert invitation(deps.db, invitation_id).status == InvitationStatus.PENDING

    clock.advance(hours=1)
    assert (await delivery.run_once()).sent == 1
    assert sender.attempts == 1


class TappingSender(RecordingSender):
    """A customer so quick that their tap is stored before we record the send."""

    def __init__(self, deps: Deps) -> None:
        super().__init__()
        self.deps = deps

    async def send(self, chat_id: int, prompt: Prompt) -> int:
        message_id = await super().send(chat_id, prompt)
        await asyncio.to_thread(tap, self.deps, chat_id, prompt.buttons[0][0].data)
        return message_id


async def test_tap_stored_before_the_send_is_recorded_keeps_progress_and_the_message_id(
    deps: Deps, clock: FakeClock, queue_due: Callable[..., int]
) -> None:
    sender = TappingSender(deps)
    delivery = Delivery(
        db=deps.db,
        engine=deps.surveys,
        sender=sender,
        clock=clock,
        policy=DeliveryPolicy(zone=ZoneInfo("UTC"), quiet_hours=None),
    )
    invitation_id = queue_due(chat_id=CHAT)

    report = await delivery.run_once()

    assert report.sent == 1
    stored = invitation(deps.db, invitation_id)
    assert stored.status == InvitationStatus.IN_PROGRESS
    assert stored.sent_at is not None
    assert stored.telegram_message_id == 501
    # The survey message is known, so a typed answer updates its recap.
    reply = await asyncio.to_thread(say, deps, CHAT, "the agent was great")
    assert [edit.message_id for edit in reply.edits] == [501]


async def test_a_pass_claims_no_more_than_its_batch(
    deps: Deps, sender: RecordingSender, clock: FakeClock, queue_due: Callable[..., int]
) -> None:
    for n in range(8):
        queue_due(customer=f"batch-{n}", chat_id=CHAT + n)
    delivery = Delivery(
        db=deps.db,
        engine=deps.surveys,
        sender=sender,
        clock=clock,
        policy=DeliveryPolicy(zone=ZoneInfo("UTC"), quiet_hours=None, batch=3),
    )

    report = await delivery.run_once()

    assert (report.claimed, report.sent, len(sender.sent)) == (3, 3, 3)
