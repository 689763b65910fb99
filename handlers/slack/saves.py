"""Alerts about accepted win-back offers in SLACK_ALERTS_CHANNEL (the `TeamChannel`)."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient


class SlackTeamChannel:
    def __init__(self, client: AsyncWebClient, channel: str) -> None:
        self._client = client
        self._channel = channel

    async def post(self, text: str) -> None:
        """`text` is mrkdwn with everything from outside already escaped."""
        await self._client.chat_postMessage(
            channel=self._channel, text=text, unfurl_links=False, unfurl_media=False
        )
