"""`churnbot summary` and `churnbot stats` print the same figures as Slack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlmodel import Session
from typer.testing import CliRunner

from bot.cli_reports import register
from bot.context import Deps
from storage.models import SummaryPost, SummaryPostStatus
from tests.auxil.slack_api import TOKEN, SlackServer
from tests.surveys.reports.dataset import build


@pytest.fixture
def cli(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    build(deps.db)
    monkeypatch.setenv("DATABASE_URL", deps.settings.database_url)
    monkeypatch.setenv("SECRET_KEY", "test-secret-key")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SUMMARY_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    app = typer.Typer()
    register(app)
    return app


def test_summary_of_a_week_prints_the_figures_and_reasons(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["summary", "--week", "2026-W46"])
    assert result.exit_code == 0, result.output
    assert "Weekly churn summary · 2026-W46" in result.output
    assert "churn rate = L / S = 4 / 11 x 100 = 36.4%" in result.output
    assert "Switched to a competitor" in result.output


def test_stats_rejects_a_bad_period(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["stats", "fortnight"])
    assert result.exit_code == 2
    assert "unknown period" in result.output


def test_post_without_slack_settings_says_what_is_missing(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["summary", "--week", "2026-W46", "--post"])
    assert result.exit_code == 2
    assert "SLACK_BOT_TOKEN" in result.output


def test_again_without_post_is_refused(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["summary", "--week", "2026-W46", "--again"])
    assert result.exit_code == 2
    assert "--again only goes with --post" in result.output


def test_post_of_an_uncertain_week_points_to_again_which_posts_it_once(
    cli: typer.Typer, deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(deps.db) as session:  # a crash mid-post left the week uncertain
        session.add(
            SummaryPost(
                week="2026-W46",
                channel="C0SUMMARY",
                status=SummaryPostStatus.UNCERTAIN,
                attempts=1,
            )
        )
        session.commit()
    with SlackServer() as server:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
        monkeypatch.setenv("SLACK_API_BASE_URL", server.api_url)
        monkeypatch.setenv("SLACK_SUMMARY_CHANNEL", "C0SUMMARY")
        week = ["summary", "--week", "2026-W46", "--post"]

        plain = CliRunner().invoke(cli, week)
        unposted = server.fake.messages("C0SUMMARY")
        again = CliRunner().invoke(cli, [*week, "--again"])
        repeated = CliRunner().invoke(cli, [*week, "--again"])

        assert plain.exit_code == 0, plain.output
        assert "its post is uncertain" in plain.output
        assert "--week 2026-W46 --post --again`" in plain.output
        assert unposted == []
        assert again.exit_code == 0, again.output
        assert "posted 2026-W46 to C0SUMMARY" in again.output
        assert "its post is posted" in repeated.output
        assert len(server.fake.messages("C0SUMMARY")) == 1


def test_stats_json_prints_the_figures_for_scripts(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["stats", "2026-W46", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["period"] == "2026-W46"
    assert {key: payload[key] for key in ("customers_start", "customers_end", "new", "lost")} == {
        "customers_start": 11,
        "customers_end": 9,
        "new": 2,
        "lost": 4,
    }
    assert payload["churn_rate"] == round(4 / 11 * 100, 2)
    assert payload["retention_rate"] == round(7 / 11 * 100, 2)
    assert payload["customers_end"] == (
        payload["customers_start"] + payload["new"] - payload["lost"]
    )


def test_stats_json_gives_null_rates_with_a_reason_when_nobody_was_subscribed(
    cli: typer.Typer,
) -> None:
    result = CliRunner().invoke(cli, ["stats", "2026-09-01..2026-09-30", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["customers_start"] == 0
    assert payload["churn_rate"] is None
    assert payload["retention_rate"] is None
    assert payload["churn_rate_reason"] == "no customers at the start of the period"


def test_summary_of_a_future_week_is_refused_with_one_line(cli: typer.Typer) -> None:
    year, week, _ = (datetime.now(UTC) + timedelta(days=70)).isocalendar()
    result = CliRunner().invoke(cli, ["summary", "--week", f"{year}-W{week:02d}"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "after today" in lines[0]
    assert "Traceback" not in result.output
    assert "0.0%" not in result.output


def test_stats_of_a_period_outside_the_calendar_is_refused_with_one_line(
    cli: typer.Typer,
) -> None:
    result = CliRunner().invoke(cli, ["stats", "0000-01"])
    assert result.exit_code == 2
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
