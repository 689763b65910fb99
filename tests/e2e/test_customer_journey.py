"""End to end: the real python-telegram-bot application against the Bot API stand-in."""

from __future__ import annotations

import asyncio

import pytest

from storage.models import InvitationStatus
from surveys.events import INTERACTION_COMPLETED, SUBSCRIPTION_CANCELLED
from tests.auxil.factories import (
    all_answers,
    answers_of,
    arecord,
    classifications,
    invitation,
    link_token,
    message_button_data,
)
from tests.auxil.running_bot import RunningBot
from tests.auxil.telegram_api import FakeTelegram

pytestmark = pytest.mark.e2e


async def _link(bot: RunningBot, chat_id: int, customer_id: str, language: str = "en") -> None:
    deps, fake = bot.deps, bot.fake
    token = await asyncio.to_thread(link_token, deps, customer_id)
    before = len(fake.sent_messages(chat_id))
    fake.push_message(chat_id, f"/start {token}", language_code=language)
    await fake.async_wait_for_messages(chat_id, before + 1)


async def _edited(fake: FakeTelegram, chat_id: int, message_id: int, containing: str) -> dict:
    """Wait until our message `message_id` has been edited to contain `containing`."""

    def current() -> dict:
        return next(m for m in fake.sent_messages(chat_id) if m["message_id"] == message_id)

    await fake.async_wait_for(lambda _: containing in current()["text"])
    return current()


def _last(fake: FakeTelegram, chat_id: int) -> dict:
    return fake.sent_messages(chat_id)[-1]


