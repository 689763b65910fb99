"""Real-time alerts to SLACK_ALERTS_CHANNEL and the select menu that corrects a category.

An alert is claimed in slack_alert before it is posted, so the handler that saw the survey
finish and the periodic sweep (which also finds surveys that expired half-answered) never
both post it. A relabel re-renders the alert from the database and updates it in place.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from logging import Logger
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.context import Deps
from handlers.slack.managers import managers_only
from storage.models import SlackAlertStatus
from storage.queries import alerts as alert_queries
from storage.session import transact
from surveys.definition import SurveyRoles
from surveys.reports import blocks
from surveys.reports.alerts import (
    RELABEL_ACTION,
    alert_for,
    claim_alert,
    invitation_of_answer,
    parse_relabel_block,
)
from surveys.reports.commands import relabel_answer
from surveys.reports.render import category_label

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
SWEEP_LOOKBACK = timedelta(days=2)  # a finished survey older than this is not alerted late
SWEEP_BATCH = 50


async def post_alert(deps: Deps, client: AsyncWebClient, invitation_id: int) -> bool:
    """Post the invitation's alert if it deserves one, a channel is set and nobody else has
    posted or is posting it; True if this call posted it."""
    channel = deps.settings.slack_alerts_channel
    if not channel:
        return False
    now = deps.clock()
    roles = SurveyRoles.of(deps.definitions)
    alert = await transact(
        deps.db, lambda session: claim_alert(session, invitation_id, roles, now=now)
    )
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
        await _record_refusal(deps, invitation_id, f"{type(error).__name__}: {error}")
        raise
    except Exception as error:
        # A timeout or dropped connection: Slack may have posted it; never post it twice.
        await _record(deps, invitation_id, SlackAlertStatus.SENDING, error=repr(error))
        raise
    await _record(
        deps,
        invitation_id,
        SlackAlertStatus.POSTED,
        channel=str(response.get("channel") or channel),
        message_ts=str(response["ts"]),
    )
    log.info("posted the %s alert of invitation %d", alert.kind, invitation_id)
    return True


async def _record(
    deps: Deps, invitation_id: int, status: SlackAlertStatus, **values: str | None
) -> None:
    now = deps.clock()
    await transact(
        deps.db,
        lambda session: alert_queries.record_outcome(
            session=session, invitation_id=invitation_id, status=status, now=now, **values
        ),
    )


async def _record_refusal(deps: Deps, invitation_id: int, error: str) -> None:
    now = deps.clock()

    def work(session: Any) -> None:
        attempts = alert_queries.attempts_of(session=session, invitation_id=invitation_id)
        status = SlackAlertStatus.RETRY if attempts < MAX_ATTEMPTS else SlackAlertStatus.FAILED
        alert_queries.record_outcome(
            session=session, invitation_id=invitation_id, status=status, now=now, error=error
        )

    await transact(deps.db, work)


async def sweep(deps: Deps, client: AsyncWebClient) -> int:
    """Alert what finished or expired recently without an alert yet; return how many posted.

    Catches surveys that expired half-answered, alerts lost to a crash between the answer
    and the post, and alerts Slack refused."""
    if not deps.settings.slack_alerts_channel:
        return 0
    since = deps.clock() - SWEEP_LOOKBACK
    ids = await transact(
        deps.db,
        lambda session: alert_queries.undecided(session=session, since=since, limit=SWEEP_BATCH),
    )
    posted = 0
    for invitation_id in ids:
        try:
            posted += await post_alert(deps, client, invitation_id)
        except Exception:
            log.exception("alert for invitation %d failed", invitation_id)
    return posted


async def refresh_alert(
    deps: Deps, client: AsyncWebClient, answer_id: int, where: tuple[str, str] | None = None
) -> bool:
    """Re-render the alert that shows `answer_id` and update it in place (`chat.update`).

    `where` is the (channel, ts) of the message, when the caller knows it (the select menu
    was on it); otherwise the stored alert of the answer's invitation is used."""

    def work(session: Any) -> tuple[Any, tuple[str, str] | None]:
        invitation_id = invitation_of_answer(session, answer_id)
        if invitation_id is None:
            return None, None
        stored = alert_queries.posted(session=session, invitation_id=invitation_id)
        found = None
        if stored is not None and stored.channel and stored.message_ts:
            found = (stored.channel, stored.message_ts)
        return alert_for(session, invitation_id, SurveyRoles.of(deps.definitions)), where or found

    alert, target = await transact(deps.db, work)
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


def register(app: AsyncApp, deps: Deps) -> None:
    """Add the handler of the alerts' category select menu (managers only)."""

    async def on_relabel(
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        logger: Logger,
    ) -> None:
        """Store a manager's correction of an alert's category and show it on the alert."""
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        action = (body.get("actions") or [{}])[0]
        answer_id = parse_relabel_block(str(action.get("block_id", "")))
        category = str((action.get("selected_option") or {}).get("value", ""))
        if answer_id is None:
            logger.warning("relabel action with a bad block_id from %s", user)
            return
        try:
            await transact(
                deps.db,
                lambda session: relabel_answer(
                    session=session,
                    answer_id=answer_id,
                    category=category,
                    corrected_by=f"slack:{user}",
                ),
            )
        except ValueError as error:
            await respond(
                text=blocks.escape(str(error), 300),
                response_type="ephemeral",
                replace_original=False,
            )
            return
        channel = str((body.get("channel") or {}).get("id") or "")
        ts = str((body.get("message") or {}).get("ts") or "")
        await refresh_alert(deps, client, answer_id, (channel, ts) if channel and ts else None)
        await respond(
            text=(
                f"{blocks.mention(user)} set answer {answer_id} to "
                f"*{blocks.escape(category_label(category))}*."
            ),
            response_type="in_channel",
            replace_original=False,
        )

    managers = managers_only(deps.settings.slack_manager_ids)
    app.action(RELABEL_ACTION, middleware=[managers])(on_relabel)
