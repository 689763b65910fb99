"""The `churnbot` command line (typer)."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot import cli_classify, cli_reports
from bot.settings import Settings, SettingsError, load_settings
from storage import db as database
from storage.queries import answers as answer_queries
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.definition import check_definitions

app = typer.Typer(help="churnbot: customer surveys in Telegram, churn reasons for your team.")
db_app = typer.Typer(help="Database schema.")
surveys_app = typer.Typer(help="Survey definitions.")
customers_app = typer.Typer(help="Customers.")
event_app = typer.Typer(help="Record business events (each may trigger a survey).")
export_app = typer.Typer(help="Export stored data.")
app.add_typer(db_app, name="db")
app.add_typer(surveys_app, name="surveys")
app.add_typer(customers_app, name="customers")
app.add_typer(event_app, name="event")
app.add_typer(export_app, name="export")

cli_classify.register(app)
cli_reports.register(app)

err = Console(stderr=True, soft_wrap=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


def _deps(settings: Settings):
    from bot.wiring import build_deps
    from surveys.definition import DefinitionError

    try:
        return build_deps(settings)
    except DefinitionError as error:
        err.print(f"[red]error:[/red] survey definitions: {error}")
        raise typer.Exit(2) from error


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("httpx", "apscheduler", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@app.command()
def run() -> None:
    """Run the bot: answer customers in Telegram and deliver due surveys.

    With no TELEGRAM_BOT_TOKEN it starts the sandbox instead (see `churnbot sandbox`)."""
    settings = _settings()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        # No bot yet: show the whole product against the built-in stand-ins instead.
        _sandbox(settings, _sandbox_port())
        return
    _configure_logging(settings.log_level)
    deps = _deps(settings)
    from telegram.error import InvalidToken, NetworkError

    from bot.app import serve

    try:
        asyncio.run(serve(deps))
    except SettingsError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    except InvalidToken as error:
        err.print(
            "[red]error:[/red] TELEGRAM_BOT_TOKEN was rejected by the Bot API at "
            f"TELEGRAM_API_BASE_URL ({settings.telegram_api_base_url}): {error.message}"
        )
        raise typer.Exit(2) from error
    except NetworkError as error:
        err.print(
            f"[red]error:[/red] cannot reach the Bot API at TELEGRAM_API_BASE_URL "
            f"({settings.telegram_api_base_url}): {error.message}"
        )
        raise typer.Exit(2) from error


def _sandbox_port() -> int:
    raw = os.environ.get("SANDBOX_PORT", "").strip()
    if not raw:
        from bot.sandbox import DEFAULT_PORT

        return DEFAULT_PORT
    if not raw.isdigit() or int(raw) > 65535:
        err.print(f"[red]error:[/red] SANDBOX_PORT {raw!r} is not a port number")
        raise typer.Exit(2)
    return int(raw)


def _sandbox(settings: Settings, port: int) -> None:
    from bot.sandbox import run_sandbox

    _configure_logging(
        settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
    )

    def ready(url: str) -> None:
        typer.echo(f"churnbot sandbox (no TELEGRAM_BOT_TOKEN needed): open {url}")

    try:
        run_sandbox(settings, port=port, on_ready=ready)
    except OSError as error:
        err.print(f"[red]error:[/red] cannot start the sandbox on port {port}: {error}")
        raise typer.Exit(2) from error
    except SettingsError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option(envvar="SANDBOX_PORT", help="Port of the sandbox page (0: any free)")
    ] = 8090,
) -> None:
    """Try churnbot with no tokens: the real bot against local Telegram and Slack stand-ins,
    with a web page to play the customer and the manager."""
    _sandbox(_settings(), port)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, max=5000, help="Simulated customers")] = 200,
    weeks: Annotated[int, typer.Option(min=1, max=12, help="Weeks of history")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same story)")] = 7,
    chart: Annotated[Path, typer.Option(help="Where to save the weekly summary's chart")] = Path(
        "churnbot-demo-chart.png"
    ),
) -> None:
    """Simulate customers answering surveys for a few weeks, then post the weekly summary.

    Uses DATABASE_URL if set, otherwise a fresh sqlite:///churnbot-demo.db."""
    from bot.sandbox.demo import run_demo

    settings = _settings()
    _configure_logging(
        settings.log_level if "log_level" in settings.model_fields_set else "WARNING"
    )
    # The fast delivery interval of the demo makes APScheduler warn about skipped runs.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    run_demo(settings, customers=customers, weeks=weeks, seed=seed, chart_path=chart)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also done automatically at start)."""
    settings = _settings()
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    typer.echo(f"database at revision {database.current_revision(engine)}")


