"""The domain's services: what the handlers call, each method one unit of work.

Handlers parse an update or a request, call one of these and render what comes back; they
never open a session or choose how the database is spoken to. The services are built once
at start-up (`build_services`, called from `bot/`) and reach the handlers through PTB's
context (`handlers.telegram.context`), bolt's context (a middleware in `bot/`) and the
HTTP routes' arguments (`handlers/http/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.models import SlackAlertStatus
from storage.queries import alerts as alert_queries
from storage.session import GroupWriter, transact
from surveys import events
from surveys.accounts import Accounts
from surveys.billing import stripe_intake
from surveys.definition import SurveyDefinition, SurveyRoles
from surveys.engine import Inbound, SurveyEngine
from surveys.i18n import Messages, pick_language
from surveys.offers import OfferDesk, OfferTap
from surveys.replies import Reply
from surveys.reports.alerts import Alert, alert_for, claim_alert, invitation_of_answer
from surveys.reports.blocks import Rendered
from surveys.reports.commands import ManagerCommands, relabel_answer
from surveys.reports.periods import Period, parse_period


class AnswerService:
    """Customers' answers: taps on survey buttons and typed text. Their units run on the
    group writer's one thread, several to a transaction (see `GroupWriter`)."""

    def __init__(self, *, writer: GroupWriter, engine: SurveyEngine) -> None:
        self._writer = writer
        self._engine = engine

    async def take_tap(self, inbound: Inbound, raw: str) -> Reply:
        """Record a tapped survey button (forged or stale ones change nothing)."""
        return await self._writer.run(
            lambda session: self._engine.on_button(session, inbound, raw)
        )

    async def take_text(self, inbound: Inbound, text: str) -> Reply:
        """Record a typed answer, or keep it as feedback when no survey is open."""
        return await self._writer.run(lambda session: self._engine.on_text(session, inbound, text))

    async def remember_message(self, invitation_id: int, message_id: int) -> None:
        """Keep the id of the message that asks the invitation's current question."""
        await self._writer.run(
            lambda session: self._engine.remember_message(session, invitation_id, message_id)
        )

    def text_only(self, language_code: str | None) -> str:
        """The answer to a message without text (a sticker, a voice note)."""
        return self._engine.messages.get("text_only", pick_language(language_code))


class AccountService:
    """Linking a chat, opting out and in, and erasure on request."""

    def __init__(self, *, db: Engine, accounts: Accounts) -> None:
        self._db = db
        self._accounts = accounts

    async def start(
        self,
        *,
        chat_id: int,
        payload: str | None,
        language_code: str | None,
        first_name: str | None,
    ) -> Reply:
        return await transact(
            self._db,
            lambda session: self._accounts.on_start(
                session,
                chat_id=chat_id,
                payload=payload,
                language_code=language_code,
                first_name=first_name,
            ),
        )

    async def stop(self, *, chat_id: int, language_code: str | None) -> Reply:
        return await transact(
            self._db,
            lambda session: self._accounts.on_stop(
                session, chat_id=chat_id, language_code=language_code
            ),
        )

    async def help(self, *, chat_id: int, language_code: str | None) -> Reply:
        return await transact(
            self._db,
            lambda session: self._accounts.on_help(
                session, chat_id=chat_id, language_code=language_code
            ),
        )

    async def forget(self, *, chat_id: int, language_code: str | None) -> Reply:
        return await transact(
            self._db,
            lambda session: self._accounts.on_forget(
                session, chat_id=chat_id, language_code=language_code
            ),
        )

    async def forget_button(self, *, chat_id: int, raw: str, language_code: str | None) -> Reply:
        return await transact(
            self._db,
            lambda session: self._accounts.on_forget_button(
                session, chat_id=chat_id, raw=raw, language_code=language_code
            ),
        )


