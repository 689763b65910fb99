"""Who may use churnbot's manager features in Slack: the one check every listener uses."""

from __future__ import annotations

from bot.context import Deps

REFUSAL = "Sorry, only churnbot managers can use this. Ask an admin to add you."


def is_manager(deps: Deps, user_id: str) -> bool:
    """True for the Slack users listed in SLACK_MANAGER_IDS (and nobody when it is empty)."""
    return bool(user_id) and user_id in deps.settings.slack_manager_ids
