"""Involuntary churn recovered: a failed-then-recovered customer counts, one whose payment
failed and never recovered does not, nor a recovery without a failure before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.cli_reports import figures_json
from bot.context import Deps
from storage.queries.payments import payment_recoveries
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.figures import Figures, compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.render import stats_blocks, stats_text, summary_blocks
from tests.surveys.reports.dataset import Builder, at

ROLES = SurveyRoles.of(load_definitions())
NOW = datetime(2026, 11, 16, 9, tzinfo=UTC)
RECOVERED_LINE = (
    "Recovered: 1 customer after a failed payment (2 failed in the period), 40.00 USD a month"
)


@pytest.fixture
def payments(deps: Deps) -> None:
    with Session(deps.db) as session:
        build = Builder(session)
        for key, revenue in (("rec", 40.0), ("lost", 60.0), ("odd", 25.0)):
            build.customer(key, revenue=revenue)
            build.start(key, at(1, month=10))
        build.event("rec", "payment.failed", at(10), reference="in_1")
        build.event("rec", "payment.recovered", at(11), reference="in_1")
        build.event("lost", "payment.failed", at(12), reference="in_2")
        build.event("odd", "payment.recovered", at(13), reference="in_3")
        session.commit()


def figures_for(deps: Deps, text: str) -> Figures:
    with Session(deps.db) as session:
        period = parse_period(text, now=NOW)
        return compute_figures(session=session, period=period, now=NOW, roles=ROLES)


@pytest.mark.usefixtures("payments")
def test_recoveries_count_only_customers_who_paid_after_a_failure(deps: Deps) -> None:
    with Session(deps.db) as session:
        counts = payment_recoveries(session=session, start=at(9, hour=0), end=at(16, hour=0))

    assert (counts.failed, counts.recovered, counts.revenue_recovered) == (2, 1, 40.0)


@pytest.mark.usefixtures("payments")
def test_stats_json_and_summary_show_the_recovered_customers_beside_the_save_rate(
    deps: Deps,
) -> None:
    figures = figures_for(deps, "2026-W46")

    assert RECOVERED_LINE in stats_text(figures)
    assert figures_json(figures)["recoveries"] == {
        "payments_failed": 2,
        "payments_recovered": 1,
        "revenue_recovered_monthly": 40.0,
    }
    for rendered in (stats_blocks(figures), summary_blocks(figures)):
        fields = json.dumps(rendered.blocks)
        assert "*Recovered*" in fields
        assert "1 customer after a failed payment" in fields


@pytest.mark.usefixtures("payments")
def test_a_period_without_failed_payments_shows_no_recoveries(deps: Deps) -> None:
    figures = figures_for(deps, "2026-W45")

    assert "Recovered" not in stats_text(figures)
    assert "recoveries" not in figures_json(figures)
    assert "Recovered" not in json.dumps(summary_blocks(figures).blocks)
