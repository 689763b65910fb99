"""Instance-wide values kept in the database (shared by every instance on it)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from storage.clock import utcnow
from storage.models import AppState


def get_or_create(*, session: Session, key: str, make: str) -> str:
    """Return the stored value of `key`, storing `make` first if there is none yet."""
    existing = session.get(AppState, key)
    if existing is not None:
        return existing.value
    try:
        with session.begin_nested():
            session.add(AppState(key=key, value=make))
    except IntegrityError:
        winner = session.get(AppState, key)
        assert winner is not None
        return winner.value
    return make


def get_value(*, session: Session, key: str) -> str | None:
    """The stored value of `key`, or None."""
    existing = session.get(AppState, key)
    return existing.value if existing is not None else None


def set_value(*, session: Session, key: str, value: str) -> None:
    """Store `value` under `key`, replacing any earlier value."""
    existing = session.get(AppState, key)
    if existing is None:
        session.add(AppState(key=key, value=value))
    else:
        existing.value = value
        existing.updated_at = utcnow()
        session.add(existing)
    session.flush()


def delete_value(*, session: Session, key: str) -> None:
    existing = session.get(AppState, key)
    if existing is not None:
        session.delete(existing)
        session.flush()
