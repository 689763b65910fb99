"""`churnbot secret rotate`: every link made before is refused as expired afterwards."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.context import Deps
from bot.wiring import build_deps
from storage.models import AppState
from storage.session import run_unit
from tests.auxil.cli import SECRET, Invoke
from tests.auxil.environment import FakeClock, make_settings


def _start(deps: Deps, token: str) -> str:
    reply = run_unit(
        deps.db,
        lambda session: deps.accounts.on_start(
            session, chat_id=3003, payload=token, language_code="en", first_name=None
        ),
    )
    return reply.messages[0].text


def test_secret_rotate_retires_links_made_before_and_keeps_secret_key_out_of_the_database(
    invoke: Invoke, cli_db: Engine, cli_database_url: str
) -> None:
    old_token = invoke("link", "cust-1", "--token-only").output.strip()

    rotated = invoke("secret", "rotate", "--yes")

    assert rotated.exit_code == 0, rotated.output
    assert "generation 2" in rotated.output
    assert "Restart every running" in rotated.output
    stored = run_unit(cli_db, lambda session: list(session.exec(select(AppState))))
    assert all(SECRET not in row.value for row in stored)
    deps = build_deps(make_settings(cli_database_url, secret_key=SECRET), clock=FakeClock())
    try:
        assert _start(deps, old_token) == deps.accounts.messages.get("link_expired", "en")
        new_token = invoke("link", "cust-1", "--token-only").output.strip()
        assert _start(deps, new_token).startswith("Hello")
    finally:
        deps.db.dispose()


def test_secret_rotate_asks_first_and_changes_nothing_when_refused(
    cli_env: None, cli_db: Engine
) -> None:
    refused = CliRunner().invoke(app, ["secret", "rotate"], input="n\n")

    assert refused.exit_code != 0
    stored = run_unit(cli_db, lambda session: list(session.exec(select(AppState))))
    assert not [row for row in stored if row.key == "secret_generation"]
