"""`churnbot demo` as a real process: its printed figures match the database it filled."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func
from sqlmodel import Session, select

from storage.models import Answer, Customer, Event, InvitationStatus, SurveyInvitation
from surveys.reports.figures import compute_figures
from surveys.reports.periods import parse_period
from tests.auxil.sandbox_process import churnbot_command, clean_env

pytestmark = pytest.mark.e2e


def test_demo_prints_figures_that_match_its_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    chart = tmp_path / "chart.png"
    done = subprocess.run(
        [*churnbot_command(), "demo", "--customers", "20", "--weeks", "2", "--chart", str(chart)],
        cwd=tmp_path,
        env=clean_env(url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)

    engine = create_engine(url)
    with Session(engine) as session:

        def count(statement: object) -> int:
            return int(session.exec(statement).one())  # type: ignore[call-overload]

        assert int(printed["customers"]) == count(select(func.count()).select_from(Customer)) == 20
        assert int(printed["events"]) == count(select(func.count()).select_from(Event))
        assert int(printed["cancellations"]) == count(
            select(func.count()).select_from(Event).where(Event.type == "subscription.cancelled")
        )
        assert int(printed["answers"]) == count(select(func.count()).select_from(Answer)) > 0
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
            session=session, period=parse_period(week, now=now, zone=ZoneInfo("UTC")), now=now
        )
    engine.dispose()
    lost = re.search(r": (\d+) customers? lost", summary)
    assert lost is not None, summary
    assert int(lost.group(1)) == figures.customers.lost
    assert Path(printed["chart"]) == chart.resolve()
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
