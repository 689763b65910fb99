"""The weekly summary in Slack: real slack_sdk against the stand-in, exactly once per week."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from PIL import Image
from sqlmodel import Session, select

from bot.context import Deps
from bot.slack_wiring import RETRY_JOB_ID, WEEKLY_JOB_ID, build_slack
from storage.models import SummaryPost, SummaryPostStatus
from tests.auxil.environment import FakeClock
from tests.auxil.slack_api import SlackServer
from tests.handlers.slack.helpers import SUMMARY_CHANNEL, slack_deps, slack_parts
from tests.surveys.reports.dataset import WEEK, build

pytestmark = pytest.mark.e2e

MONDAY_AFTER = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # the W46 summary is due


@pytest.fixture
def summary_deps(database_url: str, slack_server: SlackServer) -> Iterator[tuple[Deps, FakeClock]]:
    clock = FakeClock(MONDAY_AFTER)
    deps = slack_deps(database_url, slack_server, clock)
    build(deps.db)
    yield deps, clock
    deps.db.dispose()


def posts(deps: Deps) -> list[SummaryPost]:
    with Session(deps.db) as session:
        return list(session.exec(select(SummaryPost)))


def left_by_a_crash(deps: Deps, status: str) -> None:
    """The week's post row as a process killed an hour ago, mid-request, leaves it."""
    with Session(deps.db) as session:
        session.add(
            SummaryPost(
                week=WEEK,
                channel=SUMMARY_CHANNEL,
                status=status,
                attempts=1,
                claimed_by="dead-host:1",
                claimed_at=MONDAY_AFTER - timedelta(hours=1),
            )
        )
        session.commit()


async def test_due_summary_is_posted_with_blocks_text_and_chart_in_its_thread(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, _ = summary_deps
    outcome = await slack_parts(deps).weekly.catch_up()

    assert (outcome.week, outcome.status) == (WEEK, "posted")
    (message,) = slack_server.fake.messages(SUMMARY_CHANNEL)
    assert message["text"].startswith(f"Weekly churn summary · {WEEK}: 4 customers lost")
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"Weekly churn summary · {WEEK}"},
    }
    rendered = str(message["blocks"])
    assert "36.4%" in rendered
    assert "Top reasons" in rendered
    assert "2 at risk" in rendered
    (upload,) = slack_server.fake.uploads()
    assert upload["thread_ts"] == message["ts"]
    assert upload["channel"] == SUMMARY_CHANNEL
    assert upload["content"].startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(upload["content"])).format == "PNG"
    (row,) = posts(deps)
    assert (row.status, row.message_ts, row.attempts) == ("posted", message["ts"], 1)


