"""The answer path's group writer: units queued meanwhile share a transaction, a bad unit
fails alone, and nobody hears of a result before its COMMIT."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session

from storage.session import GroupWriter


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'writer.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE note (name TEXT NOT NULL)"))
    yield engine
    engine.dispose()


def _names(engine: Engine) -> list[str]:
    """What another connection sees: committed rows only."""
    with engine.connect() as connection:
        return sorted(connection.execute(text("SELECT name FROM note")).scalars())


def _commits(engine: Engine) -> list[int]:
    counted = [0]

    @event.listens_for(engine, "commit")
    def _count(_connection: object) -> None:
        counted[0] += 1

    return counted


async def test_a_failing_unit_fails_alone_and_the_rest_of_its_group_commits(
    engine: Engine,
) -> None:
    writer = GroupWriter(engine)
    ran: Counter[str] = Counter()
    gate = threading.Event()

    def hold(session: Session) -> str:
        gate.wait(timeout=10)  # keeps the writer busy while the group queues up
        return "held"

    def insert(name: str) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            ran[name] += 1
            session.connection().execute(text("INSERT INTO note VALUES (:n)"), {"n": name})
            if name == "bad":
                raise ValueError("bad unit")
            return name

        return work

    first = asyncio.ensure_future(writer.run(hold))
    await asyncio.sleep(0.1)
    queued = [asyncio.ensure_future(writer.run(insert(n))) for n in ("a", "bad", "b")]
    await asyncio.sleep(0.1)
    gate.set()
    results = await asyncio.gather(first, *queued, return_exceptions=True)
    writer.close()

    assert results[:2] == ["held", "a"]
    assert isinstance(results[2], ValueError)
    assert results[3] == "b"
    # The group ran together until the bad unit (and was rolled back), then each alone.
    assert ran == Counter({"a": 2, "bad": 2, "b": 1})
    assert _names(engine) == ["a", "b"]


async def test_units_queued_meanwhile_share_one_commit_and_see_it_before_their_result(
    engine: Engine,
) -> None:
    writer = GroupWriter(engine)
    commits = _commits(engine)
    gate = threading.Event()
    seen_at_result: list[list[str]] = []

    def hold(session: Session) -> None:
        gate.wait(timeout=10)

    def insert(name: str) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            session.connection().execute(text("INSERT INTO note VALUES (:n)"), {"n": name})
            return name

        return work

    async def answer(name: str) -> str:
        result = await writer.run(insert(name))
        seen_at_result.append(_names(engine))
        return result

    first = asyncio.ensure_future(writer.run(hold))
    await asyncio.sleep(0.1)
    names = [f"n{i}" for i in range(5)]
    answers = [asyncio.ensure_future(answer(name)) for name in names]
    await asyncio.sleep(0.1)
    gate.set()
    await first
    assert await asyncio.gather(*answers) == names
    writer.close()

    # The five queued meanwhile shared one COMMIT (the unit that held the thread wrote
    # nothing, so it committed nothing).
    assert commits[0] == 1
    # Every caller, when its result arrived, found all five rows committed.
    assert seen_at_result == [names] * 5


async def test_the_writer_runs_again_after_close(engine: Engine) -> None:
    writer = GroupWriter(engine)

    def insert(session: Session) -> int:
        session.connection().execute(text("INSERT INTO note VALUES ('x')"))
        return 1

    assert await writer.run(insert) == 1
    writer.close()
    assert await writer.run(insert) == 1
    writer.close()
    assert _names(engine) == ["x", "x"]
