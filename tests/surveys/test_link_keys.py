"""Deep links name a customer durably; the signing key stays out of the database when set,
and rotating it retires every link and button with a clear word to the customer."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.context import Deps
from bot.settings import Settings
from bot.wiring import build_deps
from storage.models import AppState, Customer
from storage.queries import customers as customer_queries
from storage.session import run_unit
from surveys import keyring
from surveys.replies import Reply
from tests.auxil.environment import FakeClock, make_settings
from tests.auxil.factories import button_data, customer_row, open_survey, tap

LINK_DAYS = 30


def _token(deps: Deps, external_id: str) -> str:
    def work(session: Session) -> str:
        customer = customer_queries.upsert_customer(session=session, external_id=external_id)
        return deps.accounts.link_token(customer, LINK_DAYS)

    return run_unit(deps.db, work)


def _start(deps: Deps, chat_id: int, payload: str) -> Reply:
    return run_unit(
        deps.db,
        lambda session: deps.accounts.on_start(
            session, chat_id=chat_id, payload=payload, language_code="en", first_name=None
        ),
    )


def _forget(deps: Deps, chat_id: int) -> None:
    confirm = run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget(session, chat_id=chat_id, language_code="en"),
    )
    yes = button_data(confirm.messages[0], deps.accounts.messages.get("forget_yes", "en"))
    run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget_button(
            session, chat_id=chat_id, raw=yes, language_code="en"
        ),
    )


def _text(reply: Reply) -> str:
    return reply.messages[0].text


def _message(deps: Deps, key: str) -> str:
    return deps.accounts.messages.get(key, "en")


def test_an_erased_customers_old_link_never_binds_the_customer_who_gets_their_id(
    deps: Deps,
) -> None:
    old_token = _token(deps, "cust-7")
    assert _text(_start(deps, 5007, old_token)).startswith("Hello")
    erased = customer_row(deps.db, "cust-7")
    assert erased is not None
    _forget(deps, 5007)
    assert customer_row(deps.db, "cust-7") is None

    # What SQLite does by itself (the highest rowid was deleted, so it is handed out again);
    # PostgreSQL never would, so the test gives the id explicitly on both.
    def reuse(session: Session) -> None:
        session.add(Customer(id=erased.id, external_id="cust-8"))

    run_unit(deps.db, reuse)

    refused = _start(deps, 5007, old_token)
    own = _start(deps, 5008, _token(deps, "cust-8"))

    assert _text(refused) == _message(deps, "link_invalid")
    cust_8 = customer_row(deps.db, "cust-8")
    assert cust_8 is not None
    assert cust_8.id == erased.id
    assert cust_8.telegram_chat_id == 5008
    assert _text(own).startswith("Hello")


def test_sqlite_hands_an_erased_customers_id_to_the_next_customer_and_the_link_still_fails(
    deps: Deps,
) -> None:
    if deps.db.dialect.name != "sqlite":
        pytest.skip("rowid reuse is SQLite's behaviour")
    old_token = _token(deps, "cust-7")
    _start(deps, 5007, old_token)
    erased = customer_row(deps.db, "cust-7")
    _forget(deps, 5007)

    new_token = _token(deps, "cust-8")
    cust_8 = customer_row(deps.db, "cust-8")

    assert erased is not None
    assert cust_8 is not None
    assert cust_8.id == erased.id
    assert _text(_start(deps, 5007, old_token)) == _message(deps, "link_invalid")
    assert _text(_start(deps, 5008, new_token)).startswith("Hello")


def _app_state(deps: Deps) -> dict[str, str]:
    rows = run_unit(deps.db, lambda session: list(session.exec(select(AppState))))
    return {row.key: row.value for row in rows}


def test_a_configured_secret_key_is_never_written_to_the_database(
    deps: Deps, settings: Settings
) -> None:
    secret = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    _token(deps, "cust-1")
    run_unit(deps.db, lambda session: keyring.rotate(session=session, configured=secret))

    stored = _app_state(deps)

    assert keyring.GENERATED_KEY not in stored
    assert all(secret not in value for value in stored.values())
    assert stored == {keyring.GENERATION_KEY: "2"}


def test_without_secret_key_a_key_is_generated_once_and_rotation_replaces_it(
    database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url, secret_key=None)
    first = build_deps(settings, clock=clock)
    try:
        generated = _app_state(first)[keyring.GENERATED_KEY]
        assert first.secret == generated.encode()
        again = build_deps(settings, clock=clock, migrate=False)
        assert again.secret == first.secret
        again.db.dispose()

        run_unit(first.db, lambda session: keyring.rotate(session=session, configured=None))
        after = build_deps(settings, clock=clock, migrate=False)
        assert after.secret != first.secret
        assert _app_state(first)[keyring.GENERATION_KEY] == "2"
        after.db.dispose()
    finally:
        first.db.dispose()


def test_after_rotation_old_links_and_buttons_are_expired_and_new_ones_work(
    deps: Deps, settings: Settings, clock: FakeClock
) -> None:
    survey = open_survey(deps, chat_id=1001)
    old_button = button_data(survey.prompt, "5")
    old_link = _token(deps, "cust-2")
    confirm = run_unit(
        deps.db,
        lambda session: deps.accounts.on_forget(session, chat_id=1001, language_code="en"),
    )
    old_forget = button_data(confirm.messages[0], _message(deps, "forget_yes"))
    secret = settings.secret_key.get_secret_value()  # type: ignore[union-attr]
    run_unit(deps.db, lambda session: keyring.rotate(session=session, configured=secret))
    rotated = build_deps(settings, clock=clock, migrate=False)
    try:
        button = tap(rotated, 1001, old_button)
        link = _start(rotated, 2002, old_link)
        forget = run_unit(
            rotated.db,
            lambda session: rotated.accounts.on_forget_button(
                session, chat_id=1001, raw=old_forget, language_code="en"
            ),
        )

        assert button.toast == _message(rotated, "button_expired")
        assert button.edits == ()
        assert _text(link) == _message(rotated, "link_expired")
        assert forget.toast == _message(rotated, "forget_expired")
        assert forget.edits == ()
        assert customer_row(rotated.db, "cust-1") is not None
        assert _text(_start(rotated, 2002, _token(rotated, "cust-2"))).startswith("Hello")
    finally:
        rotated.db.dispose()
