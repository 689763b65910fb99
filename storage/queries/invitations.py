"""Survey invitations: creation, claiming for delivery, and the conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import OPEN_STATUSES, InvitationStatus, SurveyInvitation
from storage.queries import delivering


def create_invitation(
    *,
    session: Session,
    customer_id: int,
    survey_key: str,
    event_id: int | None,
    due_at: datetime,
    expires_at: datetime,
    now: datetime,
) -> tuple[SurveyInvitation, bool]:
    """Create the invitation unless this event already has one for this survey."""
    if event_id is not None:
        existing = session.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.event_id == event_id, SurveyInvitation.survey_key == survey_key
            )
        ).first()
        if existing is not None:
            return existing, False
    invitation = SurveyInvitation(
        customer_id=customer_id,
        survey_key=survey_key,
        event_id=event_id,
        due_at=due_at,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(invitation)
    except IntegrityError:
        winner = session.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.event_id == event_id, SurveyInvitation.survey_key == survey_key
            )
        ).first()
        if winner is None:
            raise
        return winner, False
    return invitation, True


def claim_due(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Atomically claim up to `limit` due pending invitations for this worker (several
    instances claim disjoint sets)."""
    return delivering.claim_due(session.connection(), now=now, limit=limit)


def _claim(session: Session, candidates: Select, marker: Any, now: datetime) -> list[int]:
    """Set `marker` to `now` on the candidate rows still unmarked; return their ids.

    The candidates are locked with FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent
    workers take disjoint rows without waiting; SQLite has one writer at a time.
    """
    result = session.exec(
        update(SurveyInvitation)
        .where(
            col(SurveyInvitation.id).in_(
                candidates.with_for_update(skip_locked=True).scalar_subquery()
            ),
            marker.is_(None),
        )
        .values({marker: now, SurveyInvitation.updated_at: now})
        .returning(SurveyInvitation.id)
    )
    return sorted(row[0] for row in result.all())


def claim_reminders(
    *, session: Session, survey_key: str, sent_before: datetime, now: datetime, limit: int
) -> list[int]:
    """Claim open invitations of `survey_key` sent before `sent_before` and not reminded."""
    candidates = (
        select(SurveyInvitation.id)
        .where(
            SurveyInvitation.survey_key == survey_key,
            col(SurveyInvitation.status).in_(OPEN_STATUSES),
            col(SurveyInvitation.reminder_sent_at).is_(None),
            col(SurveyInvitation.sent_at) <= sent_before,
        )
        .order_by(SurveyInvitation.sent_at)
        .limit(limit)
    )
    return _claim(session, candidates, col(SurveyInvitation.reminder_sent_at), now)


def set_status(
    *,
    session: Session,
    invitation: SurveyInvitation,
    status: InvitationStatus,
    now: datetime,
    reason: str | None = None,
) -> None:
    invitation.status = status
    invitation.status_reason = reason
    invitation.updated_at = now
    if status == InvitationStatus.SENT and invitation.sent_at is None:
        invitation.sent_at = now
    if status == InvitationStatus.IN_PROGRESS and invitation.started_at is None:
        invitation.started_at = now
    if status == InvitationStatus.COMPLETED:
        invitation.completed_at = now
    session.add(invitation)
    session.flush()
