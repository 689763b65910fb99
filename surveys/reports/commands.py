"""Managers' commands (`/churn …` in Slack, `/stats` and `/reasons` in Telegram).

Parsing and answering live here so every surface behaves alike; the handlers only check
who is asking, acknowledge, and deliver the `Rendered` answer. Bad arguments raise
`UsageError`, whose message is the usage line, never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage.models import Answer, Customer, Event, SurveyInvitation
from storage.queries import classification as classification_queries
from storage.queries import customers as customer_queries
from storage.queries import invitations as invitation_queries
from surveys.definition import SurveyDefinition
from surveys.reports.figures import compute_figures, labelled_reasons, quote_of
from surveys.reports.periods import PERIOD_HELP, Period, PeriodError, parse_period
from surveys.reports.render import (
    CATEGORY_LABELS,
    Rendered,
    category_label,
    money,
    quotes_blocks,
    reasons_blocks,
    stats_blocks,
)
from surveys.reports.text import representative, scrub

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

    def run(self, session: Session, text: str, *, user: str, now: datetime) -> Rendered:
        words = text.split()
        if not words or words[0].lower() == "help":
            return self.help()
        name, arguments = words[0].lower(), words[1:]
        if name not in SUBCOMMANDS:
            raise UsageError(f"Unknown command {name!r}. {usage(self.command)}")
        try:
            return getattr(self, f"_{name}")(session, arguments, user=user, now=now)
        except (PeriodError, ValueError) as error:
            if isinstance(error, UsageError):
                raise
            raise UsageError(f"{error}\n{usage(self.command, name)}") from error

    def help(self) -> Rendered:
        lines = [
            f"`{self.command} stats [period]`: customers, churn, retention, revenue churn",
            f"`{self.command} reasons [period]`: churn reasons and their trend",
            f"`{self.command} quotes <category> [period]`: what customers said",
            f"`{self.command} customer <customer-id>`: surveys, answers, labels, events",
            f"`{self.command} relabel <answer-id> <category>`: correct a reason",
            f"`{self.command} survey <customer-id> <survey-key>`: send a survey now",
            f"Periods: {PERIOD_HELP} (default 30d).",
            f"Categories: {', '.join(CATEGORY_LABELS)}.",
        ]
        text = "\n".join(lines)
        return Rendered(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])

    def period(self, arguments: list[str], now: datetime, *, at: int = 0) -> Period:
        if len(arguments) > at + 1:
            raise UsageError("too many arguments")
        return parse_period(
            arguments[at] if len(arguments) > at else None, now=now, zone=self.zone
        )

    def stats(self, session: Session, period: Period, now: datetime) -> Rendered:
        figures = compute_figures(session=session, period=period, now=now, quotes=False)
        return stats_blocks(figures)

    def reasons(self, session: Session, period: Period, now: datetime) -> Rendered:
        figures = compute_figures(session=session, period=period, now=now, quoted_reasons=0)
        return reasons_blocks(figures)

    def _stats(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        return self.stats(session, self.period(arguments, now), now)

    def _reasons(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        return self.reasons(session, self.period(arguments, now), now)

    def _quotes(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        if not arguments:
            raise UsageError(usage(self.command, "quotes"))
        category = arguments[0].lower()
        if category not in CATEGORY_LABELS:
            raise UsageError(
                f"unknown category {category!r}; use one of: {', '.join(CATEGORY_LABELS)}"
            )
        period = self.period(arguments, now, at=1)
        items = [
            item
            for item in labelled_reasons(session=session, period=period)
            if item.category == category
        ]
        quotes = [quote for item in items if (quote := quote_of(item)) is not None]
        figures = compute_figures(session=session, period=period, now=now, quotes=False)
        return quotes_blocks(category, figures, representative(quotes, count=MAX_QUOTES))

    def _customer(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        if len(arguments) != 1:
            raise UsageError(usage(self.command, "customer"))
        customer = customer_queries.get_by_external_id(session=session, external_id=arguments[0])
        if customer is None:
            raise UsageError(f"no customer with id {arguments[0]!r}")
        return customer_card(session, customer.id, customer.external_id)  # type: ignore[arg-type]

    def _relabel(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        if len(arguments) != 2 or not arguments[0].isdigit():
            raise UsageError(usage(self.command, "relabel"))
        answer_id, category = int(arguments[0]), arguments[1].lower()
        relabel_answer(session=session, answer_id=answer_id, category=category, corrected_by=user)
        text = f"Answer {answer_id} is now labelled {category_label(category)} (by {user})."
        return Rendered(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])

    def _survey(self, session: Session, arguments: list[str], *, user: str, now: datetime):
        if len(arguments) != 2:
            raise UsageError(usage(self.command, "survey"))
        external_id, key = arguments
        definition = self.definitions.get(key)
        if definition is None:
            raise UsageError(f"unknown survey {key!r}; use one of: {', '.join(self.definitions)}")
        customer = customer_queries.get_by_external_id(session=session, external_id=external_id)
        if customer is None:
            raise UsageError(f"no customer with id {external_id!r}")
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
        text = (
            f"Survey {key} queued for {external_id} (invitation {invitation.id}); "
            f"the delivery job sends it within seconds.{note}"
        )
        return Rendered(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def relabel_answer(*, session: Session, answer_id: int, category: str, corrected_by: str) -> None:
    """Store a manager's correction through the classification service (validates all)."""
    from surveys.classification.service import relabel

    relabel(session=session, answer_id=answer_id, category=category, corrected_by=corrected_by)


def customer_card(
    session: Session, customer_id: int, external_id: str, limit: int = 10
) -> Rendered:
    """A customer's profile, recent events, surveys and answers with their labels."""
    customer = session.get(Customer, customer_id)
    assert customer is not None
    revenue = money(customer.monthly_revenue) if customer.monthly_revenue is not None else "?"
    head = (
        f"*Customer {external_id}*"
        f"{' (' + customer.name + ')' if customer.name else ''}: plan {customer.plan or '?'}, "
        f"revenue {revenue}/month, language {customer.language or '?'}"
        f"{', opted out' if customer.opted_out else ''}"
        f"{', Telegram linked' if customer.telegram_chat_id else ', no Telegram chat'}"
    )
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
    event_lines = [f"{e.occurred_at:%Y-%m-%d} {e.type}" for e in events] or ["none"]
    invitation_lines = [
        f"#{i.id} {i.survey_key}: {i.status} ({i.created_at:%Y-%m-%d})" for i in invitations
    ] or ["none"]
    answer_lines = []
    for answer in answers:
        label = classification_queries.effective_label(session=session, answer_id=answer.id)  # type: ignore[arg-type]
        value = answer.numeric_value if answer.numeric_value is not None else answer.choice_key
        shown = scrub(answer.text, names=[customer.name])[:150] if answer.text else value
        tag = ""
        if label is not None:
            corrected = " (corrected)" if label.corrected else ""
            tag = f" → {label.category}/{label.sentiment or '?'}{corrected}"
        answer_lines.append(f"#{answer.id} {answer.question_key}: {shown}{tag}")
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
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Events*\n" + "\n".join(event_lines)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Surveys*\n" + "\n".join(invitation_lines)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": ("*Answers*\n" + "\n".join(answer_lines))[:2900]},
        },
    ]
    return Rendered(text, blocks)
