"""Fixtures for end-to-end tests: real libraries over real HTTP against local stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import serve
from bot.context import Deps
from bot.wiring import build_deps
from tests.auxil.slack_api import SlackServer
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.conftest import make_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an end-to-end test, marked or not, so that
    `pytest -m "not e2e"` leaves them all out."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def telegram_server() -> Iterator[TelegramServer]:
    """A fresh Telegram stand-in per test, so no test sees another's messages."""
    with TelegramServer() as server:
        yield server


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    """A fresh Slack stand-in per test."""
    with SlackServer() as server:
        yield server


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


@pytest.fixture
async def running_bot(
    telegram_server: TelegramServer, database_url: str
) -> AsyncIterator[RunningBot]:
    async with run_bot(telegram_server, database_url) as bot:
        yield bot
