"""Report periods: "7d", "2026-10", "2026-W46", "2026-10-01..2026-10-31", and their previous.

A period is a half-open UTC interval [start, end). Calendar periods (months, ISO weeks,
date ranges) begin and end at midnight in the business's time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIOD_HELP = "7d, 30d, 90d, 2026-10 (month), 2026-W46 (ISO week) or 2026-10-01..2026-10-31"
DEFAULT_PERIOD = "30d"

_DAYS = re.compile(r"(\d{1,4})d")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{1,2})", re.IGNORECASE)
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")


class PeriodError(ValueError):
    """The text is not a period; the message shows the accepted forms."""


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, with the label a person typed or would type."""

    start: datetime
    end: datetime
    label: str

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length that ends where this one starts."""
        return Period(self.start - self.length, self.start, f"before {self.label}")


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, zone).astimezone(UTC)


def _days(first: date, after_last: date, label: str, zone: ZoneInfo) -> Period:
    return Period(_midnight(first, zone), _midnight(after_last, zone), label)


def iso_week(year: int, week: int, zone: ZoneInfo | None = None) -> Period:
    """Monday to Sunday of ISO week `week` of `year`."""
    zone = zone or ZoneInfo("UTC")
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError as error:
        raise PeriodError(f"{year}-W{week:02d} is not an ISO week") from error
    return _days(monday, monday + timedelta(days=7), f"{year}-W{week:02d}", zone)


def week_label(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """The ISO week ("2026-W46") that `moment` falls in, in `zone`."""
    year, week, _ = moment.astimezone(zone or UTC).isocalendar()
    return f"{year}-W{week:02d}"


def previous_week(now: datetime, zone: ZoneInfo | None = None) -> Period:
    """The last complete ISO week before the one `now` is in."""
    local = now.astimezone(zone or UTC).date() - timedelta(days=7)
    year, week, _ = local.isocalendar()
    return iso_week(year, week, zone)


def parse_period(
    text: str | None, *, now: datetime, zone: ZoneInfo | None = None, default: str = DEFAULT_PERIOD
) -> Period:
    """Read a period; a rolling "Nd" ends now, calendar periods follow `zone`.

    A period that has not begun yet is refused: its figures would be zeros that look like
    a real (and excellent) result."""
    zone = zone or ZoneInfo("UTC")
    raw = (text or default).strip()
    try:
        period = _parse(raw, now, zone)
    except (ValueError, OverflowError) as error:
        if isinstance(error, PeriodError):
            raise
        raise PeriodError(f"{raw}: not a date churnbot can use ({error})") from error
    if period.start > now.astimezone(UTC):
        raise PeriodError(
            f"{raw} starts on {period.start.astimezone(zone):%Y-%m-%d}, after today "
            f"({now.astimezone(zone):%Y-%m-%d}): there are no figures for it yet"
        )
    return period


def _parse(raw: str, now: datetime, zone: ZoneInfo) -> Period:
    if match := _DAYS.fullmatch(raw):
        days = int(match.group(1))
        if not 1 <= days <= 3660:
            raise PeriodError(f"{raw}: use between 1d and 3660d")
        return Period(now.astimezone(UTC) - timedelta(days=days), now.astimezone(UTC), raw)
    if match := _WEEK.fullmatch(raw):
        return iso_week(int(match.group(1)), int(match.group(2)), zone)
    if match := _MONTH.fullmatch(raw):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{raw}: month must be 01 to 12")
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        return _days(first, after, raw, zone)
    if match := _RANGE.fullmatch(raw):
        try:
            first, last = (date.fromisoformat(part) for part in match.groups())
        except ValueError as error:
            raise PeriodError(f"{raw}: {error}") from error
        if last < first:
            raise PeriodError(f"{raw}: the end date is before the start date")
        return _days(first, last + timedelta(days=1), raw, zone)
    raise PeriodError(f"unknown period {raw!r}; use {PERIOD_HELP}")
