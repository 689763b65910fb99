"""`churnbot summary` and `churnbot stats` print the same figures as Slack."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_reports import register
from bot.context import Deps
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
    assert "churn rate = L / S = 5 / 11 x 100 = 45.5%" in result.output
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
