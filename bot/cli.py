"""The `churnbot` command line (typer)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import math
import os
import sys
import traceback
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError
from typer.core import TyperGroup

from bot import cli_classify, cli_context, cli_reports, cli_secret
from bot.cli_style import ChurnbotTyper, configured_secrets, err, fail
from bot.logs import configure_logging, mask_secrets
from bot.settings import Settings, SettingsError, load_settings
from storage import db as database
from storage.queries import answers as answer_queries
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.billing import stripe_intake
from surveys.definition import DefinitionError, check_definitions
from surveys.i18n import SUPPORTED_LANGUAGES
from surveys.inbound import clean_text

# Files churnbot creates (database, exports, charts) are for their owner only.
PRIVATE_UMASK = 0o077
DEBUG_KEY = "churnbot.debug"
MAX_IMPORT_ERRORS_SHOWN = 20


class ChurnbotGroup(TyperGroup):
    """Turns every failure into one line on stderr (exit 2 for bad settings or input);
    `--debug` or LOG_LEVEL=DEBUG adds the traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        os.umask(PRIVATE_UMASK)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            line, code = describe_failure(error)
            if _debugging(ctx):
                err.print(
                    mask_secrets("".join(traceback.format_exception(error)), configured_secrets()),
                    markup=False,
                    highlight=False,
                )
            fail(line, code=code)


def describe_failure(error: Exception) -> tuple[str, int]:
    """One line for a failure that escaped a command, and its exit code."""
    from telegram.error import InvalidToken, NetworkError

    if isinstance(error, SettingsError):
        return str(error), 2
    if isinstance(error, DefinitionError):
        return f"survey definitions (SURVEY_DEFINITIONS_DIR): {error}", 2
    if isinstance(error, OperationalError | InterfaceError):
        # Connection-level failures (refused, unknown host, auth, locked file), not bugs.
        reason = _short(str(error.orig)) if error.orig else type(error).__name__
        return f"DATABASE_URL: the database cannot be reached or used: {reason}", 2
    if isinstance(error, InvalidToken):
        return f"TELEGRAM_BOT_TOKEN was rejected by the Bot API: {_short(error.message)}", 2
    if isinstance(error, NetworkError):
        return f"cannot reach the Bot API (TELEGRAM_API_BASE_URL): {_short(error.message)}", 2
    if isinstance(error, UnicodeDecodeError):
        return f"cannot read the file as text: {error}", 2
    return (
        f"unexpected {type(error).__name__}: {_short(str(error))} "
        "(run `churnbot --debug …` for the traceback)",
        1,
    )


def _short(text: str, limit: int = 200) -> str:
    """The first line of `text`, cut to `limit` characters (servers answer with pages)."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _debugging(ctx: typer.Context) -> bool:
    if ctx.meta.get(DEBUG_KEY):
        return True
    with contextlib.suppress(Exception):
        return load_settings().log_level == "DEBUG"
    return os.environ.get("LOG_LEVEL", "").strip().upper() == "DEBUG"


def plural(count: int, word: str) -> str:
    """`1 customer`, `2 customers`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


app = ChurnbotTyper(
    cls=ChurnbotGroup,
    help="churnbot: customer surveys in Telegram, churn reasons for your team.",
)
db_app = ChurnbotTyper(help="Database schema.")
surveys_app = ChurnbotTyper(help="Survey definitions.")
customers_app = ChurnbotTyper(help="Customers.")
event_app = ChurnbotTyper(help="Record business events (each may trigger a survey).")
export_app = ChurnbotTyper(help="Export stored data.")
app.add_typer(db_app, name="db")
app.add_typer(surveys_app, name="surveys")
app.add_typer(customers_app, name="customers")
app.add_typer(event_app, name="event")
app.add_typer(export_app, name="export")

cli_classify.register(app)
cli_reports.register(app)
cli_secret.register(app)


@app.callback()
def main_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of a failure (as LOG_LEVEL=DEBUG)")
    ] = False,
) -> None:
    """churnbot: customer surveys in Telegram, churn reasons for your team."""
    ctx.meta[DEBUG_KEY] = debug


def _configure_logging(settings: Settings, *, quiet_unless_set: bool = False) -> None:
    level: str = settings.log_level
    if quiet_unless_set and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    configure_logging(level, settings.secrets())


@app.command()
def run() -> None:
    """Run the bot: answer customers in Telegram and deliver due surveys.

    With no TELEGRAM_BOT_TOKEN and no production setting it starts the sandbox instead
    (see `churnbot sandbox`)."""
    settings = cli_context.settings()
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        present = settings.production_settings
        if present:
            # A lost token in a deployment must stop it, not turn it into the sandbox.
            fail(
                f"TELEGRAM_BOT_TOKEN is not set, but {', '.join(present)} "
                f"{'is' if len(present) == 1 else 'are'}: set the bot's token, or run "
                "`churnbot sandbox` to try churnbot on its own database"
            )
        # No bot yet: show the whole product against the built-in stand-ins instead.
        _sandbox(settings, settings.sandbox_port)
        return
    _configure_logging(settings)
    deps = cli_context.deps(settings)
    from bot.app import serve

    asyncio.run(serve(deps))


