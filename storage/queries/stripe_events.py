"""Stripe webhook events: recorded once by id, pending until their customer is known."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import Answer, Customer, StripeEvent, StripeEventStatus


def record_stripe_event(
    *,
    session: Session,
    event_id: str,
    type: str,
    created: datetime,
    stripe_customer_id: str | None,
    object_id: str | None,
    payload: dict[str, Any],
) -> tuple[StripeEvent, bool]:
    """Insert the event as pending unless its id is known; return it and whether it is new.

    A concurrent delivery of the same event (Stripe retried while we were answering, or
    another instance) loses the race on the primary key inside a savepoint.
    """
    existing = session.get(StripeEvent, event_id)
    if existing is not None:
        return existing, False
    row = StripeEvent(
        id=event_id,
        type=type,
        created=created,
        stripe_customer_id=stripe_customer_id,
        object_id=object_id,
        payload=payload,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = session.get(StripeEvent, event_id)
        if winner is None:
            raise
        return winner, False
    return row, True


def mark_applied(*, session: Session, event: StripeEvent, outcome: str, now: datetime) -> None:
    event.status = StripeEventStatus.APPLIED
    event.outcome = outcome[:200]
    event.applied_at = now
    session.add(event)
    session.flush()


def pending_for_customer(*, session: Session, stripe_customer_id: str) -> list[StripeEvent]:
    """The customer's waiting events, oldest first (the order Stripe made them in)."""
    return list(
        session.exec(
            select(StripeEvent)
            .where(
                StripeEvent.stripe_customer_id == stripe_customer_id,
                StripeEvent.status == StripeEventStatus.PENDING,
            )
            .order_by(col(StripeEvent.created), col(StripeEvent.id))
        )
    )


def newer_applied_exists(
    *, session: Session, object_id: str, created: datetime, types: tuple[str, ...]
) -> bool:
    """Whether an event of `types` about `object_id`, made after `created`, was applied."""
    statement = select(StripeEvent.id).where(
        StripeEvent.object_id == object_id,
        col(StripeEvent.created) > created,
        col(StripeEvent.type).in_(types),
        StripeEvent.status == StripeEventStatus.APPLIED,
    )
    return session.exec(statement.limit(1)).first() is not None


def applied_exists(*, session: Session, object_id: str, type: str) -> bool:
    """Whether an event of `type` about `object_id` has been applied."""
    statement = select(StripeEvent.id).where(
        StripeEvent.object_id == object_id,
        StripeEvent.type == type,
        StripeEvent.status == StripeEventStatus.APPLIED,
    )
    return session.exec(statement.limit(1)).first() is not None


def customer_by_stripe_id(*, session: Session, stripe_customer_id: str) -> Customer | None:
    return session.exec(
        select(Customer).where(Customer.stripe_customer_id == stripe_customer_id)
    ).first()


def applied_with_outcome(*, session: Session, object_id: str, outcomes: tuple[str, ...]) -> bool:
    """Whether an applied event about `object_id` had one of `outcomes`."""
    statement = select(StripeEvent.id).where(
        StripeEvent.object_id == object_id,
        StripeEvent.status == StripeEventStatus.APPLIED,
        col(StripeEvent.outcome).in_(outcomes),
    )
    return session.exec(statement.limit(1)).first() is not None


def record_billing_reason(*, session: Session, answer: Answer) -> Answer:
    """Store a reason the billing system collected (no invitation: not asked in chat)."""
    session.add(answer)
    session.flush()
    return answer
