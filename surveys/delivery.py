"""Delivery: sends due invitations through a `Sender`, exactly once.

Each invitation is claimed with an atomic compare-and-set before its first question is
sent, and the outcome is recorded right after. A send whose outcome is unknown (a
timeout, or a crash between claim and record) is never repeated: it is recorded as sent
but unconfirmed, because a duplicate survey is worse than a missing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.models import Customer, InvitationStatus, SurveyInvitation
from storage.queries import invitations as invitation_queries
from storage.session import transact
from surveys.engine import SurveyEngine
from surveys.replies import Prompt

log = logging.getLogger(__name__)

INTERRUPTED_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 5


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
class _Ready:
    invitation_id: int
    chat_id: int
    prompt: Prompt


@dataclass
class DeliveryReport:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    expired: int = 0


class Delivery:
    """One pass of the outbox: expire, reconcile, claim, send, record."""

    def __init__(
        self, *, db: Engine, engine: SurveyEngine, sender: Sender, clock: Clock, batch: int = 200
    ) -> None:
        self._db = db
        self._engine = engine
        self._sender = sender
        self._clock = clock
        self._batch = batch

    async def run_once(self) -> DeliveryReport:
        report = DeliveryReport()
        report.expired = await transact(self._db, self._housekeeping)
        due = await transact(
            self._db,
            lambda s: invitation_queries.due_invitation_ids(
                session=s, now=self._clock(), limit=self._batch
            ),
        )
        for invitation_id in due:
            ready = await transact(
                self._db, lambda s, i=invitation_id: self._prepare(s, i, report)
            )
            if ready is not None:
                await self._send(ready, report)
        return report

    def _housekeeping(self, session: Session) -> int:
        now = self._clock()
        for invitation in invitation_queries.interrupted_sends(
            session=session, claimed_before=now - INTERRUPTED_AFTER
        ):
            log.warning("invitation %s was interrupted mid-send; not resending", invitation.id)
            invitation_queries.set_status(
                session=session,
                invitation=invitation,
                status=InvitationStatus.SENT,
                now=now,
                reason="unconfirmed: interrupted during send, not repeated",
            )
        return invitation_queries.expire_overdue(session=session, now=now)

    def _prepare(
        self, session: Session, invitation_id: int, report: DeliveryReport
    ) -> _Ready | None:
        now = self._clock()
        if not invitation_queries.claim_for_sending(
            session=session, invitation_id=invitation_id, now=now
        ):
            return None
        invitation = session.get(SurveyInvitation, invitation_id)
        assert invitation is not None
        customer = session.get(Customer, invitation.customer_id)
        reason = _skip_reason(customer, invitation, self._engine)
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
        invitation.send_attempts += 1
        prompt = self._engine.start(session, invitation, customer.language or "en")
        return _Ready(invitation_id, customer.telegram_chat_id, prompt)

    async def _send(self, ready: _Ready, report: DeliveryReport) -> None:
        try:
            message_id = await self._sender.send(ready.chat_id, ready.prompt)
        except RecipientUnreachable as error:
            await transact(self._db, partial(self._unreachable, ready=ready, detail=str(error)))
            report.failed += 1
        except TemporaryFailure as error:
            retried = await transact(
                self._db, partial(self._retry_later, ready=ready, error=error)
            )
            if retried:
                report.retried += 1
            else:
                report.failed += 1
        except DeliveryUncertain as error:
            reason = f"unconfirmed: {error}"
            await transact(
                self._db, partial(self._record, ready=ready, message_id=None, reason=reason)
            )
            report.sent += 1
        except Exception as error:
            log.exception("sending invitation %s failed", ready.invitation_id)
            reason = f"send failed: {type(error).__name__}: {error}"
            await transact(self._db, partial(self._fail, ready=ready, reason=reason))
            report.failed += 1
        else:
            await transact(
                self._db, partial(self._record, ready=ready, message_id=message_id, reason=None)
            )
            report.sent += 1

    def _record(
        self, session: Session, ready: _Ready, message_id: int | None, reason: str | None
    ) -> None:
        invitation = session.get(SurveyInvitation, ready.invitation_id)
        assert invitation is not None
        invitation.telegram_message_id = message_id
        invitation_queries.set_status(
            session=session,
            invitation=invitation,
            status=InvitationStatus.SENT,
            now=self._clock(),
            reason=reason,
        )

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
        invitation.send_claimed_at = None
        invitation.current_step = None
        invitation.due_at = self._clock() + timedelta(seconds=backoff)
        invitation.status_reason = f"retrying: {error}"[:500]
        session.add(invitation)
        return True


def _skip_reason(
    customer: Customer | None, invitation: SurveyInvitation, engine: SurveyEngine
) -> str | None:
    if invitation.survey_key not in engine.surveys:
        return f"survey {invitation.survey_key!r} is not defined"
    if customer is None:
        return "customer no longer exists"
    if customer.opted_out:
        return "customer opted out"
    if customer.telegram_chat_id is None:
        return "customer has not linked a Telegram chat"
    if customer.unreachable:
        return "customer is unreachable (bot blocked)"
    return None
