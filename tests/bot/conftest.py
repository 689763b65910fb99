"""Fixtures for the command-line tests: a clean environment and a SQLite file in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine
from typer.testing import CliRunner

from bot.cli import app
from bot.context import Deps
from bot.wiring import build_deps
from storage import db as database
from tests.auxil.cli import BOT_USERNAME, FOREIGN_SETTINGS, SECRET, Invoke
from tests.auxil.environment import FakeClock, make_settings


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """The CLI sets a private umask for its process; give the test process its own back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.fixture
def cli_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli_database_url: str) -> None:
    """Environment-only settings, run from tmp_path so no .env file is read."""
    for name in FOREIGN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", cli_database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", BOT_USERNAME)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def invoke(cli_env: None) -> Invoke:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def cli_db(cli_env: None, cli_database_url: str) -> Iterator[Engine]:
    """The CLI's database, migrated, for checking what the commands stored."""
    engine = database.make_engine(cli_database_url)
    database.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def cli_deps(cli_env: None, cli_database_url: str) -> Iterator[Deps]:
    """The domain services on the CLI's database, signing with the CLI's SECRET_KEY."""
    built = build_deps(make_settings(cli_database_url, secret_key=SECRET), clock=FakeClock())
    yield built
    built.db.dispose()
