"""Waiting, from a coroutine, for a stand-in to reach a state (tests and the demo)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


async def poll_until(
    lock: AbstractContextManager[Any],
    holds: Callable[[], bool],
    describe: Callable[[], str],
    timeout: float,  # noqa: ASYNC109 - the failure message shows the stand-in's traffic
) -> None:
    """Check `holds()` under `lock` every 10 ms with asyncio.sleep, so a bot on the same
    loop keeps running; fail with `describe()` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with lock:
            if holds():
                return
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout}s\n{describe()}")
        await asyncio.sleep(0.01)
