"""Churn figures on a history whose true values are known (tests/surveys/reports/dataset.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.context import Deps
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.figures import (
    NO_CUSTOMERS_AT_START,
    NO_REVENUE_AT_START,
    NOT_ENOUGH_DATA,
    Figures,
    compute_figures,
)
from surveys.reports.periods import parse_period
from tests.surveys.reports.dataset import KNOWN, Builder, at, build

ROLES = SurveyRoles.of(load_definitions())

NOW = datetime(2026, 11, 16, 9, tzinfo=UTC)


def figures_for(deps: Deps, text: str) -> Figures:
    with Session(deps.db) as session:
        period = parse_period(text, now=NOW)
        return compute_figures(
            session=session, period=period, now=NOW, roles=ROLES, quoted_reasons=11
        )


@pytest.fixture
def known(deps: Deps) -> Figures:
    build(deps.db)
    return figures_for(deps, "2026-W46")


def test_customer_counts_match_the_event_timeline(known: Figures) -> None:
    customers = known.customers
    assert customers.at_start == KNOWN["at_start"]
    assert customers.at_end == KNOWN["at_end"]
    assert customers.new == KNOWN["new"]
    assert customers.lost_voluntary == KNOWN["lost_voluntary"]
    assert customers.lost_involuntary == KNOWN["lost_involuntary"]
    assert customers.came_and_went == KNOWN["came_and_went"]


def test_rates_follow_their_formulas(known: Figures) -> None:
    customers = known.customers
    assert customers.churn_rate.value == pytest.approx(4 / 11 * 100)
    assert customers.retention.value == pytest.approx((9 - 2) / 11 * 100)
    assert customers.revenue_at_start == KNOWN["revenue_at_start"]
    assert customers.revenue_lost == KNOWN["revenue_lost"]
    assert customers.revenue_churn.value == pytest.approx(380 / 1050 * 100)
    assert customers.churn_rate.explain() == "churn rate = L / S = 4 / 11 x 100 = 36.4%"
    assert "retention = (E - N) / S = 7 / 11 x 100 = 63.6%" in customers.formulas()


def test_reasons_count_the_latest_correction_over_the_automatic_label(known: Figures) -> None:
    counts = {reason.category: reason.count for reason in known.reasons if reason.count}
    assert counts == KNOWN["reasons"]
    assert known.reason("price").share.value == pytest.approx(25.0)


def test_reasons_rank_by_count_then_revenue_lost(deps: Deps) -> None:
    build(deps.db)
    with Session(deps.db) as session:
        period = parse_period("2026-W46", now=NOW)
        figures = compute_figures(session=session, period=period, now=NOW, roles=ROLES)
    ranked = [reason.category for reason in figures.reasons]
    assert ranked[:4] == ["bugs_reliability", "competitor", "price", "other"]
    assert [bool(reason.quotes) for reason in figures.reasons[:4]] == [True, True, True, False]


def test_reasons_compare_with_the_previous_period(known: Figures) -> None:
    price = known.reason("price")
    assert (price.previous_count, price.change, price.trend) == (2, -1, "↓")
    assert known.reason("competitor").trend == "new"
    gone = known.reason("hard_to_use")
    assert (gone.count, gone.previous_count, gone.trend) == (0, 1, "↓")


def test_revenue_lost_and_sentiment_per_reason(known: Figures) -> None:
    assert known.reason("price").revenue_lost == 80.0  # from the event's data
    assert known.reason("competitor").revenue_lost == 100.0  # the customer's revenue
    assert known.reason("price").sentiments == {"negative": 1}


def test_quotes_are_scrubbed_of_email_phone_and_the_customers_name(known: Figures) -> None:
    (quote,) = known.reason("price").quotes
    assert quote.text == "Too expensive for us. Contact me at [email] or [phone], [name]"


def test_survey_health(known: Figures) -> None:
    health = known.health
    assert health.invitations_sent == KNOWN["invitations_sent"]
    assert health.response_rate.value == pytest.approx(7 / 8 * 100)
    assert health.csat == KNOWN["csat"]
    assert health.csat_average.value == pytest.approx(12 / 4)
    assert health.nps_score.display() == f"n/a ({NOT_ENOUGH_DATA})"
    assert health.churned_after_low_score == KNOWN["churned_after_low_score"]
    assert health.at_risk_count == KNOWN["at_risk"]
    assert {row.external_id for row in health.at_risk} == {"c5", "c6"}


def test_other_answers_become_an_emerging_reason_only_when_shared(known: Figures) -> None:
    assert known.emerging == ()  # one `other` text shares words with nobody


def test_an_empty_period_shows_n_a_with_the_reason_instead_of_dividing_by_zero(deps: Deps) -> None:
    figures = figures_for(deps, "2026-W46")
    customers = figures.customers
    assert (customers.at_start, customers.at_end, customers.new, customers.lost) == (0, 0, 0, 0)
    for ratio in (customers.churn_rate, customers.retention):
        assert ratio.value is None
        assert ratio.display() == f"n/a ({NO_CUSTOMERS_AT_START})"
        assert "/ 0" not in ratio.explain()
        assert ratio.explain().endswith(f"n/a ({NO_CUSTOMERS_AT_START})")
    assert customers.revenue_churn.display() == f"n/a ({NO_REVENUE_AT_START})"
    assert figures.reasons == ()
    assert figures.health.response_rate.display() == f"n/a ({NOT_ENOUGH_DATA})"


def test_zero_customers_at_start_with_new_ones_is_not_a_division_by_zero(deps: Deps) -> None:
    build(deps.db)
    figures = figures_for(deps, "2026-09-28..2026-10-04")  # the first starts are on 1 Oct
    customers = figures.customers
    assert (customers.at_start, customers.new, customers.at_end) == (0, 11, 11)
    assert customers.churn_rate.display() == f"n/a ({NO_CUSTOMERS_AT_START})"
    assert customers.retention.display() == f"n/a ({NO_CUSTOMERS_AT_START})"


def _history(deps: Deps, steps: list[tuple[str, str, datetime]]) -> None:
    with Session(deps.db) as session:
        builder = Builder(session)
        for key in sorted({key for key, _, _ in steps}):
            builder.customer(key)
        for key, kind, when in steps:
            builder.event(key, kind, when)
        session.commit()


def test_a_second_cancel_of_the_same_subscription_is_not_a_second_loss(deps: Deps) -> None:
    _history(
        deps,
        [
            ("a", "subscription.started", at(1, 10)),
            ("b", "subscription.started", at(1, 10)),
            ("a", "subscription.cancelled", at(10)),
            ("a", "subscription.cancelled", at(11)),
        ],
    )
    customers = figures_for(deps, "2026-W46").customers
    assert (customers.at_start, customers.at_end, customers.new, customers.lost) == (2, 1, 0, 1)
    assert customers.churn_rate.value == pytest.approx(50.0)
    assert figures_for(deps, "2026-W46").health.churned == 1


def test_cancels_without_a_start_event_count_as_customers_at_the_start(deps: Deps) -> None:
    _history(deps, [(f"s{i}", "subscription.cancelled", at(10 + i)) for i in range(4)])
    customers = figures_for(deps, "2026-W46").customers
    assert (customers.at_start, customers.at_end, customers.new, customers.lost) == (4, 0, 0, 4)
    assert customers.churn_rate.explain() == "churn rate = L / S = 4 / 4 x 100 = 100.0%"


def test_a_resubscribe_then_cancel_is_a_new_loss_in_its_own_period(deps: Deps) -> None:
    _history(
        deps,
        [
            ("a", "subscription.started", at(1, 10)),
            ("a", "subscription.cancelled", at(3)),  # lost in 2026-W45
            ("a", "subscription.started", at(5)),  # back in 2026-W45
            ("a", "subscription.cancelled", at(10)),  # lost again in 2026-W46
        ],
    )
    before = figures_for(deps, "2026-W45").customers
    assert (before.at_start, before.at_end, before.new, before.lost) == (1, 1, 1, 1)
    week = figures_for(deps, "2026-W46").customers
    assert (week.at_start, week.at_end, week.new, week.lost) == (1, 0, 0, 1)


def test_stats_as_dict_has_null_rates_and_the_reason_when_nobody_was_there(deps: Deps) -> None:
    payload = figures_for(deps, "2026-W46").customers.as_dict()
    assert payload["churn_rate"] is None
    assert payload["churn_rate_reason"] == NO_CUSTOMERS_AT_START
    assert payload["retention_rate"] is None
