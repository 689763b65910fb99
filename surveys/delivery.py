"""Delivery: the outbox of invitations, sent exactly once through a `Sender`.

A worker claims a batch of due invitations atomically (several instances never claim the
same row), marks each one just before its request leaves, and records the outcome right
after. After a crash, a claimed invitation without that mark was certainly not sent and
goes back to the outbox; one with the mark may have arrived, so it is recorded as sent but
unconfirmed and never repeated: a duplicate survey is worse than a missing one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.models import Customer, InvitationStatus, SurveyInvitation
from storage.queries import invitations as invitation_queries
from storage.session import transact, transact_statements
from surveys.engine import SurveyEngine
from surveys.quiet_hours import QuietHours, customer_zone
from surveys.replies import Prompt

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Invitations marked as leaving, and recorded, per transaction.
RECORD_CHUNK = 16


class RecipientUnreachable(Exception):
    """The chat refuses our messages (the customer blocked the bot or deleted the chat)."""


class DeliveryUncertain(Exception):
    """The message may or may not have arrived (timeout, connection lost mid-request)."""


class TemporaryFailure(Exception):
    """The message certainly did not arrive; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    async def send(self, chat_id: int, prompt: Prompt) -> int:
        """Send the prompt; return the platform's message id."""
        ...


@dataclass(frozen=True)
class DeliveryPolicy:
    """Instance-wide delivery settings (per-survey rules live in the definitions)."""

    zone: ZoneInfo
    quiet_hours: QuietHours | None = None
    batch: int = 200
    concurrency: int = 4
    # Longer than a batch takes to send (batch / messages per second), so a live worker's
    # claims are never mistaken for a dead one's.
    claim_timeout: timedelta = timedelta(minutes=2)


@dataclass(frozen=True)
class _Ready:
    invitation_id: int
    chat_id: int
    prompt: Prompt
    claimed_at: datetime | None = None


@dataclass
class DeliveryReport:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    expired: int = 0
    reminded: int = 0
    unconfirmed: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return any(
            (self.sent, self.skipped, self.failed, self.retried, self.expired, self.reminded)
        )


