"""Factories: customers, events and surveys set up through the domain (as the CLI would),
taps and messages on them, and the rows they leave."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.context import Deps
from storage.models import (
    Answer,
    AnswerClassification,
    Customer,
    SurveyInvitation,
)
from storage.queries import customers as customer_queries
from storage.queries import invitations as invitation_queries
from storage.queries.invitations import state_of
from storage.session import run_unit
from surveys import events
from surveys.engine import Inbound
from surveys.replies import Prompt, Reply

# The storage tests' `make_customer` fixture: create (or update) a customer by external id.
MakeCustomer = Callable[..., Customer]


def link_token(deps: Deps, customer_id: str, **attributes: Any) -> str:
    def work(session: Any) -> str:
        customer = customer_queries.upsert_customer(
            session=session, external_id=customer_id, attributes=attributes or None
        )
        return deps.accounts.link_token(customer, days=30)

    return run_unit(deps.db, work)


def record(
    deps: Deps,
    event_type: str,
    customer_id: str,
    ref: str,
    occurred_at: datetime | None = None,
    **data: Any,
) -> tuple[int, ...]:
    """Record an event; by default it happened two hours ago, past every survey's delay."""
    event = events.EventInput(
        event_id=f"{event_type}:{customer_id}:{ref}",
        type=event_type,
        customer_id=customer_id,
        occurred_at=occurred_at or datetime.now(UTC) - timedelta(hours=2),
        data={"reference": ref, **data},
    )
    outcome = run_unit(
        deps.db,
        lambda session: events.record_event(
            session, event, surveys=deps.definitions, now=deps.clock()
        ),
    )
    return outcome.invitations


async def arecord(deps: Deps, event_type: str, customer_id: str, ref: str, **data: Any) -> int:
    invitations = await asyncio.to_thread(record, deps, event_type, customer_id, ref, **data)
    assert len(invitations) == 1
    return invitations[0]


def answers_of(deps: Deps, invitation_id: int) -> list[Answer]:
    return run_unit(
        deps.db,
        lambda session: list(
            session.exec(
                select(Answer).where(Answer.invitation_id == invitation_id).order_by(Answer.id)
            ).all()
        ),
    )


def classifications(deps: Deps, answer_ids: list[int | None]) -> list[AnswerClassification]:
    """The automatic labels of these answers, in the same order (each must have one)."""

    def work(session: Any) -> list[AnswerClassification]:
        found = [session.get(AnswerClassification, answer_id) for answer_id in answer_ids]
        assert all(found), f"unclassified answers among {answer_ids}"
        return found

    return run_unit(deps.db, work)


def message_button_data(message: dict[str, Any], label_part: str) -> str:
    """The callback data of the button, in a message the Telegram stand-in recorded, whose
    label contains `label_part`."""
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if label_part in button["text"]:
                return button["callback_data"]
    raise AssertionError(f"no button with {label_part!r} in {message['reply_markup']}")


