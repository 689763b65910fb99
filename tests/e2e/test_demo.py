"""`churnbot demo` as a real process: its printed figures match the database it filled, and
the same seed tells the same story byte for byte."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, col, select

from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    Event,
    InvitationStatus,
    OfferStatus,
    SurveyInvitation,
    WinbackOffer,
)
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.figures import compute_figures
from surveys.reports.periods import iso_week, parse_period
from tests.auxil.sandbox_process import churnbot_command, clean_env

ROLES = SurveyRoles.of(load_definitions())

pytestmark = pytest.mark.e2e

CUSTOMERS, WEEKS, SEED = "300", "2", "3"


@dataclass(frozen=True)
class DemoRun:
    stdout: str
    stderr: str
    url: str
    chart: Path


def _run_demo(folder: Path) -> DemoRun:
    """One run in `folder`, on a fresh database there (the demo keeps a given DATABASE_URL)."""
    database = folder / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    chart = folder / "chart.png"
    done = subprocess.run(
        [
            *churnbot_command(),
            "demo",
            "--customers",
            CUSTOMERS,
            "--weeks",
            WEEKS,
            "--seed",
            SEED,
            "--chart",
            str(chart),
        ],
        cwd=folder,
        env=clean_env(url),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return DemoRun(done.stdout, done.stderr, url, chart)


def _stored_story(url: str) -> list[tuple[object, ...]]:
    """What the customers answered and how it was classified, by customer and question."""
    engine = create_engine(url)
    with Session(engine) as session:
        rows = session.exec(
            select(
                Customer.external_id,
                Answer.question_key,
                Answer.choice_key,
                Answer.numeric_value,
                Answer.text,
                Answer.answered_at,
                AnswerClassification.category,
                AnswerClassification.sentiment,
            )
            .join(Customer, col(Customer.id) == col(Answer.customer_id))
            .outerjoin(AnswerClassification, col(AnswerClassification.answer_id) == col(Answer.id))
            .order_by(col(Customer.external_id), col(Answer.answered_at), Answer.question_key)
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoRun, list[tuple[object, ...]]]:
    """The demo run twice with the same seed in the same folder; the first run's stored
    story is read before the second run replaces its database."""
    folder = tmp_path_factory.mktemp("demo")
    first = _run_demo(folder)
    story = _stored_story(first.url)
    second = _run_demo(folder)
    assert second.stdout == first.stdout
    return second, story


def test_the_same_seed_prints_the_same_output_and_stores_the_same_answers(
    two_runs: tuple[DemoRun, list[tuple[object, ...]]],
) -> None:
    run, first_story = two_runs
    # Compared in the fixture byte for byte; here, that it is a real story worth comparing.
    assert "weekly summary " in run.stdout
    second_story = _stored_story(run.url)
    assert len(second_story) > 20
    assert {row[4] for row in second_story if row[4]}, "no written answers to compare"
    assert second_story == first_story


def test_demo_prints_figures_that_match_its_database(
    two_runs: tuple[DemoRun, list[tuple[object, ...]]],
) -> None:
    run, _ = two_runs
    printed = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    engine = create_engine(run.url)
    with Session(engine) as session:

        def count(statement: object) -> int:
            return int(session.exec(statement).one())  # type: ignore[call-overload]

        assert int(printed["customers"]) == count(select(func.count()).select_from(Customer))
        assert int(printed["customers"]) == int(CUSTOMERS)
        assert int(printed["events"]) == count(select(func.count()).select_from(Event))
        assert int(printed["cancellations"]) == count(
            select(func.count()).select_from(Event).where(Event.type == "subscription.cancelled")
        )
        assert int(printed["answers"]) == count(select(func.count()).select_from(Answer)) > 0
        offers = count(select(func.count()).select_from(WinbackOffer))
        accepted = count(
            select(func.count())
            .select_from(WinbackOffer)
            .where(WinbackOffer.status != OfferStatus.OFFERED)
            .where(WinbackOffer.status != OfferStatus.DECLINED)
        )
        assert int(printed["offers made"]) == offers > 0
        assert int(printed["offers accepted"]) == accepted > 0
        assert printed["save rate"] == f"{accepted / offers * 100:.1f}%"
        assert int(printed["payments recovered"]) > 0
        for kind in ("failed", "recovered"):
            assert int(printed[f"payments {kind}"]) == count(
                select(func.count()).select_from(Event).where(Event.type == f"payment.{kind}")
            )
        assert int(printed["surveys completed"]) == count(
            select(func.count())
            .select_from(SurveyInvitation)
            .where(SurveyInvitation.status == InvitationStatus.COMPLETED)
        )
        ((week, summary),) = [
            (key.removeprefix("weekly summary "), value)
            for key, value in printed.items()
            if key.startswith("weekly summary ")
        ]
        now = datetime.now(UTC)
        figures = compute_figures(
            session=session,
            period=parse_period(week, now=now, zone=ZoneInfo("UTC")),
            now=now,
            roles=ROLES,
        )
    engine.dispose()
    lost = re.search(r": (\d+) customers? lost", summary)
    assert lost is not None, summary
    assert int(lost.group(1)) == figures.customers.lost
    assert Path(printed["chart"]) == run.chart.resolve()
    assert run.chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_every_simulated_week_has_new_customers_in_the_figures(
    two_runs: tuple[DemoRun, list[tuple[object, ...]]],
) -> None:
    run, _ = two_runs
    weeks = re.findall(r"^week \d+/\d+ \((\d{4})-W(\d{2})\)", run.stderr, re.MULTILINE)
    assert len(weeks) == int(WEEKS), run.stderr[-2000:]
    engine = create_engine(run.url)
    now = datetime.now(UTC)
    with Session(engine) as session:
        for year, week in weeks:
            period = iso_week(int(year), int(week), ZoneInfo("UTC"))
            customers = compute_figures(
                session=session, period=period, now=now, roles=ROLES
            ).customers
            assert customers.new > 0, f"{year}-W{week}: no new customers"
            assert customers.at_start >= int(CUSTOMERS) * 0.9
            # A week of a 2%-a-month business: well under 2% of the customers leave.
            assert customers.lost <= customers.at_start * 0.02
    engine.dispose()
