"""`churnbot demo`: weeks of simulated customers on the sandbox stand-ins, then the summary.

The real application runs (`bot.app.serve`: PTB polling, the HTTP server, Slack alerts)
against the stand-ins, with a simulated clock that the script moves day by day. Events go
to `POST /api/events`; customers answer by pushing updates to the Telegram stand-in, which
the real handlers receive over HTTP. At the end the real weekly-summary code posts last week
to the Slack stand-in, and the chart it uploaded is saved to a file.

Same seed, same story, byte for byte: the whole story (who joins, who opens a ticket, who
cancels, every tap and every sentence) is drawn from the seed before anything runs; the
weeks end at the latest scheduled summary run (`SUMMARY_SCHEDULE`), not at the wall clock's
second; and the script drives the real delivery code (`surveys.delivery.Delivery`) itself
after each move of the clock, instead of racing the scheduler's wall-clock interval, so a
survey is sent, reminded and expired on the same simulated day in every run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from sqlalchemy import func, insert
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from telegram import Bot

from bot.sandbox import sandbox_settings
from bot.sandbox.server import SandboxServer, chat_id_for
from bot.settings import Settings
from storage.clock import as_utc
from storage.models import (
    Answer,
    Customer,
    Event,
    InvitationStatus,
    OfferStatus,
    SurveyInvitation,
    WinbackOffer,
)
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events
from surveys.delivery import Delivery, DeliveryPolicy
from surveys.quiet_hours import QuietHours
from surveys.reports.periods import week_label
from surveys.reports.weekly import Schedule

ACCEPTED_STATUSES = (
    OfferStatus.ACCEPTED,
    OfferStatus.APPLIED,
    OfferStatus.HANDED_OVER,
    OfferStatus.REFUSED,
)
DEMO_DATABASE_URL = "sqlite:///churnbot-demo.db"
# Its own channel, so a sandbox started on the demo's database still posts its own summary.
DEMO_SUMMARY_CHANNEL = "C0DEMO"
LANGUAGES = {"en": 0.4, "de": 0.2, "es": 0.15, "zh": 0.15, "hu": 0.1}
PLANS = {"basic": 19.0, "pro": 49.0, "team": 129.0}
REASONS = {
    "price": 0.22,
    "missing_features": 0.14,
    "bugs_reliability": 0.13,
    "competitor": 0.1,
    "poor_support": 0.09,
    "low_value": 0.08,
    "hard_to_use": 0.08,
    "no_longer_needed": 0.07,
    "billing_issue": 0.05,
    "felt_ignored": 0.04,
}
# Rates a subscription business would recognise: about 2% of customers cancel in a month
# and a little more than that sign up, so the base grows slowly.
MONTHLY_CHURN = 0.02
MONTHLY_GROWTH = 0.03
DAYS_PER_MONTH = 30.0
WEEKLY_TICKETS = 0.04  # share of active customers with a support ticket closed in a week
SETTLED_DAYS = 21  # tickets and cancellations come from customers at least this old
INVOLUNTARY_SHARE = 0.1
ANSWER_RATE = 0.8
WEEKLY_PAYMENT_FAILURES = 0.01  # share of active customers whose renewal payment fails in a week
ACCEPT_SHARE = 0.4  # customers offered a discount who take it
OFFER_REASON = "price"  # the exit answer whose closing message makes an acceptable offer
RECOVERED_SHARE = 0.7  # failed payments paid a day or two later
SOMETHING_ELSE_SHARE = 0.15  # exit answers that pick "Something else" and explain in words
DAY_OFFSET = timedelta(hours=1)  # each simulated day is played this long after the run time
EVENT_AGE = timedelta(minutes=90)  # events are reported this long after they occurred
WAIT = 60.0  # seconds without progress in one step of the day: the application is stuck
POLL = 0.02


class Kind(enum.StrEnum):
    """What happens to a customer on a simulated day."""

    JOIN = "join"
    TICKET = "ticket"
    CANCEL = "cancel"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_RECOVERED = "payment_recovered"


class SimClock:
    """The application's clock, moved by the script (surveys record answers at this time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class SimCustomer:
    external_id: str
    language: str
    plan: str
    chat_id: int
    joined_day: int | None  # None: a customer since before the simulated weeks
    since_days: int  # for those: how many days before the first simulated day they started
    answers: bool  # answers surveys at all (the others let them remind and expire)
    ces: int  # their onboarding answer (effort score, 1-7), when they get that survey
    cancel_day: int | None = None