def _sandbox(settings: Settings, port: int, database: Path | None = None) -> None:
    from bot.sandbox import run_sandbox

    _configure_logging(settings, quiet_unless_set=True)

    def ready(url: str) -> None:
        typer.echo(f"churnbot sandbox (no TELEGRAM_BOT_TOKEN needed): open {url}")

    def events_api(url: str, token: str) -> None:
        typer.echo(f"events API for this run: POST {url} with Authorization: Bearer {token}")

    run_sandbox(
        settings,
        port=port,
        on_ready=ready,
        on_events_api=events_api,
        database_url=f"sqlite:///{database.resolve()}" if database else None,
    )


@app.command()
def sandbox(
    port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", help="Port of the sandbox page (default: SANDBOX_PORT; 0: any free)"
        ),
    ] = None,
    database: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="SQLite file to use, e.g. the demo's (default: churnbot-sandbox.db here)",
        ),
    ] = None,
) -> None:
    """Try churnbot with no tokens: the real bot against local Telegram and Slack stand-ins,
    with a web page to play the customer and the manager. It never uses the configured
    database or secrets: its own SQLite file, fresh secrets at every start, 127.0.0.1 only."""
    settings = cli_context.settings()
    _sandbox(settings, settings.sandbox_port if port is None else port, database)


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

    settings = cli_context.settings()
    _configure_logging(settings, quiet_unless_set=True)
    # The fast delivery interval of the demo makes APScheduler warn about skipped runs.
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    run_demo(settings, customers=customers, weeks=weeks, seed=seed, chart_path=chart)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also done automatically at start)."""
    settings = cli_context.settings()
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    typer.echo(f"database at revision {database.current_revision(engine)}")


@surveys_app.command("check")
def surveys_check(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="FOLDER",
            help="Folder of *.yaml definitions (default: SURVEY_DEFINITIONS_DIR, else shipped)",
        ),
    ] = None,
) -> None:
    """Validate the survey definitions `churnbot run` would load; exit non-zero naming file,
    question and problem."""
    if directory is None:
        directory = cli_context.settings().survey_definitions_dir
    problems = check_definitions(directory)
    for problem in problems:
        err.print(f"[red]invalid:[/red] {escape(problem)}", highlight=False)
    if problems:
        raise typer.Exit(1)
    typer.echo("all survey definitions are valid")


@app.command()
def link(
    customer_id: Annotated[
        str, typer.Argument(help="Your own id of the customer, or its Stripe id (cus_…)")
    ],
    token_only: Annotated[bool, typer.Option("--token-only", help="Print only the token")] = False,
    days: Annotated[
        int | None,
        typer.Option(metavar="DAYS", help="Days the link stays valid (1-365; LINK_TOKEN_DAYS)"),
    ] = None,
) -> None:
    """Print a deep link that binds a customer's Telegram chat to CUSTOMER_ID."""
    customer_id = customer_id.strip()
    if not customer_id:
        fail("CUSTOMER_ID is empty: give your own id of the customer")
    if days is not None and not 1 <= days <= 365:
        fail(f"--days {days}: a link stays valid for 1 to 365 days")
    settings = cli_context.settings()
    deps = cli_context.deps(settings)

    def work(session: Any) -> str:
        customer = stripe_intake.customer_for_link(
            session, customer_id=customer_id, surveys=deps.definitions, now=deps.clock()
        )
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
        fail(
            "cannot learn the bot's username: set TELEGRAM_BOT_USERNAME, "
            f"or TELEGRAM_BOT_TOKEN with a reachable Bot API ({_short(str(error))})"
        )


CSV_FIELDS = ("customer_id", "telegram_chat_id", "name", "language", "plan", "monthly_revenue")


