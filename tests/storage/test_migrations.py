"""The Alembic migrations build exactly the schema the SQLModel tables describe."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import storage
from storage import db as database

# Every table module (storage/models*.py) registers its tables on SQLModel.metadata; the
# reports tables live in their own module until they are merged into models.py.
for _module in pkgutil.iter_modules(storage.__path__):
    if _module.name.startswith("models"):
        importlib.import_module(f"storage.{_module.name}")


def _head(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(database.alembic_config(engine)).get_current_head()


def _schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_upgrade_on_empty_database_produces_the_models_schema(database_url: str) -> None:
    engine = database.make_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        assert _head(engine) is not None
        database.upgrade(engine)

        assert database.current_revision(engine) == _head(engine)
        assert set(inspect(engine).get_table_names()) == {
            *SQLModel.metadata.tables,
            "alembic_version",
        }
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless(database_url: str) -> None:
    engine = database.make_engine(database_url)
    try:
        database.upgrade(engine)
        database.upgrade(engine)

        assert database.current_revision(engine) == _head(engine)
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()
