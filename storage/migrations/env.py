"""Alembic environment: runs on the engine handed over by `storage.db.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import make_engine

config = context.config
target_metadata = SQLModel.metadata
# First key of the PostgreSQL advisory lock held while migrating ("chnb"); the second is
# the schema's hash, so databases in different schemas migrate independently.
MIGRATION_LOCK_KEY = 0x63686E62


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("alembic needs an engine or sqlalchemy.url")
        engine = make_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Instances starting together on a fresh database would both create the tables;
            # the second waits here, then finds the schema at head and has nothing to do.
            # A transaction-level lock: released by the commit, or if the process dies.
            connection.execute(
                text(
                    "SELECT pg_advisory_xact_lock(:key, hashtext(coalesce(current_schema(), '')))"
                ),
                {"key": MIGRATION_LOCK_KEY},
            )
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations()
