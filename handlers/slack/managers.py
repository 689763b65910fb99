"""Who may use churnbot's manager features in Slack: the one check every listener uses."""

from __future__ import annotations

from collections.abc import Collection

REFUSAL = "Sorry, only churnbot managers can use this. Ask an admin to add you."


def is_manager(managers: Collection[str], user_id: str) -> bool:
    """True for the Slack users listed in SLACK_MANAGER_IDS (and nobody when it is empty)."""
    return bool(user_id) and user_id in managers
