"""Engine creation and schema migration.

The engine is created once by `bot/` and passed to everything that needs it. SQLite gets
WAL and `synchronous=NORMAL` on every connection (about 5x faster commits, still durable
across a process crash), a busy timeout, and transactions that take the write lock at
BEGIN, so several threads and processes can share the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Seconds to wait for PostgreSQL to accept a connection: an unreachable server is reported
# at start-up in seconds instead of after the operating system's TCP timeout.
CONNECT_TIMEOUT_SECONDS = 10
# Only the owner may read the database: it holds customers' answers and, unless SECRET_KEY
# is set, the key that signs links and buttons.
DATABASE_FILE_MODE = 0o600


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for `url`, tuned for the backend."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database).expanduser())
        # One connection, handed from thread to thread by the pool's queue: SQLite has a
        # single writer anyway, and waiting in the queue is prompt where SQLite's own busy
        # handler sleeps in steps of up to 100 ms.
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    connect_args = {} if "connect_timeout" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args=connect_args,
    )


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (SQLite gives its -wal and -shm
    files the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, DATABASE_FILE_MODE)
    os.close(descriptor)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _begin_immediate), not the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock at BEGIN. A deferred transaction that reads and then writes
    fails at once with "database is locked" when another thread wrote in between (the busy
    timeout cannot help a stale snapshot); waiting for the lock up front avoids that."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    """Build an Alembic config that runs our migrations on `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
