"""`churnbot summary` and `churnbot stats`: the figures in the terminal (rich), same as Slack.

`register(app)` adds the commands to the main typer app (called from bot/cli.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot import cli_context
from bot.cli_style import err, fail
from surveys.definition import SurveyRoles
from surveys.reports.figures import Figures

if TYPE_CHECKING:
    from bot.context import Deps
    from surveys.reports.periods import Period
    from surveys.reports.weekly import WeeklySummary

out = Console()


def _deps() -> Deps:
    return cli_context.deps(cli_context.settings())


def _figures(deps: Deps, period: Period) -> Figures:
    from storage.session import run_unit
    from surveys.reports.figures import compute_figures

    return run_unit(
        deps.db,
        lambda session: compute_figures(
            session=session,
            period=period,
            now=deps.clock(),
            roles=SurveyRoles.of(deps.definitions),
        ),
    )


def print_figures(figures: Figures, console: Console = out, *, title: str) -> None:
    """Headline table, reasons table with trend, quotes, emerging reasons, survey health."""
    from surveys.reports.render import category_label, headline, health_line, money

    console.rule(f"[bold]{title}")
    table = Table(show_header=False, box=None)
    for name, value in headline(figures):
        table.add_row(f"[bold]{name}", value)
    console.print(table)
    for line in figures.customers.formulas():
        console.print(f"  [dim]{line}[/dim]", highlight=False)
    reasons = Table(title=f"Reasons (vs {figures.previous.label})", title_justify="left")
    for column in ("reason", "count", "share", "trend", "revenue lost", "sentiment"):
        reasons.add_column(column, justify="right" if column != "reason" else "left")
    for reason in figures.reasons:
        sentiments = ", ".join(f"{k} {v}" for k, v in sorted(reason.sentiments.items()))
        trend = reason.trend if reason.trend == "new" else f"{reason.trend} {reason.change:+d}"
        reasons.add_row(
            category_label(reason.category),
            str(reason.count),
            reason.share.display(),
            trend,
            money(reason.revenue_lost),
            sentiments,
        )
    console.print(reasons)
    for reason in figures.reasons:
        for quote in reason.quotes:
            console.print(f"  [italic]“{quote.text}”[/italic] — {category_label(reason.category)}")
    for group in figures.emerging:
        console.print(f"Possible new reason “{group.label}”: {group.count} answers")
    console.print(health_line(figures), highlight=False)


def register(app: typer.Typer) -> None:
    """Add `summary` and `stats` to the churnbot command line."""

    @app.command()
    def summary(
        week: Annotated[
            str | None, typer.Option(help="ISO week, e.g. 2026-W46 (default: last week)")
        ] = None,
        post: Annotated[
            bool, typer.Option("--post", help="Also post it to SLACK_SUMMARY_CHANNEL")
        ] = False,
        again: Annotated[
            bool,
            typer.Option(
                "--again",
                help="With --post: post a week whose post is uncertain or failed "
                "(check the channel first: an uncertain post may be there already)",
            ),
        ] = False,
    ) -> None:
        """Print the weekly churn summary; --post sends it to Slack (once per week)."""
        from surveys.reports.weekly import parse_week

        if again and not post:
            raise typer.BadParameter("--again only goes with --post", param_hint="--again")
        deps = _deps()
        try:
            period = parse_week(week, now=deps.clock(), zone=deps.settings.zone)
        except ValueError as error:
            fail(f"--week {error}")
        # Check Slack before printing: a summary followed by "cannot post" reads as posted.
        weekly = _weekly_poster(deps) if post else None
        print_figures(_figures(deps, period), title=f"Weekly churn summary · {period.label}")
        if weekly is not None:
            _post(weekly, period, again=again)

    @app.command()
    def stats(
        period: Annotated[
            str | None, typer.Argument(help="7d, 30d, 90d, 2026-10, 2026-W46 or from..to")
        ] = None,
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="Print the customer figures as one JSON object (customers_start, "
                "customers_end, new, lost, churn_rate, retention_rate, …) for scripts",
            ),
        ] = False,
    ) -> None:
        """Print churn figures, reasons and survey health for a period (default 30d)."""
        from surveys.reports.periods import PeriodError, parse_period

        deps = _deps()
        try:
            chosen = parse_period(period, now=deps.clock(), zone=deps.settings.zone)
        except PeriodError as error:
            fail(f"PERIOD {error}")
        figures = _figures(deps, chosen)
        if as_json:
            typer.echo(json.dumps(figures_json(figures), ensure_ascii=False))
            return
        print_figures(figures, title=f"Churn figures · {chosen.label}")


def figures_json(figures: Figures) -> dict[str, object]:
    """The period and its customer figures (see `CustomerFigures.as_dict`)."""
    period = figures.period
    return {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        **figures.customers.as_dict(),
        **({"saves": figures.saves.as_dict()} if figures.saves is not None else {}),
        **(
            {"recoveries": figures.recoveries.as_dict()}
            if figures.recoveries is not None and figures.recoveries.any
            else {}
        ),
    }


def _weekly_poster(deps: Deps) -> WeeklySummary:
    from bot.settings import SettingsError
    from bot.slack_wiring import build_slack

    try:
        parts = build_slack(deps)
    except SettingsError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    if parts is None or parts.weekly is None:
        err.print("[red]error:[/red] set SLACK_BOT_TOKEN and SLACK_SUMMARY_CHANNEL to post")
        raise typer.Exit(2)
    return parts.weekly


def _post(weekly: WeeklySummary, period: Period, *, again: bool = False) -> None:
    from storage.models import SummaryPostStatus

    outcome = asyncio.run(weekly.publish_again(period) if again else weekly.publish(period))
    if outcome.status == "posted":
        out.print(f"posted {outcome.week} to {outcome.channel}")
    elif outcome.status == "skipped":
        out.print(f"{outcome.week} was not posted again: its post is {outcome.detail}")
        reopenable = (SummaryPostStatus.UNCERTAIN, SummaryPostStatus.FAILED)
        if outcome.detail in reopenable and not again:
            out.print(
                f"check {outcome.channel}; `churnbot summary --week {outcome.week} --post "
                "--again` posts it anyway"
            )
    else:
        err.print(f"[red]{outcome.status}:[/red] {outcome.detail}")
        raise typer.Exit(1)
