"""Win-back offers: the row made with the closing message, the customer's decision, the
outbox of accepted offers and their notices, and the save figures.

Claims are conditional UPDATEs, so two instances (or a handler and the sweep) never both
act on one offer; the caller owns the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, insert, or_, select, update
from sqlmodel import Session, col

from storage.models import (
    Customer,
    NoticeStatus,
    OfferStatus,
    SurveyInvitation,
    WinbackOffer,
)

Notice = Literal["customer_notice", "team_notice", "webhook_notice"]
ACCEPTED_STATUSES = (
    OfferStatus.ACCEPTED,
    OfferStatus.APPLIED,
    OfferStatus.HANDED_OVER,
    OfferStatus.REFUSED,
)
FINAL_STATUSES = (OfferStatus.APPLIED, OfferStatus.HANDED_OVER, OfferStatus.REFUSED)


@dataclass(frozen=True)
class NewOffer:
    invitation_id: int
    customer_id: int
    survey_key: str
    choice_key: str
    summary: str
    coupon: str | None
    resume: bool
    subscription_ref: str | None
    billing: bool
    idempotency_key: str
    offered_at: datetime


@dataclass(frozen=True)
class OfferContext:
    """An offer with what telling its outcome needs: the customer's chat and language."""

    offer: WinbackOffer
    external_id: str
    chat_id: int | None
    language: str


