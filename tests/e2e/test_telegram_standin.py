"""The Telegram stand-in, driven by the real python-telegram-bot over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.auxil.telegram_api import TelegramServer

pytestmark = pytest.mark.e2e

CHAT = 4242
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="q1:yes")]])


@pytest.fixture
async def bot(telegram_server: TelegramServer) -> AsyncIterator[Bot]:
    bot = Bot(
        telegram_server.fake.token,
        base_url=telegram_server.base_url,
        base_file_url=telegram_server.base_file_url,
    )
    async with bot:
        yield bot


async def test_get_me_returns_the_configured_bot(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.is_bot
    assert me.username == "churnbot_test_bot"
    assert me.id == 123456


async def test_sent_and_edited_message_is_recorded_and_reflected(
    bot: Bot, telegram_server: TelegramServer
) -> None:
    fake = telegram_server.fake
    sent = await bot.send_message(CHAT, "How was it?", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("Thanks!", chat_id=CHAT, message_id=sent.message_id)

    assert sent.reply_markup == KEYBOARD
    assert edited.text == "Thanks!"
    assert edited.reply_markup is None  # an edit without a keyboard removes it, as in Telegram
    [stored] = fake.sent_messages(CHAT)
    assert (stored["message_id"], stored["text"]) == (sent.message_id, "Thanks!")
    methods = [method for method, _, _ in fake.calls() if method != "getMe"]
    assert methods == ["sendMessage", "editMessageText"]
    assert fake.calls("sendMessage")[0][1]["reply_markup"] == KEYBOARD.to_dict()


async def test_identical_edit_is_not_modified(bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "Same", reply_markup=KEYBOARD)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Same", chat_id=CHAT, message_id=sent.message_id, reply_markup=KEYBOARD
        )


async def test_message_ids_increase_per_chat(bot: Bot) -> None:
    first = await bot.send_message(CHAT, "one")
    second = await bot.send_message(CHAT, "two")
    other = await bot.send_message(CHAT + 1, "elsewhere")

    assert second.message_id == first.message_id + 1
    assert other.message_id == 1


async def test_pushed_updates_parse_into_ptb_updates(
    bot: Bot, telegram_server: TelegramServer
) -> None:
    fake = telegram_server.fake
    sent = await bot.send_message(CHAT, "How was it?", reply_markup=KEYBOARD)
    fake.push_message(CHAT, "/start abc", language_code="de")
    fake.push_callback(CHAT, sent.message_id, "q1:yes", language_code="de")

    message_update, callback_update = await bot.get_updates(timeout=0)

    message = message_update.message
    assert message.text == "/start abc"
    assert message.from_user.language_code == "de"
    assert message.parse_entities([MessageEntity.BOT_COMMAND]) == {message.entities[0]: "/start"}
    query = callback_update.callback_query
    assert query.data == "q1:yes"
    assert query.from_user.language_code == "de"
    assert query.message.message_id == sent.message_id
    assert query.message.reply_markup == KEYBOARD
    assert await query.answer("Noted")
    assert fake.callback_answers()[0]["text"] == "Noted"


async def test_offset_confirms_updates(bot: Bot, telegram_server: TelegramServer) -> None:
    fake = telegram_server.fake
    for text in ("a", "b", "c"):
        fake.push_message(CHAT, text)

    first = await bot.get_updates(timeout=0, limit=2)
    rest = await bot.get_updates(timeout=0, offset=first[-1].update_id + 1)
    after = await bot.get_updates(timeout=0, offset=rest[-1].update_id + 1)

    assert [u.message.text for u in first] == ["a", "b"]
    assert [u.message.text for u in rest] == ["c"]
    assert after == ()
    assert fake.pending_updates() == 0


async def test_long_poll_returns_early_when_an_update_arrives(
    bot: Bot, telegram_server: TelegramServer
) -> None:
    asyncio.get_running_loop().call_later(0.3, telegram_server.fake.push_message, CHAT, "hi")
    started = time.monotonic()

    updates = await bot.get_updates(timeout=5)

    assert [u.message.text for u in updates] == ["hi"]
    assert time.monotonic() - started < 2


async def test_long_poll_waits_out_its_timeout_when_nothing_arrives(bot: Bot) -> None:
    started = time.monotonic()

    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_injected_429_raises_retry_after(
    bot: Bot, telegram_server: TelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB's coming timedelta behaviour, no warning
    telegram_server.fake.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(CHAT, "hello")
    assert raised.value.retry_after == dt.timedelta(seconds=1)
    await bot.send_message(CHAT, "hello")  # only the next call fails
    assert len(telegram_server.fake.sent_messages(CHAT)) == 1


async def test_flood_limit_per_chat_answers_429(
    bot: Bot, telegram_server: TelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    fake = telegram_server.fake
    fake.enforce_limits(global_per_second=30, per_chat_per_second=1)
    await bot.send_message(CHAT, "first")

    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "second")
    await bot.send_message(CHAT + 1, "another chat is fine")
    assert fake.count_429 == 1


async def test_blocked_chat_raises_forbidden(bot: Bot, telegram_server: TelegramServer) -> None:
    telegram_server.fake.block_chat(CHAT)

    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(CHAT, "hello")
    telegram_server.fake.unblock_chat(CHAT)
    await bot.send_message(CHAT, "hello again")


async def test_wrong_token_is_rejected(telegram_server: TelegramServer) -> None:
    bot = Bot("999:WRONG", base_url=telegram_server.base_url)

    with pytest.raises(InvalidToken):
        async with bot:
            pass
    assert telegram_server.fake.calls() == []  # rejected before anything is recorded


async def test_raw_http_gets_the_wire_format(telegram_server: TelegramServer) -> None:
    url = f"{telegram_server.base_url}{telegram_server.fake.token}"
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{url}/sendTelepathy")
        form = await client.post(
            f"{url}/sendMessage",
            data={"chat_id": str(CHAT), "text": "42", "reply_markup": KEYBOARD.to_json()},
        )
        as_json = await client.post(
            f"{url}/sendMessage",
            json={"chat_id": CHAT, "text": "hi", "reply_markup": KEYBOARD.to_dict()},
        )

    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    from_form, from_json = form.json()["result"], as_json.json()["result"]
    assert from_form["text"] == "42"  # a numeric text stays a string
    assert from_form["reply_markup"] == from_json["reply_markup"] == KEYBOARD.to_dict()
    assert from_json["message_id"] == from_form["message_id"] + 1


async def test_upload_size_is_recorded(bot: Bot, telegram_server: TelegramServer) -> None:
    picture = bytes(range(256)) * 40

    message = await bot.send_photo(CHAT, picture, caption="weekly chart")

    [(_, params, _)] = telegram_server.fake.calls("sendPhoto")
    assert params["photo"]["file_size"] == len(picture)
    assert message.photo[0].file_size == len(picture)
    assert message.caption == "weekly chart"


async def test_slow_answer_times_out_although_the_message_was_delivered(
    bot: Bot, telegram_server: TelegramServer
) -> None:
    telegram_server.fake.set_delay("sendMessage", 1.0)

    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "survey", read_timeout=0.2)
    assert [m["text"] for m in telegram_server.fake.sent_messages(CHAT)] == ["survey"]


async def test_waiting_in_vain_fails_with_the_traffic(telegram_server: TelegramServer) -> None:
    with pytest.raises(AssertionError, match="sent messages"):
        await telegram_server.fake.async_wait_for_messages(CHAT, 1, timeout=0.1)


def test_sync_wait_sees_messages_sent_from_another_thread(
    telegram_server: TelegramServer,
) -> None:
    async def send_later() -> None:
        bot = Bot(telegram_server.fake.token, base_url=telegram_server.base_url)
        async with bot:
            await asyncio.sleep(0.2)
            await bot.send_message(CHAT, "from the bot's loop")

    sender = threading.Thread(target=asyncio.run, args=(send_later(),))
    sender.start()
    try:
        [message] = telegram_server.fake.wait_for_messages(CHAT, 1, timeout=5)
    finally:
        sender.join()
    assert message["text"] == "from the bot's loop"


async def test_polling_application_replies_to_a_pushed_message(
    telegram_server: TelegramServer,
) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo {update.message.text}")

    fake = telegram_server.fake
    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(telegram_server.base_url)
        .base_file_url(telegram_server.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    fake.push_message(CHAT, "hello")
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=5)
        [reply] = await fake.async_wait_for_messages(CHAT, 1)
        await app.updater.stop()
        await app.stop()

    assert reply["text"] == "echo hello"
    assert fake.pending_updates() == 0  # stopping the updater confirmed the last offset


async def test_server_stops_promptly_during_a_long_poll() -> None:
    server = TelegramServer().start()
    async with Bot(server.fake.token, base_url=server.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await server.fake.async_wait_for(lambda fake: fake.call_count("getUpdates") == 1)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)

        assert time.monotonic() - started < 3
        assert await poll == ()
