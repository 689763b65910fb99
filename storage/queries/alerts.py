"""The alerts' outbox: one slack_alert row per finished invitation, claimed before posting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import InvitationStatus, SlackAlert, SlackAlertStatus, SurveyInvitation

FINISHED = (InvitationStatus.COMPLETED, InvitationStatus.EXPIRED)


def claim(
    *,
    session: Session,
    invitation_id: int,
    status: SlackAlertStatus,
    kind: str | None,
    now: datetime,
) -> bool:
    """Record the decision about an invitation's alert, or take a refused one up again.

    True when this caller now owns it: no other instance or retry decided it first."""
    try:
        with session.begin_nested():
            session.add(
                SlackAlert(
                    invitation_id=invitation_id,
                    kind=kind,
                    status=status,
                    attempts=int(status == SlackAlertStatus.SENDING),
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        retried = session.execute(
            update(SlackAlert)
            .where(
                col(SlackAlert.invitation_id) == invitation_id,
                col(SlackAlert.status) == SlackAlertStatus.RETRY,
            )
            .values(status=status, attempts=SlackAlert.attempts + 1, updated_at=now)
        )
        return bool(retried.rowcount == 1)  # type: ignore[attr-defined]
    return True


def is_decided(*, session: Session, invitation_id: int) -> bool:
    """An alert row exists that no retry will take up again."""
    row = session.get(SlackAlert, invitation_id)
    return row is not None and row.status != SlackAlertStatus.RETRY


def record_outcome(
    *,
    session: Session,
    invitation_id: int,
    status: SlackAlertStatus,
    now: datetime,
    channel: str | None = None,
    message_ts: str | None = None,
    error: str | None = None,
) -> None:
    row = session.get(SlackAlert, invitation_id)
    if row is None:
        return
    row.status = status
    row.updated_at = now
    if channel is not None:
        row.channel = channel
    if message_ts is not None:
        row.message_ts = message_ts
    if error is not None:
        row.last_error = error[:500]
    session.add(row)


def attempts_of(*, session: Session, invitation_id: int) -> int:
    row = session.get(SlackAlert, invitation_id)
    return row.attempts if row is not None else 0


def posted(*, session: Session, invitation_id: int) -> SlackAlert | None:
    """The posted alert of an invitation (with its channel and ts), if any."""
    row = session.get(SlackAlert, invitation_id)
    if row is None or row.status != SlackAlertStatus.POSTED or not row.message_ts:
        return None
    return row


def undecided(*, session: Session, since: datetime, limit: int) -> list[int]:
    """Invitations finished or expired since `since` whose alert is not decided yet, and
    alerts Slack refused that are due for another try; oldest first."""
    fresh = (
        select(SurveyInvitation.id)
        .outerjoin(SlackAlert, col(SlackAlert.invitation_id) == col(SurveyInvitation.id))
        .where(
            col(SurveyInvitation.status).in_(FINISHED),
            col(SurveyInvitation.updated_at) >= since,
            col(SlackAlert.invitation_id).is_(None),
        )
        .order_by(col(SurveyInvitation.updated_at))
        .limit(limit)
    )
    retry = (
        select(SlackAlert.invitation_id)
        .where(col(SlackAlert.status) == SlackAlertStatus.RETRY)
        .order_by(col(SlackAlert.updated_at))
        .limit(limit)
    )
    ids = [i for i in (*session.exec(fresh), *session.exec(retry)) if i is not None]
    return sorted(set(ids))[:limit]
