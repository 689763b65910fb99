"""The managers' slash command (`/churn` by default): acknowledge, check, answer later."""

from __future__ import annotations

from collections.abc import Collection
from logging import Logger
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack.alerts import refresh_alert
from handlers.slack.context import services_of
from handlers.slack.managers import REFUSAL, is_manager
from surveys.reports.blocks import clip, escape
from surveys.reports.commands import UsageError

ERROR_LIMIT = 1000  # a usage answer never repeats more than this of what was typed


def register(app: AsyncApp, *, name: str, managers: Collection[str]) -> None:
    """Add the slash command `name` (SLACK_COMMAND) for the Slack users `managers`."""

    async def on_command(
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
        logger: Logger,
    ) -> None:
        """Refuse non-managers at once; otherwise acknowledge, run, and respond."""
        user = command.get("user_id", "")
        if not is_manager(managers, user):
            logger.info("refused %s from non-manager %s", name, user)
            await ack(text=REFUSAL, response_type="ephemeral")
            return
        await ack()
        services = services_of(context)
        reports = services.reports
        text = command.get("text") or ""
        try:
            rendered = await reports.run_command(text, user=f"slack:{user}", now=services.clock())
        except UsageError as error:
            await respond(text=escape(clip(str(error), ERROR_LIMIT)), response_type="ephemeral")
            return
        await respond(text=rendered.text, blocks=rendered.blocks, response_type="ephemeral")
        if (answer_id := reports.commands.relabel_target(text)) is not None:
            await refresh_alert(services, client, answer_id)

    app.command(name)(on_command)


async def on_error(error: Exception, body: dict[str, Any], logger: Logger, respond: Any) -> None:
    """Log every failure with its traceback, then tell the user briefly (when we can)."""
    logger.error(
        "Slack request failed: %s", body.get("command") or body.get("type"), exc_info=error
    )
    if respond is not None and body.get("response_url"):
        await respond(
            text="Sorry, that failed on our side; it has been logged.", response_type="ephemeral"
        )


def register_error_handler(app: AsyncApp) -> None:
    app.error(on_error)
