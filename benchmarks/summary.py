"""Benchmark: the weekly summary and `stats 90d` over 100,000 customers and 1,000,000 answers.

    /work/venv/bin/python benchmarks/summary.py [--postgres URL] [--runs 5] [--skip-sqlite]

Builds a year of history with SQLAlchemy core insert() in batches, then times (median of
--runs) the weekly summary (figures + Block Kit + chart PNG) and `stats 90d`, on SQLite and
on PostgreSQL (a private schema, dropped afterwards), and prints the query plans of every
statement the summary runs, so one can check that the indexes are used. Not part of pytest.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, event, insert, text
from sqlmodel import Session

from storage import db as database
from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    Event,
    SurveyInvitation,
)
from surveys.definition import load_definitions
from surveys.reports.commands import ManagerCommands
from surveys.reports.periods import parse_period, previous_week
from surveys.reports.weekly import render_week, week_figures

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
SPAN_START = NOW - timedelta(days=365)
CATEGORIES = (
    "price", "low_value", "missing_features", "bugs_reliability", "poor_support",
    "felt_ignored", "competitor", "hard_to_use", "no_longer_needed", "billing_issue", "other",
)  # fmt: skip
DETAILS = (
    "Too expensive for what we use, my name is Ann, mail ann@example.com",
    "The sync keeps failing every other day",
    "We moved to a competitor with better reports",
    "Support took a week to answer my ticket",
    "No dark mode and no export to csv",
    "Nobody ever asked us what we needed",
    "We closed the project, no longer needed",
    "Invoices had the wrong VAT number again",
)
BATCH = 10_000
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def populate(engine: Engine, customers: int, answers_target: int, seed: int = 7) -> dict[str, int]:
    """A year of history: starts, cancellations (10% involuntary), exit surveys with reasons
    and details, and CSAT surveys filling the rest of the answers."""
    rng = random.Random(seed)
    counts = dict.fromkeys(("customers", "events", "invitations", "answers", "labels"), 0)
    span = (NOW - SPAN_START).total_seconds()

    def at(offset: float) -> datetime:
        return SPAN_START + timedelta(seconds=offset)

    with engine.begin() as connection:
        rows = (
            {
                "id": i,
                "external_id": f"cust-{i}",
                "name": f"Customer {i}",
                "language": "en",
                "opted_out": False,
                "unreachable": False,
                "monthly_revenue": float(rng.choice((19, 49, 99, 249))),
                "attributes": {},
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(1, customers + 1)
        )
        for batch in batches(rows):
            connection.execute(insert(Customer), batch)
            counts["customers"] += len(batch)

    event_ids = iter(range(1, 10**9))
    invitation_ids = iter(range(1, 10**9))
    answer_ids = iter(range(1, 10**9))
    events: list[dict[str, Any]] = []
    invitations: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []

    def flush(connection: Any, force: bool = False) -> None:
        # All four in order once any is full: answers need their invitations and events.
        if not force and max(len(events), len(invitations), len(answers), len(labels)) < BATCH:
            return
        for table, rows, key in (
            (Event, events, "events"),
            (SurveyInvitation, invitations, "invitations"),
            (Answer, answers, "answers"),
            (AnswerClassification, labels, "labels"),
        ):
            if rows:
                connection.execute(insert(table), rows)
                counts[key] += len(rows)
                rows.clear()

    def invite(customer: int, survey: str, when: datetime, event_id: int | None) -> int:
        invitation_id = next(invitation_ids)
        invitations.append(
            {
                "id": invitation_id, "customer_id": customer, "survey_key": survey,
                "event_id": event_id, "status": "completed", "due_at": when, "sent_at": when,
                "completed_at": when, "send_attempts": 1, "created_at": when, "updated_at": when,
            }
        )  # fmt: skip
        return invitation_id

    def answer(customer: int, invitation: int, survey: str, question: str, when: datetime,
               **values: Any) -> int:  # fmt: skip
        answer_id = next(answer_ids)
        answers.append(
            {
                "id": answer_id, "customer_id": customer, "invitation_id": invitation,
                "survey_key": survey, "question_key": question, "language": "en",
                "answered_at": when, "numeric_value": values.get("value"),
                "choice_key": values.get("choice"), "text": values.get("text"),
            }
        )  # fmt: skip
        return answer_id

    def label(answer_id: int, category: str, sentiment: str) -> None:
        labels.append(
            {
                "answer_id": answer_id, "category": category, "secondary": [],
                "sentiment": sentiment, "confidence": 0.9, "language": "en",
                "method": "benchmark", "classifier_version": "bench", "classified_at": NOW,
            }
        )  # fmt: skip

    # Each CSAT answer brings 0.125 improve texts; exit surveys add about 0.37 answers per
    # customer: together about `answers_target` answers.
    csat_per_customer = max(1.0, (answers_target / customers - 0.37) / 1.125)
    with engine.begin() as connection:
        for customer in range(1, customers + 1):
            started = at(rng.uniform(-span, span * 0.995))
            start_id = next(event_ids)
            events.append(
                {
                    "id": start_id, "source_event_id": f"s{start_id}",
                    "type": "subscription.started", "customer_id": customer,
                    "occurred_at": started, "recorded_at": started,
                    "data": {},
                }
            )  # fmt: skip
            cancelled = None
            if rng.random() < 0.3:
                cancelled = started + timedelta(days=rng.uniform(5, 300))
                if cancelled >= NOW:
                    cancelled = None
            last = cancelled or NOW
            for _ in range(int(csat_per_customer) + (rng.random() < csat_per_customer % 1)):
                when = started + (last - started) * rng.random()
                invitation = invite(customer, "post_interaction", when, None)
                score = rng.choices((1, 2, 3, 4, 5), (5, 7, 13, 35, 40))[0]
                answer(customer, invitation, "post_interaction", "csat", when, value=score)
                if score <= 3 and rng.random() < 0.5:
                    text_id = answer(
                        customer, invitation, "post_interaction", "improve", when,
                        text=rng.choice(DETAILS),
                    )  # fmt: skip
                    label(text_id, rng.choice(CATEGORIES), "negative")
            if cancelled is not None:
                cancel_id = next(event_ids)
                voluntary = rng.random() > 0.1
                events.append(
                    {
                        "id": cancel_id, "source_event_id": f"c{cancel_id}",
                        "type": "subscription.cancelled", "customer_id": customer,
                        "occurred_at": cancelled, "recorded_at": cancelled,
                        "data": {"voluntary": voluntary},
                    }
                )  # fmt: skip
                if voluntary and rng.random() < 0.8:
                    when = cancelled + timedelta(minutes=10)
                    invitation = invite(customer, "exit", when, cancel_id)
                    category = rng.choice(CATEGORIES)
                    reason = answer(customer, invitation, "exit", "reason", when, choice=category)
                    label(reason, category, "neutral")
                    if rng.random() < 0.7:
                        details = answer(
                            customer, invitation, "exit", "details", when,
                            text=rng.choice(DETAILS),
                        )  # fmt: skip
                        label(details, category, rng.choice(("negative", "neutral")))
            flush(connection)
        flush(connection, force=True)
    return counts


def capture_sql(engine: Engine) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def explain(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    """Print the plan of each distinct SELECT the summary ran."""
    done = set()
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT") or statement in done:
                continue
            done.add(statement)
            cursor = raw.cursor()
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + statement, parameters)
            rows = cursor.fetchall()
            first = " ".join(statement.split())[:110]
            print(f"\n-- {first}…")
            for row in rows:
                print("   ", row[-1] if engine.dialect.name == "sqlite" else row[0])
            cursor.close()


def timed(runs: int, work: Callable[[], object]) -> tuple[float, list[float]]:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), durations


def bench(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    engine = database.make_engine(url)
    database.upgrade(engine)
    started = time.perf_counter()
    counts = populate(engine, args.customers, args.answers)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    print(f"\n=== {name}: built {counts} in {time.perf_counter() - started:.1f} s")

    week = previous_week(NOW)
    commands = ManagerCommands(definitions=load_definitions(), zone=UTC)  # type: ignore[arg-type]

    def weekly() -> object:
        with Session(engine) as session:
            figures = week_figures(session, week, NOW, commands.roles)
        return render_week(figures)

    def stats_90d() -> object:
        with Session(engine) as session:
            return commands.stats(session, parse_period("90d", now=NOW), NOW)

    weekly()  # warm caches and imports (matplotlib) before timing
    stats_90d()
    summary_median, summary_all = timed(args.runs, weekly)
    stats_median, stats_all = timed(args.runs, stats_90d)
    with Session(engine) as session:
        figures = week_figures(session, week, NOW, commands.roles)
    c = figures.customers
    print(
        f"{name}: week {week.label}: S={c.at_start} E={c.at_end} N={c.new} L={c.lost} "
        f"churn {c.churn_rate.display()}, {figures.answered_exits} exit answers, "
        f"{figures.health.csat_count} CSAT answers, at risk {figures.health.at_risk_count}"
    )
    print(f"{name}: weekly summary median {summary_median:.3f} s  runs {fmt(summary_all)}")
    print(f"{name}: stats 90d      median {stats_median:.3f} s  runs {fmt(stats_all)}")
    if args.plans:
        seen, stop = capture_sql(engine)
        weekly()
        stats_90d()
        stop()
        explain(engine, seen)
    engine.dispose()
    return {"summary": summary_median, "stats_90d": stats_median}


def fmt(values: list[float]) -> str:
    return " ".join(f"{value:.3f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL ('' to skip)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--no-plans", dest="plans", action="store_false")
    args = parser.parse_args()
    results = {}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            results["sqlite"] = bench("sqlite", f"sqlite:///{folder}/bench.db", args)
    if args.postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.postgres)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            url = f"{args.postgres}?options=-csearch_path%3D{schema}"
            results["postgresql"] = bench("postgresql", url, args)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print("\nmedians (s):", results)


if __name__ == "__main__":
    main()
