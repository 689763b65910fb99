"""When the weekly summary is due, what it looks like, and its chart."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlmodel import Session

from bot.context import Deps
from surveys.definition import SurveyRoles, load_definitions
from surveys.reports.chart import PNG_MAGIC, reasons_chart
from surveys.reports.figures import compute_figures
from surveys.reports.periods import parse_period
from surveys.reports.render import summary_blocks
from surveys.reports.weekly import Schedule, ScheduleError, parse_week
from tests.surveys.reports.dataset import build

ROLES = SurveyRoles.of(load_definitions())

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def test_schedule_reads_day_and_time() -> None:
    assert Schedule.parse("mon 09:00") == Schedule(0, 9, 0)
    assert Schedule.parse("Friday 17:30") == Schedule(4, 17, 30)
    assert Schedule.parse("mon 09:00").cron() == {"day_of_week": "mon", "hour": 9, "minute": 0}


@pytest.mark.parametrize("text", ["09:00", "someday 09:00", "mon 25:00", "mon 9"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ScheduleError):
        Schedule.parse(text)


def test_last_run_is_the_latest_scheduled_moment_in_the_time_zone() -> None:
    schedule = Schedule.parse("mon 09:00")
    before = datetime(2026, 11, 16, 7, 59, tzinfo=UTC)  # 08:59 in Berlin
    after = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    assert schedule.last_run(before, BERLIN).isoformat() == "2026-11-09T09:00:00+01:00"
    assert schedule.last_run(after, BERLIN).isoformat() == "2026-11-16T09:00:00+01:00"


def test_cli_week_defaults_to_the_last_complete_week_and_must_be_a_week() -> None:
    assert parse_week(None, now=NOW, zone=UTC).label == "2026-W46"  # type: ignore[arg-type]
    assert parse_week("2026-W40", now=NOW, zone=UTC).label == "2026-W40"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO week"):
        parse_week("2026-10", now=NOW, zone=UTC)  # type: ignore[arg-type]


def test_the_chart_is_a_valid_png(deps: Deps) -> None:
    build(deps.db)
    with Session(deps.db) as session:
        figures = compute_figures(
            session=session, period=parse_period("2026-W46", now=NOW), now=NOW, roles=ROLES
        )
    png = reasons_chart(figures)
    assert png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert image.format == "PNG"
    assert image.size[0] > 400


def test_an_empty_week_still_renders_a_chart_and_a_summary(deps: Deps) -> None:
    with Session(deps.db) as session:
        figures = compute_figures(
            session=session, period=parse_period("2026-W46", now=NOW), now=NOW, roles=ROLES
        )
    assert reasons_chart(figures).startswith(PNG_MAGIC)
    rendered = summary_blocks(figures)
    assert "No exit survey answers" in str(rendered.blocks)
    assert "churn n/a (no customers at the start of the period)" in rendered.text


def test_summary_blocks_have_headline_trends_quotes_and_a_text_fallback(deps: Deps) -> None:
    build(deps.db)
    with Session(deps.db) as session:
        figures = compute_figures(
            session=session, period=parse_period("2026-W46", now=NOW), now=NOW, roles=ROLES
        )
    rendered = summary_blocks(figures)
    assert rendered.text.startswith("Churn summary · 2026-W46: 4 customers lost (churn 36.4%")
    fields = rendered.blocks[2]["fields"]
    assert {"type": "mrkdwn", "text": "*Churn rate*\n36.4%"} in fields
    body = str(rendered.blocks)
    assert "*Price*: 1 (25.0%, ↓ -1)" in body
    assert "[email]" in body
    assert "2 at risk" in body
    assert len(rendered.blocks) <= 50
