"""`churnbot demo`: weeks of simulated customers on the sandbox stand-ins, then the summary.

The real application runs (`bot.app.serve`: PTB polling, the delivery job, the HTTP server,
Slack alerts) against the stand-ins, with a simulated clock that the script moves day by
day. Events go to `POST /api/events`; customers answer by pushing updates to the Telegram
stand-in, which the real handlers receive over HTTP. At the end the real weekly-summary code
posts last week to the Slack stand-in, and the chart it uploaded is saved to a file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.sandbox import sandbox_settings
from bot.sandbox.server import SandboxServer, chat_id_for
from bot.settings import Settings
from storage.models import Answer, Customer, Event, InvitationStatus, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events

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
CANCEL_SHARE = 0.25
INVOLUNTARY_SHARE = 0.1
INTERACTION_SHARE = 0.6
ANSWER_RATE = 0.8
SOMETHING_ELSE_SHARE = 0.15  # exit answers that pick "Something else" and explain in words
WAIT = 5.0  # seconds for one step of one customer (survey arrives, answer lands)


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
    interaction_day: int | None = None
    cancel_day: int | None = None
    voluntary: bool = True
    answers: bool = True
    score: int = 5
    reason: str = "price"
    log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoResult:
    customers: int
    events: int
    cancellations: int
    surveys_sent: int
    surveys_completed: int
    answers: int
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
    sqlite:///churnbot-demo.db."""
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
    return yaml.safe_load(raw)


def plan_customers(count: int, days: int, rng: random.Random) -> list[SimCustomer]:
    """Who the customers are and what happens to each of them on which day."""
    people = []
    for n in range(count):
        external_id = f"demo-{n + 1:04d}"
        language = rng.choices(list(LANGUAGES), weights=list(LANGUAGES.values()))[0]
        person = SimCustomer(
            external_id=external_id,
            language=language,
            plan=rng.choices(list(PLANS), weights=[5, 3, 1])[0],
            chat_id=chat_id_for(external_id),
            answers=rng.random() < ANSWER_RATE,
        )
        if rng.random() < CANCEL_SHARE:
            person.cancel_day = rng.randrange(days)
            person.voluntary = rng.random() >= INVOLUNTARY_SHARE
            person.reason = rng.choices(list(REASONS), weights=list(REASONS.values()))[0]
        # A support ticket closed some time before any cancellation.
        last = person.cancel_day if person.cancel_day is not None else days
        if last > 0 and rng.random() < INTERACTION_SHARE:
            person.interaction_day = rng.randrange(last)
            person.score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 4, 5])[0]
        people.append(person)
    return people


