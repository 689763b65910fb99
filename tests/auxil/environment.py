"""The test environment: settings, a clock the tests move, PostgreSQL schemas, shared data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.settings import Settings

POSTGRES_ADMIN_URLS = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def find_postgres_admin_url() -> str | None:
    """The first PostgreSQL test database that answers, or None."""
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


@contextmanager
def postgres_schema(admin_url: str) -> Iterator[str]:
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


class FakeClock:
    """A clock the tests move by hand (the domain takes the clock as a dependency)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


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


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
