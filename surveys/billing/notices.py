"""Billing messages to customers (a failed payment with its payment link), in their language.

Queued in the same transaction as the event that asks for them, once per invoice, and sent
by the delivery job at most once: a notice is marked `sending` before the call, so a crash
mid-send never sends it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session

from storage.models import NoticeKind, NoticeStatus
from storage.queries import notices as notice_queries
from storage.session import transact
from surveys.delivery import (
    DeliveryUncertain,
    RecipientUnreachable,
    Sender,
    TemporaryFailure,
)
from surveys.i18n import Messages, pick_language
from surveys.replies import Prompt

log = logging.getLogger(__name__)


def queue_payment_failed(
    session: Session,
    *,
    customer_id: int,
    invoice_id: str,
    link: str | None,
    amount: str | None,
    now: datetime,
) -> bool:
    """Queue the payment-failed message of one invoice (a second call changes nothing)."""
    return notice_queries.queue_notice(
        session=session,
        customer_id=customer_id,
        kind=NoticeKind.PAYMENT_FAILED,
        reference=invoice_id,
        link=link,
        amount=amount,
        now=now,
    )


@dataclass
class NoticeReport:
    sent: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass(frozen=True)
class NoticeDelivery:
    """Sends queued notices through the chat platform's `Sender`."""

    db: Engine
    sender: Sender
    messages: Messages
    clock: Callable[[], datetime]
    batch: int = 50

    async def run_once(self) -> NoticeReport:
        report = NoticeReport()
        claimed = await transact(self.db, self._claim)
        for notice in claimed:
            status, error = await self._send(notice)
            field = _REPORT_FIELD[status]
            setattr(report, field, getattr(report, field) + 1)
            await transact(self.db, partial(self._finish, notice.id, status, error))
        return report

    def _claim(self, session: Session) -> list[notice_queries.ClaimedNotice]:
        return notice_queries.claim_pending(session=session, limit=self.batch)

    def _finish(
        self, notice_id: int, status: NoticeStatus, error: str | None, session: Session
    ) -> None:
        notice_queries.finish(
            session=session, notice_id=notice_id, status=status, now=self.clock(), error=error
        )

    async def _send(self, notice: notice_queries.ClaimedNotice) -> tuple[NoticeStatus, str | None]:
        if notice.chat_id is None or not notice.reachable:
            return NoticeStatus.SKIPPED, "no reachable chat"
        language = pick_language(notice.language)
        text = self.messages.get(
            notice.kind, language, amount=notice.amount or "", link=notice.link or ""
        )
        try:
            await self.sender.send(notice.chat_id, Prompt(text))
        except RecipientUnreachable as error:
            return NoticeStatus.SKIPPED, f"unreachable: {error}"
        except (DeliveryUncertain, TemporaryFailure) as error:
            # Not retried: a payment reminder twice is worse than once missing; Stripe's own
            # emails still reach the customer.
            log.warning("payment notice %d not confirmed: %s", notice.id, error)
            return NoticeStatus.FAILED, str(error)
        except Exception as error:  # the platform refused it: record why, never resend
            log.exception("payment notice %d refused", notice.id)
            return NoticeStatus.FAILED, type(error).__name__
        return NoticeStatus.SENT, None


_REPORT_FIELD = {
    NoticeStatus.SENT: "sent",
    NoticeStatus.SKIPPED: "skipped",
    NoticeStatus.FAILED: "failed",
}