async def _demo(
    settings: Settings, *, customers: int, weeks: int, seed: int, chart_path: Path
) -> DemoResult:
    from bot.app import serve
    from bot.slack_wiring import build_slack
    from bot.wiring import build_deps

    rng = random.Random(seed)
    texts = load_texts()
    days = weeks * 7
    end = datetime.now(UTC)
    start = (end - timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
    # Real time while the app starts: the scheduler's first run is "now" by this clock, and
    # APScheduler would walk through every interval missed since a past start to catch up.
    clock = SimClock(end)
    people = plan_customers(customers, days, rng)

    server = SandboxServer(port=0).start()
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    deps = None
    try:
        configured = sandbox_settings(
            settings, server, database_url=settings.database_url, summary_channel=""
        )
        configured = configured.model_copy(
            update={
                "slack_summary_channel": None,  # posted once at the end, not at start-up
                "telegram_rate_limit": False,  # the stand-in enforces no limits
                "delivery_interval_seconds": 0.25,
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
        clock.now = start
        sim = Simulation(server, deps, clock, people, texts, rng)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        ) as progress:
            await sim.onboard(progress, start)
            await sim.run_days(progress, start, days)
            clock.now = end
            summary_task = progress.add_task("weekly summary", total=1)
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
            progress.advance(summary_task)
        posted = [m for m in server.slack.messages(DEMO_SUMMARY_CHANNEL) if m.get("text")]
        summary = posted[-1]["text"] if posted else f"not posted ({outcome.status})"
        uploads = [u for u in server.slack.uploads() if u.get("channel") == DEMO_SUMMARY_CHANNEL]
        chart = None
        if uploads and uploads[-1].get("content"):
            chart = await asyncio.to_thread(_save, chart_path, uploads[-1]["content"])
        counts = await asyncio.to_thread(run_unit, deps.db, _counts)
        return DemoResult(**counts, week=outcome.week, summary=summary, chart=chart)
    finally:
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
    }


class Simulation:
    """Plays every customer: their events through the API, their taps and words in Telegram."""

    def __init__(
        self,
        server: SandboxServer,
        deps: Any,
        clock: SimClock,
        people: list[SimCustomer],
        texts: dict[str, Any],
        rng: random.Random,
    ) -> None:
        self.server, self.deps, self.clock = server, deps, clock
        self.people, self.texts, self.rng = people, texts, rng
        self.fake = server.telegram
        self.missed = 0  # surveys that did not arrive in time (e.g. deferred by a rule)
        self.http = httpx.AsyncClient(
            base_url=server.app_url,
            headers={"Authorization": f"Bearer {server.events_token}"},
            timeout=30,
        )

    async def post_events(self, batch: list[dict[str, Any]]) -> None:
        for offset in range(0, len(batch), 500):
            response = await self.http.post("/api/events", json=batch[offset : offset + 500])
            if response.status_code != 202:
                raise RuntimeError(f"POST /api/events: {response.status_code} {response.text}")

    async def onboard(self, progress: Progress, start: datetime) -> None:
        """Profiles and subscriptions through the API, then every customer links the chat."""
        task = progress.add_task("customers link their chats", total=len(self.people))
        profiles: list[dict[str, Any]] = []
        for person in self.people:
            since = start - timedelta(days=self.rng.randrange(20, 400))
            profiles.append(
                {
                    "event_id": f"demo:profile:{person.external_id}",
                    "type": events.CUSTOMER_UPSERTED,
                    "customer_id": person.external_id,
                    "occurred_at": since.isoformat(),
                    "data": {
                        "language": person.language,
                        "plan": person.plan,
                        "monthly_revenue": PLANS[person.plan],
                    },
                }
            )
            profiles.append(
                {
                    "event_id": f"demo:start:{person.external_id}",
                    "type": events.SUBSCRIPTION_STARTED,
                    "customer_id": person.external_id,
                    "occurred_at": since.isoformat(),
                    "data": {"plan": person.plan},
                }
            )
        await self.post_events(profiles)
        tokens = await asyncio.to_thread(run_unit, self.deps.db, self._tokens)
        for group in _chunks(self.people, 50):
            for person in group:
                self.fake.push_message(
                    person.chat_id,
                    f"/start {tokens[person.external_id]}",
                    language_code=person.language,
                )
            for person in group:
                await self._wait(lambda p=person: len(self.fake.sent_messages(p.chat_id)) >= 1)
                progress.advance(task)

    def _tokens(self, session: Any) -> dict[str, str]:
        tokens = {}
        for person in self.people:
            customer = customer_queries.get_by_external_id(
                session=session, external_id=person.external_id
            )
            assert customer is not None
            tokens[person.external_id] = self.deps.accounts.link_token(customer, days=60)
        return tokens

    async def run_days(self, progress: Progress, start: datetime, days: int) -> None:
        task = progress.add_task("simulated days", total=days)
        for day in range(days):
            self.clock.now = start + timedelta(days=day, hours=1)
            happening = [
                (person, kind)
                for person in self.people
                for kind, when in (
                    ("interaction", person.interaction_day),
                    ("cancel", person.cancel_day),
                )
                if when == day
            ]
            if happening:
                await self._day(happening)
            progress.advance(task)

    async def _day(self, happening: list[tuple[SimCustomer, str]]) -> None:
        occurred = (self.clock.now - timedelta(hours=1, minutes=30)).isoformat()
        batch = []
        before = {}
        for person, kind in happening:
            before[person.external_id] = len(self.fake.sent_messages(person.chat_id))
            if kind == "interaction":
                batch.append(
                    {
                        "event_id": f"demo:ticket:{person.external_id}",
                        "type": events.INTERACTION_COMPLETED,
                        "customer_id": person.external_id,
                        "occurred_at": occurred,
                        "data": {"kind": "support_ticket", "reference": f"T-{person.chat_id}"},
                    }
                )
            else:
                batch.append(
                    {
                        "event_id": f"demo:cancel:{person.external_id}",
                        "type": events.SUBSCRIPTION_CANCELLED,
                        "customer_id": person.external_id,
                        "occurred_at": occurred,
                        "data": {
                            "reference": f"SUB-{person.chat_id}",
                            "voluntary": person.voluntary,
                        },
                    }
                )
        await self.post_events(batch)
        await asyncio.gather(
            *(
                self._answer(person, kind, before[person.external_id])
                for person, kind in happening
                if kind == "interaction" or person.voluntary
            )
        )

    async def _answer(self, person: SimCustomer, kind: str, before: int) -> None:
        if not person.answers:
            return  # this customer ignores surveys: the reminder and expiry are theirs
        chat = person.chat_id
        survey = await self._new_message(chat, before)
        if survey is None:
            self.missed += 1
            return
        count = len(self.fake.sent_messages(chat))
        if kind == "interaction":
            await self._tap(chat, survey, lambda text: text.strip() == str(person.score))
            mood = "bad" if person.score <= 3 else "good"
            options = self.texts["csat"][person.language][mood]
            text = self.rng.choice(options) if mood == "bad" or self.rng.random() < 0.5 else None
        else:
            other = self.rng.random() < SOMETHING_ELSE_SHARE
            keys = [option.key for option in self.deps.definitions["exit"].questions[0].options]
            index = keys.index("other" if other else person.reason)
            await self._tap(chat, survey, None, index=index)
            text = self.rng.choice(self.texts["exit"][person.language][person.reason])
            if not other and self.rng.random() < 0.25:
                text = None
        edited = await self._edited(chat, survey["message_id"])
        if edited is None:
            return
        if text is None:
            await self._tap(chat, edited, None, index=0)  # the follow-up's only button: Skip
        else:
            self.fake.push_message(chat, text, language_code=person.language)

        def finished() -> bool:
            # The closing comes as a new message, or (after Skip) in the survey's own message.
            messages = self.fake.sent_messages(chat)
            mine = next((m for m in messages if m["message_id"] == survey["message_id"]), {})
            return len(messages) > count or "reply_markup" not in mine

        if not await self._wait(finished):
            self.missed += 1

    async def _tap(
        self, chat: int, message: dict[str, Any], match: Any, index: int | None = None
    ) -> None:
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        if index is not None:
            button = buttons[index]
        else:
            button = next(b for b in buttons if match(b["text"]))
        self.fake.push_callback(chat, message["message_id"], button["callback_data"])

    async def _new_message(self, chat: int, before: int) -> dict[str, Any] | None:
        def arrived() -> bool:
            messages = self.fake.sent_messages(chat)
            return len(messages) > before and "reply_markup" in messages[-1]

        if not await self._wait(arrived):
            return None
        return self.fake.sent_messages(chat)[-1]

    async def _edited(self, chat: int, message_id: int) -> dict[str, Any] | None:
        def current() -> dict[str, Any] | None:
            return next(
                (m for m in self.fake.sent_messages(chat) if m["message_id"] == message_id), None
            )

        def done() -> bool:
            message = current()
            return message is not None and "✓" in message.get("text", "")

        if not await self._wait(done):
            return None
        message = current()
        return message if message and "reply_markup" in message else None

    async def _wait(self, predicate: Any) -> bool:
        deadline = asyncio.get_running_loop().time() + WAIT
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True


def _chunks(items: list[SimCustomer], size: int) -> list[list[SimCustomer]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
