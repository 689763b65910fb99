"""Words of the reports: plurals, one money format, comparisons a person would say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from surveys.reports.periods import parse_period
from surveys.reports.render import compared_with, money, plural

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class _Figures:
    """Only what `compared_with` reads."""

    period: Any
    previous: Any


def _figures(text: str) -> Any:
    period = parse_period(text, now=NOW)
    return _Figures(period, period.previous())


def test_one_of_a_thing_is_singular_and_more_are_plural() -> None:
    assert plural(1, "customer") == "1 customer"
    assert plural(0, "customer") == "0 customers"
    assert plural(2, "survey") == "2 surveys"


def test_money_always_has_two_decimals_and_the_currency() -> None:
    assert money(148) == "148.00 USD"
    assert money(68) == "68.00 USD"
    assert money(1234.5) == "1,234.50 USD"


def test_a_week_is_compared_with_the_week_before_by_name() -> None:
    assert compared_with(_figures("2026-W48")) == "the week before (2026-W47)"


def test_rolling_days_are_compared_with_the_previous_days() -> None:
    assert compared_with(_figures("30d")) == "the previous 30 days"


def test_a_month_is_compared_with_the_days_before_it_with_dates() -> None:
    assert compared_with(_figures("2026-10")) == (
        "the previous 31 days (2026-08-31 to 2026-09-30)"
    )
