"""Events: idempotent recording keyed by the source's event id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import Event


def get_by_source_id(*, session: Session, source_event_id: str) -> Event | None:
    return session.exec(select(Event).where(Event.source_event_id == source_event_id)).first()


def record_event(
    *,
    session: Session,
    source_event_id: str,
    type: str,
    customer_id: int,
    occurred_at: datetime,
    data: dict[str, Any] | None = None,
) -> tuple[Event, bool]:
    """Insert the event unless its source id is known; return it and whether it is new.

    A concurrent insert of the same id (another instance) loses the race on the unique
    constraint inside a savepoint and returns the winner's row.
    """
    existing = get_by_source_id(session=session, source_event_id=source_event_id)
    if existing is not None:
        return existing, False
    event = Event(
        source_event_id=source_event_id,
        type=type,
        customer_id=customer_id,
        occurred_at=occurred_at,
        data=data or {},
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        winner = get_by_source_id(session=session, source_event_id=source_event_id)
        if winner is None:
            raise
        return winner, False
    return event, True
