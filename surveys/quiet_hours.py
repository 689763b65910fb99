"""Quiet hours: no survey reaches a customer at night in their own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class QuietHours:
    """A daily window such as 21:00-09:00 (it may cross midnight); empty means none."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        text = text.strip()
        if not text:
            return None
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        return None if start == end else cls(start, end)

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def next_allowed(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """None when `now` is outside the window, else the window's end (aware UTC)."""
        local = now.astimezone(zone)
        if not self.contains(local.time()):
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        # Rebuild through the zone so a DST change inside the window is respected.
        end = datetime.combine(end.date(), end.time(), tzinfo=zone)
        return end.astimezone(UTC)


def customer_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The customer's own time zone when it is known and valid, else the default."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default
