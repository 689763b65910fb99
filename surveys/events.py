"""Business events (interactions, cancellations, …) and the invitations they trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session

from storage.clock import as_utc
from storage.queries import customers as customer_queries
from storage.queries import events as event_queries
from storage.queries import invitations as invitation_queries
from surveys.definition import SurveyDefinition
from surveys.inbound import UnacceptableJson, clean_json

CUSTOMER_UPSERTED = "customer.upserted"
SUBSCRIPTION_STARTED = "subscription.started"
INTERACTION_COMPLETED = "interaction.completed"
SUBSCRIPTION_CANCELLED = "subscription.cancelled"
CUSTOMER_INACTIVE = "customer.inactive"
# The customer asked to cancel at the end of the period: still a customer, and still savable.
SUBSCRIPTION_CANCEL_SCHEDULED = "subscription.cancel_scheduled"
PAYMENT_FAILED = "payment.failed"
PAYMENT_RECOVERED = "payment.recovered"
EVENT_TYPES = (
    CUSTOMER_UPSERTED,
    SUBSCRIPTION_STARTED,
    INTERACTION_COMPLETED,
    SUBSCRIPTION_CANCELLED,
    CUSTOMER_INACTIVE,
    SUBSCRIPTION_CANCEL_SCHEDULED,
    PAYMENT_FAILED,
    PAYMENT_RECOVERED,
)
# Events naming a subscription: one exit survey per subscription whichever of them comes.
SUBSCRIPTION_ENDING = (SUBSCRIPTION_CANCELLED, SUBSCRIPTION_CANCEL_SCHEDULED)


EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


class EventError(ValueError):
    """The event cannot be recorded; the message names the field."""


@dataclass(frozen=True)
class EventInput:
    event_id: str
    type: str
    customer_id: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InvitationOutcome:
    """What is stored for one survey the event triggered (created now or found)."""

    id: int
    survey: str
    status: str
    created: bool
    reason: str | None = None
    subscription_ref: str | None = None


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    recorded: bool
    # Ids of the invitations this event created (an existing one is not repeated here).
    invitations: tuple[int, ...]
    details: tuple[InvitationOutcome, ...] = ()


def subscription_ref(event: EventInput) -> str | None:
    """The cancelled subscription's reference: one exit survey per subscription, however
    many cancel events (with different event ids) name it."""
    if event.type not in SUBSCRIPTION_ENDING:
        return None
    reference = event.data.get("reference")
    if not isinstance(reference, str) or not reference.strip():
        return None
    return reference.strip()


class BillingLink(Protocol):
    """What happens when a customer gets their billing customer id (`customer.upserted`
    with `stripe_customer_id`): the billing events that waited for them are applied.
    Passed in (`surveys.billing.stripe_intake.apply_waiting`), because that intake records
    its events through this module."""

    def __call__(
        self,
        session: Session,
        *,
        stripe_customer_id: str,
        surveys: dict[str, SurveyDefinition],
        now: datetime,
    ) -> int: ...


def record_event(
    session: Session,
    event: EventInput,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
    on_billing_link: BillingLink | None = None,
) -> EventOutcome:
    """Store the event once and create the invitations of every survey it triggers."""
    if event.type not in EVENT_TYPES:
        raise EventError(f"type: unknown event type {event.type!r}")
    if not event.event_id.strip():
        raise EventError("event_id: must not be empty")
    if not event.customer_id.strip():
        raise EventError("customer_id: must not be empty")
    existing = event_queries.get_by_source_id(session=session, source_event_id=event.event_id)
    if existing is not None:
        return EventOutcome(event.event_id, recorded=False, invitations=())
    profile = event.data if event.type == CUSTOMER_UPSERTED else None
    customer = customer_queries.upsert_customer(
        session=session, external_id=event.customer_id, attributes=profile
    )
    assert customer.id is not None
    stored, created = event_queries.record_event(
        session=session,
        source_event_id=event.event_id,
        type=event.type,
        customer_id=customer.id,
        occurred_at=as_utc(event.occurred_at),
        data=event.data,
    )
    if not created:
        return EventOutcome(event.event_id, recorded=False, invitations=())
    stripe_customer_id = (profile or {}).get("stripe_customer_id")
    if isinstance(stripe_customer_id, str) and on_billing_link is not None:
        on_billing_link(session, stripe_customer_id=stripe_customer_id, surveys=surveys, now=now)
    invitations: list[int] = []
    details: list[InvitationOutcome] = []
    reference = subscription_ref(event)
    for survey in surveys.values():
        if event.type not in survey.triggers:
            continue
        due = as_utc(event.occurred_at) + timedelta(minutes=survey.delivery.delay_minutes)
        invitation, created = invitation_queries.create_invitation(
            session=session,
            customer_id=customer.id,
            survey_key=survey.key,
            event_id=stored.id,
            due_at=max(due, now),
            expires_at=as_utc(event.occurred_at)
            + timedelta(hours=survey.delivery.expires_after_hours),
            now=now,
            subscription_ref=reference,
        )
        assert invitation.id is not None
        if created:
            if event.type == SUBSCRIPTION_CANCELLED and event.data.get("voluntary") is False:
                why = "involuntary cancellation (failed payment): no exit survey"
                invitation_queries.skip(session=session, skipped=[(invitation.id, why)], now=now)
                session.refresh(invitation)
            invitations.append(invitation.id)
        details.append(
            InvitationOutcome(
                id=invitation.id,
                survey=survey.key,
                status=invitation.status,
                created=created,
                reason=invitation.status_reason,
                subscription_ref=invitation.subscription_ref,
            )
        )
    return EventOutcome(
        event.event_id, recorded=True, invitations=tuple(invitations), details=tuple(details)
    )


class _Payload(BaseModel):
    """The JSON form of one event, as the HTTP API and the CLI accept it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=200)
    type: str
    customer_id: str = Field(min_length=1, max_length=200)
    occurred_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class _CustomerData(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=100)
    monthly_revenue: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    telegram_chat_id: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    stripe_customer_id: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]{1,60}$")


