"""Stripe as a second source of events: verified webhook events mapped into the intake.

Every Stripe event is recorded once by its id (`stripe_event`), then applied through
`surveys.events.record_event`, the one place events enter the domain. An event whose
Stripe customer matches no churnbot customer stays pending, and is applied when the
customer is linked (a `customer.upserted` carrying `stripe_customer_id`, or a later event
naming `metadata.churnbot_customer_id`). The mapping is documented in docs/stripe.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from storage.models import Answer, Customer, StripeEvent, StripeEventStatus
from storage.queries import customers as customer_queries
from storage.queries import stripe_events as stripe_queries
from surveys import events
from surveys.billing import notices
from surveys.definition import SurveyDefinition

CUSTOMER_ID_KEY = "churnbot_customer_id"
STRIPE_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{1,60}")


class StripeEventType(StrEnum):
    """The Stripe event types churnbot acts on (the ones to select in the dashboard)."""

    SUBSCRIPTION_CREATED = "customer.subscription.created"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
    INVOICE_PAID = "invoice.paid"


class Outcome(StrEnum):
    """What applying one Stripe event did (kept in stripe_event.outcome)."""

    DUPLICATE = "duplicate"
    WAITING = "waiting for the customer to be linked"
    STARTED = "subscription started"
    CANCEL_SCHEDULED = "cancellation scheduled: exit survey"
    STALE = "older than an update already applied: ignored"
    LOST_VOLUNTARY = "lost (voluntary)"
    LOST_INVOLUNTARY = "lost (involuntary)"
    PAYMENT_FAILED = "payment failed"
    RECOVERED = "payment recovered"
    NOTHING = "nothing to do"


# Stripe's cancellation_details.feedback → our reason categories.
FEEDBACK_CATEGORIES = {
    "too_expensive": "price",
    "missing_features": "missing_features",
    "switched_service": "competitor",
    "unused": "no_longer_needed",
    "customer_service": "poor_support",
    "too_complex": "hard_to_use",
    "low_quality": "bugs_reliability",
    "other": "other",
}
INVOLUNTARY_REASONS = frozenset({"payment_failed", "payment_disputed"})
# Days in an average month and week, to put every price on a monthly footing.
MONTHLY_FACTOR = {"day": 365.25 / 12, "week": 365.25 / 12 / 7, "month": 1.0, "year": 1 / 12}
# Currencies without minor units (Stripe amounts are in the smallest unit).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)


@dataclass(frozen=True)
class StripeNotice:
    """The parts of one verified Stripe event churnbot uses."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any]
    previous: dict[str, Any] = field(default_factory=dict)
    # Metadata of the Stripe customer, when the caller fetched it (the event lacks it).
    customer_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def stripe_customer_id(self) -> str | None:
        customer = self.object.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        return customer if isinstance(customer, str) else None

    @property
    def object_id(self) -> str | None:
        value = self.object.get("id")
        return value if isinstance(value, str) else None

    @property
    def churnbot_customer_id(self) -> str | None:
        """`metadata.churnbot_customer_id` of the object, its subscription, or the customer."""
        details = (self.object.get("parent") or {}).get("subscription_details") or {}
        for metadata in (
            self.object.get("metadata"),
            details.get("metadata"),
            self.customer_metadata,
        ):
            value = (metadata or {}).get(CUSTOMER_ID_KEY)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
        return None


@dataclass(frozen=True)
class ReceiveOutcome:
    event_id: str
    recorded: bool
    outcome: Outcome


def notice_from_event(event: dict[str, Any]) -> StripeNotice | None:
    """The notice of a verified event, or None for a type churnbot does not act on."""
    if event.get("type") not in set(StripeEventType):
        return None
    data = event.get("data") or {}
    obj = data.get("object")
    if not isinstance(obj, dict):
        return None
    return StripeNotice(
        id=str(event["id"]),
        type=str(event["type"]),
        created=datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC),
        object=obj,
        previous=data.get("previous_attributes") or {},
    )


