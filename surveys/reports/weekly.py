"""The weekly summary: when it is due, what it says, and posting it exactly once.

Posting goes through a `SummaryPoster` (the Slack adapter lives in handlers/slack), so this
module knows nothing of Slack. The database row of (week, channel) is claimed before any
post; the message's ts is recorded before the chart is uploaded; a failure Slack reported is
retried with backoff; a post whose outcome is unknown is never repeated.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from storage.clock import Clock
from storage.models import SummaryPost
from storage.queries import summary_posts
from storage.session import run_unit, transact
from surveys.definition import SurveyRoles
from surveys.reports.chart import reasons_chart
from surveys.reports.figures import Figures, compute_figures
from surveys.reports.periods import Period, parse_period, previous_week
from surveys.reports.render import Rendered, summary_blocks

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=10)


class ScheduleError(ValueError):
    """SUMMARY_SCHEDULE is not "<day> HH:MM"."""


class PostFailed(Exception):
    """Slack said no (or could not be reached): nothing was posted, a retry is safe."""


class PostUncertain(Exception):
    """The request may or may not have reached Slack (a timeout): do not repeat it."""


class SummaryPoster(Protocol):
    async def post_message(self, channel: str, rendered: Rendered) -> str:
        """Post the message; return its ts. Raise PostFailed or PostUncertain."""

    async def upload_chart(self, channel: str, png: bytes, thread_ts: str, title: str) -> None:
        """Upload the chart into the message's thread. Raise PostFailed or PostUncertain."""


