"""The answer path: what one customer tap or message reads and writes.

Every survey answer runs these few statements, so they are SQLAlchemy Core statements run
on the session's connection (built once, compiled once, no ORM bookkeeping) rather than
ORM loads and flushes: about a tenth of the cost per answer. Rows come back as small
frozen dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import Answer, Customer, SurveyInvitation
from storage.queries.invitations import STATE_COLUMNS, InvitationState, accepting_answers

INVITATIONS: Table = SurveyInvitation.__table__  # type: ignore[attr-defined]
ANSWERS: Table = Answer.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """The customer behind a chat, as far as answering needs it."""

    id: int
    language: str | None


@dataclass(frozen=True, slots=True)
class NewAnswer:
    """An answer about to be stored."""

    customer_id: int
    question_key: str
    answered_at: datetime
    invitation_id: int | None = None
    survey_key: str | None = None
    language: str | None = None
    numeric_value: int | None = None
    choice_key: str | None = None
    text: str | None = None
    telegram_update_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An answer already stored: what the recap and the survey's branching read."""

    id: int
    question_key: str
    numeric_value: int | None = None
    choice_key: str | None = None
    text: str | None = None


# Locking the invitation row serialises two answers to one survey on PostgreSQL (SQLite
# takes its write lock at BEGIN anyway), so the step checks that follow are race-free.
_TAPPED = (
    select(*STATE_COLUMNS)
    .join(CUSTOMERS, CUSTOMERS.c.id == INVITATIONS.c.customer_id)
    .where(
        INVITATIONS.c.id == bindparam("invitation_id"),
        CUSTOMERS.c.telegram_chat_id == bindparam("chat_id"),
    )
    .with_for_update(of=INVITATIONS)
)
_OPEN_OF_CUSTOMER = (
    select(*STATE_COLUMNS)
    .where(INVITATIONS.c.customer_id == bindparam("customer_id"), accepting_answers())
    .order_by(
        func.coalesce(INVITATIONS.c.sent_at, INVITATIONS.c.send_started_at).desc(),
        INVITATIONS.c.id.desc(),
    )
    .limit(1)
    .with_for_update()
)
_CUSTOMER_OF_CHAT = select(CUSTOMERS.c.id, CUSTOMERS.c.language).where(
    CUSTOMERS.c.telegram_chat_id == bindparam("chat_id")
)
_ANSWER_OF_UPDATE = (
    select(ANSWERS.c.id)
    .where(
        ANSWERS.c.customer_id == bindparam("customer_id"),
        ANSWERS.c.telegram_update_id == bindparam("update_id"),
    )
    .limit(1)
)
_ANSWERS_OF = (
    select(
        ANSWERS.c.id,
        ANSWERS.c.question_key,
        ANSWERS.c.numeric_value,
        ANSWERS.c.choice_key,
        ANSWERS.c.text,
    )
    .where(ANSWERS.c.invitation_id == bindparam("invitation_id"))
    .order_by(ANSWERS.c.id)
)
_ANSWER_FIELDS = tuple(field.name for field in dataclasses.fields(NewAnswer))
_INSERT_ANSWER = insert(ANSWERS)
# An answer from a Telegram update: when another transaction (a second instance given the
# same update) stores that update's answer first, this one waits for it and does nothing,
# instead of failing on ix_answer_customer_update.
_UPDATE_CONFLICT = ("customer_id", "telegram_update_id")
_INSERT_ANSWER_ONCE = {
    "postgresql": postgresql_insert(ANSWERS)
    .on_conflict_do_nothing(index_elements=_UPDATE_CONFLICT)
    .returning(ANSWERS.c.id),
    "sqlite": sqlite_insert(ANSWERS)
    .on_conflict_do_nothing(index_elements=_UPDATE_CONFLICT)
    .returning(ANSWERS.c.id),
}
_REMEMBER_MESSAGE = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("invitation_id"))
    .values(telegram_message_id=bindparam("message_id"))
)


def invitation_tapped(
    *, session: Session, invitation_id: int, chat_id: int
) -> InvitationState | None:
    """The invitation a button names, locked, if it belongs to the customer of this chat."""
    row = (
        session.connection()
        .execute(_TAPPED, {"invitation_id": invitation_id, "chat_id": chat_id})
        .first()
    )
    return InvitationState(*row) if row is not None else None


def customer_of_chat(*, session: Session, chat_id: int) -> CustomerRef | None:
    row = session.connection().execute(_CUSTOMER_OF_CHAT, {"chat_id": chat_id}).first()
    return CustomerRef(*row) if row is not None else None


def open_invitation_of(*, session: Session, customer_id: int) -> InvitationState | None:
    """The customer's most recently sent survey still waiting for answers, locked."""
    row = session.connection().execute(_OPEN_OF_CUSTOMER, {"customer_id": customer_id}).first()
    return InvitationState(*row) if row is not None else None


def update_answered(*, session: Session, customer_id: int, update_id: int) -> bool:
    """Whether the customer's answer from this Telegram update is already stored (the
    update was delivered again)."""
    found = (
        session.connection()
        .execute(_ANSWER_OF_UPDATE, {"customer_id": customer_id, "update_id": update_id})
        .first()
    )
    return found is not None


def insert_answer(*, session: Session, answer: NewAnswer) -> int | None:
    """Store the answer; return its id, or None when the answer of its Telegram update is
    already stored (a redelivered update). The unique (invitation, question) constraint is
    the safety net behind the caller's row lock."""
    connection = session.connection()
    values = {name: getattr(answer, name) for name in _ANSWER_FIELDS}
    once = _INSERT_ANSWER_ONCE.get(connection.dialect.name)
    if answer.telegram_update_id is None or once is None:
        result = connection.execute(_INSERT_ANSWER, values)
        return int(result.inserted_primary_key[0])  # type: ignore[index]
    inserted = connection.execute(once, values).scalar()
    return None if inserted is None else int(inserted)


def answers_of(*, session: Session, invitation_id: int) -> list[StoredAnswer]:
    """The invitation's answers in the order they were given."""
    rows = session.connection().execute(_ANSWERS_OF, {"invitation_id": invitation_id})
    return [StoredAnswer(*row) for row in rows]


def remember_message(*, session: Session, invitation_id: int, message_id: int) -> None:
    """Keep the id of the message asking the current question (to edit it later)."""
    session.connection().execute(
        _REMEMBER_MESSAGE, {"invitation_id": invitation_id, "message_id": message_id}
    )
