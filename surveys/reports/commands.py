"""Managers' commands (`/churn …` in Slack, `/stats` and `/reasons` in Telegram).

Parsing and answering live here so every surface behaves alike; the handlers only check
who is asking, acknowledge, and deliver the `Rendered` answer. Bad arguments raise
`UsageError`, whose message is the usage line, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage.models import Answer, Customer, Event, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.queries import invitations as invitation_queries
from surveys.definition import SurveyDefinition, SurveyRoles
from surveys.labels import effective_label
from surveys.reports import blocks
from surveys.reports.blocks import Rendered, clip, escape
from surveys.reports.figures import compute_figures, labelled_reasons, quote_of
from surveys.reports.periods import PERIOD_HELP, Period, PeriodError, parse_period
from surveys.reports.render import (
    money,
    quotes_blocks,
    reasons_blocks,
    stats_blocks,
)
from surveys.reports.text import representative, scrub
from surveys.vocabulary import CATEGORIES, category_label

SUBCOMMANDS = {
    "help": "",
    "stats": "[period]",
    "reasons": "[period]",
    "quotes": "<category> [period]",
    "customer": "<customer-id>",
    "relabel": "<answer-id> <category>",
    "survey": "<customer-id> <survey-key>",
}
MAX_QUOTES = 6
MAX_ID = 2**63 - 1  # the largest id a database row can have
ECHO_LIMIT = blocks.ECHO_LIMIT


def shown(argument: str) -> str:
    """A manager's argument as repeated in a (plain) answer: quoted and cut to a sane length."""
    return repr(clip(argument, ECHO_LIMIT))


class UsageError(ValueError):
    """The command cannot run as typed; str() is what to show the manager."""


def usage(command: str, subcommand: str | None = None) -> str:
    if subcommand in SUBCOMMANDS:
        return f"Usage: {command} {subcommand} {SUBCOMMANDS[subcommand]}".rstrip()
    return f"Usage: {command} " + " | ".join(
        f"{name} {arguments}".rstrip() for name, arguments in SUBCOMMANDS.items()
    )


