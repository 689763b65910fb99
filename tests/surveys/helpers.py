"""Factories for the domain tests: events that open surveys, and taps and messages on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.context import Deps
from storage.models import Answer, Customer, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.queries import invitations as invitation_queries
from storage.session import run_unit
from surveys import events
from surveys.engine import Inbound
from surveys.replies import Prompt, Reply


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
        prompt = deps.surveys.start(session, invitation, language)
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
