"""Survey invitations: creation, claiming for delivery, and the conversation state."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import OPEN_STATUSES, InvitationStatus, SurveyInvitation


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


def due_invitation_ids(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of pending invitations whose time has come and that nobody has claimed."""
    rows = session.exec(
        select(SurveyInvitation.id)
        .where(
            SurveyInvitation.status == InvitationStatus.PENDING,
            SurveyInvitation.due_at <= now,
            col(SurveyInvitation.send_claimed_at).is_(None),
        )
        .order_by(SurveyInvitation.due_at, SurveyInvitation.id)
        .limit(limit)
    ).all()
    return [row for row in rows if row is not None]


def claim_for_sending(*, session: Session, invitation_id: int, now: datetime) -> bool:
    """Atomically mark the invitation as being sent; False when another worker has it.

    A compare-and-set on `send_claimed_at` works the same on SQLite and PostgreSQL, so
    several instances sharing one database never send one invitation twice.
    """
    result = session.exec(
        update(SurveyInvitation)
        .where(
            SurveyInvitation.id == invitation_id,
            SurveyInvitation.status == InvitationStatus.PENDING,
            col(SurveyInvitation.send_claimed_at).is_(None),
        )
        .values(send_claimed_at=now, updated_at=now)
    )
    return result.rowcount == 1


def interrupted_sends(*, session: Session, claimed_before: datetime) -> list[SurveyInvitation]:
    """Invitations claimed for sending whose outcome was never recorded (a crash mid-send)."""
    return list(
        session.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.status == InvitationStatus.PENDING,
                col(SurveyInvitation.send_claimed_at).is_not(None),
                col(SurveyInvitation.send_claimed_at) < claimed_before,
            )
        ).all()
    )


def open_invitation_for(*, session: Session, customer_id: int) -> SurveyInvitation | None:
    """The customer's most recently sent survey that is still waiting for answers."""
    return session.exec(
        select(SurveyInvitation)
        .where(
            SurveyInvitation.customer_id == customer_id,
            col(SurveyInvitation.status).in_(OPEN_STATUSES),
        )
        .order_by(col(SurveyInvitation.sent_at).desc(), col(SurveyInvitation.id).desc())
    ).first()


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


def expire_overdue(*, session: Session, now: datetime) -> int:
    """Close open or pending invitations whose expiry time has passed."""
    result = session.exec(
        update(SurveyInvitation)
        .where(
            col(SurveyInvitation.status).in_((InvitationStatus.PENDING, *OPEN_STATUSES)),
            col(SurveyInvitation.expires_at) <= now,
        )
        .values(status=InvitationStatus.EXPIRED, status_reason="no answer in time", updated_at=now)
    )
    return result.rowcount


def default_expiry(due_at: datetime, hours: int) -> datetime:
    return due_at + timedelta(hours=hours)
