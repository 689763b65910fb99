"""Fixtures for end-to-end tests: real libraries over real HTTP against local stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.app import serve
from bot.context import Deps
from bot.wiring import build_deps
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.conftest import make_settings


@pytest.fixture
def telegram_server() -> Iterator[TelegramServer]:
    """A fresh Telegram stand-in per test, so no test sees another's messages."""
    with TelegramServer() as server:
        yield server


@pytest.fixture
async def running_bot(
    telegram_server: TelegramServer, database_url: str
) -> AsyncIterator[tuple[Deps, FakeTelegram]]:
    """The real application (PTB polling + delivery job) against the stand-in, in this loop."""
    settings = make_settings(
        database_url,
        telegram_api_base_url=telegram_server.base_url,
        telegram_api_file_url=telegram_server.base_file_url,
    )
    deps = await asyncio.to_thread(build_deps, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(deps, stop, handle_signals=False))
    fake = telegram_server.fake
    await fake.async_wait_for(lambda f: bool(f.calls("getUpdates")) or task.done())
    if task.done():
        task.result()
    yield deps, fake
    stop.set()
    fake.release_polls()
    await asyncio.wait_for(task, timeout=15)
    deps.db.dispose()