@dataclass(frozen=True)
class Happening:
    """One event of the story, with the answer the customer will give to its survey."""

    day: int
    kind: Kind
    person: SimCustomer
    score: int = 5  # a ticket's CSAT
    reason: str = "price"  # a cancellation's reason
    voluntary: bool = True
    other: bool = False  # the exit answer is "Something else" with the reason in words
    text: str | None = None  # the follow-up answer; None taps Skip
    invoice: str | None = None  # a payment's invoice
    accepts: bool = False  # taps Accept when the exit survey's closing message makes an offer


@dataclass
class Story:
    people: list[SimCustomer]
    happenings: list[Happening]
    weeks: int

    @property
    def days(self) -> int:
        return self.weeks * 7

    def on(self, day: int) -> list[Happening]:
        return [happening for happening in self.happenings if happening.day == day]

    def week_figures(self, week: int) -> tuple[int, int, int]:
        """(customers at the start of the week, new in it, lost in it), by the plan."""
        first, last = week * 7, week * 7 + 7
        at_start = sum(
            1
            for person in self.people
            if (person.joined_day is None or person.joined_day < first)
            and (person.cancel_day is None or person.cancel_day >= first)
        )
        new = sum(1 for person in self.people if _within(person.joined_day, first, last))
        lost = sum(1 for person in self.people if _within(person.cancel_day, first, last))
        return at_start, new, lost


def _within(day: int | None, first: int, last: int) -> bool:
    return day is not None and first <= day < last


@dataclass(frozen=True)
class DemoResult:
    customers: int
    events: int
    cancellations: int
    surveys_sent: int
    surveys_completed: int
    answers: int
    offers_made: int
    offers_accepted: int
    payments_failed: int
    payments_recovered: int
    week: str
    summary: str
    chart: Path | None


def run_demo(
    settings: Settings,
    *,
    customers: int = 200,
    weeks: int = 4,
    seed: int = 7,
    chart_path: Path = Path("churnbot-demo-chart.png"),
    console: Console | None = None,
) -> DemoResult:
    """Run the simulation and print its figures; the database is DATABASE_URL or a fresh
    sqlite:///churnbot-demo.db. Progress goes to stderr, one line per simulated week."""
    console = console or Console(soft_wrap=True)
    if "database_url" not in settings.model_fields_set:
        _remove_sqlite(DEMO_DATABASE_URL)
        settings = settings.model_copy(update={"database_url": DEMO_DATABASE_URL})
    result = asyncio.run(
        _demo(settings, customers=customers, weeks=weeks, seed=seed, chart_path=chart_path)
    )
    console.print(f"customers: {result.customers}")
    console.print(f"events: {result.events}")
    console.print(f"cancellations: {result.cancellations}")
    console.print(f"surveys sent: {result.surveys_sent}")
    console.print(f"surveys completed: {result.surveys_completed}")
    console.print(f"answers: {result.answers}")
    console.print(f"offers made: {result.offers_made}")
    console.print(f"offers accepted: {result.offers_accepted}")
    if result.offers_made:
        rate = result.offers_accepted / result.offers_made * 100
        console.print(f"save rate: {rate:.1f}%")
    console.print(f"payments failed: {result.payments_failed}")
    console.print(f"payments recovered: {result.payments_recovered}")
    console.print(f"weekly summary {result.week}: {result.summary}", highlight=False)
    console.print(f"chart: {result.chart if result.chart else 'not uploaded'}", highlight=False)
    console.print(f"database: {settings.database_url}", highlight=False)
    return result


def _remove_sqlite(url: str) -> None:
    database = make_url(url).database
    if database:
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)