@dataclass(frozen=True)
class Schedule:
    """A weekly moment: day of week (0 = Monday) and local time."""

    weekday: int
    hour: int
    minute: int

    @classmethod
    def parse(cls, text: str) -> Schedule:
        match = re.fullmatch(r"\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*", text.lower())
        if not match or match.group(1) not in DAYS:
            raise ScheduleError(f"SUMMARY_SCHEDULE {text!r}: use '<day> HH:MM', e.g. 'mon 09:00'")
        hour, minute = int(match.group(2)), int(match.group(3))
        if hour > 23 or minute > 59:
            raise ScheduleError(f"SUMMARY_SCHEDULE {text!r}: no such time of day")
        return cls(DAYS.index(match.group(1)), hour, minute)

    def cron(self) -> dict[str, object]:
        """Keyword arguments of APScheduler's cron trigger."""
        return {"day_of_week": DAYS[self.weekday], "hour": self.hour, "minute": self.minute}

    def last_run(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The latest scheduled moment at or before `now`."""
        local = now.astimezone(zone)
        days_back = (local.weekday() - self.weekday) % 7
        day = (local - timedelta(days=days_back)).date()
        moment = datetime(day.year, day.month, day.day, self.hour, self.minute, tzinfo=zone)
        if moment > local:
            moment -= timedelta(days=7)
        return moment


class PostStatus(enum.StrEnum):
    """What one call to publish a week did."""

    POSTED = "posted"
    SKIPPED = "skipped"  # not ours to post now, or already done (the detail says which)
    RETRY = "retry"  # Slack refused; tried again later
    FAILED = "failed"  # gave up after the last attempt
    UNCERTAIN = "uncertain"  # the outcome is unknown: never posted again by itself


@dataclass(frozen=True)
class PostOutcome:
    week: str
    channel: str
    status: PostStatus
    detail: str = ""


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def week_figures(session: Session, week: Period, now: datetime, roles: SurveyRoles) -> Figures:
    return compute_figures(session=session, period=week, now=now, roles=roles)


def render_week(figures: Figures) -> tuple[Rendered, bytes]:
    rendered = summary_blocks(figures, title=f"Weekly churn summary · {figures.period.label}")
    return rendered, reasons_chart(figures)


@dataclass
class WeeklySummary:
    """Decides which week is due and posts it once per channel, whoever else is running."""

    db: Engine
    clock: Clock
    zone: ZoneInfo
    schedule: Schedule
    channel: str
    poster: SummaryPoster
    roles: SurveyRoles
    owner: str = field(default_factory=instance_name)
    lease: timedelta = LEASE
    backoff: tuple[timedelta, ...] = BACKOFF

    def due_week(self, now: datetime | None = None) -> Period:
        """The ISO week before the latest scheduled run: the one that should be out now."""
        return previous_week(self.schedule.last_run(now or self.clock(), self.zone), self.zone)

    async def catch_up(self) -> PostOutcome:
        """Post the due week unless it is posted or being posted; also retries failures.

        Called at start-up (a run missed while down), by the weekly cron job and by the
        retry job; cheap when there is nothing to do (one indexed read).
        """
        return await self.publish(self.due_week())

    async def publish(self, week: Period) -> PostOutcome:
        now = self.clock()
        claimed = await transact(
            self.db,
            lambda session: summary_posts.claim_summary_post(
                session=session,
                week=week.label,
                channel=self.channel,
                owner=self.owner,
                now=now,
                lease=self.lease,
            ),
        )
        if claimed is None:
            return await self._skipped(week)
        return await self._post(claimed, week)

    async def publish_again(self, week: Period) -> PostOutcome:
        """Post a week whose post is `uncertain` or `failed`, at a manager's request (after
        checking the channel: an `uncertain` post may be there already)."""
        reopened = await transact(
            self.db,
            lambda session: summary_posts.reopen_summary_post(
                session=session, week=week.label, channel=self.channel, now=self.clock()
            ),
        )
        if not reopened:
            return await self._skipped(week)
        return await self.publish(week)

    async def _skipped(self, week: Period) -> PostOutcome:
        """Not posted by this call; the detail is the week's post status."""
        current = await transact(
            self.db,
            lambda session: summary_posts.get_summary_post(
                session=session, week=week.label, channel=self.channel
            ),
        )
        status = current.status if current else "not posted yet"
        return PostOutcome(week.label, self.channel, PostStatus.SKIPPED, status)

    async def _post(self, claimed: SummaryPost, week: Period) -> PostOutcome:
        assert claimed.id is not None
        post_id = claimed.id
        posted_unrecorded = False
        try:
            figures = await asyncio.to_thread(
                run_unit,
                self.db,
                lambda session: week_figures(session, week, self.clock(), self.roles),
            )
            rendered, png = await asyncio.to_thread(render_week, figures)
            ts = claimed.message_ts
            if ts is None:
                ts = await self.poster.post_message(self.channel, rendered)
                posted_unrecorded = True
                await transact(
                    self.db,
                    lambda session: summary_posts.record_summary_message(
                        session=session, post_id=post_id, ts=ts, now=self.clock()
                    ),
                )
                posted_unrecorded = False
            await self.poster.upload_chart(
                self.channel, png, ts, f"Churn reasons {week.label} vs the week before"
            )
        except Exception as error:
            if not posted_unrecorded and not isinstance(error, PostUncertain):
                return await self._retry_later(claimed, week, error)
            # Posted but not recorded, or the request may have gone through: never again.
            log.error(
                "summary %s to %s: outcome unknown, not retried: %s",
                week.label,
                self.channel,
                error,
                exc_info=not isinstance(error, PostUncertain),
            )
            await self._failed(post_id, str(error), None, uncertain=True)
            return PostOutcome(week.label, self.channel, PostStatus.UNCERTAIN, str(error))
        await transact(
            self.db,
            lambda session: summary_posts.record_summary_posted(
                session=session, post_id=post_id, now=self.clock()
            ),
        )
        log.info("posted the churn summary of %s to %s", week.label, self.channel)
        return PostOutcome(week.label, self.channel, PostStatus.POSTED, ts)

    async def _retry_later(
        self, claimed: SummaryPost, week: Period, error: Exception
    ) -> PostOutcome:
        """Slack refused (PostFailed) or we failed before posting: retry with backoff."""
        assert claimed.id is not None
        log.warning(
            "summary %s to %s: attempt %d failed: %s",
            week.label,
            self.channel,
            claimed.attempts,
            error,
            exc_info=not isinstance(error, PostFailed),
        )
        retry_at = None
        if claimed.attempts < MAX_ATTEMPTS:
            retry_at = self.clock() + self.backoff[min(claimed.attempts, len(self.backoff)) - 1]
        await self._failed(claimed.id, f"{type(error).__name__}: {error}", retry_at)
        outcome = PostStatus.RETRY if retry_at else PostStatus.FAILED
        return PostOutcome(week.label, self.channel, outcome, str(error))

    async def _failed(
        self, post_id: int, error: str, retry_at: datetime | None, *, uncertain: bool = False
    ) -> None:
        await transact(
            self.db,
            lambda session: summary_posts.record_summary_failure(
                session=session,
                post_id=post_id,
                error=error,
                now=self.clock(),
                retry_at=retry_at,
                uncertain=uncertain,
            ),
        )


def parse_week(text: str | None, *, now: datetime, zone: ZoneInfo) -> Period:
    """`--week 2026-W46`, or the last complete week."""
    if not text:
        return previous_week(now, zone)
    period = parse_period(text, now=now, zone=zone)
    if not re.fullmatch(r"\d{4}-W\d{2}", period.label):
        raise ValueError(f"{text!r} is not an ISO week such as 2026-W46")
    return period