class Delivery:
    """One pass of the outbox: recover, expire, claim, send, record, remind."""

    def __init__(
        self,
        *,
        db: Engine,
        engine: SurveyEngine,
        sender: Sender,
        clock: Clock,
        policy: DeliveryPolicy,
    ) -> None:
        self._db = db
        self._engine = engine
        self._sender = sender
        self._clock = clock
        self._policy = policy
        self._fatigue_keys = [
            key for key, survey in engine.surveys.items() if survey.delivery.fatigue_days > 0
        ]

    @property
    def batch(self) -> int:
        return self._policy.batch

    async def run_once(self) -> DeliveryReport:
        report = DeliveryReport()
        report.expired = await transact(self._db, partial(self._recover, report=report))
        ready = await transact(self._db, partial(self._prepare_batch, report=report))
        # Outcomes are recorded a chunk at a time; two chunks run at once so one's database
        # work overlaps the other's sends. Sends themselves are limited to `concurrency`.
        gate = asyncio.Semaphore(self._policy.concurrency)
        pipeline = asyncio.Semaphore(2)

        async def chunk(items: list[_Ready]) -> None:
            async with pipeline:
                await self._send_chunk(items, report, gate)

        size = RECORD_CHUNK
        await asyncio.gather(
            *(chunk(ready[start : start + size]) for start in range(0, len(ready), size))
        )
        await self._remind(report, gate)
        return report

    # Recovery --------------------------------------------------------------------------

    def _recover(self, session: Session, report: DeliveryReport) -> int:
        now = self._clock()
        cutoff = now - self._policy.claim_timeout
        for invitation in invitation_queries.stale_claims(
            session=session, claimed_before=cutoff, started=False
        ):
            invitation_queries.release_claim(
                session=session, invitation=invitation, due_at=invitation.due_at
            )
        for invitation in invitation_queries.stale_claims(
            session=session, claimed_before=cutoff, started=True
        ):
            log.warning("invitation %s was interrupted mid-send; not resending", invitation.id)
            invitation_queries.set_status(
                session=session,
                invitation=invitation,
                status=InvitationStatus.SENT,
                now=now,
                reason="unconfirmed: interrupted during send, not repeated",
            )
            report.unconfirmed += 1
        return invitation_queries.expire_overdue(session=session, now=now)

    # Preparing -------------------------------------------------------------------------

    def _prepare_batch(self, session: Session, report: DeliveryReport) -> list[_Ready]:
        now = self._clock()
        ready: list[_Ready] = []
        chats: set[int] = set()
        claimed = invitation_queries.claim_due(session=session, now=now, limit=self._policy.batch)
        report.claimed = len(claimed)
        for invitation, customer in invitation_queries.with_customers(
            session=session, invitation_ids=claimed
        ):
            item = self._prepare(session, invitation, customer, report, chats)
            if item is not None:
                ready.append(item)
                chats.add(item.chat_id)
        return ready

    def _prepare(
        self,
        session: Session,
        invitation: SurveyInvitation,
        customer: Customer | None,
        report: DeliveryReport,
        chats: set[int],
    ) -> _Ready | None:
        now = self._clock()
        assert invitation.id is not None
        reason = self._skip_reason(session, customer, invitation)
        if reason is not None:
            invitation_queries.set_status(
                session=session,
                invitation=invitation,
                status=InvitationStatus.SKIPPED,
                now=now,
                reason=reason,
            )
            report.skipped += 1
            return None
        assert customer is not None
        assert customer.telegram_chat_id is not None
        survey = self._engine.surveys[invitation.survey_key]
        later = self._quiet_until(customer) if survey.delivery.quiet_hours else None
        if later is not None:
            invitation.status_reason = "deferred: quiet hours"
            invitation_queries.release_claim(session=session, invitation=invitation, due_at=later)
            report.deferred += 1
            return None
        if customer.telegram_chat_id in chats:
            # Telegram allows about one message a second per chat: the next pass takes it.
            invitation_queries.release_claim(session=session, invitation=invitation, due_at=now)
            return None
        invitation.send_attempts += 1
        prompt = self._engine.start(session, invitation, customer.language or "en")
        return _Ready(invitation.id, customer.telegram_chat_id, prompt, invitation.send_claimed_at)

    def _skip_reason(
        self, session: Session, customer: Customer | None, invitation: SurveyInvitation
    ) -> str | None:
        survey = self._engine.surveys.get(invitation.survey_key)
        if survey is None:
            return f"survey {invitation.survey_key!r} is not defined"
        if customer is None:
            return "customer no longer exists"
        if customer.opted_out:
            return "customer opted out"
        if customer.telegram_chat_id is None:
            return "customer has not linked a Telegram chat"
        if customer.unreachable:
            return "customer is unreachable (bot blocked)"
        days = survey.delivery.fatigue_days
        if days and invitation_queries.sent_recently(
            session=session,
            customer_id=customer.id or 0,
            survey_keys=self._fatigue_keys,
            since=self._clock() - timedelta(days=days),
        ):
            return f"survey fatigue: another survey was sent in the last {days} days"
        return None

    def _quiet_until(self, customer: Customer) -> datetime | None:
        quiet = self._policy.quiet_hours
        if quiet is None:
            return None
        zone = customer_zone(customer.timezone, self._policy.zone)
        return quiet.next_allowed(self._clock(), zone)

    # Sending ---------------------------------------------------------------------------

    async def _send_chunk(
        self, chunk: list[_Ready], report: DeliveryReport, gate: asyncio.Semaphore
    ) -> None:
        """Send a chunk in groups as wide as the concurrency: each group is marked as
        leaving right before it goes, so a crash can leave at most a group per running
        chunk marked but unsent; the whole chunk's outcomes are recorded together."""
        outcomes: list[tuple[_Ready, int | None, Exception | None]] = []
        width = self._policy.concurrency
        for start in range(0, len(chunk), width):
            group = chunk[start : start + width]
            started = self._clock()
            ours = await transact(
                self._db,
                lambda session, group=group, started=started: (
                    invitation_queries.mark_sends_started(
                        session=session,
                        claims=[(item.invitation_id, item.claimed_at) for item in group],
                        now=started,
                    )
                ),
            )
            lapsed = [item.invitation_id for item in group if item.invitation_id not in ours]
            if lapsed:
                log.warning("claims on invitations %s expired before sending", lapsed)
            outcomes += await asyncio.gather(
                *(self._attempt(item, gate) for item in group if item.invitation_id in ours)
            )
        await transact(self._db, partial(self._record_chunk, outcomes=outcomes, report=report))

    async def _attempt(
        self, ready: _Ready, gate: asyncio.Semaphore
    ) -> tuple[_Ready, int | None, Exception | None]:
        """Send one prompt; the outcome (message id or error) is recorded by the caller."""
        async with gate:
            try:
                return ready, await self._sender.send(ready.chat_id, ready.prompt), None
            except Exception as error:
                return ready, None, error

    def _record_chunk(
        self,
        session: Session,
        outcomes: list[tuple[_Ready, int | None, Exception | None]],
        report: DeliveryReport,
    ) -> None:
        delivered: list[tuple[int, int | None, str | None]] = []
        for ready, message_id, error in outcomes:
            if error is None:
                delivered.append((ready.invitation_id, message_id, None))
            elif isinstance(error, DeliveryUncertain):
                delivered.append((ready.invitation_id, None, f"unconfirmed: {error}"[:500]))
                report.unconfirmed += 1
            elif isinstance(error, RecipientUnreachable):
                self._unreachable(session, ready, str(error))
                report.failed += 1
            elif isinstance(error, TemporaryFailure):
                if self._retry_later(session, ready, error):
                    report.retried += 1
                else:
                    report.failed += 1
            else:
                log.error("sending invitation %s failed", ready.invitation_id, exc_info=error)
                reason = f"send failed: {type(error).__name__}: {error}"
                self._fail(session, ready, reason)
                report.failed += 1
                report.errors.append(reason)
        invitation_queries.record_sent(session=session, sent=delivered, now=self._clock())
        report.sent += len(delivered)

    def _fail(self, session: Session, ready: _Ready, reason: str) -> None:
        invitation = session.get(SurveyInvitation, ready.invitation_id)
        assert invitation is not None
        invitation_queries.set_status(
            session=session,
            invitation=invitation,
            status=InvitationStatus.FAILED,
            now=self._clock(),
            reason=reason[:500],
        )

    def _unreachable(self, session: Session, ready: _Ready, detail: str) -> None:
        invitation = session.get(SurveyInvitation, ready.invitation_id)
        assert invitation is not None
        customer = session.get(Customer, invitation.customer_id)
        if customer is not None:
            customer.unreachable = True
            session.add(customer)
        self._fail(session, ready, f"unreachable: {detail}")

    def _retry_later(self, session: Session, ready: _Ready, error: TemporaryFailure) -> bool:
        invitation = session.get(SurveyInvitation, ready.invitation_id)
        assert invitation is not None
        if invitation.send_attempts >= MAX_ATTEMPTS:
            self._fail(
                session, ready, f"gave up after {invitation.send_attempts} attempts: {error}"
            )
            return False
        backoff = max(error.retry_after, 2.0**invitation.send_attempts)
        invitation.current_step = None
        invitation.status_reason = f"retrying: {error}"[:500]
        invitation_queries.release_claim(
            session=session,
            invitation=invitation,
            due_at=self._clock() + timedelta(seconds=backoff),
        )
        return True

    # Reminders -------------------------------------------------------------------------

    async def _remind(self, report: DeliveryReport, gate: asyncio.Semaphore) -> None:
        items = await transact(self._db, self._prepare_reminders)

        async def send(item: _Ready) -> None:
            async with gate:
                try:
                    message_id = await self._sender.send(item.chat_id, item.prompt)
                except Exception as error:
                    # One reminder at most: a failed one is logged, never retried.
                    log.warning("reminder for invitation %s failed: %s", item.invitation_id, error)
                    return
                await transact_statements(
                    self._db,
                    lambda connection: self._engine.remember_message(
                        connection, item.invitation_id, message_id
                    ),
                )
                report.reminded += 1

        await asyncio.gather(*(send(item) for item in items))

    def _prepare_reminders(self, session: Session) -> list[_Ready]:
        now = self._clock()
        items: list[_Ready] = []
        for key, survey in self._engine.surveys.items():
            hours = survey.delivery.reminder_after_hours
            if not hours:
                continue
            for invitation_id in invitation_queries.claim_reminders(
                session=session,
                survey_key=key,
                sent_before=now - timedelta(hours=hours),
                now=now,
                limit=self._policy.batch,
            ):
                invitation = session.get(SurveyInvitation, invitation_id)
                customer = session.get(Customer, invitation.customer_id) if invitation else None
                if (
                    invitation is None
                    or customer is None
                    or customer.telegram_chat_id is None
                    or customer.opted_out
                    or customer.unreachable
                    or invitation.current_step is None
                ):
                    continue
                if survey.delivery.quiet_hours and self._quiet_until(customer) is not None:
                    invitation.reminder_sent_at = None  # try again after the quiet hours
                    session.add(invitation)
                    continue
                prompt = self._engine.reminder_for(invitation)
                items.append(_Ready(invitation_id, customer.telegram_chat_id, prompt))
        return items
