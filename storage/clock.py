"""Time helpers shared by every layer: timezone-aware UTC everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime, the form every table stores."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Convert to aware UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
