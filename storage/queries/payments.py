"""Failed payments and their recovery: the involuntary churn that was won back.

A recovery is a customer's `payment.recovered` event in the period preceded by one of
their `payment.failed` events; its revenue is the customer's monthly revenue. Both come
from the event(type, occurred_at, customer_id) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from storage.models import Customer, Event

PAYMENT_FAILED = "payment.failed"
PAYMENT_RECOVERED = "payment.recovered"


@dataclass(frozen=True)
class RecoveryCounts:
    failed: int
    recovered: int
    revenue_recovered: float


def payment_recoveries(*, session: Session, start: datetime, end: datetime) -> RecoveryCounts:
    """Customers whose payment failed in [start, end), and those who recovered in it
    after a failure (each customer once), with the monthly revenue of the recovered."""
    failed = session.execute(
        select(func.count(func.distinct(col(Event.customer_id)))).where(
            col(Event.type) == PAYMENT_FAILED,
            col(Event.occurred_at) >= start,
            col(Event.occurred_at) < end,
        )
    ).scalar_one()
    failure = aliased(Event)
    recovered_ids = (
        select(col(Event.customer_id))
        .where(
            col(Event.type) == PAYMENT_RECOVERED,
            col(Event.occurred_at) >= start,
            col(Event.occurred_at) < end,
            exists().where(
                and_(
                    col(failure.customer_id) == col(Event.customer_id),
                    col(failure.type) == PAYMENT_FAILED,
                    col(failure.occurred_at) <= col(Event.occurred_at),
                )
            ),
        )
        .distinct()
        .subquery()
    )
    recovered, revenue = session.execute(
        select(
            func.count(col(Customer.id)), func.coalesce(func.sum(col(Customer.monthly_revenue)), 0)
        ).where(col(Customer.id).in_(select(recovered_ids.c.customer_id)))
    ).one()
    return RecoveryCounts(int(failed), int(recovered), round(float(revenue), 2))
