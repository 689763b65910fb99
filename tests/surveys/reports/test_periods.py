"""Periods typed by managers, and the period before each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from surveys.reports.periods import PeriodError, parse_period, previous_week, week_label

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize("days", [7, 30, 90])
def test_rolling_days_end_now(days: int) -> None:
    period = parse_period(f"{days}d", now=NOW)
    assert period.end == NOW
    assert period.start == NOW - timedelta(days=days)


def test_calendar_month_runs_from_the_first_to_the_next_first() -> None:
    period = parse_period("2026-10", now=NOW)
    assert (period.start, period.end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )


def test_december_ends_at_new_year() -> None:
    period = parse_period("2026-12", now=datetime(2026, 12, 5, tzinfo=UTC))
    assert period.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_iso_week_is_monday_to_monday() -> None:
    period = parse_period("2026-W46", now=NOW)
    assert period.start == datetime(2026, 11, 9, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 16, tzinfo=UTC)
    assert period.label == "2026-W46"


def test_date_range_includes_its_last_day() -> None:
    period = parse_period("2026-10-01..2026-10-31", now=NOW)
    assert period.start == datetime(2026, 10, 1, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 1, tzinfo=UTC)


def test_calendar_periods_follow_the_business_time_zone() -> None:
    period = parse_period("2026-10", now=NOW, zone=ZoneInfo("Europe/Berlin"))
    assert period.start == datetime(2026, 9, 30, 22, tzinfo=UTC)  # CEST midnight
    assert period.end == datetime(2026, 10, 31, 23, tzinfo=UTC)  # CET midnight


def test_previous_period_has_the_same_length_and_ends_at_the_start() -> None:
    for text in ("7d", "2026-W46", "2026-10-01..2026-10-10"):
        period = parse_period(text, now=NOW)
        before = period.previous()
        assert before.end == period.start
        assert before.length == period.length


def test_previous_week_is_the_last_complete_iso_week() -> None:
    assert previous_week(NOW).label == "2026-W46"
    assert week_label(NOW) == "2026-W47"
    monday_morning = datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert previous_week(monday_morning).label == "2026-W46"


def test_no_text_means_the_default_period() -> None:
    assert parse_period(None, now=NOW).label == "30d"


@pytest.mark.parametrize(
    "text",
    ["", "week", "0d", "2026-13", "2026-W54", "2026-10-31..2026-10-01", "2026-02-30..2026-03-01"],
)
def test_bad_periods_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text or "  ", now=NOW, default="")


@pytest.mark.parametrize("text", ["2027-W10", "2027-01", "2026-11-19..2026-11-30", "2026-W48"])
def test_periods_that_have_not_begun_are_refused_with_the_date(text: str) -> None:
    with pytest.raises(PeriodError, match="after today"):
        parse_period(text, now=NOW)


@pytest.mark.parametrize("text", ["0000-01", "0000-W01", "0001-01", "9999-12"])
def test_periods_outside_the_calendar_are_refused_not_raised(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, now=NOW, zone=ZoneInfo("Asia/Tokyo"))


def test_the_current_week_and_month_are_accepted_while_they_run() -> None:
    for text in ("2026-W47", "2026-11"):
        period = parse_period(text, now=NOW)
        assert period.start <= NOW < period.end
