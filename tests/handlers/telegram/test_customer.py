"""Customer handlers through the real python-telegram-bot stack and the Bot API stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from telegram.ext import Application, ApplicationBuilder

from bot.context import Deps
from bot.wiring import build_deps
from handlers.telegram import customer
from handlers.telegram.context import CONTEXT_TYPES, provide
from handlers.telegram.render import keyboard
from surveys import events
from tests.auxil.factories import button_data
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.conftest import FakeClock, make_settings
from tests.surveys.helpers import open_survey

pytestmark = pytest.mark.e2e

CHAT = 6601


@pytest.fixture
def telegram() -> Iterator[TelegramServer]:
    with TelegramServer() as server:
        yield server


@pytest.fixture
def customer_deps(database_url: str, telegram: TelegramServer) -> Iterator[Deps]:
    settings = make_settings(
        database_url,
        telegram_api_base_url=telegram.base_url,
        telegram_api_file_url=telegram.base_file_url,
    )
    deps = build_deps(settings, clock=FakeClock())
    yield deps
    deps.db.dispose()


@pytest.fixture
async def completed_surveys(
    customer_deps: Deps, telegram: TelegramServer
) -> AsyncIterator[tuple[Application, list[int]]]:
    """The customer handlers running, and the invitations they report completed."""
    settings = customer_deps.settings
    heard: list[int] = []

    async def on_completed(invitation_id: int) -> None:
        heard.append(invitation_id)

    application = (
        ApplicationBuilder()
        .token(settings.require_bot_token())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(CONTEXT_TYPES)
        .build()
    )
    provide(application, customer_deps.services)
    customer.register(application, on_completed=on_completed)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield application, heard
        finally:
            telegram.fake.release_polls()
            await asyncio.wait_for(application.updater.stop(), timeout=10)
            await application.stop()


async def test_a_survey_finished_with_a_button_is_reported_completed(
    customer_deps: Deps,
    telegram: TelegramServer,
    completed_surveys: tuple[Application, list[int]],
) -> None:
    application, heard = completed_surveys
    fake: FakeTelegram = telegram.fake
    survey = await asyncio.to_thread(
        open_survey, customer_deps, chat_id=CHAT, event_type=events.INTERACTION_COMPLETED
    )
    sent = await application.bot.send_message(
        CHAT, survey.prompt.text, reply_markup=keyboard(survey.prompt.buttons)
    )
    await customer_deps.services.answers.remember_message(survey.invitation_id, sent.message_id)
    question = fake.sent_messages(CHAT)[-1]
    fake.push_callback(CHAT, question["message_id"], button_data(question, "5"))
    await fake.async_wait_for(lambda f: "Skip" in str(f.sent_messages(CHAT)[-1]))
    comment = fake.sent_messages(CHAT)[-1]
    fake.push_callback(CHAT, comment["message_id"], button_data(comment, "Skip"))

    await fake.async_wait_for(lambda _: bool(heard))

    assert heard == [survey.invitation_id]