def load_texts() -> dict[str, Any]:
    raw = resources.files("bot.sandbox").joinpath("data", "demo_answers.yaml").read_text("utf-8")
    texts: dict[str, Any] = yaml.safe_load(raw)
    return texts


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_story(count: int, weeks: int, seed: int, texts: dict[str, Any]) -> Story:
    """The whole story, drawn from `seed` alone: who the customers are, who joins in which
    week, and who opens a ticket or cancels on which day, with their answers.

    `count` customers in all: most are customers at the start, and a few join each week
    (at least one while there are customers left to join). Cancellations follow
    MONTHLY_CHURN of the customers present at each week's start; the fraction a small base
    cannot lose this week is carried to the next, so the rate holds at every size.
    """
    rng = random.Random(seed)
    weekly_growth = MONTHLY_GROWTH * 7 / DAYS_PER_MONTH
    weekly_churn = MONTHLY_CHURN * 7 / DAYS_PER_MONTH
    joining = min(count - 1, max(weeks, round(count * weeks * weekly_growth)))
    per_week = [joining // weeks + (1 if week < joining % weeks else 0) for week in range(weeks)]
    join_days = sorted(
        week * 7 + rng.randrange(7) for week, number in enumerate(per_week) for _ in range(number)
    )
    starting = count - len(join_days)
    people: list[SimCustomer] = []
    for n in range(count):
        external_id = f"demo-{n + 1:04d}"
        people.append(
            SimCustomer(
                external_id=external_id,
                language=_pick(rng, LANGUAGES),
                plan=rng.choices(list(PLANS), weights=[5, 3, 1])[0],
                chat_id=chat_id_for(external_id),
                joined_day=None if n < starting else join_days[n - starting],
                since_days=rng.randrange(SETTLED_DAYS, 400),
                answers=rng.random() < ANSWER_RATE,
                ces=rng.choices(range(1, 8), weights=[1, 1, 1, 2, 3, 4, 4])[0],
            )
        )
    if len({person.chat_id for person in people}) != len(people):
        raise ValueError("two demo customers would share a Telegram chat")

    happenings: list[Happening] = [
        Happening(day=person.joined_day, kind=Kind.JOIN, person=person)
        for person in people
        if person.joined_day is not None
    ]
    owed = 0.5  # cancellations carried over (rounds the first week to the nearest)
    for week in range(weeks):
        first = week * 7
        # Those with a cancel day so far left in earlier weeks.
        subscribed = [p for p in people if p.cancel_day is None and _joined_before(p, first)]
        owed += len(subscribed) * weekly_churn
        present = [person for person in people if _settled(person, first)]
        leaving = min(int(owed), len(present))
        owed -= leaving
        for person in rng.sample(present, leaving):
            person.cancel_day = first + rng.randrange(7)
            reason = _pick(rng, REASONS)
            other = rng.random() < SOMETHING_ELSE_SHARE
            text: str | None = rng.choice(texts["exit"][person.language][reason])
            if not other and rng.random() < 0.25:
                text = None
            happenings.append(
                Happening(
                    day=person.cancel_day,
                    kind=Kind.CANCEL,
                    person=person,
                    reason=reason,
                    voluntary=rng.random() >= INVOLUNTARY_SHARE,
                    other=other,
                    text=text,
                )
            )
        # Customers staying all week, so a ticket never follows the cancellation.
        candidates = [person for person in people if _settled(person, first + 6)]
        tickets = round(len(candidates) * WEEKLY_TICKETS)
        for person in rng.sample(candidates, tickets):
            day = first + rng.randrange(7)
            score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 5])[0]
            mood = "bad" if score <= 3 else "good"
            ticket_text = None
            if mood == "bad" or rng.random() < 0.5:
                ticket_text = rng.choice(texts["csat"][person.language][mood])
            happenings.append(
                Happening(day=day, kind=Kind.TICKET, person=person, score=score, text=ticket_text)
            )
    happenings = _accepting(happenings, seed) + _payments(people, weeks, seed)
    order = {
        Kind.JOIN: 0,
        Kind.TICKET: 1,
        Kind.CANCEL: 2,
        Kind.PAYMENT_FAILED: 3,
        Kind.PAYMENT_RECOVERED: 4,
    }
    happenings.sort(key=lambda h: (h.day, order[h.kind], h.person.external_id))
    return Story(people=people, happenings=happenings, weeks=weeks)


def _accepting(happenings: list[Happening], seed: int) -> list[Happening]:
    """Mark the cancellations whose customer accepts the win-back offer their exit answer
    gets (the price offer): the first such customer and ACCEPT_SHARE of the others. Drawn
    from their own generator, so the rest of a seed's story is as before."""
    rng = random.Random(f"demo-offers:{seed}")
    marked: list[Happening] = []
    first = True
    for happening in happenings:
        offered = (
            happening.kind == Kind.CANCEL
            and happening.reason == OFFER_REASON
            and not happening.other
            and happening.person.answers
        )
        if offered:
            marked.append(
                dataclasses.replace(happening, accepts=first or rng.random() < ACCEPT_SHARE)
            )
            first = False
        else:
            marked.append(happening)
    return marked