class EventService:
    """Events from the business's billing and helpdesk systems."""

    def __init__(self, *, db: Engine, definitions: dict[str, SurveyDefinition]) -> None:
        self._db = db
        self._definitions = definitions

    async def record(
        self, batch: list[events.EventInput], *, now: datetime
    ) -> list[events.EventOutcome]:
        """Record a batch in one transaction: all of it or, on error, none of it."""
        return await transact(
            self._db,
            lambda session: events.record_events(
                session,
                batch,
                surveys=self._definitions,
                now=now,
                on_billing_link=stripe_intake.apply_waiting,
            ),
        )


class StripeService:
    """Verified Stripe webhook events: recorded once by id, applied to their customer."""

    def __init__(
        self, *, db: Engine, definitions: dict[str, SurveyDefinition], clock: Clock
    ) -> None:
        self._db = db
        self._definitions = definitions
        self._clock = clock

    async def receive(self, notice: stripe_intake.StripeNotice) -> stripe_intake.ReceiveOutcome:
        """Record the event and apply it if its customer is known, in one transaction."""
        now = self._clock()
        return await transact(
            self._db,
            lambda session: stripe_intake.receive(
                session, notice, surveys=self._definitions, now=now
            ),
        )

    async def link(
        self, *, event_id: str, stripe_customer_id: str, churnbot_customer_id: str
    ) -> stripe_intake.Outcome:
        """Match a Stripe customer to the churnbot customer its own metadata names, applying
        the events that waited for it; the outcome of `event_id`."""
        now = self._clock()
        return await transact(
            self._db,
            lambda session: stripe_intake.link_customer(
                session,
                event_id=event_id,
                stripe_customer_id=stripe_customer_id,
                churnbot_customer_id=churnbot_customer_id,
                surveys=self._definitions,
                now=now,
            ),
        )


class OfferService:
    """Taps on a win-back offer's Accept / No thanks buttons."""

    def __init__(self, *, db: Engine, desk: OfferDesk) -> None:
        self._db = db
        self._desk = desk

    async def tap(self, *, chat_id: int, raw: str, language_code: str | None) -> OfferTap:
        """Record Accept or No thanks (forged, foreign or repeated taps change nothing)."""
        return await transact(
            self._db,
            lambda session: self._desk.on_button(
                session, chat_id=chat_id, language_code=language_code, raw=raw
            ),
        )


class ReportService:
    """Managers' figures, commands and corrections."""

    def __init__(
        self,
        *,
        db: Engine,
        definitions: dict[str, SurveyDefinition],
        zone: ZoneInfo,
        command: str = "/churn",
    ) -> None:
        self._db = db
        self.zone = zone
        self.commands = ManagerCommands(definitions=definitions, zone=zone, command=command)

    def period(self, raw: str | None, *, now: datetime) -> Period:
        """The period a manager named (raises `PeriodError`)."""
        return parse_period(raw, now=now, zone=self.zone)

    async def stats(self, period: Period, *, now: datetime) -> Rendered:
        return await transact(self._db, lambda session: self.commands.stats(session, period, now))

    async def reasons(self, period: Period, *, now: datetime) -> Rendered:
        return await transact(
            self._db, lambda session: self.commands.reasons(session, period, now)
        )

    async def run_command(self, text: str, *, user: str, now: datetime) -> Rendered:
        """Run one command line (raises `UsageError` with the usage to show)."""
        return await transact(
            self._db, lambda session: self.commands.run(session, text, user=user, now=now)
        )

    async def relabel(self, *, answer_id: int, category: str, corrected_by: str) -> None:
        """Store a manager's correction (raises ValueError naming what is wrong)."""
        await transact(
            self._db,
            lambda session: relabel_answer(
                session=session,
                answer_id=answer_id,
                category=category,
                corrected_by=corrected_by,
            ),
        )


