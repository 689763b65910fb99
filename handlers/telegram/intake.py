"""Long polling with bounded intake: a backlog stays in Telegram until there is room for it.

PTB's `Updater` fetches 100 updates per `getUpdates` and puts them in an unbounded queue
as fast as Telegram hands them over; behind a few concurrent handlers, a backlog after an
outage is parsed into memory whole (5,000 taps added 49 MB that was never returned). This
poller asks only for as many updates as there is room for: at most `bound` updates are
fetched and not yet handled at any time, and it does not poll while that many wait.

Each update is handed to `Application.process_update` through the application's own
`update_processor` (so `concurrent_updates` still limits how many run at once), in a task
of its own. The offset, which confirms updates to Telegram, moves past an update only once
it has been handed over, as PTB's updater does; at stop the poller waits for the updates
handed over to finish and confirms them with one last `getUpdates`, so a restart fetches
nothing twice. Only public PTB API is used: `Bot.get_updates`, `Bot.delete_webhook`,
`Application.process_update` and `BaseUpdateProcessor.process_update`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import (
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application

log = logging.getLogger(__name__)

# Updates fetched and not yet handled, at most. Telegram hands out at most 100 per call.
INTAKE_BOUND = 100
MAX_PER_CALL = 100
POLL_TIMEOUT = timedelta(seconds=10)
# Back-off after a failed getUpdates: doubles from the first to the last.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_LAST_SECONDS = 30.0


class BoundedPolling:
    """Fetch updates with `getUpdates` only while fewer than `bound` are being handled."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        *,
        bound: int = INTAKE_BOUND,
        allowed_updates: Sequence[str] | None = None,
        poll_timeout: timedelta = POLL_TIMEOUT,
    ) -> None:
        if bound < 1:
            raise ValueError("the intake bound must be at least 1")
        self._application = application
        self._bound = bound
        self._allowed_updates = list(allowed_updates) if allowed_updates is not None else None
        self._poll_timeout = poll_timeout
        self._offset: int | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Updates fetched and not yet handled."""
        return len(self._in_flight)

    async def start(self, *, drop_pending_updates: bool = False) -> None:
        """Remove any webhook (getUpdates refuses to work beside one), then poll."""
        await self._application.bot.delete_webhook(drop_pending_updates=drop_pending_updates)
        self._task = asyncio.create_task(self._poll(), name="churnbot:bounded-polling")

    async def stop(self) -> None:
        """Stop fetching, let the updates handed over finish, confirm them to Telegram."""
        if self._task is not None:
            self._task.cancel()
            # A task that ended with an error has logged it already.
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._offset is not None:
            try:
                await self._application.bot.get_updates(
                    offset=self._offset,
                    limit=1,
                    timeout=timedelta(0),
                    allowed_updates=self._allowed_updates,
                )
            except Exception:
                log.warning(
                    "could not confirm the last updates to Telegram; they may come again",
                    exc_info=True,
                )

    async def _poll(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while True:
            room = await self._wait_for_room()
            try:
                updates = await self._application.bot.get_updates(
                    offset=self._offset,
                    limit=min(room, MAX_PER_CALL),
                    timeout=self._poll_timeout,
                    allowed_updates=self._allowed_updates,
                )
            except InvalidToken:
                log.critical("Telegram rejected the bot token; polling stops")
                raise
            except TimedOut:
                continue  # a long poll that outlived the read timeout: poll again
            except (Conflict, NetworkError, RetryAfter) as error:
                log.warning("getUpdates failed (%s); retrying in %.1f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_LAST_SECONDS)
                continue
            backoff = BACKOFF_FIRST_SECONDS
            for update in updates:
                self._hand_over(update)
                self._offset = update.update_id + 1

    async def _wait_for_room(self) -> int:
        """Wait until fewer than `bound` updates are being handled; return the room."""
        while len(self._in_flight) >= self._bound:
            self._room.clear()
            await self._room.wait()
        return self._bound - len(self._in_flight)

    def _hand_over(self, update: Update) -> None:
        application = self._application
        task = asyncio.create_task(
            application.update_processor.process_update(update, application.process_update(update))
        )
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # process_update hands handler errors to the error handlers; this is PTB's own.
            log.error("processing an update failed", exc_info=task.exception())
        self._room.set()