def _payments(people: list[SimCustomer], weeks: int, seed: int) -> list[Happening]:
    """Renewal payments that fail, most of them paid a day or two later (involuntary churn
    recovered). Drawn from their own generator, so the rest of a seed's story is as before."""
    rng = random.Random(f"demo-payments:{seed}")
    happenings: list[Happening] = []
    for week in range(weeks):
        first = week * 7
        candidates = [person for person in people if _settled(person, first + 6)]
        failing = min(len(candidates), max(1, round(len(candidates) * WEEKLY_PAYMENT_FAILURES)))
        for person in rng.sample(candidates, failing):
            day = first + rng.randrange(5)
            invoice = f"INV-{person.external_id}-{day}"
            happenings.append(
                Happening(day=day, kind=Kind.PAYMENT_FAILED, person=person, invoice=invoice)
            )
            if rng.random() < RECOVERED_SHARE:
                happenings.append(
                    Happening(
                        day=day + 1 + rng.randrange(2),
                        kind=Kind.PAYMENT_RECOVERED,
                        person=person,
                        invoice=invoice,
                    )
                )
    return happenings


def _joined_before(person: SimCustomer, day: int) -> bool:
    return person.joined_day is None or person.joined_day < day


def _settled(person: SimCustomer, day: int) -> bool:
    """A customer for SETTLED_DAYS at `day` (past the onboarding survey and its fatigue
    period) who has not cancelled by then."""
    joined = -person.since_days if person.joined_day is None else person.joined_day
    return day - joined >= SETTLED_DAYS and (person.cancel_day is None or person.cancel_day > day)


def demo_end(settings: Settings, now: datetime) -> datetime:
    """The latest scheduled summary run at or before `now`: the simulated weeks end there,
    so every run in the same week tells the same story, and the summary the demo posts is
    of its last simulated week."""
    return Schedule.parse(settings.summary_schedule).last_run(now, settings.zone).astimezone(UTC)


async def _demo(
    settings: Settings, *, customers: int, weeks: int, seed: int, chart_path: Path
) -> DemoResult:
    from bot.app import serve, telegram_request
    from bot.slack_wiring import build_slack
    from bot.wiring import build_deps

    story = plan_story(customers, weeks, seed, load_texts())
    end = demo_end(settings, datetime.now(UTC))
    start = end - timedelta(days=story.days)
    # Real time while the app starts: the scheduler's first run is "now" by this clock, and
    # APScheduler would walk through every interval missed since a past start to catch up.
    clock = SimClock(datetime.now(UTC))
    progress = Console(stderr=True, highlight=False, soft_wrap=True)

    server = SandboxServer(port=0).start()
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    deps = None
    bot: Bot | None = None
    try:
        configured = sandbox_settings(
            settings, server, database_url=settings.database_url, summary_channel=""
        )
        configured = configured.model_copy(
            update={
                "slack_summary_channel": None,  # posted once at the end, not at start-up
                "telegram_rate_limit": False,  # the stand-in enforces no limits
                # The script delivers after each move of its clock (see Simulation.deliver);
                # the scheduler's wall-clock job must not race it.
                "delivery_interval_seconds": 24 * 3600.0,
                "http_port": 0,
                "http_host": "127.0.0.1",
            }
        )
        deps = await asyncio.to_thread(build_deps, configured, clock=clock)
        server.attach(deps)
        ports: list[int] = []
        task = asyncio.create_task(serve(deps, stop, handle_signals=False, on_ready=ports.append))
        while not ports:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        server.app_url = f"http://127.0.0.1:{ports[0]}"
        bot = Bot(
            configured.require_bot_token(),
            base_url=configured.telegram_api_base_url,
            base_file_url=configured.file_base_url,
            request=telegram_request(configured, pool_size=8),
        )
        await bot.initialize()
        delivery = Delivery(
            db=deps.db,
            engine=deps.surveys,
            sender=_sender(bot),
            clock=clock,
            policy=DeliveryPolicy(
                zone=configured.zone,
                quiet_hours=QuietHours.parse(""),
                batch=configured.delivery_batch,
                concurrency=configured.delivery_concurrency,
                claim_timeout=timedelta(seconds=configured.delivery_claim_timeout_seconds),
            ),
        )
        clock.now = start
        sim = Simulation(server, deps, clock, story, delivery, progress)
        try:
            await sim.onboard(start)
            await sim.run_days(start)
        finally:
            await sim.close()
        clock.now = end
        await sim.deliver()
        with_channel = dataclasses.replace(
            deps,
            settings=deps.settings.model_copy(
                update={"slack_summary_channel": DEMO_SUMMARY_CHANNEL}
            ),
        )
        parts = build_slack(with_channel)
        assert parts is not None
        assert parts.weekly is not None
        outcome = await parts.weekly.catch_up()
        posted = [m for m in server.slack.messages(DEMO_SUMMARY_CHANNEL) if m.get("text")]
        summary = posted[-1]["text"] if posted else f"not posted ({outcome.status})"
        uploads = [u for u in server.slack.uploads() if u.get("channel") == DEMO_SUMMARY_CHANNEL]
        chart = None
        if uploads and uploads[-1].get("content"):
            chart = await asyncio.to_thread(_save, chart_path, uploads[-1]["content"])
        counts = await asyncio.to_thread(run_unit, deps.db, _counts)
        progress.print(f"done in {sim.elapsed():.0f} s")
        return DemoResult(**counts, week=outcome.week, summary=summary, chart=chart)
    finally:
        if bot is not None:
            await bot.shutdown()
        stop.set()
        if task is not None:
            # Answer PTB's long polls at once until it stops, instead of waiting them out.
            async with asyncio.timeout(30):
                while not task.done():
                    server.telegram.release_polls()
                    await asyncio.wait({task}, timeout=0.1)
            await task
        server.stop()
        if deps is not None:
            deps.db.dispose()