class AlertService:
    """The state of each real-time alert: claimed before it is posted, then recorded."""

    def __init__(
        self, *, db: Engine, clock: Clock, roles: SurveyRoles, max_attempts: int = 3
    ) -> None:
        self._db = db
        self._clock = clock
        self._roles = roles
        self._max_attempts = max_attempts

    async def claim(self, invitation_id: int) -> Alert | None:
        """The alert to post now, claimed for this caller; None when there is nothing to
        post or another caller has it."""
        now = self._clock()
        return await transact(
            self._db, lambda session: claim_alert(session, invitation_id, self._roles, now=now)
        )

    async def posted(self, invitation_id: int, *, channel: str, message_ts: str) -> None:
        await self._record(
            invitation_id, SlackAlertStatus.POSTED, channel=channel, message_ts=message_ts
        )

    async def uncertain(self, invitation_id: int, *, error: str) -> None:
        """Slack may have posted it (a timeout): it is never posted again."""
        await self._record(invitation_id, SlackAlertStatus.SENDING, error=error)

    async def refused(self, invitation_id: int, *, error: str) -> None:
        """Nothing was posted: retried later, up to `max_attempts`."""
        now = self._clock()

        def work(session: Session) -> None:
            attempts = alert_queries.attempts_of(session=session, invitation_id=invitation_id)
            status = (
                SlackAlertStatus.RETRY
                if attempts < self._max_attempts
                else SlackAlertStatus.FAILED
            )
            alert_queries.record_outcome(
                session=session, invitation_id=invitation_id, status=status, now=now, error=error
            )

        await transact(self._db, work)

    async def undecided(self, *, since: datetime, limit: int) -> list[int]:
        """Invitations finished since `since` whose alert is not decided yet."""
        return await transact(
            self._db,
            lambda session: alert_queries.undecided(session=session, since=since, limit=limit),
        )

    async def of_answer(self, answer_id: int) -> tuple[Alert | None, tuple[str, str] | None]:
        """The alert that shows `answer_id`, rendered now, and where it was posted."""

        def work(session: Session) -> tuple[Alert | None, tuple[str, str] | None]:
            invitation_id = invitation_of_answer(session, answer_id)
            if invitation_id is None:
                return None, None
            stored = alert_queries.posted(session=session, invitation_id=invitation_id)
            found = (
                (stored.channel, stored.message_ts)
                if stored and stored.channel and stored.message_ts
                else None
            )
            return alert_for(session, invitation_id, self._roles), found

        return await transact(self._db, work)

    async def _record(
        self, invitation_id: int, status: SlackAlertStatus, **values: str | None
    ) -> None:
        now = self._clock()
        await transact(
            self._db,
            lambda session: alert_queries.record_outcome(
                session=session, invitation_id=invitation_id, status=status, now=now, **values
            ),
        )


@dataclass(frozen=True)
class Services:
    """Every service a handler may call: built once at start-up."""

    answers: AnswerService
    accounts: AccountService
    events: EventService
    reports: ReportService
    alerts: AlertService
    stripe: StripeService
    offers: OfferService
    messages: Messages
    clock: Clock
    writer: GroupWriter

    def close(self) -> None:
        """Finish the queued answer units and stop the writer's thread (at shutdown)."""
        self.writer.close()


def build_services(
    *,
    db: Engine,
    engine: SurveyEngine,
    accounts: Accounts,
    clock: Clock,
    zone: ZoneInfo,
    offers: OfferDesk,
    command: str = "/churn",
) -> Services:
    """The services over one database, survey engine, account desk and offer desk."""
    writer = GroupWriter(db)
    return Services(
        answers=AnswerService(writer=writer, engine=engine),
        accounts=AccountService(db=db, accounts=accounts),
        events=EventService(db=db, definitions=engine.surveys),
        reports=ReportService(db=db, definitions=engine.surveys, zone=zone, command=command),
        alerts=AlertService(db=db, clock=clock, roles=SurveyRoles.of(engine.surveys)),
        stripe=StripeService(db=db, definitions=engine.surveys, clock=clock),
        offers=OfferService(db=db, desk=offers),
        messages=engine.messages,
        clock=clock,
        writer=writer,
    )