async def test_a_restart_does_not_post_the_week_again(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, clock = summary_deps
    assert (await slack_parts(deps).weekly.catch_up()).status == "posted"
    clock.advance(hours=3)
    restarted = slack_parts(deps)  # a new process: new bolt app, client, owner name
    outcome = await restarted.weekly.catch_up()

    assert (outcome.status, outcome.detail) == ("skipped", "posted")
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1
    assert len(slack_server.fake.uploads()) == 1


async def test_two_instances_on_one_database_post_once(
    database_url: str, slack_server: SlackServer
) -> None:
    clock = FakeClock(MONDAY_AFTER)
    first = slack_deps(database_url, slack_server, clock)
    second = slack_deps(database_url, slack_server, clock)  # its own engine and pool
    build(first.db)
    try:
        instances = [slack_parts(first), slack_parts(second)] * 3
        outcomes = await asyncio.gather(*(parts.weekly.catch_up() for parts in instances))
    finally:
        first.db.dispose()
        second.db.dispose()

    assert sorted(outcome.status for outcome in outcomes) == ["posted"] + ["skipped"] * 5
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1
    assert len(slack_server.fake.calls("chat.postMessage")) == 1


async def test_a_rate_limited_post_waits_retry_after_and_posts_once(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, _ = summary_deps
    slack_server.fake.fail_next("chat.postMessage", status=429, retry_after=1)

    outcome = await slack_parts(deps).weekly.catch_up()

    assert outcome.status == "posted"
    assert len(slack_server.fake.calls("chat.postMessage")) == 2
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1


async def test_slack_failures_are_recorded_and_retried_with_backoff_once_due(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, clock = summary_deps
    parts = slack_parts(deps)
    slack_server.fake.fail_next("chat.postMessage", status=500, count=3)  # 1 try + 2 retries

    failed = await parts.weekly.catch_up()
    (row,) = posts(deps)
    assert failed.status == "retry"
    assert (row.status, row.attempts) == (SummaryPostStatus.RETRY, 1)
    assert "internal_error" in row.last_error
    assert row.next_attempt_at == MONDAY_AFTER + timedelta(minutes=1)

    assert (await parts.weekly.catch_up()).status == "skipped"  # not due yet
    clock.advance(minutes=1)
    assert (await parts.weekly.catch_up()).status == "posted"
    (row,) = posts(deps)
    assert (row.status, row.attempts) == (SummaryPostStatus.POSTED, 2)
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1


async def test_a_failed_chart_upload_retries_the_chart_but_never_the_message(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, clock = summary_deps
    parts = slack_parts(deps)
    slack_server.fake.fail_next("files.getUploadURLExternal", status=500, count=3)

    assert (await parts.weekly.catch_up()).status == "retry"
    clock.advance(minutes=2)
    assert (await parts.weekly.catch_up()).status == "posted"

    (message,) = slack_server.fake.messages(SUMMARY_CHANNEL)
    (upload,) = slack_server.fake.uploads()
    assert upload["thread_ts"] == message["ts"]


async def test_a_post_interrupted_by_a_crash_is_not_repeated(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, _clock = summary_deps
    left_by_a_crash(deps, SummaryPostStatus.SENDING)  # killed mid-request

    outcome = await slack_parts(deps).weekly.catch_up()

    assert outcome.status == "skipped"
    assert slack_server.fake.messages(SUMMARY_CHANNEL) == []
    (row,) = posts(deps)
    assert row.status == SummaryPostStatus.UNCERTAIN
    assert "not retried" in row.last_error


async def test_an_uncertain_post_is_posted_once_when_a_manager_asks_again(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, _clock = summary_deps
    left_by_a_crash(deps, SummaryPostStatus.UNCERTAIN)  # and marked by a catch-up since
    weekly = slack_parts(deps).weekly

    again = await weekly.publish_again(weekly.due_week())
    once_more = await weekly.publish_again(weekly.due_week())

    assert (again.week, again.status) == (WEEK, "posted")
    assert (once_more.status, once_more.detail) == ("skipped", SummaryPostStatus.POSTED)
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1
    (row,) = posts(deps)
    assert (row.status, row.attempts) == (SummaryPostStatus.POSTED, 2)


async def test_asking_again_never_reposts_a_posted_week_or_posts_an_unposted_one(
    summary_deps: tuple[Deps, FakeClock], slack_server: SlackServer
) -> None:
    deps, _clock = summary_deps
    weekly = slack_parts(deps).weekly

    unposted = await weekly.publish_again(weekly.due_week())
    assert (await weekly.catch_up()).status == "posted"
    posted = await weekly.publish_again(weekly.due_week())

    assert (unposted.status, unposted.detail) == ("skipped", "not posted yet")
    assert (posted.status, posted.detail) == ("skipped", SummaryPostStatus.POSTED)
    assert len(slack_server.fake.messages(SUMMARY_CHANNEL)) == 1


async def test_start_makes_up_a_missed_run_and_schedules_the_weekly_job(
    database_url: str, slack_server: SlackServer
) -> None:
    clock = FakeClock(datetime(2026, 11, 18, 14, tzinfo=UTC))  # Wednesday: Monday was missed
    deps = slack_deps(database_url, slack_server, clock, timezone="Europe/Berlin")
    build(deps.db)
    scheduler = AsyncIOScheduler(timezone=deps.settings.zone)
    try:
        parts = build_slack(deps)
        await parts.start(scheduler)
        scheduler.start(paused=True)
        weekly = scheduler.get_job(WEEKLY_JOB_ID)
        assert scheduler.get_job(RETRY_JOB_ID) is not None
        next_run = weekly.trigger.get_next_fire_time(None, clock())
    finally:
        scheduler.shutdown(wait=False)
        deps.db.dispose()

    (message,) = slack_server.fake.messages(SUMMARY_CHANNEL)
    assert WEEK in message["text"]
    assert next_run.isoformat() == "2026-11-23T09:00:00+01:00"  # Monday 09:00 in TIMEZONE


def test_no_bot_token_means_no_slack(database_url: str) -> None:
    from bot.wiring import build_deps
    from tests.auxil.environment import make_settings

    deps = build_deps(make_settings(database_url))
    try:
        assert build_slack(deps) is None
    finally:
        deps.db.dispose()
