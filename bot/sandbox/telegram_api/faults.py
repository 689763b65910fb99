"""Fault injection and Telegram's flood control, as the stand-in plays them.

Queued failures, slow answers, blocked chats and one-second rate windows (global and per
chat) that answer 429 with `retry_after`. They share the stand-in's lock: the server's
thread checks them while a test's thread sets them.
"""

from __future__ import annotations

import http
import math
import threading
import time
from collections import deque
from typing import Any

from bot.sandbox.telegram_api.wire import ApiError

LIMITED_METHODS = frozenset({"sendMessage", "editMessageText", "sendPhoto", "sendDocument"})
BLOCKED = "Forbidden: bot was blocked by the user"


class Faults:
    """What goes wrong on purpose: set by tests, checked on every call."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._failures: dict[str, deque[ApiError]] = {}
        self._delays: dict[str, float] = {}
        self._blocked: set[int] = set()
        self._limits: tuple[int, int] | None = None
        self._window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = {}
        self._count_429 = 0

    def check(self, name: str, params: dict[str, Any]) -> None:
        """Raise the fault this call meets, if any (called with the lock held)."""
        queued = self._failures.get(name)
        if queued:
            raise queued.popleft()
        chat_id = params.get("chat_id")
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if self._limits is not None and name in LIMITED_METHODS:
            self._check_limits(chat_id)

    def _check_limits(self, chat_id: Any) -> None:
        """Sliding one-second windows, global and per chat, as Telegram's flood control."""
        now = time.monotonic()
        assert self._limits is not None
        chat_window = self._chat_windows.setdefault(chat_id, deque())
        for window, limit in zip((self._window, chat_window), self._limits, strict=True):
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                self._count_429 += 1
                retry_after = max(1, math.ceil(1.0 - (now - window[0])))
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._window.append(now)
        chat_window.append(now)

    def delay(self, method: str) -> float:
        """Seconds to hold back the answer to `method` (its effect happens at once)."""
        with self._cond:
            return self._delays.get(method, 0.0)

    @property
    def count_429(self) -> int:
        with self._cond:
            return self._count_429

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail; nothing else of them happens."""
        if description is None:
            description = http.HTTPStatus(status).phrase
            if retry_after is not None:
                description = f"Too Many Requests: retry after {retry_after}"
        with self._cond:
            queued = self._failures.setdefault(method, deque())
            queued.extend(ApiError(status, description, retry_after) for _ in range(count))

    def set_delay(self, method: str, seconds: float) -> None:
        """Answer ``method`` ``seconds`` late (0 to stop); the call still takes effect at once."""
        with self._cond:
            self._delays[method] = seconds

    def block_chat(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.discard(chat_id)

    def enforce_limits(self, global_per_second: int = 30, per_chat_per_second: int = 1) -> None:
        """Answer 429 with retry_after beyond these rates of sends and edits."""
        with self._cond:
            self._limits = (global_per_second, per_chat_per_second)
            self._window.clear()
            self._chat_windows.clear()

    def limits_off(self) -> None:
        with self._cond:
            self._limits = None
