"""Helpers for driving the `churnbot` command line in tests (CliRunner)."""

from __future__ import annotations

from collections.abc import Callable

from click.testing import Result

SECRET = "cli-test-secret"
BOT_USERNAME = "churnbot_cli_bot"
# Settings the CLI would otherwise pick up from the developer's environment.
FOREIGN_SETTINGS = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_BASE_URL",
    "TIMEZONE",
    "SURVEY_DEFINITIONS_DIR",
    "LINK_TOKEN_DAYS",
    "QUIET_HOURS",
    "EVENTS_API_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_SUMMARY_CHANNEL",
    "TELEGRAM_WEBHOOK_URL",
    "LOG_LEVEL",
    "LOG_CUSTOMER_TEXT",
    "SUMMARY_SCHEDULE",
    "SANDBOX_PORT",
    "HTTP_HOST",
    "HTTP_PORT",
)

Invoke = Callable[..., Result]
