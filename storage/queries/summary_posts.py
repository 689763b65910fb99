"""Weekly summary posts: claimed in the database so one week is posted once per channel.

The claiming protocol (insert-or-compare-and-set, leases, `uncertain` after a crash
mid-post) lives here, apart from the report aggregates in `storage.queries.figures`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import SummaryPost, SummaryPostStatus


def get_summary_post(*, session: Session, week: str, channel: str) -> SummaryPost | None:
    return session.exec(
        select(SummaryPost).where(
            col(SummaryPost.week) == week, col(SummaryPost.channel) == channel
        )
    ).one_or_none()


def claim_summary_post(
    *, session: Session, week: str, channel: str, owner: str, now: datetime, lease: timedelta
) -> SummaryPost | None:
    """Take the right to post `week` to `channel`; None when it is not ours to post.

    The first claim inserts the row (the unique (week, channel) constraint lets exactly one
    instance win); later claims are compare-and-set updates of a row waiting for a retry.
    A claim older than `lease` means its owner died mid-post: with the message already
    posted only the chart is left to do; without, Slack may or may not have the message, so
    the row becomes `uncertain` and is not posted again (a duplicate is worse than a gap).
    """
    row = get_summary_post(session=session, week=week, channel=channel)
    if row is None:
        row = SummaryPost(
            week=week,
            channel=channel,
            status=SummaryPostStatus.SENDING,
            attempts=1,
            claimed_by=owner,
            claimed_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            return None
        return row
    claim = {"claimed_by": owner, "claimed_at": now, "updated_at": now}
    if row.status == SummaryPostStatus.RETRY and (
        row.next_attempt_at is None or row.next_attempt_at <= now
    ):
        return _compare_and_set(
            session,
            row,
            expected=SummaryPostStatus.RETRY,
            status=SummaryPostStatus.SENDING,
            attempts=row.attempts + 1,
            **claim,
        )
    stale = row.claimed_at is not None and row.claimed_at < now - lease
    if row.status == SummaryPostStatus.SENDING and stale:
        if row.message_ts is None:
            _compare_and_set(
                session,
                row,
                expected=SummaryPostStatus.SENDING,
                status=SummaryPostStatus.UNCERTAIN,
                last_error="the sender stopped while posting; not retried to avoid a duplicate",
                updated_at=now,
            )
            return None
        return _compare_and_set(
            session, row, expected=SummaryPostStatus.SENDING, status=row.status, **claim
        )
    return None


def reopen_summary_post(*, session: Session, week: str, channel: str, now: datetime) -> bool:
    """Let an `uncertain` or `failed` post be claimed again (a manager checked the channel
    and asked for it); True when reopened. Posted or in-flight posts are never reopened."""
    row = get_summary_post(session=session, week=week, channel=channel)
    if row is None or row.status not in (SummaryPostStatus.UNCERTAIN, SummaryPostStatus.FAILED):
        return False
    reopened = _compare_and_set(
        session,
        row,
        expected=row.status,
        status=SummaryPostStatus.RETRY,
        next_attempt_at=None,
        updated_at=now,
    )
    return reopened is not None


def _compare_and_set(
    session: Session, row: SummaryPost, *, expected: str, **values: Any
) -> SummaryPost | None:
    result = session.exec(
        update(SummaryPost)
        .where(
            col(SummaryPost.id) == row.id,
            col(SummaryPost.status) == expected,
            col(SummaryPost.attempts) == row.attempts,
            col(SummaryPost.claimed_at) == row.claimed_at
            if row.claimed_at is not None
            else col(SummaryPost.claimed_at).is_(None),
        )
        .values(**values)
    )
    if result.rowcount != 1:
        return None
    session.refresh(row)
    return row


def record_summary_message(*, session: Session, post_id: int, ts: str, now: datetime) -> None:
    """Remember the posted message first: a retry must never post it again."""
    session.exec(
        update(SummaryPost)
        .where(col(SummaryPost.id) == post_id)
        .values(message_ts=ts, updated_at=now)
    )


def record_summary_posted(*, session: Session, post_id: int, now: datetime) -> None:
    session.exec(
        update(SummaryPost)
        .where(col(SummaryPost.id) == post_id)
        .values(
            status=SummaryPostStatus.POSTED,
            chart_posted=True,
            posted_at=now,
            last_error=None,
            next_attempt_at=None,
            updated_at=now,
        )
    )


def record_summary_failure(
    *,
    session: Session,
    post_id: int,
    error: str,
    now: datetime,
    retry_at: datetime | None,
    uncertain: bool = False,
) -> None:
    """A failed attempt: retried at `retry_at`, or given up (None), or `uncertain`."""
    if uncertain:
        status = SummaryPostStatus.UNCERTAIN
    else:
        status = SummaryPostStatus.RETRY if retry_at is not None else SummaryPostStatus.FAILED
    session.exec(
        update(SummaryPost)
        .where(col(SummaryPost.id) == post_id)
        .values(status=status, last_error=error[:500], next_attempt_at=retry_at, updated_at=now)
    )
