"""Real-time alerts to SLACK_ALERTS_CHANNEL and the select menu that corrects a category."""

from __future__ import annotations

import asyncio
import logging
from logging import Logger
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Deps
from storage.session import run_unit, transact
from surveys.reports.alerts import RELABEL_ACTION, alert_for, parse_relabel_block
from surveys.reports.commands import relabel_answer
from surveys.reports.render import category_label

log = logging.getLogger(__name__)


async def post_alert(deps: Deps, client: AsyncWebClient, invitation_id: int) -> bool:
    """Post the invitation's alert if it deserves one and a channel is set; True if posted."""
    channel = deps.settings.slack_alerts_channel
    if not channel:
        return False
    alert = await transact(deps.db, lambda session: alert_for(session, invitation_id))
    if alert is None:
        return False
    await client.chat_postMessage(
        channel=channel, text=alert.rendered.text, blocks=alert.rendered.blocks
    )
    log.info("posted the %s alert of invitation %d", alert.kind, invitation_id)
    return True


def register(app: AsyncApp, deps: Deps) -> None:
    """Add the handler of the alerts' category select menu."""
    managers = frozenset(deps.settings.slack_manager_ids)

    async def on_relabel(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, logger: Logger
    ) -> None:
        """Store a manager's correction of an alert's category."""
        await ack()
        user = body.get("user", {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        answer_id = parse_relabel_block(str(action.get("block_id", "")))
        category = (action.get("selected_option") or {}).get("value", "")
        if user not in managers:
            await respond(
                text="Only churnbot managers can correct categories.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        if answer_id is None:
            logger.warning("relabel action with a bad block_id from %s", user)
            return
        try:
            await asyncio.to_thread(
                run_unit,
                deps.db,
                lambda session: relabel_answer(
                    session=session,
                    answer_id=answer_id,
                    category=category,
                    corrected_by=f"slack:{user}",
                ),
            )
        except ValueError as error:
            await respond(text=str(error), response_type="ephemeral", replace_original=False)
            return
        await respond(
            text=f"<@{user}> set answer {answer_id} to *{category_label(category)}*.",
            response_type="in_channel",
            replace_original=False,
        )

    app.action(RELABEL_ACTION)(on_relabel)
