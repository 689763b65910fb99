"""The Slack app manifest matches what churnbot serves and needs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.slack_wiring import SLACK_PATHS

MANIFEST = Path(__file__).resolve().parents[3] / "slack-manifest.yml"


def test_manifest_points_every_url_at_a_path_churnbot_serves() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    urls = [
        command["url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    ]
    assert command["command"] == "/churn"
    assert sorted(urlparse(url).path for url in urls) == sorted(SLACK_PATHS)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_manifest_asks_for_exactly_the_bot_scopes_used() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "chat:write",
        "files:write",
        "commands",
    }
