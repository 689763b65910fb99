"""Customer notices (a failed payment's message): queued once, claimed, sent at most once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Customer, CustomerNotice, NoticeStatus


@dataclass(frozen=True)
class ClaimedNotice:
    id: int
    kind: str
    chat_id: int | None
    language: str | None
    link: str | None
    amount: str | None
    reachable: bool


def queue_notice(
    *,
    session: Session,
    customer_id: int,
    kind: str,
    reference: str,
    link: str | None,
    amount: str | None,
    now: datetime,
) -> bool:
    """Queue the notice unless one of this kind names `reference`; return whether queued."""
    existing = session.exec(
        select(CustomerNotice.id).where(
            CustomerNotice.kind == kind, CustomerNotice.reference == reference
        )
    ).first()
    if existing is not None:
        return False
    notice = CustomerNotice(
        customer_id=customer_id,
        kind=kind,
        reference=reference,
        link=link,
        amount=amount,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(notice)
    except IntegrityError:
        return False
    return True


def claim_pending(*, session: Session, limit: int) -> list[ClaimedNotice]:
    """Mark up to `limit` pending notices as sending and return them with their chat."""
    rows = session.exec(
        select(CustomerNotice, Customer)
        .join(Customer, col(Customer.id) == CustomerNotice.customer_id)
        .where(CustomerNotice.status == NoticeStatus.PENDING)
        .order_by(col(CustomerNotice.created_at), col(CustomerNotice.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=CustomerNotice)
    ).all()
    claimed = []
    for notice, customer in rows:
        assert notice.id is not None
        notice.status = NoticeStatus.SENDING
        session.add(notice)
        claimed.append(
            ClaimedNotice(
                id=notice.id,
                kind=notice.kind,
                chat_id=customer.telegram_chat_id,
                language=customer.language,
                link=notice.link,
                amount=notice.amount,
                reachable=not (customer.opted_out or customer.unreachable),
            )
        )
    session.flush()
    return claimed


def finish(
    *,
    session: Session,
    notice_id: int,
    status: NoticeStatus,
    now: datetime,
    error: str | None = None,
) -> None:
    notice = session.get(CustomerNotice, notice_id)
    if notice is None:
        return
    notice.status = status
    notice.last_error = error[:500] if error else None
    if status == NoticeStatus.SENT:
        notice.sent_at = now
    session.add(notice)
    session.flush()
