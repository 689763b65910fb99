"""Real-time alerts to SLACK_ALERTS_CHANNEL and the select menu that corrects a category.

An alert is claimed in slack_alert before it is posted, so the handler that saw the survey
finish and the periodic sweep (which also finds surveys that expired half-answered) never
both post it. A relabel re-renders the alert from the database and updates it in place.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from logging import Logger
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack.context import services_of
from handlers.slack.managers import REFUSAL, is_manager
from surveys.reports import blocks
from surveys.reports.alerts import RELABEL_ACTION, parse_relabel_block
from surveys.reports.render import category_label
from surveys.services import Services

log = logging.getLogger(__name__)

SWEEP_LOOKBACK = timedelta(days=2)  # a finished survey older than this is not alerted late
SWEEP_BATCH = 50


async def post_alert(
    services: Services, client: AsyncWebClient, channel: str | None, invitation_id: int
) -> bool:
    """Post the invitation's alert if it deserves one, a channel is set and nobody else has
    posted or is posting it; True if this call posted it."""
    if not channel:
        return False
    alert = await services.alerts.claim(invitation_id)
    if alert is None:
        return False
    try:
        response = await client.chat_postMessage(
            channel=channel,
            text=alert.rendered.text,
            blocks=alert.rendered.blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
    except (SlackApiError, SlackRequestError, aiohttp.ClientConnectorError) as error:
        # Slack said no, or we never reached it: nothing was posted, try again later.
        await services.alerts.refused(invitation_id, error=f"{type(error).__name__}: {error}")
        raise
    except Exception as error:
        # A timeout or dropped connection: Slack may have posted it; never post it twice.
        await services.alerts.uncertain(invitation_id, error=repr(error))
        raise
    await services.alerts.posted(
        invitation_id,
        channel=str(response.get("channel") or channel),
        message_ts=str(response["ts"]),
    )
    log.info("posted the %s alert of invitation %d", alert.kind, invitation_id)
    return True


async def sweep(services: Services, client: AsyncWebClient, channel: str | None) -> int:
    """Alert what finished or expired recently without an alert yet; return how many posted.

    Catches surveys that expired half-answered, alerts lost to a crash between the answer
    and the post, and alerts Slack refused."""
    if not channel:
        return 0
    since = services.clock() - SWEEP_LOOKBACK
    ids = await services.alerts.undecided(since=since, limit=SWEEP_BATCH)
    posted = 0
    for invitation_id in ids:
        try:
            posted += await post_alert(services, client, channel, invitation_id)
        except Exception:
            log.exception("alert for invitation %d failed", invitation_id)
    return posted


async def refresh_alert(
    services: Services,
    client: AsyncWebClient,
    answer_id: int,
    where: tuple[str, str] | None = None,
) -> bool:
    """Re-render the alert that shows `answer_id` and update it in place (`chat.update`).

    `where` is the (channel, ts) of the message, when the caller knows it (the select menu
    was on it); otherwise the stored alert of the answer's invitation is used."""
    alert, found = await services.alerts.of_answer(answer_id)
    target = where or found if alert is not None else None
    if alert is None or target is None:
        return False
    channel, ts = target
    try:
        await client.chat_update(
            channel=channel, ts=ts, text=alert.rendered.text, blocks=alert.rendered.blocks
        )
    except SlackApiError as error:
        # Deleted, or too old to edit: the correction is stored all the same.
        log.warning("alert of answer %d not updated: %s", answer_id, error.response.get("error"))
        return False
    return True


def register(app: AsyncApp, *, managers: Collection[str]) -> None:
    """Add the handler of the alerts' category select menu, for the Slack users `managers`."""

    async def on_relabel(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        context: AsyncBoltContext,
        logger: Logger,
    ) -> None:
        """Store a manager's correction of an alert's category and show it on the alert."""
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        action = (body.get("actions") or [{}])[0]
        answer_id = parse_relabel_block(str(action.get("block_id", "")))
        category = str((action.get("selected_option") or {}).get("value", ""))
        if not is_manager(managers, user):
            await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
            return
        if answer_id is None:
            logger.warning("relabel action with a bad block_id from %s", user)
            return
        services = services_of(context)
        try:
            await services.reports.relabel(
                answer_id=answer_id, category=category, corrected_by=f"slack:{user}"
            )
        except ValueError as error:
            await respond(
                text=blocks.escape(blocks.clip(str(error), 300)),
                response_type="ephemeral",
                replace_original=False,
            )
            return
        channel = str((body.get("channel") or {}).get("id") or "")
        ts = str((body.get("message") or {}).get("ts") or "")
        await refresh_alert(services, client, answer_id, (channel, ts) if channel and ts else None)
        await respond(
            text=(
                f"{blocks.mention(user)} set answer {answer_id} to "
                f"*{blocks.escape(category_label(category))}*."
            ),
            response_type="in_channel",
            replace_original=False,
        )

    app.action(RELABEL_ACTION)(on_relabel)
