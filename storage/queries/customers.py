"""Customers: look-up, upsert, chat linking, opt-out and erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.clock import utcnow
from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    CustomerNotice,
    Event,
    LabelCorrection,
    SurveyInvitation,
    TrainingExample,
)

PROFILE_FIELDS = (
    "name",
    "language",
    "timezone",
    "plan",
    "monthly_revenue",
    "telegram_chat_id",
    "stripe_customer_id",
)


def get_by_external_id(*, session: Session, external_id: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_id == external_id)).first()


def get_by_chat(*, session: Session, chat_id: int) -> Customer | None:
    return session.exec(select(Customer).where(Customer.telegram_chat_id == chat_id)).first()


def upsert_customer(
    *, session: Session, external_id: str, attributes: dict[str, Any] | None = None
) -> Customer:
    """Create the customer or update the given profile fields; other keys go to `attributes`."""
    customer = get_by_external_id(session=session, external_id=external_id)
    if customer is None:
        customer = Customer(external_id=external_id)
        session.add(customer)
    extra = dict(customer.attributes or {})
    chat_id = (attributes or {}).get("telegram_chat_id")
    if chat_id is not None and chat_id != customer.telegram_chat_id:
        _free_chat(session=session, chat_id=chat_id, keep=customer)
        customer.unreachable = False
    stripe_id = (attributes or {}).get("stripe_customer_id")
    if stripe_id is not None and stripe_id != customer.stripe_customer_id:
        _free_stripe_customer(session=session, stripe_customer_id=stripe_id, keep=customer)
    for key, value in (attributes or {}).items():
        if key in PROFILE_FIELDS:
            setattr(customer, key, value)
        else:
            extra[key] = value
    customer.attributes = extra
    customer.updated_at = utcnow()
    session.flush()
    return customer


def _free_chat(*, session: Session, chat_id: int, keep: Customer) -> None:
    """A chat belongs to one customer: take it away from any other holder."""
    previous = get_by_chat(session=session, chat_id=chat_id)
    if previous is not None and previous is not keep:
        previous.telegram_chat_id = None
        session.flush()


def _free_stripe_customer(*, session: Session, stripe_customer_id: str, keep: Customer) -> None:
    """A Stripe customer is one churnbot customer: the latest claim wins."""
    previous = session.exec(
        select(Customer).where(Customer.stripe_customer_id == stripe_customer_id)
    ).first()
    if previous is not None and previous is not keep:
        previous.stripe_customer_id = None
        session.flush()


def link_chat(*, session: Session, customer: Customer, chat_id: int, language: str | None) -> None:
    """Bind `chat_id` to `customer`, unbinding it from any other customer first."""
    _free_chat(session=session, chat_id=chat_id, keep=customer)
    customer.telegram_chat_id = chat_id
    customer.unreachable = False
    if language and not customer.language:
        customer.language = language
    customer.updated_at = utcnow()
    session.flush()


def set_opted_out(*, session: Session, customer: Customer, opted_out: bool) -> None:
    customer.opted_out = opted_out
    customer.updated_at = utcnow()
    session.flush()


def forget_customer(*, session: Session, customer_id: int) -> None:
    """Delete every row about the customer (explicit deletes: SQLite may run without FKs)."""
    answer_ids = select(Answer.id).where(col(Answer.customer_id) == customer_id)
    session.exec(delete(LabelCorrection).where(col(LabelCorrection.answer_id).in_(answer_ids)))
    session.exec(delete(TrainingExample).where(col(TrainingExample.answer_id).in_(answer_ids)))
    session.exec(
        delete(AnswerClassification).where(col(AnswerClassification.answer_id).in_(answer_ids))
    )
    session.exec(delete(Answer).where(col(Answer.customer_id) == customer_id))
    session.exec(delete(SurveyInvitation).where(col(SurveyInvitation.customer_id) == customer_id))
    session.exec(delete(CustomerNotice).where(col(CustomerNotice.customer_id) == customer_id))
    session.exec(delete(Event).where(col(Event.customer_id) == customer_id))
    session.exec(delete(Customer).where(col(Customer.id) == customer_id))
    session.flush()


def chat_holders(*, session: Session, chat_ids: list[int]) -> dict[int, str]:
    """Which customer (external id) holds each of `chat_ids` now, for those held."""
    holders: dict[int, str] = {}
    for start in range(0, len(chat_ids), 500):  # stay under SQLite's bound-parameter limit
        rows = session.exec(
            select(Customer.telegram_chat_id, Customer.external_id).where(
                Customer.telegram_chat_id.in_(chat_ids[start : start + 500])  # type: ignore[union-attr]
            )
        )
        holders.update(
            (chat_id, external_id) for chat_id, external_id in rows if chat_id is not None
        )
    return holders