@dataclass(frozen=True)
class ManagerCommands:
    """Runs one command line in a database session; pure apart from that session."""

    definitions: dict[str, SurveyDefinition]
    zone: ZoneInfo
    command: str = "/churn"

    @property
    def roles(self) -> SurveyRoles:
        return SurveyRoles.of(self.definitions)

    def run(self, session: Session, text: str, *, user: str, now: datetime) -> Rendered:
        words = text.split()
        if not words or words[0].lower() == "help":
            return self.help()
        name, arguments = words[0].lower(), words[1:]
        if name not in SUBCOMMANDS:
            raise UsageError(f"Unknown command {shown(name)}. {usage(self.command)}")
        try:
            run: Callable[..., Rendered] = getattr(self, f"_{name}")
            return run(session, arguments, user=user, now=now)
        except (PeriodError, ValueError) as error:
            if isinstance(error, UsageError):
                raise
            raise UsageError(f"{error}\n{usage(self.command, name)}") from error

    @staticmethod
    def relabel_target(text: str) -> int | None:
        """The answer a `relabel` command line names (its alert shows the new label)."""
        words = text.split()
        if len(words) == 3 and words[0].lower() == "relabel" and words[1].isdigit():
            answer_id = int(words[1])
            return answer_id if answer_id <= MAX_ID else None
        return None

    def help(self) -> Rendered:
        """Every command; its placeholders (`<category>`) are escaped, not Slack links."""
        lines = [
            f"`{self.command} stats [period]`: customers, churn, retention, revenue churn",
            f"`{self.command} reasons [period]`: churn reasons and their trend",
            f"`{self.command} quotes <category> [period]`: what customers said",
            f"`{self.command} customer <customer-id>`: surveys, answers, labels, events",
            f"`{self.command} relabel <answer-id> <category>`: correct a reason",
            f"`{self.command} survey <customer-id> <survey-key>`: send a survey now",
            f"Periods: {PERIOD_HELP} (default 30d).",
            f"Categories: {', '.join(CATEGORIES)}.",
        ]
        return blocks.plain(escape("\n".join(lines), blocks.SECTION_LIMIT))

    def period(self, arguments: list[str], now: datetime, *, at: int = 0) -> Period:
        if len(arguments) > at + 1:
            raise UsageError("too many arguments")
        raw = arguments[at] if len(arguments) > at else None
        if raw is not None and len(raw) > ECHO_LIMIT:
            raise UsageError(f"unknown period {shown(raw)}; use {PERIOD_HELP}")
        return parse_period(raw, now=now, zone=self.zone)

    def stats(self, session: Session, period: Period, now: datetime) -> Rendered:
        figures = compute_figures(
            session=session, period=period, now=now, roles=self.roles, quotes=False
        )
        return stats_blocks(figures)

    def reasons(self, session: Session, period: Period, now: datetime) -> Rendered:
        figures = compute_figures(
            session=session, period=period, now=now, roles=self.roles, quoted_reasons=0
        )
        return reasons_blocks(figures)

    def _stats(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        return self.stats(session, self.period(arguments, now), now)

    def _reasons(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        return self.reasons(session, self.period(arguments, now), now)

    def _quotes(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        if not arguments:
            raise UsageError(usage(self.command, "quotes"))
        category = arguments[0].lower()
        if category not in CATEGORIES:
            raise UsageError(
                f"unknown category {shown(category)}; use one of: {', '.join(CATEGORIES)}"
            )
        period = self.period(arguments, now, at=1)
        items = [
            item
            for item in labelled_reasons(session=session, period=period, roles=self.roles)
            if item.category == category
        ]
        quotes = [quote for item in items if (quote := quote_of(item)) is not None]
        figures = compute_figures(
            session=session, period=period, now=now, roles=self.roles, quotes=False
        )
        return quotes_blocks(category, figures, representative(quotes, count=MAX_QUOTES))

    def _customer(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        if len(arguments) != 1:
            raise UsageError(usage(self.command, "customer"))
        customer = customer_queries.get_by_external_id(session=session, external_id=arguments[0])
        if customer is None:
            raise UsageError(f"no customer with id {shown(arguments[0])}")
        return customer_card(session, customer.id, customer.external_id)  # type: ignore[arg-type]

    def _relabel(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        if len(arguments) != 2 or not arguments[0].isdigit():
            raise UsageError(usage(self.command, "relabel"))
        answer_id, category = int(arguments[0]), arguments[1].lower()
        if category not in CATEGORIES:
            raise UsageError(
                f"unknown category {shown(category)}; use one of: {', '.join(CATEGORIES)}"
            )
        if answer_id > MAX_ID or session.get(Answer, answer_id) is None:
            raise UsageError(f"no such answer: {shown(arguments[0])}")
        relabel_answer(session=session, answer_id=answer_id, category=category, corrected_by=user)
        return blocks.plain(
            f"Answer {answer_id} is now labelled {escape(category_label(category))} "
            f"(by {escape(user)})."
        )

    def _survey(
        self, session: Session, arguments: list[str], *, user: str, now: datetime
    ) -> Rendered:
        if len(arguments) != 2:
            raise UsageError(usage(self.command, "survey"))
        external_id, key = arguments
        definition = self.definitions.get(key)
        if definition is None:
            raise UsageError(
                f"unknown survey {shown(key)}; use one of: {', '.join(self.definitions)}"
            )
        customer = customer_queries.get_by_external_id(session=session, external_id=external_id)
        if customer is None:
            raise UsageError(f"no customer with id {shown(external_id)}")
        invitation, _ = invitation_queries.create_invitation(
            session=session,
            customer_id=customer.id,  # type: ignore[arg-type]
            survey_key=key,
            event_id=None,
            due_at=now,
            expires_at=now + timedelta(hours=definition.delivery.expires_after_hours),
            now=now,
        )
        note = ""
        if customer.telegram_chat_id is None:
            note = " The customer has no linked Telegram chat yet, so it cannot be delivered."
        elif customer.opted_out:
            note = " The customer opted out of surveys, so it will be skipped."
        return blocks.plain(
            f"Survey {escape(key)} queued for {escape(external_id)} (invitation {invitation.id}); "
            f"the delivery job sends it within seconds.{note}"
        )


def relabel_answer(*, session: Session, answer_id: int, category: str, corrected_by: str) -> None:
    """Store a manager's correction through the classification service (validates all)."""
    from surveys.classification.service import relabel

    relabel(session=session, answer_id=answer_id, category=category, corrected_by=corrected_by)


def customer_card(
    session: Session, customer_id: int, external_id: str, limit: int = 10
) -> Rendered:
    """A customer's profile, recent events, surveys and answers with their labels.

    Everything the customer or the business supplied is escaped; what is unknown is left
    out rather than shown as `?` or `None`."""
    customer = session.get(Customer, customer_id)
    assert customer is not None
    name = f" ({escape(customer.name)})" if customer.name else ""
    profile = []
    if customer.plan:
        profile.append(f"plan {escape(customer.plan)}")
    if customer.monthly_revenue is not None:
        profile.append(f"revenue {money(customer.monthly_revenue)}/month")
    if customer.language:
        profile.append(f"language {escape(customer.language)}")
    if customer.opted_out:
        profile.append("opted out")
    profile.append("Telegram linked" if customer.telegram_chat_id else "no Telegram chat")
    head = f"*Customer {escape(external_id)}*{name}: {', '.join(profile)}"
    events = session.exec(
        select(Event)
        .where(Event.customer_id == customer_id)
        .order_by(col(Event.occurred_at).desc())
        .limit(limit)
    ).all()
    invitations = session.exec(
        select(SurveyInvitation)
        .where(SurveyInvitation.customer_id == customer_id)
        .order_by(col(SurveyInvitation.created_at).desc())
        .limit(limit)
    ).all()
    answers = session.exec(
        select(Answer)
        .where(Answer.customer_id == customer_id)
        .order_by(col(Answer.answered_at).desc())
        .limit(limit)
    ).all()
    event_lines = [f"{e.occurred_at:%Y-%m-%d} {escape(e.type)}" for e in events] or ["none"]
    invitation_lines = [
        f"#{i.id} {escape(i.survey_key)}: {i.status} ({i.created_at:%Y-%m-%d})"
        for i in invitations
    ] or ["none"]
    answer_lines = [_answer_line(session, answer, customer.name) for answer in answers]
    answer_lines = answer_lines or ["none"]
    text = "\n".join(
        [
            head,
            "*Events*",
            *event_lines,
            "*Surveys*",
            *invitation_lines,
            "*Answers*",
            *answer_lines,
        ]
    )
    return blocks.message(
        text,
        blocks.section(head),
        blocks.section("*Events*\n" + "\n".join(event_lines)),
        blocks.section("*Surveys*\n" + "\n".join(invitation_lines)),
        blocks.section("*Answers*\n" + "\n".join(answer_lines)),
    )


def _answer_line(session: Session, answer: Answer, name: str | None) -> str:
    """`#12 reason: price → price/negative`; an answer with no value shows its label only."""
    label = effective_label(session=session, answer_id=answer.id)  # type: ignore[arg-type]
    if answer.text:
        value: str | None = escape(" ".join(scrub(answer.text, names=[name]).split()), 150)
    elif answer.numeric_value is not None:
        value = str(answer.numeric_value)
    elif answer.choice_key is not None:
        value = escape(answer.choice_key)
    else:
        value = "skipped"
    tag = ""
    if label is not None:
        sentiment = f"/{label.sentiment}" if label.sentiment else ""
        corrected = " (corrected)" if label.corrected else ""
        tag = f" → {escape(label.category)}{sentiment}{corrected}"
    return f"#{answer.id} {escape(answer.question_key)}: {value}{tag}"