def _import_history(session: Any, people: Sequence[SimCustomer], start: datetime) -> None:
    """The customers of before the simulated weeks, with their Telegram chats (as
    `customers import` brings them) and the events of their subscription starts, in batched
    inserts. Their history is not what the demo shows, and sent one event at a time through
    the events API it took most of a 5,000-customer run. Customers already there (a second
    run on the same DATABASE_URL) are left as they are."""
    wanted = [person.external_id for person in people]
    known: set[str] = set()
    for offset in range(0, len(wanted), 900):  # under every database's parameter limit
        chunk = wanted[offset : offset + 900]
        known.update(
            session.exec(select(Customer.external_id).where(col(Customer.external_id).in_(chunk)))
        )
    fresh = [person for person in people if person.external_id not in known]
    if not fresh:
        return
    since = {p.external_id: as_utc(start - timedelta(days=p.since_days)) for p in fresh}
    session.execute(
        insert(Customer),
        [
            {
                "external_id": person.external_id,
                "telegram_chat_id": person.chat_id,
                "language": person.language,
                "plan": person.plan,
                "monthly_revenue": PLANS[person.plan],
                "attributes": {},
                "opted_out": False,
                "unreachable": False,
                "created_at": since[person.external_id],
                "updated_at": since[person.external_id],
            }
            for person in fresh
        ],
    )
    ids: dict[str, int] = {}
    names = [person.external_id for person in fresh]
    for offset in range(0, len(names), 900):
        statement = select(Customer.external_id, Customer.id).where(
            col(Customer.external_id).in_(names[offset : offset + 900])
        )
        ids.update((external_id, int(key)) for external_id, key in session.exec(statement))
    session.execute(
        insert(Event),
        [
            {
                "source_event_id": f"demo:start:{person.external_id}",
                "type": events.SUBSCRIPTION_STARTED,
                "customer_id": ids[person.external_id],
                "occurred_at": since[person.external_id],
                "recorded_at": since[person.external_id],
                "data": {"plan": person.plan, "reference": f"SUB-{person.external_id}"},
            }
            for person in fresh
        ],
    )


def _sender(bot: Bot) -> Any:
    from handlers.telegram.sender import TelegramSender

    return TelegramSender(bot)


