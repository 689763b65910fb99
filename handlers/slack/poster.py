"""Posts the weekly summary with slack_sdk, telling sure failures from unknown outcomes."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from surveys.reports.render import Rendered
from surveys.reports.weekly import PostFailed, PostUncertain

CHART_FILENAME = "churn-reasons.png"


def _translate(error: Exception, what: str) -> Exception:
    """Slack's own error answer or a refused connection: nothing was posted. A timeout or a
    dropped connection: Slack may have posted it."""
    if isinstance(error, SlackApiError):
        return PostFailed(f"{what}: {error.response.get('error', error)}")
    if isinstance(error, SlackRequestError | aiohttp.ClientConnectorError):
        return PostFailed(f"{what}: {error}")
    return PostUncertain(f"{what}: {type(error).__name__}: {error}")


class SlackSummaryPoster:
    """The `SummaryPoster` of surveys.reports.weekly, over an AsyncWebClient."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post_message(self, channel: str, rendered: Rendered) -> str:
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                text=rendered.text,
                blocks=rendered.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except (TimeoutError, SlackApiError, SlackRequestError, aiohttp.ClientError) as e:
            raise _translate(e, "chat.postMessage") from e
        return str(response["ts"])

    async def upload_chart(self, channel: str, png: bytes, thread_ts: str, title: str) -> None:
        try:
            await self.client.files_upload_v2(
                channel=channel,
                file=png,
                filename=CHART_FILENAME,
                title=title,
                thread_ts=thread_ts,
            )
        except (TimeoutError, SlackApiError, SlackRequestError, aiohttp.ClientError) as e:
            raise _translate(e, "files_upload_v2") from e
