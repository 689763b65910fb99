"""Slack: the bolt app, its HTTP routes or Socket Mode, the weekly summary jobs, alerts.

`build_slack(deps)` returns None when SLACK_BOT_TOKEN is unset, so Slack stays optional.
The caller (bot/app.py) mounts `parts.routes` on the HTTP server, starts
`parts.socket_mode_handler()` when `parts.socket_mode`, and calls `await parts.start(scheduler)`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.context import Deps
from bot.settings import SettingsError
from handlers.slack import alerts, commands
from handlers.slack.context import SERVICES
from handlers.slack.poster import SlackSummaryPoster
from surveys.reports.weekly import Schedule, WeeklySummary

log = logging.getLogger(__name__)

SLACK_PATHS = ("/slack/events", "/slack/commands", "/slack/interactivity")
WEEKLY_JOB_ID = "weekly-summary"
RETRY_JOB_ID = "weekly-summary-retry"
RETRY_INTERVAL_SECONDS = 60
ALERTS_JOB_ID = "slack-alerts-sweep"
ALERTS_SWEEP_SECONDS = 60


@dataclass
class SlackParts:
    """Everything Slack the application runs; built once at start-up."""

    deps: Deps
    app: AsyncApp
    client: AsyncWebClient
    routes: list[Route]
    socket_mode: bool
    weekly: WeeklySummary | None
    retry_interval_seconds: float = RETRY_INTERVAL_SECONDS
    alerts_sweep_seconds: float = ALERTS_SWEEP_SECONDS
    _socket_handler: AsyncSocketModeHandler | None = field(default=None, repr=False)

    def socket_mode_handler(self) -> AsyncSocketModeHandler:
        """The Socket Mode connection (SLACK_APP_TOKEN); start: `await h.connect_async()`."""
        if self._socket_handler is None:
            token = self.deps.settings.slack_app_token
            assert token is not None, "Socket Mode needs SLACK_APP_TOKEN"
            self._socket_handler = AsyncSocketModeHandler(self.app, token.get_secret_value())
        return self._socket_handler

    def add_jobs(self, scheduler: BaseScheduler) -> None:
        """The alerts sweep, the weekly cron job (SUMMARY_SCHEDULE in TIMEZONE) and the
        summary's retry/catch-up job."""
        if self.deps.settings.slack_alerts_channel:
            # Surveys that expired half-answered, and alerts a crash or Slack held back.
            scheduler.add_job(
                self.sweep_alerts,
                "interval",
                seconds=self.alerts_sweep_seconds,
                id=ALERTS_JOB_ID,
                max_instances=1,
                coalesce=True,
                replace_existing=True,
            )
        if self.weekly is None:
            return
        weekly = self.weekly
        scheduler.add_job(
            weekly.catch_up,
            CronTrigger(**weekly.schedule.cron(), timezone=weekly.zone),  # type: ignore[arg-type]
            id=WEEKLY_JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
            replace_existing=True,
        )
        # Catch-up and Slack-failure retries; one indexed read when there is nothing to do.
        scheduler.add_job(
            weekly.catch_up,
            "interval",
            seconds=self.retry_interval_seconds,
            id=RETRY_JOB_ID,
            max_instances=1,
            coalesce=True,
            replace_existing=True,
        )

    async def start(self, scheduler: BaseScheduler) -> None:
        """Add the jobs and make up a weekly summary missed while the bot was down."""
        self.add_jobs(scheduler)
        if self.weekly is not None:
            outcome = await self.weekly.catch_up()
            log.info("weekly summary catch-up: %s %s", outcome.week, outcome.status)

    async def alert_for_invitation(self, invitation_id: int) -> bool:
        return await alert_for_invitation(self.deps, self, invitation_id)

    async def sweep_alerts(self) -> int:
        """Post the alerts nobody posted yet (never raises: the scheduler keeps going)."""
        try:
            return await alerts.sweep(
                self.deps.services, self.client, self.deps.settings.slack_alerts_channel
            )
        except Exception:
            log.exception("alerts sweep failed")
            return 0


def build_client(deps: Deps) -> AsyncWebClient:
    settings = deps.settings
    assert settings.slack_bot_token is not None
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base_url,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def _services_middleware(
    deps: Deps,
) -> Callable[[AsyncBoltContext, Callable[[], Awaitable[BoltResponse]]], Awaitable[BoltResponse]]:
    """A bolt middleware that hands every listener the domain's services (in its context)."""

    async def provide_services(
        context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        context[SERVICES] = deps.services
        return await next()

    return provide_services


def build_slack(deps: Deps) -> SlackParts | None:
    """The Slack side of churnbot, or None when SLACK_BOT_TOKEN is not set."""
    settings = deps.settings
    token = settings.slack_bot_token.get_secret_value().strip() if settings.slack_bot_token else ""
    if not token:
        return None
    socket_mode = bool(settings.slack_app_token and settings.slack_app_token.get_secret_value())
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    if not socket_mode and not secret.strip():
        raise SettingsError(
            "SLACK_SIGNING_SECRET is not set: Slack over HTTP needs it to verify requests "
            "(or set SLACK_APP_TOKEN for Socket Mode)"
        )
    client = build_client(deps)
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("churnbot.slack"),
    )
    app.use(_services_middleware(deps))
    managers = settings.slack_manager_ids
    commands.register(app, name=settings.slack_command, managers=managers)
    alerts.register(app, managers=managers)
    commands.register_error_handler(app)

    handler = AsyncSlackRequestHandler(app)

    async def endpoint(request: Request) -> Response:
        return await handler.handle(request)

    routes = (
        [] if socket_mode else [Route(path, endpoint, methods=["POST"]) for path in SLACK_PATHS]
    )
    weekly = None
    if settings.slack_summary_channel:
        weekly = WeeklySummary(
            db=deps.db,
            clock=deps.clock,
            zone=settings.zone,
            schedule=Schedule.parse(settings.summary_schedule),
            channel=settings.slack_summary_channel,
            poster=SlackSummaryPoster(client),
        )
    return SlackParts(
        deps=deps,
        app=app,
        client=client,
        routes=routes,
        socket_mode=socket_mode,
        weekly=weekly,
    )


async def alert_for_invitation(deps: Deps, slack: SlackParts | None, invitation_id: int) -> bool:
    """Post the alert of a just-completed invitation (exit survey or detractor), if any.

    Never raises: an alert is best effort and must not break the customer's survey.
    """
    if slack is None:
        return False
    try:
        return await alerts.post_alert(
            deps.services, slack.client, deps.settings.slack_alerts_channel, invitation_id
        )
    except Exception:
        log.exception("alert for invitation %d failed", invitation_id)
        return False