def record_offer(*, session: Session, offer: NewOffer) -> int:
    """Store the offer shown in an invitation's closing message; return its id (a Core
    insert on the session's connection: the answer path's hot spot)."""
    values = {
        "invitation_id": offer.invitation_id,
        "customer_id": offer.customer_id,
        "survey_key": offer.survey_key,
        "choice_key": offer.choice_key,
        "summary": offer.summary,
        "coupon": offer.coupon,
        "resume": offer.resume,
        "subscription_ref": offer.subscription_ref,
        "billing": offer.billing,
        "idempotency_key": offer.idempotency_key,
        "status": OfferStatus.OFFERED,
        "attempts": 0,
        "customer_notice": NoticeStatus.NONE,
        "team_notice": NoticeStatus.NONE,
        "webhook_notice": NoticeStatus.NONE,
        "webhook_attempts": 0,
        "offered_at": offer.offered_at,
        "updated_at": offer.offered_at,
    }
    result = session.connection().execute(insert(WinbackOffer).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def subscription_ref_of(*, session: Session, invitation_id: int) -> str | None:
    """The cancelled subscription an invitation is about (None if it is about none)."""
    statement = select(col(SurveyInvitation.subscription_ref)).where(
        col(SurveyInvitation.id) == invitation_id
    )
    return session.connection().execute(statement).scalar_one_or_none()


def offer_of_chat(*, session: Session, offer_id: int, chat_id: int) -> WinbackOffer | None:
    """The offer, if it was made to the customer of this chat (a tap from elsewhere is not
    theirs to answer)."""
    statement = (
        select(WinbackOffer)
        .join(Customer, col(Customer.id) == col(WinbackOffer.customer_id))
        .where(col(WinbackOffer.id) == offer_id, col(Customer.telegram_chat_id) == chat_id)
    )
    return session.execute(statement).scalars().first()


def invitation_language(*, session: Session, invitation_id: int) -> str | None:
    """The language the survey spoke (the offer's replies speak it too)."""
    statement = select(col(SurveyInvitation.language)).where(
        col(SurveyInvitation.id) == invitation_id
    )
    return session.execute(statement).scalar_one_or_none()


def decide(
    *,
    session: Session,
    offer_id: int,
    status: OfferStatus,
    now: datetime,
    monthly_revenue: float | None = None,
    customer_notice: NoticeStatus = NoticeStatus.NONE,
    team_notice: NoticeStatus = NoticeStatus.NONE,
    webhook_notice: NoticeStatus = NoticeStatus.NONE,
) -> bool:
    """Record the customer's answer to an offer still open; False if it was answered
    already (a double tap, or the same tap on two instances)."""
    result = session.execute(
        update(WinbackOffer)
        .where(col(WinbackOffer.id) == offer_id, col(WinbackOffer.status) == OfferStatus.OFFERED)
        .values(
            status=status,
            decided_at=now,
            updated_at=now,
            monthly_revenue=monthly_revenue,
            customer_notice=customer_notice,
            team_notice=team_notice,
            webhook_notice=webhook_notice,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def monthly_revenue_of(*, session: Session, customer_id: int) -> float | None:
    customer = session.get(Customer, customer_id)
    return customer.monthly_revenue if customer is not None else None


def due_for_apply(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Accepted offers whose (next) attempt is due, oldest first."""
    statement = (
        select(col(WinbackOffer.id))
        .where(
            col(WinbackOffer.status) == OfferStatus.ACCEPTED,
            or_(
                col(WinbackOffer.next_attempt_at).is_(None),
                col(WinbackOffer.next_attempt_at) <= now,
            ),
        )
        .order_by(col(WinbackOffer.id))
        .limit(limit)
    )
    return [int(row) for row in session.execute(statement).scalars()]


def claim_for_apply(
    *, session: Session, offer_id: int, now: datetime, lease_until: datetime
) -> WinbackOffer | None:
    """Take an accepted offer for one attempt until `lease_until`. A holder that dies leaves
    it to be taken again after the lease: harmless, as Stripe replays a write made with the
    same idempotency key instead of doing it twice."""
    result = session.execute(
        update(WinbackOffer)
        .where(
            col(WinbackOffer.id) == offer_id,
            col(WinbackOffer.status) == OfferStatus.ACCEPTED,
            or_(
                col(WinbackOffer.next_attempt_at).is_(None),
                col(WinbackOffer.next_attempt_at) <= now,
            ),
        )
        .values(
            next_attempt_at=lease_until,
            attempts=col(WinbackOffer.attempts) + 1,
            updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(WinbackOffer, offer_id, populate_existing=True)


def record_outcome(
    *,
    session: Session,
    offer_id: int,
    status: OfferStatus,
    now: datetime,
    error: str | None = None,
    customer_notice: NoticeStatus,
    team_notice: NoticeStatus,
    webhook_notice: NoticeStatus = NoticeStatus.NONE,
) -> None:
    """The apply attempt's final outcome, and who is to be told."""
    session.execute(
        update(WinbackOffer)
        .where(col(WinbackOffer.id) == offer_id)
        .values(
            status=status,
            applied_at=now if status == OfferStatus.APPLIED else None,
            next_attempt_at=None,
            last_error=error[:500] if error else None,
            customer_notice=customer_notice,
            team_notice=team_notice,
            webhook_notice=webhook_notice,
            updated_at=now,
        )
    )


def retry_apply(
    *, session: Session, offer_id: int, next_attempt_at: datetime, error: str, now: datetime
) -> None:
    session.execute(
        update(WinbackOffer)
        .where(col(WinbackOffer.id) == offer_id)
        .values(next_attempt_at=next_attempt_at, last_error=error[:500], updated_at=now)
    )


def with_pending_notices(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Offers with a notice still to send (a crash or a failure held it back)."""
    waiting = (NoticeStatus.PENDING, NoticeStatus.RETRY)
    statement = (
        select(col(WinbackOffer.id))
        .where(
            col(WinbackOffer.status).in_(FINAL_STATUSES),
            or_(
                col(WinbackOffer.customer_notice).in_(waiting),
                col(WinbackOffer.team_notice).in_(waiting),
                (col(WinbackOffer.webhook_notice).in_(waiting))
                & or_(
                    col(WinbackOffer.webhook_next_at).is_(None),
                    col(WinbackOffer.webhook_next_at) <= now,
                ),
            ),
        )
        .order_by(col(WinbackOffer.id))
        .limit(limit)
    )
    return [int(row) for row in session.execute(statement).scalars()]


def claim_notice(*, session: Session, offer_id: int, notice: Notice, now: datetime) -> bool:
    """Mark one notice as being sent; False if it is not waiting (sent, or someone else's).
    A sender that dies after this leaves it `sending`: never sent twice."""
    column = getattr(WinbackOffer, notice)
    conditions = [
        col(WinbackOffer.id) == offer_id,
        col(column).in_((NoticeStatus.PENDING, NoticeStatus.RETRY)),
    ]
    values: dict[str, object] = {notice: NoticeStatus.SENDING, "updated_at": now}
    if notice == "webhook_notice":
        conditions.append(
            or_(
                col(WinbackOffer.webhook_next_at).is_(None),
                col(WinbackOffer.webhook_next_at) <= now,
            )
        )
        values["webhook_attempts"] = col(WinbackOffer.webhook_attempts) + 1
    result = session.execute(update(WinbackOffer).where(*conditions).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_notice(
    *,
    session: Session,
    offer_id: int,
    notice: Notice,
    status: NoticeStatus,
    now: datetime,
    next_at: datetime | None = None,
) -> None:
    values: dict[str, object] = {notice: status, "updated_at": now}
    if notice == "webhook_notice":
        values["webhook_next_at"] = next_at
    session.execute(update(WinbackOffer).where(col(WinbackOffer.id) == offer_id).values(**values))


def context_of(*, session: Session, offer_id: int) -> OfferContext | None:
    """The offer with its customer's external id, chat and the survey's language."""
    statement = (
        select(
            WinbackOffer,
            col(Customer.external_id),
            col(Customer.telegram_chat_id),
            col(SurveyInvitation.language),
        )
        .join(Customer, col(Customer.id) == col(WinbackOffer.customer_id))
        .join(SurveyInvitation, col(SurveyInvitation.id) == col(WinbackOffer.invitation_id))
        .where(col(WinbackOffer.id) == offer_id)
        .execution_options(populate_existing=True)
    )
    row = session.execute(statement).first()
    if row is None:
        return None
    offer, external_id, chat_id, language = row
    return OfferContext(offer, str(external_id), chat_id, language or "en")


@dataclass(frozen=True)
class SaveMonth:
    """Offers of one calendar month (by when they were made)."""

    month: str  # YYYY-MM
    offered: int
    accepted: int
    saved: int  # applied in billing, or handed to the team to apply
    revenue_saved: float  # monthly revenue of the saved customers


def save_months(*, session: Session, since: datetime, until: datetime) -> list[SaveMonth]:
    """Per month: offers made, accepted, saved, and the monthly revenue they kept."""
    rows = session.execute(
        select(
            col(WinbackOffer.offered_at),
            col(WinbackOffer.status),
            col(WinbackOffer.monthly_revenue),
        ).where(col(WinbackOffer.offered_at) >= since, col(WinbackOffer.offered_at) < until)
    ).all()
    months: dict[str, list[float]] = {}
    for offered_at, status, revenue in rows:
        bucket = months.setdefault(offered_at.strftime("%Y-%m"), [0, 0, 0, 0.0])
        bucket[0] += 1
        if status in ACCEPTED_STATUSES:
            bucket[1] += 1
        if status in (OfferStatus.APPLIED, OfferStatus.HANDED_OVER):
            bucket[2] += 1
            bucket[3] += revenue or 0.0
    return [
        SaveMonth(month, int(b[0]), int(b[1]), int(b[2]), round(b[3], 2))
        for month, b in sorted(months.items())
    ]


def count_offers(*, session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(WinbackOffer)).scalar_one())
