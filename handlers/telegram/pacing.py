"""Pacing of outgoing messages to Telegram's overall limit (about 30 messages a second).

PTB's `AIORateLimiter` is a leaky bucket: with its default bucket of 30 it lets up to 60
messages through in some one-second windows, and with a bucket of one every wait is an
asyncio sleep whose overshoot adds up (27 messages/s measured for a 29.5/s setting). Here
each message gets a slot on an absolute schedule, one interval after the previous slot, so
the rate holds exactly and never bursts; a 429 that still comes is waited out and resent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Methods that put a message in a chat: what Telegram's flood limits count.
PACED_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendPhoto",
        "sendDocument",
        "copyMessage",
        "forwardMessage",
    }
)


class PacedRateLimiter(BaseRateLimiter[int]):
    def __init__(self, per_second: float, max_retries: int = 3) -> None:
        self._interval = 1.0 / per_second
        self._max_retries = max_retries
        self._next_slot = 0.0

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for this message's slot, then send; wait out a 429 and resend."""
        for attempt in range(self._max_retries + 1):
            if endpoint in PACED_METHODS:
                await self._wait_for_slot()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == self._max_retries:
                    raise
                delay = error.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                log.warning("Telegram asked to wait %.1f s before %s", seconds, endpoint)
                await asyncio.sleep(float(seconds) + 0.1)
        raise AssertionError("unreachable")

    async def _wait_for_slot(self) -> None:
        now = asyncio.get_running_loop().time()
        # Slots are taken in call order; one that is already past is not made up for,
        # so a pause never turns into a burst.
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)