def seed_due_invitations(
    db: Any, count: int, *, chat_base: int, survey_key: str = "exit", batch: int = 500
) -> None:
    """Insert `count` linked customers, each with one due invitation (bulk, for load tests)."""
    from sqlalchemy import insert

    now = datetime.now(UTC)
    with db.begin() as connection:
        for start in range(0, count, batch):
            numbers = range(start, min(start + batch, count))
            connection.execute(
                insert(Customer),
                [
                    {
                        "external_id": f"load-{chat_base + n}",
                        "telegram_chat_id": chat_base + n,
                        "language": "en",
                        "opted_out": False,
                        "unreachable": False,
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in numbers
                ],
            )
        ids = dict(
            connection.execute(
                select(Customer.telegram_chat_id, Customer.id).where(
                    Customer.external_id.like("load-%")  # type: ignore[attr-defined]
                )
            ).all()
        )
        rows = [
            {
                "customer_id": ids[chat_base + n],
                "survey_key": survey_key,
                "status": "pending",
                "due_at": now - timedelta(seconds=1),
                "expires_at": now + timedelta(days=7),
                "send_attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, count, batch):
            connection.execute(insert(SurveyInvitation), rows[start : start + batch])


@dataclass(frozen=True)
class OpenSurvey:
    """A survey sent to a linked customer: its ids and the first question's message."""

    invitation_id: int
    customer_id: int
    chat_id: int
    prompt: Prompt


def event_input(
    event_type: str,
    *,
    customer: str = "cust-1",
    event_id: str | None = None,
    occurred_at: datetime,
    data: dict[str, object] | None = None,
) -> events.EventInput:
    return events.EventInput(
        event_id=event_id or f"{event_type}:{customer}",
        type=event_type,
        customer_id=customer,
        occurred_at=occurred_at,
        data=dict(data or {}),
    )


def open_survey(
    deps: Deps,
    *,
    customer: str = "cust-1",
    chat_id: int = 1001,
    event_type: str = events.INTERACTION_COMPLETED,
    language: str = "en",
) -> OpenSurvey:
    """Record the event, link the customer's chat, and open the survey as if it was sent."""

    def work(session: Session) -> OpenSurvey:
        outcome = events.record_event(
            session,
            event_input(event_type, customer=customer, occurred_at=deps.clock()),
            surveys=deps.definitions,
            now=deps.clock(),
        )
        [invitation_id] = outcome.invitations
        invitation = session.get(SurveyInvitation, invitation_id)
        assert invitation is not None
        owner = session.get(Customer, invitation.customer_id)
        assert owner is not None
        assert owner.id is not None
        customer_queries.link_chat(
            session=session, customer=owner, chat_id=chat_id, language=language
        )
        invitation.language, invitation.current_step = deps.surveys.opening(
            invitation.survey_key, language
        )
        session.add(invitation)
        prompt = deps.surveys.prompt_for(state_of(invitation), invitation.current_step)
        session.flush()
        invitation_queries.record_sent(
            session=session, sent=[(invitation_id, None, None)], now=deps.clock()
        )
        return OpenSurvey(invitation_id, owner.id, chat_id, prompt)

    return run_unit(deps.db, work)


def button_data(prompt: Prompt, label: str) -> str:
    """The callback data of the button labelled `label` (RLM marks ignored)."""
    for row in prompt.buttons:
        for button in row:
            if button.label.lstrip("\u200f") == label:
                return button.data
    labels = [button.label for row in prompt.buttons for button in row]
    raise AssertionError(f"no button {label!r} among {labels}")


def next_after_tap(reply: Reply) -> Prompt:
    """What a tap shows next: the tapped message is edited to the answer, then the next
    question (with its buttons) or the closing words, after a blank line."""
    [edit] = reply.edits
    assert edit.text is not None
    last_answer = edit.text.rindex("\n✓ ")
    return Prompt(text=edit.text[last_answer:].split("\n\n", 1)[1], buttons=edit.buttons)


def tap(deps: Deps, chat_id: int, data: str, *, language_code: str | None = None) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.surveys.on_button(
            session, Inbound(chat_id=chat_id, language_code=language_code), data
        ),
    )


def say(
    deps: Deps,
    chat_id: int,
    text: str,
    *,
    update_id: int | None = None,
    language_code: str | None = None,
) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.surveys.on_text(
            session,
            Inbound(chat_id=chat_id, language_code=language_code, update_id=update_id),
            text,
        ),
    )


def all_answers(db: Engine) -> list[Answer]:
    return run_unit(db, lambda session: list(session.exec(select(Answer).order_by(Answer.id))))


def invitation(db: Engine, invitation_id: int) -> SurveyInvitation:
    found = run_unit(db, lambda session: session.get(SurveyInvitation, invitation_id))
    assert found is not None
    return found


def customer_row(db: Engine, external_id: str) -> Customer | None:
    return run_unit(
        db,
        lambda session: customer_queries.get_by_external_id(
            session=session, external_id=external_id
        ),
    )


def queue_survey(
    deps: Deps,
    *,
    customer: str = "cust-1",
    chat_id: int | None = 1001,
    event_type: str = events.INTERACTION_COMPLETED,
    language: str | None = "en",
    occurred_at: datetime | None = None,
) -> int:
    """Record the event (a pending invitation) and link the chat; return the invitation id."""

    def work(session: Session) -> int:
        outcome = events.record_event(
            session,
            event_input(event_type, customer=customer, occurred_at=occurred_at or deps.clock()),
            surveys=deps.definitions,
            now=deps.clock(),
        )
        [invitation_id] = outcome.invitations
        if chat_id is not None:
            owner = customer_queries.get_by_external_id(session=session, external_id=customer)
            assert owner is not None
            customer_queries.link_chat(
                session=session, customer=owner, chat_id=chat_id, language=language
            )
        return invitation_id

    return run_unit(deps.db, work)
