"""Helpers that set up customers and events through the domain, as the CLI would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.context import Deps
from storage.models import Answer, AnswerClassification, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import events


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


def all_answers(deps: Deps) -> list[Answer]:
    return run_unit(deps.db, lambda session: list(session.exec(select(Answer)).all()))


def classifications(deps: Deps, answer_ids: list[int | None]) -> list[AnswerClassification]:
    """The automatic labels of these answers, in the same order (each must have one)."""

    def work(session: Any) -> list[AnswerClassification]:
        found = [session.get(AnswerClassification, answer_id) for answer_id in answer_ids]
        assert all(found), f"unclassified answers among {answer_ids}"
        return found

    return run_unit(deps.db, work)


def invitation(deps: Deps, invitation_id: int) -> SurveyInvitation:
    found = run_unit(deps.db, lambda session: session.get(SurveyInvitation, invitation_id))
    assert found is not None
    return found


def button_data(message: dict[str, Any], label_part: str) -> str:
    """The callback data of the button whose label contains `label_part`."""
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

    from storage.models import Customer

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
