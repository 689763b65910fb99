"""Customer commands: linking a chat with a signed token, opting out and in, erasure."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, func, select

from bot.context import Deps
from storage.models import Answer, Customer, Event, SurveyInvitation
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys.replies import Reply
from surveys.signing import ButtonData, sign_button
from tests.auxil.environment import FakeClock
from tests.auxil.factories import OpenSurvey, button_data, customer_row, say, tap

CHAT = 1001
OTHER_CHAT = 2002


def _message(deps: Deps, key: str, language: str = "en", **values: object) -> str:
    return deps.accounts.messages.get(key, language, **values)


def _texts(reply: Reply) -> list[str]:
    return [prompt.text for prompt in reply.messages]


@pytest.fixture
def make_token(deps: Deps) -> Callable[[str], str]:
    """A link token for the customer with this external id (created if needed)."""

    def make(external_id: str, *, name: str | None = None) -> str:
        def work(session: Session) -> str:
            profile = {"name": name} if name else {}
            customer = customer_queries.upsert_customer(
                session=session, external_id=external_id, attributes=profile
            )
            return deps.accounts.link_token(customer, deps.settings.link_token_days)

        return run_unit(deps.db, work)

    return make


def _start(
    deps: Deps,
    chat_id: int,
    payload: str | None,
    *,
    language_code: str | None = "en",
    first_name: str | None = None,
) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_start(
            session,
            chat_id=chat_id,
            payload=payload,
            language_code=language_code,
            first_name=first_name,
        ),
    )


def _stop(deps: Deps, chat_id: int) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_stop(session, chat_id=chat_id, language_code="en"),
    )


def _forget(deps: Deps, chat_id: int) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget(session, chat_id=chat_id, language_code="en"),
    )


def _forget_button(deps: Deps, chat_id: int, raw: str) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget_button(
            session, chat_id=chat_id, raw=raw, language_code="en"
        ),
    )


def _count(deps: Deps, table: type) -> int:
    return run_unit(
        deps.db, lambda session: session.exec(select(func.count()).select_from(table)).one()
    )


def test_start_with_valid_token_links_the_chat_and_greets(
    deps: Deps, make_token: Callable[..., str]
) -> None:
    token = make_token("cust-1", name="Ada")

    reply = _start(deps, CHAT, token, language_code="de-DE", first_name="Telegram Name")

    assert _texts(reply) == [_message(deps, "linked", "de", name=", Ada")]
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.telegram_chat_id == CHAT
    assert customer.language == "de"


def test_start_greets_with_telegram_first_name_when_customer_has_no_name(
    deps: Deps, make_token: Callable[..., str]
) -> None:
    reply = _start(deps, CHAT, make_token("cust-1"), first_name="Bea")

    assert _texts(reply) == [_message(deps, "linked", name=", Bea")]


def test_forged_token_gets_link_invalid_and_links_nothing(
    deps: Deps, make_token: Callable[..., str]
) -> None:
    token = make_token("cust-1")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    for payload in (forged, "not-a-token"):
        reply = _start(deps, CHAT, payload)
        assert _texts(reply) == [_message(deps, "link_invalid")]

    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.telegram_chat_id is None


def test_expired_token_gets_link_expired(
    deps: Deps, make_token: Callable[..., str], clock: FakeClock
) -> None:
    token = make_token("cust-1")
    clock.advance(days=31)

    reply = _start(deps, CHAT, token)

    assert _texts(reply) == [_message(deps, "link_expired")]
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.telegram_chat_id is None


def test_token_of_customer_linked_to_another_chat_gets_link_taken(
    deps: Deps, make_token: Callable[..., str]
) -> None:
    token = make_token("cust-1")
    _start(deps, CHAT, token)

    reply = _start(deps, OTHER_CHAT, token)

    assert _texts(reply) == [_message(deps, "link_taken")]
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None
    assert customer.telegram_chat_id == CHAT
    assert (
        run_unit(
            deps.db,
            lambda session: customer_queries.get_by_chat(session=session, chat_id=OTHER_CHAT),
        )
        is None
    )


def test_stop_opts_out_and_start_alone_opts_back_in(
    deps: Deps, make_token: Callable[..., str]
) -> None:
    _start(deps, CHAT, make_token("cust-1"))

    assert _texts(_stop(deps, CHAT)) == [_message(deps, "opted_out")]
    opted_out = customer_row(deps.db, "cust-1")
    assert opted_out is not None
    assert opted_out.opted_out is True

    assert _texts(_start(deps, CHAT, None)) == [_message(deps, "opted_in")]
    back = customer_row(deps.db, "cust-1")
    assert back is not None
    assert back.opted_out is False
    assert _texts(_start(deps, CHAT, None)) == [_message(deps, "already_active")]


def test_start_alone_from_unlinked_chat_explains_how_to_link(deps: Deps) -> None:
    assert _texts(_start(deps, CHAT, None)) == [_message(deps, "welcome_unlinked")]


def test_forget_offers_two_signed_buttons(deps: Deps, make_token: Callable[..., str]) -> None:
    _start(deps, CHAT, make_token("cust-1"))
    customer = customer_row(deps.db, "cust-1")
    assert customer is not None

    reply = _forget(deps, CHAT)

    [prompt] = reply.messages
    assert prompt.text == _message(deps, "forget_confirm")
    assert [[button.label for button in row] for row in prompt.buttons] == [
        [_message(deps, "forget_yes")],
        [_message(deps, "forget_no")],
    ]
    assert button_data(prompt, _message(deps, "forget_yes")) == sign_button(
        deps.secret, ButtonData("fy", customer.id or 0)
    )
    assert button_data(prompt, _message(deps, "forget_no")) == sign_button(
        deps.secret, ButtonData("fn", customer.id or 0)
    )


def test_forget_no_keeps_the_data(deps: Deps, exit_survey: OpenSurvey) -> None:
    tap(deps, exit_survey.chat_id, button_data(exit_survey.prompt, "It's too expensive"))
    prompt = _forget(deps, exit_survey.chat_id).messages[0]

    reply = _forget_button(deps, exit_survey.chat_id, button_data(prompt, "No, keep it"))

    assert reply.toast == _message(deps, "forget_cancelled")
    assert customer_row(deps.db, "cust-1") is not None
    assert _count(deps, Answer) == 1
    assert _count(deps, SurveyInvitation) == 1
    assert _count(deps, Event) == 1


def test_forget_yes_deletes_everything_about_the_customer(
    deps: Deps, exit_survey: OpenSurvey
) -> None:
    tap(deps, exit_survey.chat_id, button_data(exit_survey.prompt, "It's too expensive"))
    say(deps, exit_survey.chat_id, "My name is Ada Lovelace, call me on +44 20 7946 0000")
    say(deps, exit_survey.chat_id, "one more thing")
    assert _count(deps, Answer) == 3
    prompt = _forget(deps, exit_survey.chat_id).messages[0]

    reply = _forget_button(
        deps, exit_survey.chat_id, button_data(prompt, "Yes, delete everything")
    )

    assert _texts(reply) == [_message(deps, "forget_done")]
    assert customer_row(deps.db, "cust-1") is None
    for table in (Customer, Event, SurveyInvitation, Answer):
        assert _count(deps, table) == 0, table
    # The chat is now a stranger again.
    assert _texts(say(deps, exit_survey.chat_id, "hello")) == [_message(deps, "not_linked")]


def test_forget_button_from_another_chat_deletes_nothing(
    deps: Deps, exit_survey: OpenSurvey, make_token: Callable[..., str]
) -> None:
    _start(deps, OTHER_CHAT, make_token("cust-2"))
    prompt = _forget(deps, exit_survey.chat_id).messages[0]

    reply = _forget_button(deps, OTHER_CHAT, button_data(prompt, "Yes, delete everything"))

    assert reply.toast == _message(deps, "invalid_button")
    assert customer_row(deps.db, "cust-1") is not None
    assert customer_row(deps.db, "cust-2") is not None
