"""Survey invitations: creation, claiming for delivery, and the conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import OPEN_STATUSES, Customer, InvitationStatus, SurveyInvitation


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
    candidates = (
        select(SurveyInvitation.id)
        .where(
            SurveyInvitation.status == InvitationStatus.PENDING,
            SurveyInvitation.due_at <= now,
            col(SurveyInvitation.send_claimed_at).is_(None),
        )
        .order_by(SurveyInvitation.due_at, SurveyInvitation.id)
        .limit(limit)
    )
    return _claim(session, candidates, col(SurveyInvitation.send_claimed_at), now)


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


def release_claim(*, session: Session, invitation: SurveyInvitation, due_at: datetime) -> None:
    """Give a claimed invitation back to the outbox, due again at `due_at`."""
    invitation.send_claimed_at = None
    invitation.send_started_at = None
    invitation.due_at = due_at
    session.add(invitation)
    session.flush()


def with_customers(
    *, session: Session, invitation_ids: list[int]
) -> list[tuple[SurveyInvitation, Customer | None]]:
    """The invitations with their customers, in one query, oldest due first."""
    if not invitation_ids:
        return []
    rows = session.exec(
        select(SurveyInvitation, Customer)
        .join(Customer, col(Customer.id) == col(SurveyInvitation.customer_id), isouter=True)
        .where(col(SurveyInvitation.id).in_(invitation_ids))
        .order_by(SurveyInvitation.due_at, SurveyInvitation.id)
    ).all()
    return [(invitation, customer) for invitation, customer in rows]


def mark_sends_started(
    *, session: Session, claims: list[tuple[int, datetime | None]], now: datetime
) -> set[int]:
    """Record that these requests to the chat platform are about to leave; return the ids
    whose claim still holds (a lapsed claim may have been taken over by another worker).

    After a crash, a claimed invitation without this mark was certainly not sent (safe
    to send again); one with it may have been (never sent again). One Core statement per
    claim time (usually one per call): this runs for every group of sends.
    """
    by_claim: dict[datetime | None, list[int]] = {}
    for invitation_id, claimed_at in claims:
        by_claim.setdefault(claimed_at, []).append(invitation_id)
    connection = session.connection()
    ours: set[int] = set()
    for claimed_at, ids in by_claim.items():
        if claimed_at is None:
            continue  # never claimed, so not ours to send
        result = connection.execute(
            _MARK_STARTED, {"ids": ids, "claimed_at": claimed_at, "now": now}
        )
        ours.update(row[0] for row in result)
    return ours


_invitation = SurveyInvitation.__table__  # type: ignore[attr-defined]
# Built once: the statement's compiled form is cached, unlike an ORM update's.
_MARK_STARTED = (
    update(_invitation)
    .where(
        _invitation.c.id.in_(bindparam("ids", expanding=True)),
        _invitation.c.status == InvitationStatus.PENDING,
        _invitation.c.send_claimed_at == bindparam("claimed_at"),
        _invitation.c.send_started_at.is_(None),
    )
    .values(send_started_at=bindparam("now"), updated_at=bindparam("now"))
    .returning(_invitation.c.id)
)


def record_sent(
    *, session: Session, sent: list[tuple[int, int | None, str | None]], now: datetime
) -> None:
    """Mark invitations as sent with their message ids, in two statements for the lot.

    An invitation the customer already started answering (a tap can beat this record)
    keeps its progress and only gets its `sent_at`.
    """
    if not sent:
        return
    connection = session.connection()
    table = SurveyInvitation.__table__  # type: ignore[attr-defined]
    connection.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == InvitationStatus.PENDING)
        .values(
            status=InvitationStatus.SENT,
            sent_at=now,
            updated_at=now,
            telegram_message_id=bindparam("b_message"),
            status_reason=bindparam("b_reason"),
        ),
        [{"b_id": i, "b_message": m, "b_reason": r} for i, m, r in sent],
    )
    connection.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.sent_at.is_(None))
        .values(sent_at=now),
        [{"b_id": i} for i, _, _ in sent],
    )


def stale_claims(
    *, session: Session, claimed_before: datetime, started: bool
) -> list[SurveyInvitation]:
    """Pending invitations claimed long ago and never recorded: a worker died mid-batch."""
    started_column = col(SurveyInvitation.send_started_at)
    return list(
        session.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.status == InvitationStatus.PENDING,
                col(SurveyInvitation.send_claimed_at).is_not(None),
                col(SurveyInvitation.send_claimed_at) < claimed_before,
                started_column.is_not(None) if started else started_column.is_(None),
            )
        ).all()
    )


def sent_recently(
    *, session: Session, customer_id: int, survey_keys: list[str], since: datetime
) -> bool:
    """Whether one of these surveys was sent to the customer since `since` (fatigue)."""
    if not survey_keys:
        return False
    found = session.exec(
        select(SurveyInvitation.id)
        .where(
            SurveyInvitation.customer_id == customer_id,
            col(SurveyInvitation.survey_key).in_(survey_keys),
            col(SurveyInvitation.sent_at).is_not(None),
            col(SurveyInvitation.sent_at) >= since,
        )
        .limit(1)
    ).first()
    return found is not None


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
