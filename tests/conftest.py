"""Shared fixtures: a migrated database on SQLite and (in CI) PostgreSQL, settings, deps.

Helpers (settings, the fake clock, factories, the running bot) live in tests/auxil/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.context import Deps
from bot.settings import Settings
from bot.wiring import build_deps
from tests.auxil.environment import (
    SHARED_DATA,
    FakeClock,
    find_postgres_admin_url,
    make_settings,
    postgres_schema,
)
from tests.auxil.stripe_api import StripeServer


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = find_postgres_admin_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (database test); CI runs it")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'churnbot.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, for tests about several instances sharing one database."""
    with postgres_schema(postgres_admin_url) as url:
        yield url


@pytest.fixture
def stripe_server() -> Iterator[StripeServer]:
    """A fresh Stripe API stand-in per test on a free port (STRIPE_API_BASE_URL: .base)."""
    with StripeServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def deps(settings: Settings, clock: FakeClock) -> Iterator[Deps]:
    built = build_deps(settings, clock=clock)
    yield built
    built.db.dispose()


@pytest.fixture
def db(deps: Deps) -> Engine:
    return deps.db


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "churn_reasons_dev.jsonl").exists():
        pytest.skip(f"shared data set not found at {SHARED_DATA}")
    return SHARED_DATA
