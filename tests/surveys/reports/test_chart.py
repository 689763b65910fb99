"""The weekly chart's saves panel: drawn from the period's save and recovery figures, and
left out when the period had neither."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.context import Deps
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.chart import PNG_MAGIC, chart_figure, reasons_chart
from surveys.reports.figures import Figures, compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.saves import RecoveryFigures, SaveFigures

ROLES = SurveyRoles.of(load_definitions())
NOW = datetime(2026, 11, 16, 9, tzinfo=UTC)


@pytest.fixture
def empty_week(deps: Deps) -> Figures:
    with Session(deps.db) as session:
        return compute_figures(
            session=session, period=parse_period("2026-W46", now=NOW), now=NOW, roles=ROLES
        )


def _bars(figures: Figures) -> dict[str, dict[str, float]]:
    """Per axes title: each bar's y tick label and its length."""
    drawn: dict[str, dict[str, float]] = {}
    for axes in chart_figure(figures).axes:
        labels = [label.get_text() for label in axes.get_yticklabels()]
        widths = [patch.get_width() for patch in axes.patches]
        drawn[axes.get_title(loc="left")] = dict(zip(labels, widths, strict=False))
    return drawn


def test_the_chart_plots_offers_accepts_saves_and_recoveries_of_the_period(
    empty_week: Figures,
) -> None:
    figures = replace(
        empty_week,
        saves=SaveFigures(offered=3, accepted=2, saved=2, revenue_saved=98.0, months=()),
        recoveries=RecoveryFigures(failed=2, recovered=1, revenue_recovered=40.0),
    )

    assert _bars(figures)["Saves"] == {
        "offers made": 3,
        "offers accepted": 2,
        "saved": 2,
        "payments failed": 2,
        "recovered": 1,
    }
    assert reasons_chart(figures).startswith(PNG_MAGIC)


def test_the_chart_has_no_saves_panel_without_offers_or_failed_payments(
    empty_week: Figures,
) -> None:
    figures = replace(
        empty_week,
        saves=SaveFigures(offered=0, accepted=0, saved=0, revenue_saved=0.0, months=()),
        recoveries=RecoveryFigures(failed=0, recovered=0, revenue_recovered=0.0),
    )

    assert list(_bars(figures)) == ["Churn reasons · 2026-W46"]