class _CancelData(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    reference: str | None = Field(default=None, max_length=200)
    voluntary: bool = True
    plan: str | None = None
    monthly_revenue: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class _InteractionData(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: str = Field(default="support_ticket", max_length=64)
    reference: str | None = Field(default=None, max_length=200)


class _InactiveData(BaseModel):
    model_config = ConfigDict(extra="allow")

    days: int | None = Field(default=None, ge=0)


_DATA_MODELS: dict[str, type[BaseModel]] = {
    CUSTOMER_UPSERTED: _CustomerData,
    SUBSCRIPTION_CANCELLED: _CancelData,
    SUBSCRIPTION_CANCEL_SCHEDULED: _CancelData,
    INTERACTION_COMPLETED: _InteractionData,
    CUSTOMER_INACTIVE: _InactiveData,
}


def parse_event(raw: object, *, now: datetime, where: str = "") -> EventInput:
    """Validate one JSON event; raise EventError naming the field (prefixed by `where`)."""
    if not isinstance(raw, dict):
        raise EventError(f"{where or 'event'}: must be a JSON object")
    try:
        # Every source (API, CLI, sandbox) gets the one inbound rule: no NUL, finite numbers.
        raw = clean_json(raw)
    except UnacceptableJson as error:
        raise EventError(f"{where}{error}") from error
    try:
        payload = _Payload.model_validate(raw)
    except ValidationError as error:
        raise EventError(_first_error(error, where)) from error
    if payload.type not in EVENT_TYPES:
        raise EventError(
            f"{where}type: unknown event type {payload.type!r} "
            f"(expected one of {', '.join(EVENT_TYPES)})"
        )
    data = payload.data
    model = _DATA_MODELS.get(payload.type)
    if model is not None:
        try:
            data = model.model_validate(data).model_dump(exclude_none=True)
        except ValidationError as error:
            raise EventError(_first_error(error, f"{where}data.")) from error
    occurred = _checked_moment(payload.occurred_at, now=now, field_name=f"{where}occurred_at")
    return EventInput(payload.event_id, payload.type, payload.customer_id, occurred, data)


def _checked_moment(moment: datetime | None, *, now: datetime, field_name: str) -> datetime:
    """`occurred_at` in UTC, refused outside [2000, now + 1 day]: anything else is a unit or
    clock mistake of the sender, and far dates overflow the date arithmetic of delivery."""
    if moment is None:
        return now
    try:
        occurred = as_utc(moment)
    except OverflowError as error:
        raise EventError(f"{field_name}: out of range") from error
    if occurred < EARLIEST_EVENT:
        raise EventError(f"{field_name}: before {EARLIEST_EVENT.year}")
    if occurred > now + FUTURE_TOLERANCE:
        raise EventError(f"{field_name}: more than a day in the future")
    return occurred


def _first_error(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    field_name = ".".join(str(part) for part in first["loc"])
    return f"{prefix}{field_name}: {first['msg']}"


def record_events(
    session: Session,
    batch: list[EventInput],
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
    on_billing_link: BillingLink | None = None,
) -> list[EventOutcome]:
    """Record a batch in the caller's transaction: all of it or, on error, none of it."""
    return [
        record_event(session, event, surveys=surveys, now=now, on_billing_link=on_billing_link)
        for event in batch
    ]
