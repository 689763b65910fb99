"""Units of work: one session and one transaction per customer action or job step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlmodel import Session

T = TypeVar("T")


def run_unit(engine: Engine, work: Callable[[Session], T]) -> T:
    """Run `work` in a new session and commit; roll back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        result = work(session)
        session.commit()
        return result


async def transact(engine: Engine, work: Callable[[Session], T]) -> T:
    """`run_unit` in a worker thread, so sync database work never blocks the event loop."""
    return await asyncio.to_thread(run_unit, engine, work)


def run_statements(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` on one connection in one transaction (Core statements, no ORM session):
    the answer path, where the ORM's bookkeeping would cost more than the SQL."""
    with engine.begin() as connection:
        return work(connection)


async def transact_statements(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`run_statements` in a worker thread."""
    return await asyncio.to_thread(run_statements, engine, work)
