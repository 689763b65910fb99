"""Helpers that set up customers and events through the domain, as the CLI would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.context import Deps
from storage.models import Answer, SurveyInvitation
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
