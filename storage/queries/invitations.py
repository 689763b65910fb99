"""Survey invitations: creation, claiming for delivery, and the conversation state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import InvitationStatus, SurveyInvitation
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


def claim_due(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Atomically claim up to `limit` due pending invitations for this worker (several
    instances claim disjoint sets)."""
    return delivering.claim_due(session=session, now=now, limit=limit)


def claim_reminders(
    *, session: Session, survey_key: str, sent_before: datetime, now: datetime, limit: int
) -> list[int]:
    """Claim open invitations of `survey_key` sent before `sent_before` and not reminded."""
    return delivering.claim_reminders(
        session=session, survey_key=survey_key, sent_before=sent_before, now=now, limit=limit
    )


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