async def test_exit_survey_is_answered_with_a_button_and_free_text_and_stored(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1001
    await _link(running_bot, chat, "cust-exit")
    assert "linked" in _last(fake, chat)["text"]

    invitation_id = await arecord(deps, SUBSCRIPTION_CANCELLED, "cust-exit", "SUB-9")
    question = (await fake.async_wait_for_messages(chat, 2))[-1]
    assert "main reason" in question["text"]
    labels = [b["text"] for row in question["reply_markup"]["inline_keyboard"] for b in row]
    assert len(labels) == 11

    fake.push_callback(
        chat, question["message_id"], message_button_data(question, "too expensive")
    )
    details = await _edited(fake, chat, question["message_id"], "Anything else")
    assert "✓ It's too expensive" in details["text"]
    assert message_button_data(details, "Skip")
    assert len(fake.sent_messages(chat)) == 2, "the survey stays in one message"

    fake.push_message(chat, "Our budget was cut 💸 — маленький бюджет")
    closing = (await fake.async_wait_for_messages(chat, 3))[-1]
    assert "Thank you for telling us" in closing["text"]
    assert "30% off" in closing["text"]
    survey = await _edited(fake, chat, question["message_id"], "✓ Our budget was cut")
    assert "✓ It's too expensive" in survey["text"]
    assert not survey.get("reply_markup", {}).get("inline_keyboard"), "Skip must be gone"

    stored = await asyncio.to_thread(answers_of, deps, invitation_id)
    assert [(a.question_key, a.choice_key, a.text) for a in stored] == [
        ("reason", "price", None),
        ("details", None, "Our budget was cut 💸 — маленький бюджет"),
    ]
    assert (await asyncio.to_thread(invitation, deps.db, invitation_id)).status == (
        InvitationStatus.COMPLETED
    )
    labels = await asyncio.to_thread(classifications, deps, [a.id for a in stored])
    assert [(label.category, label.method) for label in labels] == [
        ("price", "customer_choice"),
        ("price", labels[1].method),
    ]
    assert labels[0].confidence == 1.0
    assert labels[1].sentiment in ("neutral", "negative")


async def test_low_csat_branches_to_what_could_we_do_better_in_persian(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1002
    await _link(running_bot, chat, "cust-fa", language="fa")
    invitation_id = await arecord(deps, INTERACTION_COMPLETED, "cust-fa", "T-1001")
    question = (await fake.async_wait_for_messages(chat, 2))[-1]
    assert question["text"].startswith("\u200f")
    fake.push_callback(chat, question["message_id"], message_button_data(question, "2"))
    follow_up = await _edited(fake, chat, question["message_id"], "✓ 2")
    assert follow_up["text"].startswith("\u200f")
    improve = follow_up["text"].split("\n\n", 1)[1]
    assert improve.startswith("\u200f")
    assert any("\u0600" <= char <= "\u06ff" for char in improve), (
        "the follow-up question should be in Persian"
    )
    skip = follow_up["reply_markup"]["inline_keyboard"][0][0]
    fake.push_message(chat, "پشتیبانی خیلی کند بود")
    closing = (await fake.async_wait_for_messages(chat, 3))[-1]
    assert closing["text"].startswith("\u200f")

    stored = await asyncio.to_thread(answers_of, deps, invitation_id)
    assert [(a.question_key, a.numeric_value, a.text) for a in stored] == [
        ("csat", 2, None),
        ("improve", None, "پشتیبانی خیلی کند بود"),
    ]
    fake.push_callback(chat, question["message_id"], skip["callback_data"])
    await fake.async_wait_for(lambda f: len(f.callback_answers()) >= 2)
    assert fake.callback_answers()[-1]["text"] == deps.surveys.messages.get("stale_button", "fa")
    assert len(await asyncio.to_thread(answers_of, deps, invitation_id)) == 2


async def test_high_csat_offers_an_optional_comment_that_can_be_skipped(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1003
    await _link(running_bot, chat, "cust-happy")
    invitation_id = await arecord(deps, INTERACTION_COMPLETED, "cust-happy", "T-2")
    question = (await fake.async_wait_for_messages(chat, 2))[-1]
    fake.push_callback(chat, question["message_id"], message_button_data(question, "5"))
    comment = await _edited(fake, chat, question["message_id"], "Glad to hear it")
    fake.push_callback(chat, comment["message_id"], message_button_data(comment, "Skip"))
    closing = await _edited(fake, chat, question["message_id"], "Thank you for your feedback")
    assert "✓ Skipped" in closing["text"]
    assert not closing.get("reply_markup", {}).get("inline_keyboard")
    assert len(fake.sent_messages(chat)) == 2
    stored = await asyncio.to_thread(answers_of, deps, invitation_id)
    assert [(a.question_key, a.numeric_value, a.text) for a in stored] == [
        ("csat", 5, None),
        ("comment", None, None),
    ]


async def test_forged_button_data_is_refused_and_changes_nothing(running_bot: RunningBot) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1004
    await _link(running_bot, chat, "cust-forge")
    invitation_id = await arecord(deps, SUBSCRIPTION_CANCELLED, "cust-forge", "SUB-1")
    question = (await fake.async_wait_for_messages(chat, 2))[-1]
    genuine = message_button_data(question, "too expensive")
    action, target, step, _value, signature = genuine.split(":")
    forged = f"{action}:{target}:{step}:6:{signature}"
    for data in (forged, "a:1:0:0:AAAAAAAAAAA", "garbage", "x" * 64):
        fake.push_callback(chat, question["message_id"], data)
    await fake.async_wait_for(lambda f: len(f.callback_answers()) >= 4)
    assert all("no longer valid" in a.get("text", "") for a in fake.callback_answers())
    assert await asyncio.to_thread(answers_of, deps, invitation_id) == []
    assert (await asyncio.to_thread(invitation, deps.db, invitation_id)).current_step == "reason"


async def test_button_of_someone_elses_survey_changes_nothing(running_bot: RunningBot) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    await _link(running_bot, 1005, "cust-owner")
    await _link(running_bot, 1006, "cust-other")
    invitation_id = await arecord(deps, SUBSCRIPTION_CANCELLED, "cust-owner", "SUB-2")
    question = (await fake.async_wait_for_messages(1005, 2))[-1]
    stolen = message_button_data(question, "too expensive")
    own_message = fake.sent_messages(1006)[-1]
    fake.push_callback(1006, own_message["message_id"], stolen)
    await fake.async_wait_for(lambda f: len(f.callback_answers()) >= 1)
    assert await asyncio.to_thread(answers_of, deps, invitation_id) == []


async def test_stop_opts_out_and_no_survey_is_sent_then_start_opts_back_in(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1007
    await _link(running_bot, chat, "cust-stop")
    fake.push_message(chat, "/stop")
    confirmation = (await fake.async_wait_for_messages(chat, 2))[-1]
    assert "won't receive any more surveys" in confirmation["text"]
    invitation_id = await arecord(deps, INTERACTION_COMPLETED, "cust-stop", "T-3")
    await fake.async_wait_for(
        lambda f: invitation(deps.db, invitation_id).status == InvitationStatus.SKIPPED
    )
    skipped = await asyncio.to_thread(invitation, deps.db, invitation_id)
    assert skipped.status_reason == "customer opted out"
    assert len(fake.sent_messages(chat)) == 2
    fake.push_message(chat, "/start")
    welcome_back = (await fake.async_wait_for_messages(chat, 3))[-1]
    assert "Welcome back" in welcome_back["text"]


async def test_message_without_open_survey_is_stored_as_feedback_and_acknowledged(
    running_bot: RunningBot,
) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1008
    await _link(running_bot, chat, "cust-complain")
    text = "Ваш сервис 😡 最差 " + "x" * 4000
    fake.push_message(chat, text)
    reply = (await fake.async_wait_for_messages(chat, 2))[-1]
    assert "passed on to the team" in reply["text"]
    feedback = [
        a for a in await asyncio.to_thread(all_answers, deps.db) if a.question_key == "feedback"
    ]
    assert [a.text for a in feedback] == [text]
    assert feedback[0].invitation_id is None


async def test_unknown_command_gets_the_help_text(running_bot: RunningBot) -> None:
    _deps, fake = running_bot.deps, running_bot.fake
    fake.push_message(1009, "/frobnicate now")
    reply = (await fake.async_wait_for_messages(1009, 1))[-1]
    assert "/stop" in reply["text"]
    assert "/forget" in reply["text"]


async def test_forget_deletes_everything_after_confirmation(running_bot: RunningBot) -> None:
    deps, fake = running_bot.deps, running_bot.fake
    chat = 1010
    await _link(running_bot, chat, "cust-forget")
    fake.push_message(chat, "I want my data gone")
    await fake.async_wait_for_messages(chat, 2)
    fake.push_message(chat, "/forget")
    confirm = (await fake.async_wait_for_messages(chat, 3))[-1]
    fake.push_callback(chat, confirm["message_id"], message_button_data(confirm, "Yes"))
    done = (await fake.async_wait_for_messages(chat, 4))[-1]
    assert "deleted" in done["text"]
    # The confirmation now says what was chosen, and offers no buttons any more.
    confirmed = await _edited(fake, chat, confirm["message_id"], "✓ Yes, delete everything")
    assert confirmed["text"].startswith(confirm["text"])
    assert not confirmed.get("reply_markup")
    assert await asyncio.to_thread(all_answers, deps.db) == []
    fake.push_message(chat, "hello?")
    again = (await fake.async_wait_for_messages(chat, 5))[-1]
    assert "not linked" in again["text"]


async def test_failure_in_one_update_is_apologised_for_and_the_bot_keeps_serving(
    running_bot: RunningBot,
) -> None:
    _deps, fake = running_bot.deps, running_bot.fake
    fake.fail_next("sendMessage", status=400, description="Bad Request: chat is on fire")
    fake.push_message(1011, "/help")
    apology = (await fake.async_wait_for_messages(1011, 1))[-1]
    assert "something went wrong" in apology["text"]
    fake.push_message(1012, "/help")
    help_text = (await fake.async_wait_for_messages(1012, 1))[-1]
    assert "/stop" in help_text["text"]
