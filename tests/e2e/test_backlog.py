"""A backlog waiting in Telegram is taken in a bounded number of updates at a time."""

from __future__ import annotations

import bisect
from collections import Counter

import pytest

from handlers.telegram.intake import INTAKE_BOUND
from tests.auxil.running_bot import run_bot
from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e

BACKLOG = 1_000
CHAT_BASE = 40_000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_backlog_is_fetched_at_most_the_bound_ahead_and_each_update_answered_once(
    telegram_server: TelegramServer, database_url: str
) -> None:
    fake = telegram_server.fake
    # Waiting when the bot starts, as after an outage; each gets one help text.
    for n in range(BACKLOG):
        fake.push_message(CHAT_BASE + n, "/frobnicate")
    async with run_bot(telegram_server, database_url, telegram_rate_limit=False):
        await fake.async_wait_for(
            lambda f: f.call_count("sendMessage") >= BACKLOG and f.pending_updates() == 0,
            timeout=120,
        )
    replies = Counter(params["chat_id"] for _, params, _ in fake.calls("sendMessage"))
    assert replies == Counter(range(CHAT_BASE, CHAT_BASE + BACKLOG))
    answered_at = sorted(at for _, _, at in fake.calls("sendMessage"))
    polls = fake.calls("getUpdates")
    assert len(polls) >= BACKLOG // INTAKE_BOUND
    for _, params, at in polls:
        # Update ids run from 1: an offset confirms (and so was handed) all before it.
        handed = params["offset"] - 1 if params.get("offset") else 0
        limit = params.get("limit", 100)
        # A reply is sent before its update is done, so this counts at least those done.
        answered = bisect.bisect_left(answered_at, at)
        ahead = handed + limit - answered
        assert ahead <= INTAKE_BOUND, f"{ahead} updates fetched ahead of processing"
