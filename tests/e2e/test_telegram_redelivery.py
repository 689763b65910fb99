"""End to end, webhook mode: a redelivered or stale update is dropped quietly (no apology),
a forged forget button leaves the survey untouched, a malformed webhook body is a 400."""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlmodel import select

from storage.models import Answer
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys.events import INTERACTION_COMPLETED
from tests.auxil.factories import answers_of, arecord, message_button_data
from tests.auxil.running_bot import RunningBot, run_bot
from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e

SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
WEBHOOK = {
    "telegram_webhook_url": "https://bot.example.test",
    "telegram_webhook_secret": "hook-secret",
}
APOLOGY = "something went wrong"
_message_ids = itertools.count(10_000)


def _path(bot: RunningBot) -> str:
    url = [params for _, params, _ in bot.fake.calls("setWebhook")][-1]["url"]
    return url.removeprefix("https://bot.example.test")


def _text_update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    update: dict[str, Any] = {
        "update_id": update_id,
        "message": {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "text": text,
        },
    }
    if text.startswith("/"):
        command = text.split()[0]
        update["message"]["entities"] = [
            {"type": "bot_command", "offset": 0, "length": len(command)}
        ]
    return update


async def _post(bot: RunningBot, body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=bot.http_url) as client:
        return await client.post(_path(bot), json=body, headers=SECRET_HEADER)


def _link(bot: RunningBot, external_id: str, chat_id: int) -> None:
    run_unit(
        bot.deps.db,
        lambda session: customer_queries.upsert_customer(
            session=session,
            external_id=external_id,
            attributes={"telegram_chat_id": chat_id, "language": "en"},
        ),
    )


def _apologies(bot: RunningBot, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in bot.fake.sent_messages(chat_id) if APOLOGY in m["text"]]


async def test_a_redelivered_button_update_whose_query_is_too_old_draws_no_apology(
    telegram_server: TelegramServer, database_url: str
) -> None:
    async with run_bot(telegram_server, database_url, **WEBHOOK) as bot:
        fake, chat = bot.fake, 8101
        await asyncio.to_thread(_link, bot, "cust-redeliver", chat)
        invitation_id = await arecord(bot.deps, INTERACTION_COMPLETED, "cust-redeliver", "T-1")
        question = (await fake.async_wait_for_messages(chat, 1))[-1]
        update = fake.push_callback(
            chat, question["message_id"], message_button_data(question, "5")
        )

        first = await _post(bot, update)
        await fake.async_wait_for(lambda f: len(f.callback_answers()) == 1)
        fake.expire_callback_queries()
        again = await _post(bot, update)
        await fake.async_wait_for(lambda f: len(f.calls("answerCallbackQuery")) == 2)
        # Anything the second delivery would send has had time to arrive.
        await _post(bot, _text_update(900_001, chat, "/help"))
        await fake.async_wait_for(lambda f: "/stop" in f.sent_messages(chat)[-1]["text"])

        assert (first.status_code, again.status_code) == (200, 200)
        assert _apologies(bot, chat) == []
        stored = await asyncio.to_thread(answers_of, bot.deps, invitation_id)
        assert [(a.question_key, a.numeric_value) for a in stored] == [("csat", 5)]


async def test_the_same_text_update_given_to_two_instances_is_stored_once_without_apology(
    telegram_server: TelegramServer, database_url: str
) -> None:
    chat = 8102
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(run_bot(telegram_server, database_url, **WEBHOOK))
        two = await stack.enter_async_context(run_bot(telegram_server, database_url, **WEBHOOK))
        await asyncio.to_thread(_link, one, "cust-twice", chat)
        trials = range(700_001, 700_006)
        for update_id in trials:
            update = _text_update(update_id, chat, f"The app is slow ({update_id})")
            responses = await asyncio.gather(_post(one, update), _post(two, update))
            assert [r.status_code for r in responses] == [200, 200]
        await one.fake.async_wait_for(
            lambda f: sum("passed on" in m["text"] for m in f.sent_messages(chat)) == len(trials)
        )
        await asyncio.sleep(0.5)

        def stored(session) -> list[int | None]:
            rows = session.exec(select(Answer.telegram_update_id).order_by(Answer.id))
            return list(rows)

        assert sorted(await asyncio.to_thread(run_unit, one.deps.db, stored)) == list(trials)
        assert _apologies(one, chat) == []
        thanks = [m for m in one.fake.sent_messages(chat) if "passed on" in m["text"]]
        assert len(thanks) == len(trials)


async def test_a_forged_forget_button_on_a_survey_message_leaves_the_message_untouched(
    running_bot: RunningBot,
) -> None:
    fake, chat = running_bot.fake, 8103
    await asyncio.to_thread(_link, running_bot, "cust-fy", chat)
    await arecord(running_bot.deps, INTERACTION_COMPLETED, "cust-fy", "T-3")
    question = (await fake.async_wait_for_messages(chat, 1))[-1]

    fake.push_callback(chat, question["message_id"], "fy:1:0:0:AAAAAAAAAAA")
    await fake.async_wait_for(lambda f: len(f.callback_answers()) == 1)
    fake.push_message(chat, "/help")
    await fake.async_wait_for(lambda f: "/stop" in f.sent_messages(chat)[-1]["text"])

    now = next(m for m in fake.sent_messages(chat) if m["message_id"] == question["message_id"])
    assert now == question
    assert fake.calls("editMessageReplyMarkup") == []
    assert fake.calls("editMessageText") == []
    assert "no longer valid" in fake.callback_answers()[0]["text"]


@pytest.mark.parametrize("body", [[1, 2], {}, {"update_id": "x"}, "text", None, 5])
async def test_a_malformed_webhook_body_with_the_right_secret_is_a_400(
    telegram_server: TelegramServer, database_url: str, body: object
) -> None:
    async with run_bot(telegram_server, database_url, **WEBHOOK) as bot:
        response = await _post(bot, body)
    assert response.status_code == 400