class ImportRefused(Exception):
    """Rows of an import that cannot be applied; nothing of the file is stored."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


@customers_app.command("import")
def customers_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV with a header row", exists=True)
    ],
    move_chats: Annotated[
        bool,
        typer.Option(
            "--move-chats",
            help="Let a row take a telegram_chat_id that another customer holds now",
        ),
    ] = False,
) -> None:
    """Create or update customers from a CSV file (customer_id required; telegram_chat_id,
    name, language, plan, monthly_revenue optional; other columns become attributes).

    Every line is checked first; if any is refused, nothing is imported. UTF-8 (with or
    without BOM) and UTF-16 with BOM (Excel's "Unicode text") are read as such; another
    file is read as Windows-1252 with a warning."""
    settings = cli_context.settings()
    text, warning = _read_text(file)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {escape(file.name)}: {escape(warning)}")
    rows, problems = _parse_customers(text)
    if problems:
        _refuse(file, problems)
    deps = cli_context.deps(settings)

    def work(session: Any) -> int:
        if not move_chats:
            conflicts = _chat_conflicts(session, rows)
            if conflicts:
                raise ImportRefused(conflicts)
        for _number, external_id, attributes in rows:
            customer_queries.upsert_customer(
                session=session, external_id=external_id, attributes=attributes
            )
        return len(rows)

    try:
        count = run_unit(deps.db, work)
    except ImportRefused as refused:
        _refuse(file, refused.problems)
    typer.echo(f"imported {plural(count, 'customer')}")


def _refuse(file: Path, problems: list[str]) -> NoReturn:
    for problem in problems[:MAX_IMPORT_ERRORS_SHOWN]:
        err.print(f"[red]error:[/red] {escape(file.name)}: {escape(problem)}", highlight=False)
    if len(problems) > MAX_IMPORT_ERRORS_SHOWN:
        err.print(f"… and {len(problems) - MAX_IMPORT_ERRORS_SHOWN} more", highlight=False)
    err.print("nothing was imported", highlight=False)
    raise typer.Exit(2)


def _read_text(file: Path) -> tuple[str, str | None]:
    """The file's text and a warning when its encoding had to be guessed."""
    data = file.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError as error:
            fail(f"{file.name}: starts like UTF-16 but is not ({error.reason})")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        fail(f"{file.name}: not UTF-8 and not UTF-16 with a BOM: save it as CSV UTF-8")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text, "not UTF-8: read as Windows-1252 (Latin-1); check names with accents"


def _parse_customers(text: str) -> tuple[list[tuple[int, str, dict[str, Any]]], list[str]]:
    text = clean_text(text)
    header = text.split("\n", 1)[0]
    delimiter = next((d for d in ",;\t" if d in header), ",")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None or "customer_id" not in [f.strip() for f in reader.fieldnames]:
        fail("the CSV needs a header row with a customer_id column")
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    rows, problems = [], []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append((number, *_customer_row(number, row)))
        except ValueError as error:
            problems.append(str(error))
    return rows, problems


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
            if key == "monthly_revenue" and not (
                math.isfinite(attributes[key]) and attributes[key] >= 0
            ):
                raise ValueError(f"line {number}: monthly_revenue {value!r} must be 0 or more")
        elif key == "language":
            if value.lower() not in SUPPORTED_LANGUAGES:
                raise ValueError(
                    f"line {number}: language {value!r} is not one of "
                    f"{', '.join(SUPPORTED_LANGUAGES)}"
                )
            attributes[key] = value.lower()
        else:
            attributes[key] = value
    return external_id, attributes


def _chat_conflicts(session: Any, rows: list[tuple[int, str, dict[str, Any]]]) -> list[str]:
    """Lines that would take a chat from another customer (now, or earlier in the file)."""
    wanted = [(n, ext, a["telegram_chat_id"]) for n, ext, a in rows if "telegram_chat_id" in a]
    holders = customer_queries.chat_holders(
        session=session, chat_ids=sorted({chat for _n, _e, chat in wanted})
    )
    problems = []
    for number, external_id, chat_id in wanted:
        holder = holders.get(chat_id)
        if holder is not None and holder != external_id:
            problems.append(
                f"line {number}: telegram_chat_id {chat_id} belongs to customer {holder!r}; "
                "use --move-chats to move it"
            )
        else:
            holders[chat_id] = external_id
    return problems


def _record(raw: object) -> None:
    """Validate and record JSON events exactly as `POST /api/events` does."""
    settings = cli_context.settings()
    deps = cli_context.deps(settings)
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
                session,
                inputs,
                surveys=deps.definitions,
                now=now,
                on_billing_link=stripe_intake.apply_waiting,
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
    """`--at` checked: an ISO date-time between 2000 and tomorrow."""
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        fail(f"--at {at!r} is not an ISO date-time (e.g. 2026-11-01T12:30:00+02:00)")
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not events.EARLIEST_EVENT <= aware <= datetime.now(UTC) + events.FUTURE_TOLERANCE:
        fail(f"--at {at!r} is outside {events.EARLIEST_EVENT.year} to tomorrow")
    return at


@event_app.command("interaction")
def event_interaction(
    customer_id: Annotated[
        str, typer.Argument(help="Your own id of the customer, or its Stripe id (cus_…)")
    ],
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
    customer_id: Annotated[
        str, typer.Argument(help="Your own id of the customer, or its Stripe id (cus_…)")
    ],
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
    settings = cli_context.settings()
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    handle = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        count = run_unit(engine, lambda session: _write_export(session, handle, format, start))
    finally:
        if output:
            handle.close()
    if output:
        typer.echo(f"wrote {plural(count, 'answer')} to {output}")


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
    app()
