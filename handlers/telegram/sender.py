"""Sends survey prompts with the Telegram Bot API and maps its errors to the domain's."""

from __future__ import annotations

import httpx
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from handlers.telegram.pacing import retry_after_seconds
from handlers.telegram.render import keyboard
from handlers.telegram.request import RequestNotSent
from surveys.delivery import DeliveryUncertain, RecipientUnreachable, TemporaryFailure
from surveys.replies import Prompt

UNREACHABLE_MARKERS = ("chat not found", "user is deactivated", "bot was blocked")


class TelegramSender:
    """The `Sender` of `surveys.delivery`, on python-telegram-bot."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, chat_id: int, prompt: Prompt) -> int:
        try:
            message = await self._bot.send_message(
                chat_id=chat_id, text=prompt.text, reply_markup=keyboard(prompt.buttons)
            )
        except Forbidden as error:
            raise RecipientUnreachable(error.message) from error
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            raise TemporaryFailure("rate limited", retry_after=seconds) from error
        except TimedOut as error:
            if _not_sent(error):
                raise TemporaryFailure(f"not sent: {error.message}") from error
            raise DeliveryUncertain(f"timed out: {error.message}") from error
        except BadRequest as error:
            if any(marker in error.message.lower() for marker in UNREACHABLE_MARKERS):
                raise RecipientUnreachable(error.message) from error
            raise
        except NetworkError as error:
            if error.__cause__ is None or _not_sent(error):
                # Telegram answered with a server error, or we never reached it: not sent.
                raise TemporaryFailure(error.message) from error
            # The connection broke while the request was under way: it may have arrived.
            raise DeliveryUncertain(f"network error: {error.message}") from error
        return message.message_id


def _not_sent(error: NetworkError) -> bool:
    """Whether the transport failed before the request left (no pooled connection free,
    or none could be made): churnbot's aiohttp transport says so with `RequestNotSent`;
    PTB's httpx one with httpx's exception types."""
    return isinstance(
        error.__cause__,
        RequestNotSent | httpx.PoolTimeout | httpx.ConnectError | httpx.ConnectTimeout,
    )
