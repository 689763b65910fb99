"""Wires the win-back offers outbox: Stripe, Telegram, Slack and the save webhook."""

from __future__ import annotations

from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler
from telegram import Bot

from bot.context import Deps
from bot.slack_wiring import SlackParts
from handlers.billing.stripe_billing import StripeBilling, stripe_client
from handlers.http.save_webhook import SignedSaveWebhook
from handlers.slack.saves import SlackTeamChannel
from handlers.telegram.offers import TelegramCustomerChannel
from surveys.offers import SaveDesk

SAVES_JOB_ID = "winback-offers-sweep"
SAVES_SWEEP_SECONDS = 30


def build_save_desk(deps: Deps, bot: Bot, slack: SlackParts | None) -> SaveDesk:
    settings = deps.settings
    billing = None
    if settings.stripe_enabled:
        assert settings.stripe_api_key is not None
        billing = StripeBilling(
            stripe_client(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base_url)
        )
    team = None
    if slack is not None and settings.slack_alerts_channel:
        team = SlackTeamChannel(slack.client, settings.slack_alerts_channel)
    webhook = None
    if settings.save_webhook_url:
        secret = settings.save_webhook_secret
        webhook = SignedSaveWebhook(
            settings.save_webhook_url, secret.get_secret_value() if secret else ""
        )
    return SaveDesk(
        db=deps.db,
        clock=deps.clock,
        messages=deps.surveys.messages,
        billing=billing,
        customers=TelegramCustomerChannel(bot),
        team=team,
        webhook=webhook,
    )


def add_job(
    scheduler: BaseScheduler,
    desk: SaveDesk,
    first_run: datetime,
    seconds: float = SAVES_SWEEP_SECONDS,
) -> None:
    """Accepted offers a crash or a Stripe outage left, and notices still waiting; the first
    run at start-up, so a restart finishes what the last run left."""
    scheduler.add_job(
        desk.sweep,
        "interval",
        seconds=seconds,
        id=SAVES_JOB_ID,
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
        replace_existing=True,
    )