def _save(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path.resolve()


def _counts(session: Any) -> dict[str, int]:
    def count(statement: Any) -> int:
        return int(session.exec(statement).one())

    return {
        "customers": count(select(func.count()).select_from(Customer)),
        "events": count(select(func.count()).select_from(Event)),
        "cancellations": count(
            select(func.count())
            .select_from(Event)
            .where(Event.type == events.SUBSCRIPTION_CANCELLED)
        ),
        "surveys_sent": count(
            select(func.count())
            .select_from(SurveyInvitation)
            .where(SurveyInvitation.sent_at.is_not(None))  # type: ignore[union-attr]
        ),
        "surveys_completed": count(
            select(func.count())
            .select_from(SurveyInvitation)
            .where(SurveyInvitation.status == InvitationStatus.COMPLETED)
        ),
        "answers": count(select(func.count()).select_from(Answer)),
        "offers_made": count(select(func.count()).select_from(WinbackOffer)),
        "offers_accepted": count(
            select(func.count())
            .select_from(WinbackOffer)
            .where(col(WinbackOffer.status).in_(ACCEPTED_STATUSES))
        ),
        "payments_failed": count(
            select(func.count()).select_from(Event).where(Event.type == events.PAYMENT_FAILED)
        ),
        "payments_recovered": count(
            select(func.count()).select_from(Event).where(Event.type == events.PAYMENT_RECOVERED)
        ),
    }


@dataclass
class _Answering:
    """A survey message a customer is working through."""

    chat_id: int
    message_id: int
    invitation_id: int
    language: str
    text: str | None
    seen: dict[str, Any] = field(default_factory=dict)


class Simulation:
    """Plays every customer: their events through the API, their taps and words in Telegram.

    Each simulated day runs in steps, and every step waits until the application has done
    all of it before the next begins: events in, surveys delivered, first taps, follow-up
    answers. Within a step the updates go out in the story's order.
    """

    def __init__(
        self,
        server: SandboxServer,
        deps: Any,
        clock: SimClock,
        story: Story,
        delivery: Delivery,
        progress: Console,
    ) -> None:
        self.server, self.deps, self.clock, self.story = server, deps, clock, story
        self.delivery, self.progress = delivery, progress
        self.fake = server.telegram
        self.started = time.monotonic()
        self.by_chat = {person.chat_id: person for person in story.people}
        self.http = httpx.AsyncClient(
            base_url=server.app_url,
            headers={"Authorization": f"Bearer {server.events_token}"},
            timeout=30,
        )
        exit_survey = deps.definitions["exit"].questions[0]
        self.exit_keys = [option.key for option in exit_survey.options]

    async def close(self) -> None:
        await self.http.aclose()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # --- events and delivery ----------------------------------------------------------------

    async def post_events(self, batch: list[dict[str, Any]]) -> None:
        for offset in range(0, len(batch), 500):
            response = await self.http.post("/api/events", json=batch[offset : offset + 500])
            if response.status_code != 202:
                raise RuntimeError(f"POST /api/events: {response.status_code} {response.text}")

    async def deliver(self) -> None:
        """What the scheduler's delivery job does at this moment: send what is due, remind,
        expire; repeated while a full batch says more is due."""
        while (await self.delivery.run_once()).claimed >= self.delivery.batch:
            pass

    # --- joining ----------------------------------------------------------------------------

    def _profile_events(self, person: SimCustomer, since: datetime) -> list[dict[str, Any]]:
        profile = {
            "language": person.language,
            "plan": person.plan,
            "monthly_revenue": PLANS[person.plan],
        }
        return [
            {
                "event_id": f"demo:profile:{person.external_id}",
                "type": events.CUSTOMER_UPSERTED,
                "customer_id": person.external_id,
                "occurred_at": since.isoformat(),
                "data": profile,
            },
            {
                "event_id": f"demo:start:{person.external_id}",
                "type": events.SUBSCRIPTION_STARTED,
                "customer_id": person.external_id,
                "occurred_at": since.isoformat(),
                "data": {"plan": person.plan, "reference": f"SUB-{person.external_id}"},
            },
        ]

    async def onboard(self, start: datetime) -> None:
        """The customers of before the first day: profiles with their Telegram chats, as a
        business brings its existing customers in, and their subscriptions. Customers who
        join during the simulated weeks come through the events API and link their chat
        with a deep link, in Telegram."""
        existing = [person for person in self.story.people if person.joined_day is None]
        await asyncio.to_thread(
            run_unit, self.deps.db, lambda session: _import_history(session, existing, start)
        )
        self.progress.print(f"customers imported: {len(existing)} ({self.elapsed():.0f} s)")

    async def _link(self, people: Sequence[SimCustomer]) -> None:
        """Each customer opens their deep link (`/start <token>`) in Telegram."""
        if not people:
            return
        ids = [person.external_id for person in people]
        tokens = await asyncio.to_thread(run_unit, self.deps.db, lambda s: self._tokens(s, ids))
        for person in people:
            self.fake.push_message(
                person.chat_id,
                f"/start {tokens[person.external_id]}",
                language_code=person.language,
            )

        def linked(session: Any) -> int:
            statement = (
                select(func.count())
                .select_from(Customer)
                .where(
                    col(Customer.external_id).in_(ids),
                    col(Customer.telegram_chat_id).is_not(None),
                )
            )
            return int(session.exec(statement).one())

        await self._until(self._counter(linked), len(ids), "chats linked")

    def _tokens(self, session: Any, ids: Iterable[str]) -> dict[str, str]:
        tokens = {}
        for external_id in ids:
            customer = customer_queries.get_by_external_id(
                session=session, external_id=external_id
            )
            assert customer is not None
            tokens[external_id] = self.deps.accounts.link_token(customer, days=60)
        return tokens

    # --- the days -----------------------------------------------------------------------

    async def run_days(self, start: datetime) -> None:
        for day in range(self.story.days):
            self.clock.now = start + timedelta(days=day) + DAY_OFFSET
            await self._day(self.story.on(day))
            if day % 7 == 6:
                week = day // 7
                at_start, new, lost = self.story.week_figures(week)
                self.progress.print(
                    f"week {week + 1}/{self.story.weeks} ({week_label(self.clock.now)}): "
                    f"{at_start} customers at the start, {new} new, {lost} lost "
                    f"({self.elapsed():.0f} s)"
                )

    async def _day(self, happenings: list[Happening]) -> None:
        occurred = (self.clock.now - EVENT_AGE).isoformat()
        joining = [h.person for h in happenings if h.kind == Kind.JOIN]
        batch = [
            event
            for person in joining
            for event in self._profile_events(person, self.clock.now - EVENT_AGE)
        ]
        for happening in happenings:
            person = happening.person
            if happening.kind == Kind.TICKET:
                batch.append(
                    {
                        "event_id": f"demo:ticket:{person.external_id}:{happening.day}",
                        "type": events.INTERACTION_COMPLETED,
                        "customer_id": person.external_id,
                        "occurred_at": occurred,
                        "data": {
                            "kind": "support_ticket",
                            "reference": f"T-{person.external_id}-{happening.day}",
                        },
                    }
                )
            elif happening.kind == Kind.CANCEL:
                batch.append(
                    {
                        "event_id": f"demo:cancel:{person.external_id}",
                        "type": events.SUBSCRIPTION_CANCELLED,
                        "customer_id": person.external_id,
                        "occurred_at": occurred,
                        "data": {
                            "reference": f"SUB-{person.external_id}",
                            "voluntary": happening.voluntary,
                        },
                    }
                )
            elif happening.kind in (Kind.PAYMENT_FAILED, Kind.PAYMENT_RECOVERED):
                failed = happening.kind == Kind.PAYMENT_FAILED
                batch.append(
                    {
                        "event_id": f"demo:{happening.kind}:{happening.invoice}",
                        "type": events.PAYMENT_FAILED if failed else events.PAYMENT_RECOVERED,
                        "customer_id": person.external_id,
                        "occurred_at": occurred,
                        "data": {"reference": happening.invoice},
                    }
                )
        if batch:
            await self.post_events(batch)
        await self._link(joining)
        await self.deliver()
        await self._answer_surveys(happenings)

    async def _answer_surveys(self, happenings: list[Happening]) -> None:
        """Every survey sent to an answering customer this simulated moment: tap, then
        write or skip, in two steps that each wait for all of their answers."""
        sent = await asyncio.to_thread(run_unit, self.deps.db, self._sent_now)
        plans = {
            (h.person.chat_id, "post_interaction" if h.kind == Kind.TICKET else "exit"): h
            for h in happenings
            if h.kind in (Kind.TICKET, Kind.CANCEL)
        }
        working: list[_Answering] = []
        for invitation_id, survey_key, chat_id, message_id in sent:
            person = self.by_chat.get(chat_id)
            if person is None or not person.answers:
                continue
            plan = plans.get((chat_id, survey_key))
            message = self.fake.message(chat_id, message_id)
            if message is None or "reply_markup" not in message:
                continue
            buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
            if survey_key == "exit" and plan is not None:
                button = buttons[self.exit_keys.index("other" if plan.other else plan.reason)]
                text = plan.text
            elif survey_key == "post_interaction" and plan is not None:
                button = _button(buttons, str(plan.score))
                text = plan.text
            elif survey_key == "onboarding":
                button = _button(buttons, str(person.ces))
                text = None
            else:
                continue  # a survey the story does not answer (e.g. a check-in)
            item = _Answering(chat_id, message_id, invitation_id, person.language, text, message)
            self.fake.push_callback(
                chat_id, message_id, button["callback_data"], language_code=person.language
            )
            working.append(item)
        if not working:
            return

        # The message changes once the answer is in: the follow-up question, or the end.
        async def changed() -> int:
            return sum(
                self.fake.message(item.chat_id, item.message_id) not in (None, item.seen)
                for item in working
            )

        await self._until(changed, len(working), "first answers")
        for item in working:
            now = self.fake.message(item.chat_id, item.message_id) or {}
            if "reply_markup" not in now:
                continue
            if item.text is None:
                skip = now["reply_markup"]["inline_keyboard"][0][0]
                self.fake.push_callback(
                    item.chat_id,
                    item.message_id,
                    skip["callback_data"],
                    language_code=item.language,
                )
            else:
                self.fake.push_message(item.chat_id, item.text, language_code=item.language)
        ids = [item.invitation_id for item in working]

        def completed(session: Any) -> int:
            statement = (
                select(func.count())
                .select_from(SurveyInvitation)
                .where(
                    col(SurveyInvitation.id).in_(ids),
                    SurveyInvitation.status == InvitationStatus.COMPLETED,
                )
            )
            return int(session.exec(statement).one())

        await self._until(self._counter(completed), len(ids), "surveys completed")
        await self._accept_offers(working, plans)

    async def _accept_offers(
        self, working: list[_Answering], plans: dict[tuple[int, str], Happening]
    ) -> None:
        """Customers who accept tap Accept on the closing message that makes the offer (a
        new message after the last answer)."""
        accepting = [
            item
            for item in working
            if (plan := plans.get((item.chat_id, "exit"))) is not None and plan.accepts
        ]
        if not accepting:
            return

        async def offered() -> int:
            return sum(self._accept_button(item.chat_id) is not None for item in accepting)

        await self._until(offered, len(accepting), "offers shown")
        for item in accepting:
            button = self._accept_button(item.chat_id)
            assert button is not None
            self.fake.push_callback(
                item.chat_id, button[0], button[1], language_code=item.language
            )
        tapped = [item.invitation_id for item in accepting]

        def decided(session: Any) -> int:
            statement = (
                select(func.count())
                .select_from(WinbackOffer)
                .where(
                    col(WinbackOffer.invitation_id).in_(tapped),
                    WinbackOffer.status != OfferStatus.OFFERED,
                )
            )
            return int(session.exec(statement).one())

        await self._until(self._counter(decided), len(tapped), "offers accepted")

    def _accept_button(self, chat_id: int) -> tuple[int, str] | None:
        return _offer_button(self.fake.sent_messages(chat_id))

    def _sent_now(self, session: Any) -> list[tuple[int, str, int, int]]:
        """Invitations sent and not yet answered: (id, survey, chat, message). Those of
        answering customers are today's (they answer the day a survey arrives)."""
        statement = (
            select(
                SurveyInvitation.id,
                SurveyInvitation.survey_key,
                Customer.telegram_chat_id,
                SurveyInvitation.telegram_message_id,
            )
            .join(Customer, col(Customer.id) == col(SurveyInvitation.customer_id))
            .where(
                SurveyInvitation.status == InvitationStatus.SENT,
                col(SurveyInvitation.telegram_message_id).is_not(None),
            )
            .order_by(col(Customer.external_id), col(SurveyInvitation.survey_key))
        )
        return [(int(a), str(b), int(c), int(d)) for a, b, c, d in session.exec(statement)]

    def _counter(self, work: Callable[[Any], int]) -> Callable[[], Awaitable[int]]:
        async def count() -> int:
            return await asyncio.to_thread(run_unit, self.deps.db, work)

        return count

    async def _until(self, count: Callable[[], Awaitable[int]], target: int, what: str) -> None:
        """Wait until `count()` reaches `target`; no progress for WAIT seconds means the
        application is stuck: say so rather than wait forever."""
        deadline, before = time.monotonic() + WAIT, -1
        while (done := await count()) < target:
            if done > before:
                deadline, before = time.monotonic() + WAIT, done
            elif time.monotonic() > deadline:
                raise RuntimeError(
                    f"demo stuck at {self.clock.now:%Y-%m-%d}: {what}: {done} of {target}"
                )
            await asyncio.sleep(POLL)


def _offer_button(messages: list[dict[str, Any]]) -> tuple[int, str] | None:
    """The last message with an Accept offer button: (its id, the button's data)."""
    for message in reversed(messages):
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        for button in (b for row in rows for b in row):
            if str(button.get("callback_data", "")).startswith("oa:"):
                return int(message["message_id"]), str(button["callback_data"])
    return None


def _button(buttons: list[dict[str, Any]], label: str) -> dict[str, Any]:
    for button in buttons:
        if button["text"].strip() == label:
            return button
    raise RuntimeError(f"no button {label!r} in {[b['text'] for b in buttons]}")
