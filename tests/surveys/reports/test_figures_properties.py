"""Churn figures always add up, whatever the event history (property tests, both databases).

Histories are random starts and cancels of a few customers, with repeated cancels,
re-subscriptions, ties and events recorded out of `occurred_at` order. Each example empties
the two tables it uses instead of building a new database, so an example costs a few
milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete
from sqlmodel import Session

from storage import db as database
from storage.models import Customer, Event
from storage.queries import figures as queries
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.figures import compute_figures
from surveys.reports.periods import Period

ROLES = SurveyRoles.of(load_definitions())

ORIGIN = datetime(2026, 10, 1, tzinfo=UTC)
CUSTOMERS = 4
HOURS = 48  # events fall on a small grid, so ties and boundary hits are common
STARTED, CANCELLED = queries.STARTED, queries.CANCELLED


@dataclass(frozen=True)
class Step:
    customer: int
    type: str
    hour: int


steps = st.builds(
    Step,
    customer=st.integers(0, CUSTOMERS - 1),
    type=st.sampled_from((STARTED, CANCELLED)),
    hour=st.integers(0, HOURS),
)
# Recording order is the list order; `occurred_at` is independent of it (out of order).
histories = st.lists(steps, max_size=14)
bounds = st.tuples(st.integers(0, HOURS + 1), st.integers(1, HOURS + 2)).map(sorted)


def moment(hour: int) -> datetime:
    return ORIGIN + timedelta(hours=hour)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = database.make_engine(database_url)
    database.upgrade(built)
    yield built
    built.dispose()


def store(engine: Engine, history: list[Step]) -> None:
    with Session(engine) as session:
        session.exec(delete(Event))  # type: ignore[call-overload]
        session.exec(delete(Customer))  # type: ignore[call-overload]
        # Explicit ids (recording order) let one flush insert everything.
        session.add_all(
            Customer(id=i + 1, external_id=f"p{i}", monthly_revenue=10.0) for i in range(CUSTOMERS)
        )
        session.flush()
        session.add_all(
            Event(
                id=number + 1,
                source_event_id=f"e{number}",
                type=step.type,
                customer_id=step.customer + 1,
                occurred_at=moment(step.hour),
            )
            for number, step in enumerate(history)
        )
        session.commit()


def subscribed(history: list[Step], customer: int, hour: int) -> bool:
    """The rule of surveys/reports/figures.py, step by step: the latest event before `hour`
    decides (a start before a cancel at the same hour); before the first one, a customer
    whose first event is a cancel was subscribed."""
    own = sorted(
        (step.hour, step.type != STARTED, step.type)
        for step in history
        if step.customer == customer
    )
    if not own:
        return False
    before = [kind for at, _, kind in own if at < hour]
    if before:
        return before[-1] == STARTED
    return own[0][2] == CANCELLED


def changed_within(history: list[Step], customer: int, start: int, end: int) -> bool:
    state = subscribed(history, customer, start)
    own = sorted(
        (step.hour, step.type != STARTED, step.type)
        for step in history
        if step.customer == customer and start <= step.hour < end
    )
    for _, _, kind in own:
        after = kind == STARTED
        if after != state:
            return True
        state = after
    return False


def counts(engine: Engine, start: int, end: int) -> queries.CustomerCounts:
    with Session(engine) as session:
        return queries.customer_counts(session=session, start=moment(start), end=moment(end))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, period=bounds)
def test_customer_figures_add_up_for_any_event_history(
    engine: Engine, history: list[Step], period: list[int]
) -> None:
    start, end = period
    store(engine, history)
    found = counts(engine, start, end)

    assert found.at_end == found.at_start + found.new - found.lost
    assert 0 <= found.lost <= found.at_start
    assert 0 <= found.new <= found.at_end
    expected_start = sum(subscribed(history, c, start) for c in range(CUSTOMERS))
    expected_end = sum(subscribed(history, c, end) for c in range(CUSTOMERS))
    assert (found.at_start, found.at_end) == (expected_start, expected_end)
    lost = {
        c
        for c in range(CUSTOMERS)
        if subscribed(history, c, start)
        and (not subscribed(history, c, end) or changed_within(history, c, start, end))
    }
    assert found.lost == len(lost)

    with Session(engine) as session:
        losses = queries.losses(session=session, start=moment(start), end=moment(end))
        figures = compute_figures(
            session=session,
            period=Period(moment(start), moment(end), "p"),
            now=moment(HOURS + 3),
            roles=ROLES,
            quotes=False,
        )
    assert len(losses) == len({item.customer_id for item in losses}) == found.lost
    customers = figures.customers
    assert (customers.at_start, customers.at_end, customers.new, customers.lost) == (
        found.at_start,
        found.at_end,
        found.new,
        found.lost,
    )
    churn, retention = customers.churn_rate.value, customers.retention.value
    if customers.at_start == 0:
        assert churn is None
        assert retention is None
        assert customers.churn_rate.reason
        assert "/ 0" not in customers.churn_rate.explain()
    else:
        assert churn is not None
        assert retention is not None
        assert 0 <= churn <= 100
        assert retention == pytest.approx(
            (customers.at_end - customers.new) / customers.at_start * 100
        )
        assert churn + retention == pytest.approx(100)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories, cut=st.integers(1, HOURS), extra=st.data())
def test_repeating_a_cancel_changes_no_figure_and_adjacent_periods_join_up(
    engine: Engine, history: list[Step], cut: int, extra: st.DataObject
) -> None:
    store(engine, history)
    before, after = counts(engine, 0, cut), counts(engine, cut, HOURS + 1)
    assert before.at_end == after.at_start  # the end of one period is the start of the next

    cancels = [step for step in history if step.type == CANCELLED]
    if not cancels:
        return
    repeated = extra.draw(st.sampled_from(cancels))
    # The same cancellation reported again (another event id), recorded last.
    store(engine, [*history, repeated])
    assert counts(engine, 0, cut) == before
    assert counts(engine, cut, HOURS + 1) == after
