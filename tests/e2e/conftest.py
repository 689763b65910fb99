"""Fixtures for end-to-end tests: real libraries over real HTTP against local stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.auxil.running_bot import RunningBot, run_bot
from tests.auxil.slack_api import SlackServer
from tests.auxil.telegram_api import TelegramServer


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


@pytest.fixture
async def running_bot(
    telegram_server: TelegramServer, database_url: str
) -> AsyncIterator[RunningBot]:
    async with run_bot(telegram_server, database_url) as bot:
        yield bot
