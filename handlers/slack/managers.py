"""Who may use churnbot's manager features in Slack: one bolt listener middleware.

Every manager listener (the slash command, the alerts' category menu) is registered with
`middleware=[managers_only(ids)]`, so the check is written once and a listener only runs
for a manager. A refusal is the acknowledgement itself: a slash command's ack carries the
ephemeral refusal (Slack shows it at once and nothing else happens). A block action's ack
cannot carry text, so the refusal goes to the action's `response_url`; bolt sends a
middleware's ack only when the middleware returns, so that one short POST comes first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from logging import Logger
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse

REFUSAL = "Sorry, only churnbot managers can use this. Ask an admin to add you."

ManagerMiddleware = Callable[..., Awaitable[BoltResponse | None]]


def is_manager(manager_ids: Collection[str], user_id: str | None) -> bool:
    """True for the Slack users listed in SLACK_MANAGER_IDS (and nobody when it is empty)."""
    return bool(user_id) and user_id in manager_ids


def managers_only(manager_ids: Collection[str]) -> ManagerMiddleware:
    """A listener middleware that lets managers through and refuses everybody else."""
    allowed = frozenset(manager_ids)

    async def check_manager(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        logger: Logger,
        next_: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        """Run the listener for a manager; answer anybody else with the refusal."""
        user = context.user_id
        if is_manager(allowed, user):
            await next_()
            return None
        what = body.get("command") or body.get("type") or "request"
        logger.info("refused %s from non-manager %s", what, user)
        if body.get("command"):
            return await ack(text=REFUSAL, response_type="ephemeral")
        acknowledged = await ack()
        if body.get("response_url"):
            await respond(text=REFUSAL, response_type="ephemeral", replace_original=False)
        return acknowledged

    return check_manager
