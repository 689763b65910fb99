"""Units of work: one session and one transaction per customer action or job step.

`run_unit` is the one way to run database work; `transact` is the same unit run in a
worker thread, for async callers. Work that pays for Core statements runs them on the
session's connection (`session.connection()`), inside the same transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
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
