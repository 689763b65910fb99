"""Units of work: one session and one transaction per customer action or job step.

`run_unit` is the one way to run database work; `transact` is the same unit run in a
worker thread, for async callers, and `GroupWriter` runs the answer path's units on one
thread, several to a transaction. Work that pays for Core statements runs them on the
session's connection (`session.connection()`), inside the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

log = logging.getLogger(__name__)

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


class GroupWriter:
    """The answer path's one database thread.

    Answer units are queued to one dedicated thread, which commits the units queued while
    it was busy in one transaction: one BEGIN/COMMIT and one pool checkout for the lot, and
    no hand-off of the connection and the GIL between worker threads per answer. A unit
    that fails rolls its group back; each unit of that group then runs again alone, so a
    bad unit costs only itself. A caller gets its result only after the COMMIT that made
    its work durable (a reply never announces what a crash could still undo). Units must
    be safe to run again after a rollback (they are database work and nothing else).
    """

    def __init__(self, engine: Engine, *, max_group: int = 64) -> None:
        self._engine = engine
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Unit[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in the writer's next transaction; return its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="churnbot-group-writer", daemon=True
                )
                self._thread.start()
            self._queue.put(_Unit(work, loop, future))
        return await future

    def close(self) -> None:
        """Finish the queued units and stop the thread (a later `run` starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        while True:
            unit = self._queue.get()
            if unit is None:
                return
            group = [unit]
            stop = False
            while len(group) < self._max_group:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                group.append(queued)
            self._run_group(group)
            if stop:
                return

    def _run_group(self, group: list[_Unit[Any]]) -> None:
        if len(group) > 1:
            try:
                results = run_unit(self._engine, lambda s: [unit.work(s) for unit in group])
            except Exception:
                log.info("a group of %d answer units failed: each runs again alone", len(group))
            else:
                for unit, result in zip(group, results, strict=True):
                    unit.resolve(result)
                return
        for unit in group:
            try:
                result = run_unit(self._engine, unit.work)
            except Exception as error:
                unit.fail(error)
            else:
                unit.resolve(result)


@dataclass(frozen=True)
class _Unit(Generic[T]):
    """One queued unit of work and where its caller waits."""

    work: Callable[[Session], T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]

    def resolve(self, result: T) -> None:
        self._settle(lambda: self.future.set_result(result))

    def fail(self, error: Exception) -> None:
        self._settle(lambda: self.future.set_exception(error))

    def _settle(self, settle: Callable[[], None]) -> None:
        def apply() -> None:
            if not self.future.done():  # the caller may have given up (cancelled)
                settle()

        try:
            self.loop.call_soon_threadsafe(apply)
        except RuntimeError:
            log.warning("an answer unit finished after its event loop closed")
