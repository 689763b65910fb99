"""Delivery: the outbox of invitations, sent exactly once through a `Sender`.

A worker claims a batch of due invitations atomically (several instances never claim the
same row), marks each one just before its request leaves, and records the outcome right
after. After a crash, a claimed invitation without that mark was certainly not sent and
goes back to the outbox; one with the mark may have arrived, so it is recorded as sent but
unconfirmed and never repeated: a duplicate survey is worse than a missing one.

Only one instance sends at a time (`storage.leadership`): Telegram's budget is the bot's,
and one process paces it whatever the timing. The instance that becomes the sender knows
that every claim in the outbox was left by a sender that is gone, and recovers them at
once; a live sender recovers only claims older than the claim timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.leadership import SenderLock, SenderState
from storage.models import Customer, InvitationStatus, SurveyInvitation
from storage.queries import delivering
from storage.queries import invitations as invitation_queries
from storage.queries.delivering import DueInvitation
from storage.queries.invitations import InvitationState
from storage.session import transact
from surveys.engine import SurveyEngine
from surveys.quiet_hours import QuietHours, customer_zone
from surveys.replies import Prompt

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Invitations marked as leaving, and recorded, per transaction.
RECORD_CHUNK = 16
# Telegram allows about one message a second per chat: a chat's next message leaves this
# long after the previous one was answered (counted by Telegram no later than that).
CHAT_INTERVAL_SECONDS = 1.0
# Beyond this many chats remembered, those past their interval are forgotten.
CHAT_MEMORY = 1024
# A new sender on a shared database waits this long before its first send: the previous
# one may have sent a window's worth (30) in the last second, or still be finishing the
# chunk it started before it lost the role (16 messages at the pace, about 0.6 s).
HANDOVER_SECONDS = 2.0


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
    # What recording a failed first send needs (reminders are never retried).
    customer_id: int = 0
    attempts: int = 0


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
    # Another instance is the sender: this one did nothing.
    standby: bool = False
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
        lock: SenderLock | None = None,
    ) -> None:
        self._db = db
        self._lock = lock or SenderLock(db)
        # When each chat's last message was answered (monotonic clock), for the per-chat pace.
        self._chat_answered: dict[int, float] = {}
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
        state = await asyncio.to_thread(self._lock.acquire)
        if state is SenderState.STANDBY:
            report.standby = True
            return report
        if state is SenderState.ACQUIRED and self._lock.exclusive:
            await asyncio.sleep(HANDOVER_SECONDS)
        report.expired = await transact(
            self._db,
            partial(self._recover, report=report, all_claims=state is SenderState.ACQUIRED),
        )
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

    def close(self) -> None:
        """Stop being the sender (at shutdown), so another instance takes over at once."""
        self._lock.release()

    def _recover(self, session: Session, report: DeliveryReport, all_claims: bool) -> int:
        """Release claims whose send never started, close those whose send started; with
        `all_claims` (just became the sender) every claim, else those past the timeout."""
        now = self._clock()
        cutoff = None if all_claims else now - self._policy.claim_timeout
        released = delivering.release_unstarted_claims(session=session, claimed_before=cutoff)
        if released:
            log.info("%d claimed, unsent invitations of a sender that is gone released", released)
        for invitation_id in invitation_queries.close_interrupted_sends(
            session=session,
            claimed_before=cutoff,
            now=now,
            reason="unconfirmed: interrupted during send, not repeated",
        ):
            log.warning("invitation %s was interrupted mid-send; not resending", invitation_id)
            report.unconfirmed += 1
        return invitation_queries.expire_overdue(session=session, now=now)

    # Preparing -------------------------------------------------------------------------

    def _prepare_batch(self, session: Session, report: DeliveryReport) -> list[_Ready]:
        """Claim a batch and decide each invitation's fate: skipped, deferred, left for the
        next pass, or started; a few statements for the whole batch."""
        now = self._clock()
        claimed = delivering.claim_due(session=session, now=now, limit=self._policy.batch)
        report.claimed = len(claimed)
        due = delivering.due_with_customers(session=session, ids=claimed)
        tired = self._fatigued(session, due, now)
        skipped: list[tuple[int, str]] = []
        released: list[tuple[int, datetime, str | None]] = []
        started: list[InvitationState] = []
        ready: list[_Ready] = []
        chats: set[int] = set()
        for invitation in due:
            reason = self._skip_reason(invitation, tired)
            if reason is not None:
                skipped.append((invitation.id, reason))
                report.skipped += 1
                continue
            chat_id = invitation.telegram_chat_id
            assert chat_id is not None
            survey = self._engine.surveys[invitation.survey_key]
            later = (
                self._quiet_until(invitation.customer_timezone)
                if survey.delivery.quiet_hours
                else None
            )
            if later is not None:
                released.append((invitation.id, later, "deferred: quiet hours"))
                report.deferred += 1
                continue
            if chat_id in chats:
                # Telegram allows about one message a second per chat: the next pass takes it.
                released.append((invitation.id, now, None))
                continue
            chats.add(chat_id)
            language, step = self._engine.opening(
                invitation.survey_key, invitation.customer_language or "en"
            )
            begun = InvitationState(
                id=invitation.id,
                customer_id=invitation.customer_id,
                survey_key=invitation.survey_key,
                status=InvitationStatus.PENDING,
                current_step=step,
                language=language,
            )
            started.append(begun)
            ready.append(
                _Ready(
                    invitation.id,
                    chat_id,
                    self._engine.prompt_for(begun, step),
                    invitation.send_claimed_at,
                    customer_id=invitation.customer_id,
                    attempts=invitation.send_attempts + 1,
                )
            )
        invitation_queries.skip(session=session, skipped=skipped, now=now)
        delivering.release(session=session, releases=released)
        delivering.start(session=session, started=started)
        return ready

    def _fatigued(
        self, session: Session, due: list[DueInvitation], now: datetime
    ) -> dict[int, set[int]]:
        """For each fatigue period (days) of the batch's surveys, the batch's customers sent
        one of the fatigue-counting surveys within it: one query per distinct period."""
        customers: dict[int, set[int]] = {}
        for invitation in due:
            survey = self._engine.surveys.get(invitation.survey_key)
            days = survey.delivery.fatigue_days if survey is not None else 0
            if days and invitation.customer_exists:
                customers.setdefault(days, set()).add(invitation.customer_id)
        return {
            days: delivering.sent_since(
                session=session,
                customer_ids=ids,
                survey_keys=self._fatigue_keys,
                since=now - timedelta(days=days),
            )
            for days, ids in customers.items()
        }

    def _skip_reason(self, invitation: DueInvitation, tired: dict[int, set[int]]) -> str | None:
        survey = self._engine.surveys.get(invitation.survey_key)
        if survey is None:
            return f"survey {invitation.survey_key!r} is not defined"
        if not invitation.customer_exists:
            return "customer no longer exists"
        if invitation.opted_out:
            return "customer opted out"
        if invitation.telegram_chat_id is None:
            return "customer has not linked a Telegram chat"
        if invitation.unreachable:
            return "customer is unreachable (bot blocked)"
        days = survey.delivery.fatigue_days
        if days and invitation.customer_id in tired.get(days, ()):
            return f"survey fatigue: another survey was sent in the last {days} days"
        return None

    def _quiet_until(self, timezone: str | None) -> datetime | None:
        quiet = self._policy.quiet_hours
        if quiet is None:
            return None
        zone = customer_zone(timezone, self._policy.zone)
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
        if not await asyncio.to_thread(self._lock.held):
            # Another instance took over (and recovers these claims): send nothing more.
            log.warning("no longer the sender; %d claimed invitations left to it", len(chunk))
            return
        for start in range(0, len(chunk), width):
            group = chunk[start : start + width]
            started = self._clock()
            claims = [(item.invitation_id, item.claimed_at) for item in group]
            ours = await transact(
                self._db,
                partial(_mark_sends_started, claims=claims, now=started),
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
        await self._chat_turn(ready.chat_id)
        async with gate:
            try:
                return ready, await self._sender.send(ready.chat_id, ready.prompt), None
            except Exception as error:
                return ready, None, error
            finally:
                self._chat_answered[ready.chat_id] = time.monotonic()

    async def _chat_turn(self, chat_id: int) -> None:
        """Wait until the chat's previous message was answered a second ago. A batch has
        one message per chat; this spaces the last of one batch and the first of the next
        (and a reminder after a survey)."""
        now = time.monotonic()
        answered = self._chat_answered.get(chat_id)
        if answered is not None and now - answered < CHAT_INTERVAL_SECONDS:
            await asyncio.sleep(answered + CHAT_INTERVAL_SECONDS - now)
        if len(self._chat_answered) > CHAT_MEMORY:
            self._chat_answered = {
                chat: at
                for chat, at in self._chat_answered.items()
                if now - at < CHAT_INTERVAL_SECONDS
            }

    def _record_chunk(
        self,
        session: Session,
        outcomes: list[tuple[_Ready, int | None, Exception | None]],
        report: DeliveryReport,
    ) -> None:
        now = self._clock()
        delivered: list[tuple[int, int | None, str | None]] = []
        failed: list[tuple[int, str]] = []
        retried: list[tuple[int, datetime, str | None]] = []
        unreachable: list[int] = []
        for ready, message_id, error in outcomes:
            if error is None:
                delivered.append((ready.invitation_id, message_id, None))
            elif isinstance(error, DeliveryUncertain):
                delivered.append((ready.invitation_id, None, f"unconfirmed: {error}"[:500]))
                report.unconfirmed += 1
            elif isinstance(error, RecipientUnreachable):
                unreachable.append(ready.customer_id)
                failed.append((ready.invitation_id, f"unreachable: {error}"))
                report.failed += 1
            elif isinstance(error, TemporaryFailure):
                if ready.attempts >= MAX_ATTEMPTS:
                    reason = f"gave up after {ready.attempts} attempts: {error}"
                    failed.append((ready.invitation_id, reason))
                    report.failed += 1
                else:
                    backoff = max(error.retry_after, 2.0**ready.attempts)
                    later = now + timedelta(seconds=backoff)
                    retried.append((ready.invitation_id, later, f"retrying: {error}"[:500]))
                    report.retried += 1
            else:
                log.error("sending invitation %s failed", ready.invitation_id, exc_info=error)
                reason = f"send failed: {type(error).__name__}: {error}"
                failed.append((ready.invitation_id, reason))
                report.failed += 1
                report.errors.append(reason)
        invitation_queries.record_sent(session=session, sent=delivered, now=now)
        invitation_queries.fail(session=session, failed=failed, now=now)
        delivering.release(session=session, releases=retried)
        delivering.mark_unreachable(session=session, customer_ids=unreachable)
        report.sent += len(delivered)

    # Reminders -------------------------------------------------------------------------

    async def _remind(self, report: DeliveryReport, gate: asyncio.Semaphore) -> None:
        items = await transact(self._db, self._prepare_reminders)

        async def send(item: _Ready) -> None:
            await self._chat_turn(item.chat_id)
            async with gate:
                try:
                    message_id = await self._sender.send(item.chat_id, item.prompt)
                except Exception as error:
                    # One reminder at most: a failed one is logged, never retried.
                    log.warning("reminder for invitation %s failed: %s", item.invitation_id, error)
                    return
                finally:
                    self._chat_answered[item.chat_id] = time.monotonic()
                await transact(
                    self._db,
                    lambda session: self._engine.remember_message(
                        session, item.invitation_id, message_id
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
            for invitation_id in delivering.claim_reminders(
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
                if (
                    survey.delivery.quiet_hours
                    and self._quiet_until(customer.timezone) is not None
                ):
                    invitation.reminder_sent_at = None  # try again after the quiet hours
                    session.add(invitation)
                    continue
                prompt = self._engine.reminder_for(invitation)
                items.append(_Ready(invitation_id, customer.telegram_chat_id, prompt))
        return items


def _mark_sends_started(
    session: Session, *, claims: list[tuple[int, datetime | None]], now: datetime
) -> set[int]:
    return delivering.mark_sends_started(session=session, claims=claims, now=now)
