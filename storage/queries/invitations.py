"""Survey invitations: creation, the conversation state, and every status transition.

Each transition is one function here and owns the timestamps that move with it (`sent_at`
with sent, `started_at` with the first answer, `completed_at` with completed), so no other
module writes an invitation's status. They are Core statements on the session's
connection: the delivery and answer paths run them for every message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from storage.models import OPEN_STATUSES, InvitationStatus, SurveyInvitation

INVITATIONS: Table = SurveyInvitation.__table__  # type: ignore[attr-defined]


def create_invitation(
    *,
    session: Session,
    customer_id: int,
    survey_key: str,
    event_id: int | None,
    due_at: datetime,
    expires_at: datetime,
    now: datetime,
    subscription_ref: str | None = None,
) -> tuple[SurveyInvitation, bool]:
    """Create the invitation unless this event, or (with `subscription_ref`) this
    subscription, already has one for this survey; return it and whether it is new."""
    existing = _existing(
        session,
        customer_id=customer_id,
        survey_key=survey_key,
        event_id=event_id,
        subscription_ref=subscription_ref,
    )
    if existing is not None:
        return existing, False
    invitation = SurveyInvitation(
        customer_id=customer_id,
        survey_key=survey_key,
        event_id=event_id,
        subscription_ref=subscription_ref,
        due_at=due_at,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(invitation)
    except IntegrityError:
        # Another instance recorded the same event or subscription first.
        winner = _existing(
            session,
            customer_id=customer_id,
            survey_key=survey_key,
            event_id=event_id,
            subscription_ref=subscription_ref,
        )
        if winner is None:
            raise
        return winner, False
    return invitation, True


def _existing(
    session: Session,
    *,
    customer_id: int,
    survey_key: str,
    event_id: int | None,
    subscription_ref: str | None,
) -> SurveyInvitation | None:
    if event_id is not None:
        found = session.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.event_id == event_id, SurveyInvitation.survey_key == survey_key
            )
        ).first()
        if found is not None:
            return found
    if subscription_ref is None:
        return None
    return session.exec(
        select(SurveyInvitation).where(
            SurveyInvitation.customer_id == customer_id,
            SurveyInvitation.survey_key == survey_key,
            SurveyInvitation.subscription_ref == subscription_ref,
        )
    ).first()


@dataclass(frozen=True, slots=True)
class InvitationState:
    """Where an invitation's conversation stands: what answering and rendering read of it
    (also of one about to be sent, whose language and first step were just fixed)."""

    id: int
    customer_id: int
    survey_key: str
    status: str
    current_step: str | None
    language: str | None
    telegram_message_id: int | None = None
    # Open for answers (`accepting_answers`, evaluated by the database when the answer
    # path reads the row with STATE_COLUMNS); a row made into a state for rendering
    # (`state_of`) says False: nothing answers through it.
    accepting: bool = False


def accepting_answers(invitations: Table = INVITATIONS) -> ColumnElement[bool]:
    """Open for answers: sent, in progress, or on its way (a tap can beat our own record
    of the send). The one place this rule is written."""
    return or_(
        invitations.c.status.in_(OPEN_STATUSES),
        and_(
            invitations.c.status == InvitationStatus.PENDING,
            invitations.c.send_started_at.is_not(None),
        ),
    )


STATE_COLUMNS = (
    INVITATIONS.c.id,
    INVITATIONS.c.customer_id,
    INVITATIONS.c.survey_key,
    INVITATIONS.c.status,
    INVITATIONS.c.current_step,
    INVITATIONS.c.language,
    INVITATIONS.c.telegram_message_id,
    accepting_answers().label("accepting"),
)


def state_of(invitation: SurveyInvitation) -> InvitationState:
    """The state of a loaded invitation row, for rendering its questions."""
    assert invitation.id is not None
    return InvitationState(
        id=invitation.id,
        customer_id=invitation.customer_id,
        survey_key=invitation.survey_key,
        status=invitation.status,
        current_step=invitation.current_step,
        language=invitation.language,
        telegram_message_id=invitation.telegram_message_id,
    )


# Status transitions: one function each, and each owns the timestamps that move with it.
# executemany statements name their parameters b_*: a bindparam may not share a column's
# name in an UPDATE's SET or WHERE.
_CLOSE_UNSENT = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        status_reason=bindparam("b_reason"),
        updated_at=bindparam("b_now"),
    )
)
# An invitation the customer already started answering (a tap can beat this record)
# keeps its progress and only gets its `sent_at` and the message id (which the answer path
# needs to edit the survey message).
_RECORD_SENT = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.id == bindparam("b_id"),
        INVITATIONS.c.status == InvitationStatus.PENDING,
    )
    .values(
        status=InvitationStatus.SENT,
        sent_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
        telegram_message_id=bindparam("b_message"),
        status_reason=bindparam("b_reason"),
    )
)
_SENT_AT = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.id == bindparam("b_id"),
        or_(INVITATIONS.c.sent_at.is_(None), INVITATIONS.c.telegram_message_id.is_(None)),
    )
    .values(
        sent_at=func.coalesce(INVITATIONS.c.sent_at, bindparam("b_now")),
        telegram_message_id=func.coalesce(
            INVITATIONS.c.telegram_message_id, bindparam("b_message")
        ),
    )
)
# A sender died mid-send: the message may have arrived, so the invitation counts as sent.
_CLOSE_INTERRUPTED = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.status == InvitationStatus.PENDING,
        INVITATIONS.c.send_claimed_at.is_not(None),
        INVITATIONS.c.send_started_at.is_not(None),
    )
    .values(
        status=InvitationStatus.SENT,
        status_reason=bindparam("reason"),
        sent_at=func.coalesce(INVITATIONS.c.sent_at, bindparam("now")),
        updated_at=bindparam("now"),
    )
    .returning(INVITATIONS.c.id)
)
_CLOSE_INTERRUPTED_BEFORE = _CLOSE_INTERRUPTED.where(
    INVITATIONS.c.send_claimed_at < bindparam("claimed_before")
)
_EXPIRE_OVERDUE = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.status.in_((InvitationStatus.PENDING, *OPEN_STATUSES)),
        INVITATIONS.c.expires_at <= bindparam("now"),
    )
    .values(
        status=InvitationStatus.EXPIRED,
        status_reason="no answer in time",
        updated_at=bindparam("now"),
    )
)
_ADVANCE = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("invitation_id"))
    .values(
        current_step=bindparam("current_step"),
        status=InvitationStatus.IN_PROGRESS,
        status_reason=None,
        updated_at=bindparam("now"),
        started_at=func.coalesce(INVITATIONS.c.started_at, bindparam("now")),
    )
)
_COMPLETE = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("invitation_id"))
    .values(
        current_step=None,
        status=InvitationStatus.COMPLETED,
        status_reason=None,
        updated_at=bindparam("now"),
        completed_at=bindparam("now"),
    )
)


def skip(*, session: Session, skipped: Sequence[tuple[int, str]], now: datetime) -> None:
    """Pending → skipped, never sent: (id, reason) each."""
    _close_unsent(session, InvitationStatus.SKIPPED, skipped, now)


def fail(*, session: Session, failed: Sequence[tuple[int, str]], now: datetime) -> None:
    """Pending → failed: the send certainly did not arrive and is not retried."""
    _close_unsent(session, InvitationStatus.FAILED, failed, now)


def _close_unsent(
    session: Session,
    status: InvitationStatus,
    changes: Sequence[tuple[int, str]],
    now: datetime,
) -> None:
    if changes:
        session.connection().execute(
            _CLOSE_UNSENT,
            [
                {"b_id": i, "b_status": status, "b_reason": reason[:500], "b_now": now}
                for i, reason in changes
            ],
        )


def record_sent(
    *, session: Session, sent: Sequence[tuple[int, int | None, str | None]], now: datetime
) -> None:
    """Pending → sent (`sent_at`, the message id): (id, message id, reason) each."""
    if not sent:
        return
    connection = session.connection()
    connection.execute(
        _RECORD_SENT,
        [{"b_id": i, "b_message": m, "b_reason": r, "b_now": now} for i, m, r in sent],
    )
    connection.execute(_SENT_AT, [{"b_id": i, "b_message": m, "b_now": now} for i, m, _ in sent])


def close_interrupted_sends(
    *, session: Session, claimed_before: datetime | None, now: datetime, reason: str
) -> list[int]:
    """Pending, claimed and started (before `claimed_before`, or all with None) → sent,
    unconfirmed: the message may have arrived, and a duplicate survey is worse than a
    missing one. Return their ids."""
    connection = session.connection()
    if claimed_before is None:
        result = connection.execute(_CLOSE_INTERRUPTED, {"now": now, "reason": reason})
    else:
        result = connection.execute(
            _CLOSE_INTERRUPTED_BEFORE,
            {"claimed_before": claimed_before, "now": now, "reason": reason},
        )
    return sorted(row[0] for row in result)


def expire_overdue(*, session: Session, now: datetime) -> int:
    """Pending or open, past its expiry time → expired; return how many."""
    return session.connection().execute(_EXPIRE_OVERDUE, {"now": now}).rowcount


def advance(*, session: Session, invitation_id: int, current_step: str, now: datetime) -> None:
    """Open → in progress at `current_step` (`started_at` at the first answer)."""
    session.connection().execute(
        _ADVANCE, {"invitation_id": invitation_id, "current_step": current_step, "now": now}
    )


def complete(*, session: Session, invitation_id: int, now: datetime) -> None:
    """Open → completed (`completed_at`)."""
    session.connection().execute(_COMPLETE, {"invitation_id": invitation_id, "now": now})