@surveys_app.command("check")
def surveys_check(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder of *.yaml definitions (default: shipped)")
    ] = None,
) -> None:
    """Validate survey definitions; exit non-zero naming file, question and problem."""
    problems = check_definitions(directory)
    for problem in problems:
        err.print(f"[red]invalid:[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    typer.echo("all survey definitions are valid")


@app.command()
def link(
    customer_id: Annotated[str, typer.Argument(help="Your own id of the customer")],
    token_only: Annotated[bool, typer.Option("--token-only", help="Print only the token")] = False,
    days: Annotated[int | None, typer.Option(help="Days the link stays valid")] = None,
) -> None:
    """Print a deep link that binds a customer's Telegram chat to CUSTOMER_ID."""
    settings = _settings()
    deps = _deps(settings)

    def work(session: Any) -> str:
        customer = customer_queries.upsert_customer(session=session, external_id=customer_id)
        return deps.accounts.link_token(customer, days or settings.link_token_days)

    token = run_unit(deps.db, work)
    if token_only:
        typer.echo(token)
        return
    username = settings.telegram_bot_username or _bot_username(settings)
    typer.echo(f"https://t.me/{username}?start={token}")


def _bot_username(settings: Settings) -> str:
    """Ask the Bot API for our username (set TELEGRAM_BOT_USERNAME to skip this)."""
    from telegram import Bot

    async def ask() -> str:
        bot = Bot(
            settings.require_bot_token(),
            base_url=settings.telegram_api_base_url,
            base_file_url=settings.file_base_url,
        )
        async with bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except Exception as error:
        err.print(
            "[red]error:[/red] cannot learn the bot's username: set TELEGRAM_BOT_USERNAME, "
            f"or TELEGRAM_BOT_TOKEN with a reachable Bot API ({error})"
        )
        raise typer.Exit(2) from error


CSV_FIELDS = ("customer_id", "telegram_chat_id", "name", "language", "plan", "monthly_revenue")


@customers_app.command("import")
def customers_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header row", exists=True)],
) -> None:
    """Create or update customers from a CSV file (customer_id required; telegram_chat_id,
    name, language, plan, monthly_revenue optional; other columns become attributes)."""
    settings = _settings()
    deps = _deps(settings)
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "customer_id" not in reader.fieldnames:
            err.print("[red]error:[/red] the CSV needs a header row with a customer_id column")
            raise typer.Exit(2)
        try:
            rows = [_customer_row(number, row) for number, row in enumerate(reader, start=2)]
        except ValueError as error:
            err.print(f"[red]error:[/red] {file.name}: {error}")
            raise typer.Exit(2) from error

    def work(session: Any) -> int:
        for external_id, attributes in rows:
            customer_queries.upsert_customer(
                session=session, external_id=external_id, attributes=attributes
            )
        return len(rows)

    count = run_unit(deps.db, work)
    typer.echo(f"imported {count} customers")


def _customer_row(number: int, row: dict[str, str | None]) -> tuple[str, dict[str, Any]]:
    external_id = (row.get("customer_id") or "").strip()
    if not external_id:
        raise ValueError(f"line {number}: customer_id is empty")
    attributes: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or key == "customer_id" or value is None or not value.strip():
            continue
        value = value.strip()
        if key in ("telegram_chat_id", "monthly_revenue"):
            convert = int if key == "telegram_chat_id" else float
            try:
                attributes[key] = convert(value)
            except ValueError as error:
                raise ValueError(f"line {number}: {key} {value!r} is not a number") from error
        else:
            attributes[key] = value
    return external_id, attributes


def _record(raw: object) -> None:
    """Validate and record JSON events exactly as `POST /api/events` does."""
    settings = _settings()
    deps = _deps(settings)
    now = deps.clock()
    batch = raw if isinstance(raw, list) else [raw]
    try:
        inputs = [
            events.parse_event(item, now=now, where=f"[{i}]." if isinstance(raw, list) else "")
            for i, item in enumerate(batch)
        ]
        outcomes = run_unit(
            deps.db,
            lambda session: events.record_events(
                session, inputs, surveys=deps.definitions, now=now
            ),
        )
    except events.EventError as error:
        err.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(2) from error
    for outcome in outcomes:
        typer.echo(_outcome_line(outcome))


def _outcome_line(outcome: events.EventOutcome) -> str:
    """What was stored for one event, invitation by invitation, in the stored words."""
    if not outcome.recorded:
        return f"event {outcome.event_id} was already recorded; nothing changed"
    parts = []
    for item in outcome.details:
        if not item.created:
            subject = f"subscription {item.subscription_ref}" if item.subscription_ref else "it"
            parts.append(
                f"no new {item.survey} survey: {subject} already has invitation "
                f"#{item.id} ({item.status})"
            )
            continue
        text = f"{item.survey} survey invitation #{item.id} {item.status}"
        if item.reason:
            text += f" ({item.reason})"
        parts.append(text)
    return f"recorded event {outcome.event_id}; " + ("; ".join(parts) or "no survey triggered")


