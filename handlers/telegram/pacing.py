"""Pacing of outgoing messages to Telegram's overall limit (about 30 messages a second).

PTB's `AIORateLimiter` is a leaky bucket: with its default bucket of 30 it lets up to 60
messages through in some one-second windows, and with a bucket of one every wait is an
asyncio sleep whose overshoot adds up (27 messages/s measured for a 29.5/s setting).

Each message gets a slot on an absolute schedule, one interval after the previous slot,
so the rate holds and never bursts. A schedule alone is not enough: Telegram counts
requests per window as they reach it, and a request delayed on its way (a busy event loop
on either side, the machine's scheduler) lands closer to the next ones than it left; 94 ms
of such delay was measured against the local stand-in, more than any margin a 29/s pace can
afford (30 intervals of 1/29.3 s leave 24 ms). So the pacer also keeps the last 30 paced
requests and lets a message leave only a second after the 30th before it was *answered*:
Telegram counted that one no later than it answered, and counts this one no earlier than
it leaves, so no one-second window can see more than 30, whatever the delays. A 429 that
still comes is waited out and resent.
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

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


# Telegram's overall limit: no more than this many messages in any one-second window.
WINDOW_LIMIT = 30
WINDOW_SECONDS = 1.0
# For the timer's granularity; the answer time already bounds every delay on the way.
WINDOW_MARGIN_SECONDS = 0.005
# How far behind its schedule the pacer may run and still catch up.
CATCH_UP_SECONDS = 0.2
# ... at this fraction of the interval between messages.
CATCH_UP_SPACING = 0.75


class PacedRateLimiter(BaseRateLimiter[int]):
    """Slots at `per_second`; and a message leaves only `window_seconds` (+ a margin)
    after the request `window_limit` places before it was answered (by default 30, or
    `per_second` rounded up if higher)."""

    def __init__(
        self,
        per_second: float,
        max_retries: int = 3,
        *,
        window_limit: int | None = None,
        window_seconds: float = WINDOW_SECONDS,
        margin: float = WINDOW_MARGIN_SECONDS,
    ) -> None:
        self._interval = 1.0 / per_second
        self._max_retries = max_retries
        self._window = window_seconds + margin
        limit = window_limit or max(WINDOW_LIMIT, math.ceil(per_second))
        # Futures of the last `limit` paced requests, resolved with the loop time at which
        # each was answered (or failed).
        self._recent: deque[asyncio.Future[float]] = deque(maxlen=limit)
        self._ideal = 0.0  # the next slot on the absolute schedule
        self._last_start = 0.0
        self._turn: asyncio.Lock | None = None

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
        """Wait for this message's turn, then send; wait out a 429 and resend."""
        paced = endpoint in PACED_METHODS
        for attempt in range(self._max_retries + 1):
            answered = await self._wait_for_turn() if paced else None
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if attempt == self._max_retries:
                    raise
                _resolve(answered)
                seconds = retry_after_seconds(error)
                log.warning("Telegram asked to wait %.1f s before %s", seconds, endpoint)
                await asyncio.sleep(seconds + 0.1)
            finally:
                # Answered, failed or cancelled: from now on it counts as arrived.
                _resolve(answered)
        raise AssertionError("unreachable")

    async def _wait_for_turn(self) -> asyncio.Future[float]:
        """Wait for the next slot and for room in the window; return the future to resolve
        when this request is answered."""
        loop = asyncio.get_running_loop()
        # Turns are taken one at a time in call order (asyncio.Lock is fair).
        if self._turn is None:
            self._turn = asyncio.Lock()
        async with self._turn:
            recent = self._recent
            if len(recent) == recent.maxlen:
                # Shield: a caller cancelled while waiting must not cancel the request.
                window_opens = await asyncio.shield(recent[0]) + self._window
            else:
                window_opens = 0.0
            now = loop.time()
            # Slots missed in a short pause (a batch being claimed) are made up for a
            # little faster than the pace, within the window; older ones are forgotten, so a pause
            # never turns into a burst.
            ideal = max(self._ideal, now - CATCH_UP_SECONDS) if self._recent else now
            slot = max(ideal, self._last_start + self._interval * CATCH_UP_SPACING)
            self._ideal = ideal + self._interval
            ready = max(slot, window_opens)
            if ready > now:
                await asyncio.sleep(ready - now)
            self._last_start = loop.time()
            answered: asyncio.Future[float] = loop.create_future()
            recent.append(answered)
            return answered


def _resolve(answered: asyncio.Future[float] | None) -> None:
    if answered is not None and not answered.done():
        answered.set_result(asyncio.get_running_loop().time())


def retry_after_seconds(error: RetryAfter) -> float:
    """The seconds Telegram asked us to wait, read through `RetryAfter.retry_after`.

    PTB 22 gives it as int seconds with a deprecation warning, or as a `timedelta` where the
    process opted in (PTB_TIMEDELTA) and, in a future major version, always. Both are taken,
    so the warning about the coming type says nothing new here and is silenced for this read
    only (no await inside, so no other task runs under the filter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
