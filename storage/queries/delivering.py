"""The delivery path: what each batch of outgoing surveys reads and writes.

Every invitation sent goes through these statements, so, like the answer path
(`storage.queries.answering`), they are SQLAlchemy Core run on the session's connection,
built once and compiled once: a batch is claimed, read and prepared in a handful of
statements (reads with IN, writes as executemany) instead of ORM loads and a flush per
invitation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, func, select, update
from sqlmodel import Session

from storage.models import OPEN_STATUSES, Customer, InvitationStatus, SurveyInvitation
from storage.queries.invitations import InvitationState

INVITATIONS: Table = SurveyInvitation.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DueInvitation:
    """A claimed invitation with what deciding to send it needs of its customer (the
    customer fields are None when the customer no longer exists)."""

    id: int
    survey_key: str
    customer_id: int
    send_attempts: int
    send_claimed_at: datetime | None
    customer_exists: bool
    telegram_chat_id: int | None
    customer_language: str | None
    customer_timezone: str | None
    opted_out: bool | None
    unreachable: bool | None


# A claim picks its candidates first (locked with FOR UPDATE SKIP LOCKED on PostgreSQL, so
# concurrent workers take disjoint rows without waiting; SQLite has one writer at a time),
# then marks them, in one transaction. Not as one UPDATE ... WHERE id IN (SELECT ... LIMIT
# ... FOR UPDATE SKIP LOCKED): PostgreSQL may rescan such a subquery once per row, and each
# rescan skips the rows the statement has just updated and locks the next ones, so a claim
# of 50 measured 140.
_PICK_DUE = (
    select(INVITATIONS.c.id)
    .where(
        INVITATIONS.c.status == InvitationStatus.PENDING,
        INVITATIONS.c.due_at <= bindparam("now"),
        INVITATIONS.c.send_claimed_at.is_(None),
    )
    .order_by(INVITATIONS.c.due_at, INVITATIONS.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_DUE = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.id.in_(bindparam("ids", expanding=True)),
        INVITATIONS.c.send_claimed_at.is_(None),
    )
    .values(send_claimed_at=bindparam("now"), updated_at=bindparam("now"))
    .returning(INVITATIONS.c.id)
)
# Every delivery tick runs this once per survey with reminders, so it is built once too.
_PICK_REMINDERS = (
    select(INVITATIONS.c.id)
    .where(
        INVITATIONS.c.survey_key == bindparam("b_survey"),
        INVITATIONS.c.status.in_(OPEN_STATUSES),
        INVITATIONS.c.reminder_sent_at.is_(None),
        INVITATIONS.c.sent_at <= bindparam("sent_before"),
    )
    .order_by(INVITATIONS.c.sent_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM_REMINDERS = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.id.in_(bindparam("ids", expanding=True)),
        INVITATIONS.c.reminder_sent_at.is_(None),
    )
    .values(reminder_sent_at=bindparam("now"), updated_at=bindparam("now"))
    .returning(INVITATIONS.c.id)
)
_DUE_WITH_CUSTOMERS = (
    select(
        INVITATIONS.c.id,
        INVITATIONS.c.survey_key,
        INVITATIONS.c.customer_id,
        INVITATIONS.c.send_attempts,
        INVITATIONS.c.send_claimed_at,
        CUSTOMERS.c.id.is_not(None),
        CUSTOMERS.c.telegram_chat_id,
        CUSTOMERS.c.language,
        CUSTOMERS.c.timezone,
        CUSTOMERS.c.opted_out,
        CUSTOMERS.c.unreachable,
    )
    .join(CUSTOMERS, CUSTOMERS.c.id == INVITATIONS.c.customer_id, isouter=True)
    .where(INVITATIONS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(INVITATIONS.c.due_at, INVITATIONS.c.id)
)
_SENT_SINCE = (
    select(INVITATIONS.c.customer_id)
    .where(
        INVITATIONS.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
        INVITATIONS.c.survey_key.in_(bindparam("survey_keys", expanding=True)),
        INVITATIONS.c.sent_at.is_not(None),
        INVITATIONS.c.sent_at >= bindparam("since"),
    )
    .distinct()
)
# executemany statements name their parameters b_*: a bindparam may not share a column's
# name in an UPDATE's SET or WHERE. Back to the outbox: the conversation had not begun
# (nothing arrived), so its step goes; a reason, when given, replaces the previous one.
_RELEASE = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("b_id"))
    .values(
        send_claimed_at=None,
        send_started_at=None,
        current_step=None,
        due_at=bindparam("b_due_at"),
        status_reason=func.coalesce(bindparam("b_reason"), INVITATIONS.c.status_reason),
    )
)
_START = (
    update(INVITATIONS)
    .where(INVITATIONS.c.id == bindparam("b_id"))
    .values(
        send_attempts=INVITATIONS.c.send_attempts + 1,
        language=bindparam("b_language"),
        current_step=bindparam("b_step"),
    )
)
_MARK_STARTED = (
    update(INVITATIONS)
    .where(
        INVITATIONS.c.id.in_(bindparam("ids", expanding=True)),
        INVITATIONS.c.status == InvitationStatus.PENDING,
        INVITATIONS.c.send_claimed_at == bindparam("claimed_at"),
        INVITATIONS.c.send_started_at.is_(None),
    )
    .values(send_started_at=bindparam("now"), updated_at=bindparam("now"))
    .returning(INVITATIONS.c.id)
)
# A sender died mid-batch: its claims were never recorded. A live sender takes those older
# than the claim timeout; a new sender takes every claim (its predecessor is gone).
_CLAIMED = (
    INVITATIONS.c.status == InvitationStatus.PENDING,
    INVITATIONS.c.send_claimed_at.is_not(None),
)
_CLAIMED_BEFORE = INVITATIONS.c.send_claimed_at < bindparam("claimed_before")
_RELEASE_UNSTARTED = (
    update(INVITATIONS)
    .where(*_CLAIMED, INVITATIONS.c.send_started_at.is_(None))
    .values(send_claimed_at=None)
)
_RELEASE_UNSTARTED_BEFORE = _RELEASE_UNSTARTED.where(_CLAIMED_BEFORE)
_MARK_UNREACHABLE = (
    update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("b_id")).values(unreachable=True)
)


def release_unstarted_claims(*, session: Session, claimed_before: datetime | None) -> int:
    """Give stale claims (made before `claimed_before`, or all with None) whose send never
    started back to the outbox: certainly unsent. Return how many."""
    if claimed_before is None:
        return session.connection().execute(_RELEASE_UNSTARTED).rowcount
    return (
        session.connection()
        .execute(_RELEASE_UNSTARTED_BEFORE, {"claimed_before": claimed_before})
        .rowcount
    )


def claim_due(*, session: Session, now: datetime, limit: int) -> list[int]:
    """Atomically claim up to `limit` due pending invitations for this worker (several
    instances claim disjoint sets); return their ids."""
    ids = session.connection().execute(_PICK_DUE, {"now": now, "limit": limit}).scalars().all()
    if not ids:
        return []
    result = session.connection().execute(_CLAIM_DUE, {"ids": list(ids), "now": now})
    return sorted(row[0] for row in result)


def claim_reminders(
    *, session: Session, survey_key: str, sent_before: datetime, now: datetime, limit: int
) -> list[int]:
    """Claim open invitations of `survey_key` sent before `sent_before` and not reminded."""
    ids = (
        session.connection()
        .execute(
            _PICK_REMINDERS, {"b_survey": survey_key, "sent_before": sent_before, "limit": limit}
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    result = session.connection().execute(_CLAIM_REMINDERS, {"ids": list(ids), "now": now})
    return sorted(row[0] for row in result)


def due_with_customers(*, session: Session, ids: Sequence[int]) -> list[DueInvitation]:
    """The invitations with their customers, in one query, oldest due first."""
    if not ids:
        return []
    return [
        DueInvitation(*row)
        for row in session.connection().execute(_DUE_WITH_CUSTOMERS, {"ids": ids})
    ]


def sent_since(
    *,
    session: Session,
    customer_ids: Iterable[int],
    survey_keys: Sequence[str],
    since: datetime,
) -> set[int]:
    """Those of the customers sent one of these surveys since `since` (fatigue)."""
    customers = list(customer_ids)
    if not customers or not survey_keys:
        return set()
    result = session.connection().execute(
        _SENT_SINCE,
        {"customer_ids": customers, "survey_keys": list(survey_keys), "since": since},
    )
    return {row[0] for row in result}


def release(*, session: Session, releases: Sequence[tuple[int, datetime, str | None]]) -> None:
    """Give claimed invitations back to the outbox: (id, due again at, reason or None)."""
    if releases:
        session.connection().execute(
            _RELEASE,
            [
                {"b_id": i, "b_due_at": due_at, "b_reason": reason}
                for i, due_at, reason in releases
            ],
        )


def start(*, session: Session, started: Sequence[InvitationState]) -> None:
    """Fix each invitation's language and first step, and count the attempt."""
    if started:
        session.connection().execute(
            _START,
            [{"b_id": s.id, "b_language": s.language, "b_step": s.current_step} for s in started],
        )


def mark_sends_started(
    *, session: Session, claims: Sequence[tuple[int, datetime | None]], now: datetime
) -> set[int]:
    """Record that these requests to the chat platform are about to leave; return the ids
    whose claim still holds (a lapsed claim may have been taken over by another worker).

    After a crash, a claimed invitation without this mark was certainly not sent (safe
    to send again); one with it may have been (never sent again). One statement per
    claim time (usually one per call): this runs for every group of sends.
    """
    by_claim: dict[datetime, list[int]] = {}
    for invitation_id, claimed_at in claims:
        if claimed_at is not None:  # never claimed, so not ours to send
            by_claim.setdefault(claimed_at, []).append(invitation_id)
    ours: set[int] = set()
    for claimed_at, ids in by_claim.items():
        result = session.connection().execute(
            _MARK_STARTED, {"ids": ids, "claimed_at": claimed_at, "now": now}
        )
        ours.update(row[0] for row in result)
    return ours


def mark_unreachable(*, session: Session, customer_ids: Sequence[int]) -> None:
    """The customers' chats refuse our messages (bot blocked, chat deleted)."""
    if customer_ids:
        session.connection().execute(_MARK_UNREACHABLE, [{"b_id": i} for i in customer_ids])
