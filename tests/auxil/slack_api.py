"""The Slack Web API stand-in now ships with churnbot (bot/sandbox); re-exported for tests."""

from bot.sandbox.slack_api import (
    APP_TOKEN,
    TOKEN,
    FakeSlack,
    SlackCall,
    SlackServer,
    signed_headers,
)

__all__ = [
    "APP_TOKEN",
    "TOKEN",
    "FakeSlack",
    "SlackCall",
    "SlackServer",
    "signed_headers",
]
