"""Shared fixtures: a migrated database on SQLite and (in CI) PostgreSQL, settings, deps."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bot.context import Deps
from bot.settings import Settings
from bot.wiring import build_deps
from tests.auxil.stripe_api import StripeServer

# Opt in to PTB 22's timedelta `retry_after` (what the sender expects) before telegram loads.
os.environ.setdefault("PTB_TIMEDELTA", "1")

POSTGRES_ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _postgres_admin_url() -> str | None:
    for url in POSTGRES_ADMIN_URLS:
        try:
            engine = create_engine(url, connect_args={"connect_timeout": 2})
            with engine.connect():
                pass
            engine.dispose()
            return url
        except Exception:
            continue
    return None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _postgres_admin_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (database test); CI runs it")
    return url


@contextmanager
def _postgres_schema(admin_url: str) -> Iterator[str]:
    """A private schema on the shared test database, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'churnbot.db'}"
        return
    with _postgres_schema(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, for tests about several instances sharing one database."""
    with _postgres_schema(postgres_admin_url) as url:
        yield url


@pytest.fixture
def stripe_server() -> Iterator[StripeServer]:
    """A fresh Stripe API stand-in per test on a free port (STRIPE_API_BASE_URL: .base)."""
    with StripeServer() as server:
        yield server


class FakeClock:
    """A clock the tests move by hand (the domain takes the clock as a dependency)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key",
        "telegram_bot_token": "123456:TEST-TOKEN",
        "telegram_bot_username": "churnbot_test_bot",
        "delivery_interval_seconds": 0.2,
        "quiet_hours": "",
        "http_port": 0,
        "events_api_token": "test-events-token",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
