"""Alerts end to end: the real bot (PTB) answers surveys, real slack_sdk posts to the stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from storage.queries import invitations
from storage.session import run_unit
from surveys.events import INTERACTION_COMPLETED, SUBSCRIPTION_CANCELLED
from tests.auxil.factories import arecord, button_data, link_token
from tests.auxil.slack_api import TOKEN, SlackServer
from tests.auxil.telegram_api import FakeTelegram, TelegramServer
from tests.e2e.conftest import RunningBot, run_bot
from tests.handlers.slack.helpers import ALERTS_CHANNEL, MANAGER, SECRET, slack_parts

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bot(
    telegram_server: TelegramServer, slack_server: SlackServer, database_url: str
) -> AsyncIterator[RunningBot]:
    async with run_bot(
        telegram_server,
        database_url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_base_url=slack_server.api_url,
        slack_alerts_channel=ALERTS_CHANNEL,
        slack_manager_ids=MANAGER,
    ) as running:
        yield running


async def _link(bot: RunningBot, chat_id: int, customer_id: str) -> None:
    token = await asyncio.to_thread(link_token, bot.deps, customer_id)
    before = len(bot.fake.sent_messages(chat_id))
    bot.fake.push_message(chat_id, f"/start {token}")
    await bot.fake.async_wait_for_messages(chat_id, before + 1)


async def _tap(fake: FakeTelegram, chat: int, message_id: int, label: str, taps: int) -> None:
    """Tap the button labelled `label` on our message, as it stands now."""
    current = next(m for m in fake.sent_messages(chat) if m["message_id"] == message_id)
    fake.push_callback(chat, message_id, button_data(current, label))
    await fake.async_wait_for(lambda f: len(f.callback_answers()) >= taps)


async def _survey(bot: RunningBot, chat: int, customer: str, event: str) -> tuple[int, int]:
    await _link(bot, chat, customer)
    invitation_id = await arecord(bot.deps, event, customer, f"REF-{chat}")
    question = (await bot.fake.async_wait_for_messages(chat, 2))[-1]
    return invitation_id, question["message_id"]


async def test_an_exit_survey_finished_with_skip_after_the_reason_is_alerted_once(
    bot: RunningBot, slack_server: SlackServer
) -> None:
    _, message_id = await _survey(bot, 2001, "cust-skip", SUBSCRIPTION_CANCELLED)
    await _tap(bot.fake, 2001, message_id, "too expensive", 1)
    await bot.fake.async_wait_for(
        lambda f: "Skip" in str(f.sent_messages(2001)[-1].get("reply_markup"))
    )
    await _tap(bot.fake, 2001, message_id, "Skip", 2)
    await slack_server.fake.async_wait_for(lambda f: bool(f.messages(ALERTS_CHANNEL)))
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert alert["text"].startswith("Exit survey completed by cust-skip: Price")
    # The sweep finds it already alerted: posted once.
    assert await slack_parts(bot.deps).sweep_alerts() == 0
    assert len(slack_server.fake.messages(ALERTS_CHANNEL)) == 1


async def test_a_csat_of_one_then_skip_is_alerted_as_a_detractor(
    bot: RunningBot, slack_server: SlackServer
) -> None:
    _, message_id = await _survey(bot, 2002, "cust-low", INTERACTION_COMPLETED)
    await _tap(bot.fake, 2002, message_id, "1", 1)
    await bot.fake.async_wait_for(
        lambda f: "Skip" in str(f.sent_messages(2002)[-1].get("reply_markup"))
    )
    await _tap(bot.fake, 2002, message_id, "Skip", 2)
    await slack_server.fake.async_wait_for(lambda f: bool(f.messages(ALERTS_CHANNEL)))
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert alert["text"].startswith("Detractor: cust-low gave CSAT 1/5 (not classified")


async def test_an_exit_survey_that_expires_half_answered_is_alerted_by_the_sweep_once(
    bot: RunningBot, slack_server: SlackServer
) -> None:
    invitation_id, message_id = await _survey(bot, 2003, "cust-gone", SUBSCRIPTION_CANCELLED)
    await _tap(bot.fake, 2003, message_id, "too expensive", 1)
    await asyncio.sleep(0.3)
    assert slack_server.fake.messages(ALERTS_CHANNEL) == []
    later = bot.deps.clock() + timedelta(days=8)
    expired = await asyncio.to_thread(
        run_unit, bot.deps.db, lambda s: invitations.expire_overdue(session=s, now=later)
    )
    assert expired == 1
    parts = slack_parts(bot.deps)
    assert await parts.sweep_alerts() == 1
    assert await parts.sweep_alerts() == 0
    assert not await parts.alert_for_invitation(invitation_id)
    (alert,) = slack_server.fake.messages(ALERTS_CHANNEL)
    assert alert["text"].startswith("Exit survey expired half-answered by cust-gone: Price")
