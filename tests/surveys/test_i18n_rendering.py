"""Words as each language writes them: commands stay commands in right-to-left text, each
language greets with its own comma, and /forget's confirmation shows the choice made."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from bot.context import Deps
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys.i18n import FSI, LRI, PDI, RLM, Messages, isolate, localize
from surveys.replies import Reply
from tests.auxil.factories import button_data

BIDI_CONTROLS = re.compile("[\u200e\u200f\u2066-\u2069]")
COMMANDS = ("/stop", "/start", "/forget", "/help")


def _plain(text: str) -> str:
    return BIDI_CONTROLS.sub("", text)


def test_persian_help_wraps_every_command_in_a_left_to_right_isolate() -> None:
    text = Messages.load().get("help", "fa")

    assert text.startswith(RLM)
    for command in COMMANDS:
        assert f"{LRI}{command}{PDI}" in text
    assert "\u200e/" not in text
    # Nothing but the isolates was added.
    assert _plain(text).count("/") == len(COMMANDS)


def test_every_persian_message_isolates_its_commands_and_no_other_language_changes() -> None:
    messages = Messages.load()
    for key in ("help", "linked", "opted_out", "opted_in", "already_active", "forget_expired"):
        persian = messages.get(key, "fa", name="")
        for command in re.findall(r"/[a-z]+", _plain(persian)):
            assert f"{LRI}{command}{PDI}" in persian, key
        english = messages.get(key, "en", name="")
        assert not BIDI_CONTROLS.search(english), key


def test_commands_inside_words_or_urls_are_left_alone() -> None:
    text = localize({"en": "x", "fa": "به https://example.com/help بروید و a/b"}, "fa")

    assert LRI not in text


@pytest.mark.parametrize(
    ("language", "greeting"),
    [
        ("en", "Hello, Alex!"),
        ("de", "Hallo, Alex!"),
        ("zh", "您好，Alex！"),
        ("fa", "سلام، Alex!"),
    ],
)
def test_the_greeting_uses_the_languages_own_comma(
    deps: Deps, language: str, greeting: str
) -> None:
    def work(session: Session) -> str:
        customer = customer_queries.upsert_customer(
            session=session, external_id="cust-hi", attributes={"name": "Alex"}
        )
        return deps.accounts.link_token(customer, 30)

    token = run_unit(deps.db, work)
    reply = run_unit(
        deps.db,
        lambda session: deps.accounts.on_start(
            session, chat_id=4401, payload=token, language_code=language, first_name=None
        ),
    )

    text = reply.messages[0].text
    assert _plain(text).startswith(greeting)
    if language == "fa":
        assert f"{FSI}Alex{PDI}" in text


def test_isolate_wraps_only_in_right_to_left_languages() -> None:
    assert isolate("Alex", "fa") == f"{FSI}Alex{PDI}"
    assert isolate("Alex", "en") == "Alex"


def _confirm_and_choose(deps: Deps, chat_id: int, label_key: str) -> Reply:
    def link(session: Session) -> None:
        customer = customer_queries.upsert_customer(session=session, external_id=f"c-{chat_id}")
        customer_queries.link_chat(
            session=session, customer=customer, chat_id=chat_id, language="en"
        )

    run_unit(deps.db, link)
    confirm = run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget(session, chat_id=chat_id, language_code="en"),
    )
    raw = button_data(confirm.messages[0], deps.accounts.messages.get(label_key, "en"))
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget_button(
            session, chat_id=chat_id, raw=raw, language_code="en"
        ),
    )


@pytest.mark.parametrize("choice", ["forget_yes", "forget_no"])
def test_the_forget_confirmation_is_edited_to_show_the_choice_made(
    deps: Deps, choice: str
) -> None:
    reply = _confirm_and_choose(deps, 4402, choice)

    [edit] = reply.edits
    messages = deps.accounts.messages
    assert edit.text is not None
    assert edit.text.startswith(messages.get("forget_confirm", "en"))
    assert edit.text.endswith(f"✓ {messages.get(choice, 'en')}")
    assert edit.buttons == ()
