"""Business events (interactions, cancellations, …) and the invitations they trigger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from storage.clock import as_utc
from storage.models import InvitationStatus
from storage.queries import customers as customer_queries
from storage.queries import events as event_queries
from storage.queries import invitations as invitation_queries
from surveys.definition import SurveyDefinition

CUSTOMER_UPSERTED = "customer.upserted"
SUBSCRIPTION_STARTED = "subscription.started"
INTERACTION_COMPLETED = "interaction.completed"
SUBSCRIPTION_CANCELLED = "subscription.cancelled"
CUSTOMER_INACTIVE = "customer.inactive"
EVENT_TYPES = (
    CUSTOMER_UPSERTED,
    SUBSCRIPTION_STARTED,
    INTERACTION_COMPLETED,
    SUBSCRIPTION_CANCELLED,
    CUSTOMER_INACTIVE,
)


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
class EventOutcome:
    event_id: str
    recorded: bool
    invitations: tuple[int, ...]


def record_event(
    session: Session,
    event: EventInput,
    *,
    surveys: dict[str, SurveyDefinition],
    now: datetime,
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
    invitations = []
    for survey in surveys.values():
        if event.type not in survey.triggers:
            continue
        due = as_utc(event.occurred_at) + timedelta(minutes=survey.delivery.delay_minutes)
        invitation, _ = invitation_queries.create_invitation(
            session=session,
            customer_id=customer.id,
            survey_key=survey.key,
            event_id=stored.id,
            due_at=max(due, now),
            expires_at=as_utc(event.occurred_at)
            + timedelta(hours=survey.delivery.expires_after_hours),
            now=now,
        )
        if event.type == SUBSCRIPTION_CANCELLED and event.data.get("voluntary") is False:
            invitation_queries.set_status(
                session=session,
                invitation=invitation,
                status=InvitationStatus.SKIPPED,
                now=now,
                reason="involuntary cancellation (failed payment): no exit survey",
            )
        assert invitation.id is not None
        invitations.append(invitation.id)
    return EventOutcome(event.event_id, recorded=True, invitations=tuple(invitations))