@event_app.command("json")
def event_json(
    file: Annotated[
        Path | None, typer.Argument(help="JSON file with an event or an array (default: stdin)")
    ] = None,
) -> None:
    """Record events given as JSON, in the format of `POST /api/events`."""
    source = file.read_text(encoding="utf-8") if file else sys.stdin.read()
    try:
        raw = json.loads(source)
    except json.JSONDecodeError as error:
        err.print(f"[red]error:[/red] malformed JSON: {error}")
        raise typer.Exit(2) from error
    _record(raw)


def _when(at: str | None) -> str | None:
    if at is not None:
        try:
            datetime.fromisoformat(at)
        except ValueError as error:
            raise typer.BadParameter(
                f"{at!r} is not an ISO date-time", param_hint="--at"
            ) from error
    return at


@event_app.command("interaction")
def event_interaction(
    customer_id: Annotated[str, typer.Argument(help="Your own id of the customer")],
    ref: Annotated[str, typer.Option(help="Ticket or order reference, e.g. T-1001")],
    kind: Annotated[str, typer.Option(help="support_ticket, purchase, …")] = "support_ticket",
    at: Annotated[str | None, typer.Option(help="When it happened (ISO 8601); now")] = None,
    event_id: Annotated[str | None, typer.Option(help="Idempotency key")] = None,
) -> None:
    """Record a completed interaction (closed ticket, purchase): triggers the CSAT survey."""
    _record(
        {
            "event_id": event_id or f"interaction:{customer_id}:{ref}",
            "type": events.INTERACTION_COMPLETED,
            "customer_id": customer_id,
            "occurred_at": _when(at),
            "data": {"kind": kind, "reference": ref},
        }
    )


@event_app.command("cancel")
def event_cancel(
    customer_id: Annotated[str, typer.Argument(help="Your own id of the customer")],
    ref: Annotated[str, typer.Option(help="Subscription reference, e.g. SUB-9")],
    involuntary: Annotated[
        bool, typer.Option("--involuntary", help="Failed payment, not the customer's choice")
    ] = False,
    at: Annotated[str | None, typer.Option(help="When it happened (ISO 8601); now")] = None,
    event_id: Annotated[str | None, typer.Option(help="Idempotency key")] = None,
) -> None:
    """Record a cancellation: triggers the exit survey (not for involuntary churn)."""
    _record(
        {
            "event_id": event_id or f"cancel:{customer_id}:{ref}",
            "type": events.SUBSCRIPTION_CANCELLED,
            "customer_id": customer_id,
            "occurred_at": _when(at),
            "data": {"reference": ref, "voluntary": not involuntary},
        }
    )


EXPORT_COLUMNS = (
    "answer_id",
    "customer_id",
    "survey",
    "question",
    "value",
    "choice",
    "text",
    "language",
    "answered_at",
    "category",
    "sentiment",
    "confidence",
    "auto_category",
    "auto_sentiment",
    "corrected_category",
    "corrected_sentiment",
    "corrected_by",
    "corrected_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell made inert for spreadsheets: a leading formula character gets a `'`
    prefix; NUL is dropped. Numbers and empty cells pass unchanged."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "")
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


@export_app.command("answers")
def export_answers(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="Only answers from this date (YYYY-MM-DD)")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
) -> None:
    """Write every answer with its customer, survey, question, time and label (effective
    category and sentiment, the automatic classification and the latest correction)."""
    if format not in ("jsonl", "csv"):
        raise typer.BadParameter("--format must be jsonl or csv")
    start = None
    if since:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
        except ValueError as error:
            raise typer.BadParameter(f"--since {since!r} is not a date (YYYY-MM-DD)") from error
    settings = _settings()
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    handle = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        count = run_unit(engine, lambda session: _write_export(session, handle, format, start))
    finally:
        if output:
            handle.close()
    if output:
        typer.echo(f"wrote {count} answers to {output}")


def _write_export(session: Any, handle: Any, format: str, start: datetime | None) -> int:
    writer = csv.DictWriter(handle, fieldnames=EXPORT_COLUMNS) if format == "csv" else None
    if writer:
        writer.writeheader()
    count = 0
    for row in answer_queries.iter_export_rows(session=session, since=start):
        record = {column: getattr(row, column) for column in EXPORT_COLUMNS}
        for column in ("answered_at", "corrected_at"):
            moment = record[column]
            record[column] = moment.isoformat() if moment is not None else None
        if writer:
            writer.writerow({column: csv_cell(value) for column, value in record.items()})
        else:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def main() -> None:
    # PTB 22 warns until `retry_after` becomes a timedelta; opt in to that form now.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    app()
