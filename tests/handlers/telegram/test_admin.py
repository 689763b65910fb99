"""/stats and /reasons in Telegram through the real python-telegram-bot stack and stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from telegram.ext import ApplicationBuilder

from bot.context import Deps
from bot.wiring import build_deps
from handlers.telegram import admin
from handlers.telegram.context import CONTEXT_TYPES, provide
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.conftest import FakeClock, make_settings
from tests.surveys.reports.dataset import build

pytestmark = pytest.mark.e2e

ADMIN, CUSTOMER = 4242, 777
NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)


@pytest.fixture
def telegram() -> Iterator[TelegramServer]:
    with TelegramServer() as server:
        yield server


@pytest.fixture
def admin_deps(database_url: str, telegram: TelegramServer) -> Iterator[Deps]:
    settings = make_settings(
        database_url,
        telegram_api_base_url=telegram.base_url,
        telegram_api_file_url=telegram.base_file_url,
        telegram_admin_ids=str(ADMIN),
    )
    deps = build_deps(settings, clock=FakeClock(NOW))
    build(deps.db)
    yield deps
    deps.db.dispose()


@pytest.fixture
async def bot(admin_deps: Deps, telegram: TelegramServer) -> AsyncIterator[FakeTelegram]:
    settings = admin_deps.settings
    application = (
        ApplicationBuilder()
        .token(settings.require_bot_token())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(CONTEXT_TYPES)
        .build()
    )
    provide(application, admin_deps.services)
    admin.register(application, admins=settings.telegram_admin_ids)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield telegram.fake
        finally:
            telegram.fake.release_polls()
            await asyncio.wait_for(application.updater.stop(), timeout=10)
            await application.stop()


async def reply_to(fake: FakeTelegram, chat_id: int, text: str, **kw: object) -> str:
    fake.push_message(chat_id, text, **kw)  # type: ignore[arg-type]
    (*_, message) = await fake.async_wait_for_messages(chat_id, 1)
    return message["text"]


async def test_admin_gets_the_figures_of_the_period(bot: FakeTelegram) -> None:
    text = await reply_to(bot, ADMIN, "/stats 2026-W46")
    assert text.startswith("Churn figures · 2026-W46")
    assert "churn rate = L / S = 4 / 11 x 100 = 36.4%" in text


async def test_admin_gets_the_reasons_of_the_period(bot: FakeTelegram) -> None:
    text = await reply_to(bot, ADMIN, "/reasons 2026-W46")
    assert "Price: 1 (25.0%, ↓ -1)" in text


async def test_a_non_admin_gets_the_customer_help_not_figures(
    bot: FakeTelegram, admin_deps: Deps
) -> None:
    text = await reply_to(bot, CUSTOMER, "/stats 2026-W46", language_code="de")
    assert text == admin_deps.surveys.messages.get("help", "de")


async def test_a_bad_period_gets_the_usage_line(bot: FakeTelegram) -> None:
    text = await reply_to(bot, ADMIN, "/stats yesterday")
    assert "Usage: /stats [period]" in text