def receive(
    session: Session,
    notice: StripeNotice,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> ReceiveOutcome:
    """Record the event once and apply it if its customer is known."""
    row, created = stripe_queries.record_stripe_event(
        session=session,
        event_id=notice.id,
        type=notice.type,
        created=notice.created,
        stripe_customer_id=notice.stripe_customer_id,
        object_id=notice.object_id,
        payload={"object": notice.object, "previous_attributes": notice.previous},
    )
    if not created:
        return ReceiveOutcome(notice.id, recorded=False, outcome=Outcome.DUPLICATE)
    customer = _match(session, notice, surveys=surveys, now=now)
    if customer is None:
        return ReceiveOutcome(notice.id, recorded=True, outcome=Outcome.WAITING)
    outcome = _apply(session, row, notice, customer, surveys=surveys, now=now)
    return ReceiveOutcome(notice.id, recorded=True, outcome=outcome)


def link_customer(
    session: Session,
    *,
    event_id: str,
    stripe_customer_id: str,
    churnbot_customer_id: str,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> Outcome:
    """Match a Stripe customer found by its own metadata (read from Stripe's API) to the
    churnbot customer it names, applying its waiting events; the outcome of `event_id`."""
    upsert = events.EventInput(
        event_id=f"stripe:{stripe_customer_id}:linked:{event_id}",
        type=events.CUSTOMER_UPSERTED,
        customer_id=churnbot_customer_id.strip()[:200],
        occurred_at=now,
        data={"stripe_customer_id": stripe_customer_id},
    )
    events.record_event(session, upsert, surveys=surveys, now=now, on_billing_link=apply_waiting)
    row = session.get(StripeEvent, event_id)
    if row is None or row.outcome not in set(Outcome):
        return Outcome.WAITING
    return Outcome(row.outcome)


def customer_for_link(
    session: Session,
    *,
    customer_id: str,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> Customer:
    """The customer `churnbot link` makes a link for. A Stripe customer id (`cus_…`) names
    the customer matched to it, or becomes one, applying the events that waited for it."""
    if STRIPE_CUSTOMER_ID.fullmatch(customer_id):
        known = stripe_queries.customer_by_stripe_id(
            session=session, stripe_customer_id=customer_id
        )
        if known is not None:
            return known
        upsert = events.EventInput(
            event_id=f"stripe:{customer_id}:link",
            type=events.CUSTOMER_UPSERTED,
            customer_id=customer_id,
            occurred_at=now,
            data={"stripe_customer_id": customer_id},
        )
        events.record_event(
            session, upsert, surveys=surveys, now=now, on_billing_link=apply_waiting
        )
    return customer_queries.upsert_customer(session=session, external_id=customer_id)


def apply_waiting(
    session: Session,
    *,
    stripe_customer_id: str,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> int:
    """Apply the pending events of a Stripe customer just matched, oldest first."""
    customer = stripe_queries.customer_by_stripe_id(
        session=session, stripe_customer_id=stripe_customer_id
    )
    if customer is None:
        return 0
    waiting = stripe_queries.pending_for_customer(
        session=session, stripe_customer_id=stripe_customer_id
    )
    for row in waiting:
        payload = row.payload or {}
        notice = StripeNotice(
            id=row.id,
            type=row.type,
            created=row.created,
            object=payload.get("object") or {},
            previous=payload.get("previous_attributes") or {},
        )
        _apply(session, row, notice, customer, surveys=surveys, now=now)
    return len(waiting)


def _match(
    session: Session,
    notice: StripeNotice,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> Customer | None:
    """The churnbot customer of the event: by metadata (which also stores the Stripe id,
    so later events without metadata match), else by the stored Stripe customer id."""
    stripe_id = notice.stripe_customer_id
    external_id = notice.churnbot_customer_id
    if external_id is not None:
        return _upsert(
            session,
            notice,
            external_id,
            {"stripe_customer_id": stripe_id},
            surveys=surveys,
            now=now,
        )
    if stripe_id is None:
        return None
    return stripe_queries.customer_by_stripe_id(session=session, stripe_customer_id=stripe_id)


def _upsert(
    session: Session,
    notice: StripeNotice,
    external_id: str,
    attributes: dict[str, Any],
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
    purpose: str = "customer",
) -> Customer | None:
    """Update the customer through the intake (`customer.upserted`), which also applies
    events of this Stripe customer that were waiting for it."""
    data = {key: value for key, value in attributes.items() if value is not None}
    known = customer_queries.get_by_external_id(session=session, external_id=external_id)
    if known is not None and all(getattr(known, key) == value for key, value in data.items()):
        return known
    upsert = events.EventInput(
        event_id=f"stripe:{notice.id}:{purpose}",
        type=events.CUSTOMER_UPSERTED,
        customer_id=external_id,
        occurred_at=notice.created,
        data=data,
    )
    events.record_event(session, upsert, surveys=surveys, now=now, on_billing_link=apply_waiting)
    return customer_queries.get_by_external_id(session=session, external_id=external_id)


def _apply(
    session: Session,
    row: StripeEvent,
    notice: StripeNotice,
    customer: Customer,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> Outcome:
    if row.status == StripeEventStatus.APPLIED:
        # Applied meanwhile: matching the customer applied the events waiting for them.
        return Outcome(row.outcome) if row.outcome in set(Outcome) else Outcome.NOTHING
    outcome = _map(session, notice, customer, surveys=surveys, now=now)
    stripe_queries.mark_applied(session=session, event=row, outcome=outcome, now=now)
    return outcome


def _map(
    session: Session,
    notice: StripeNotice,
    customer: Customer,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
) -> Outcome:
    """Record the domain events one Stripe event stands for (see docs/stripe.md)."""
    obj = notice.object
    kind = notice.type

    def record(suffix: str, type_: str, data: dict[str, Any]) -> events.EventOutcome:
        domain_event = events.EventInput(
            event_id=f"stripe:{suffix}",
            type=type_,
            customer_id=customer.external_id,
            occurred_at=notice.created,
            data=data,
        )
        return events.record_event(
            session, domain_event, surveys=surveys, now=now, on_billing_link=apply_waiting
        )

    if kind == StripeEventType.SUBSCRIPTION_CREATED:
        plan, revenue, currency = subscription_price(obj)
        _upsert(
            session,
            notice,
            customer.external_id,
            {"plan": plan, "monthly_revenue": revenue},
            surveys=surveys,
            now=now,
            purpose="profile",
        )
        record(
            f"{notice.object_id}:started",
            events.SUBSCRIPTION_STARTED,
            {"reference": notice.object_id, "plan": plan, "monthly_revenue": revenue}
            | ({"currency": currency} if currency else {}),
        )
        return Outcome.STARTED
    if kind == StripeEventType.SUBSCRIPTION_UPDATED:
        turned_true = obj.get("cancel_at_period_end") is True and (
            notice.previous.get("cancel_at_period_end") is False
        )
        if not turned_true:
            return Outcome.NOTHING
        if notice.object_id and stripe_queries.newer_applied_exists(
            session=session,
            object_id=notice.object_id,
            created=notice.created,
            types=(StripeEventType.SUBSCRIPTION_UPDATED,),
        ):
            return Outcome.STALE
        plan, revenue, _ = subscription_price(obj)
        record(
            f"{notice.id}:cancel_scheduled",
            events.SUBSCRIPTION_CANCEL_SCHEDULED,
            _cancel_data(notice.object_id, plan, revenue, voluntary=True),
        )
        _store_feedback(session, notice, customer)
        return Outcome.CANCEL_SCHEDULED
    if kind == StripeEventType.SUBSCRIPTION_DELETED:
        reason = (obj.get("cancellation_details") or {}).get("reason")
        voluntary = reason not in INVOLUNTARY_REASONS
        plan, revenue, _ = subscription_price(obj)
        record(
            f"{notice.object_id}:cancelled",
            events.SUBSCRIPTION_CANCELLED,
            _cancel_data(notice.object_id, plan, revenue, voluntary=voluntary),
        )
        if voluntary:
            _store_feedback(session, notice, customer)
            return Outcome.LOST_VOLUNTARY
        return Outcome.LOST_INVOLUNTARY
    if kind == StripeEventType.INVOICE_PAYMENT_FAILED:
        data = _invoice_data(obj)
        recorded = record(f"{notice.object_id}:payment_failed", events.PAYMENT_FAILED, data)
        if recorded.recorded and notice.object_id is not None:
            assert customer.id is not None
            amount = data.get("amount_due")
            notices.queue_payment_failed(
                session,
                customer_id=customer.id,
                invoice_id=notice.object_id,
                link=data.get("hosted_invoice_url"),
                amount=f"{amount:,.2f} {data['currency']}" if amount is not None else None,
                now=now,
            )
        return Outcome.PAYMENT_FAILED
    if kind == StripeEventType.INVOICE_PAID:
        failed = notice.object_id is not None and stripe_queries.applied_exists(
            session=session,
            object_id=notice.object_id,
            type=StripeEventType.INVOICE_PAYMENT_FAILED,
        )
        if not failed:
            return Outcome.NOTHING
        record(f"{notice.object_id}:recovered", events.PAYMENT_RECOVERED, _invoice_data(obj))
        return Outcome.RECOVERED
    return Outcome.NOTHING


def _cancel_data(
    reference: str | None, plan: str | None, revenue: float | None, *, voluntary: bool
) -> dict[str, Any]:
    data: dict[str, Any] = {"reference": reference, "voluntary": voluntary, "source": "stripe"}
    if plan is not None:
        data["plan"] = plan
    if revenue is not None:
        data["monthly_revenue"] = revenue
    return data


def _invoice_data(invoice: dict[str, Any]) -> dict[str, Any]:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or invoice.get("subscription")
    data: dict[str, Any] = {"reference": invoice.get("id"), "source": "stripe"}
    if isinstance(subscription, str):
        data["subscription"] = subscription
    link = invoice.get("hosted_invoice_url")
    if isinstance(link, str) and link.startswith("https://"):
        data["hosted_invoice_url"] = link
    currency = invoice.get("currency")
    amount = invoice.get("amount_due")
    if isinstance(currency, str) and isinstance(amount, int):
        data["amount_due"] = _major_units(amount, currency)
        data["currency"] = currency.upper()
    return data


def _store_feedback(session: Session, notice: StripeNotice, customer: Customer) -> None:
    """Stripe's cancellation feedback as an exit reason answer, once per subscription."""
    details = notice.object.get("cancellation_details") or {}
    category = FEEDBACK_CATEGORIES.get(str(details.get("feedback") or ""))
    comment = details.get("comment")
    comment = comment.strip()[:4096] if isinstance(comment, str) and comment.strip() else None
    if category is None and comment is None:
        return
    if notice.object_id is None or stripe_queries.applied_with_outcome(
        session=session,
        object_id=notice.object_id,
        outcomes=(Outcome.CANCEL_SCHEDULED, Outcome.LOST_VOLUNTARY),
    ):
        return
    assert customer.id is not None
    stripe_queries.record_billing_reason(
        session=session,
        answer=Answer(
            customer_id=customer.id,
            survey_key="exit",
            question_key="reason",
            choice_key=category or "other",
            text=comment,
            language=customer.language,
            answered_at=notice.created,
        ),
    )


def subscription_price(
    subscription: dict[str, Any],
) -> tuple[str | None, float | None, str | None]:
    """(plan, monthly revenue, currency) of a subscription: every item's price × quantity
    normalised to a month, in the subscription's currency (major units)."""
    items = (subscription.get("items") or {}).get("data") or []
    total = 0.0
    plan: str | None = None
    currency = subscription.get("currency")
    known = False
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {
            "interval": price.get("interval"),
            "interval_count": price.get("interval_count"),
        }
        amount = price.get("unit_amount", price.get("amount"))
        factor = MONTHLY_FACTOR.get(str(recurring.get("interval")))
        count = recurring.get("interval_count") or 1
        if not isinstance(amount, int) or factor is None or not isinstance(count, int):
            continue
        currency = currency or price.get("currency")
        quantity = item.get("quantity")
        quantity = quantity if isinstance(quantity, int) else 1
        total += _major_units(amount, str(currency or "")) * quantity * factor / count
        known = True
        if plan is None:
            name = price.get("nickname") or price.get("lookup_key") or price.get("id")
            plan = str(name)[:100] if name else None
    revenue = round(total, 2) if known else None
    return plan, revenue, currency.upper() if isinstance(currency, str) else None


def _major_units(amount: int, currency: str) -> float:
    return float(amount) if currency.lower() in ZERO_DECIMAL else amount / 100
