"""The real churnbot application (PTB, delivery job, HTTP server) running against the
Telegram stand-in, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.app import serve
from bot.context import Deps
from bot.wiring import build_deps
from tests.auxil.environment import make_settings
from tests.auxil.telegram_api import FakeTelegram, TelegramServer


@dataclass(frozen=True)
class RunningBot:
    deps: Deps
    fake: FakeTelegram
    http_url: str


@asynccontextmanager
async def run_bot(
    telegram_server: TelegramServer, database_url: str, **overrides: object
) -> AsyncIterator[RunningBot]:
    """The real application (PTB, delivery job, HTTP server) against the stand-in."""
    settings = make_settings(
        database_url,
        telegram_api_base_url=telegram_server.base_url,
        telegram_api_file_url=telegram_server.base_file_url,
        **overrides,
    )
    deps = await asyncio.to_thread(build_deps, settings)
    stop = asyncio.Event()
    ports: list[int] = []
    task = asyncio.create_task(serve(deps, stop, handle_signals=False, on_ready=ports.append))
    fake = telegram_server.fake
    await fake.async_wait_for(lambda _: bool(ports) or task.done(), timeout=20)
    if task.done():
        task.result()
    try:
        yield RunningBot(deps, fake, f"http://127.0.0.1:{ports[0]}")
    finally:
        stop.set()
        fake.release_polls()
        await asyncio.wait_for(task, timeout=15)
        deps.db.dispose()
