"""One sender per database: the instance allowed to deliver surveys.

Telegram's budget (about 30 messages a second overall, one a second per chat) belongs to
the bot, not to a process. Pacing in each process cannot keep it when several instances
share one database: two pacers at 29.5/s make 59/s. Rather than share a budget through
the database (a reservation per message or per batch, a clock shared across machines,
and no way to know when a request reached Telegram), one instance is elected to send and
paces alone with `handlers.telegram.pacing`, whose guarantee holds within one process
whatever the delays on the way.

The election is a PostgreSQL session-level advisory lock (`pg_try_advisory_lock`) held on
a dedicated connection of the sender. Its key names the schema, so separate schemas (and
separate clusters) on one database do not exclude one another. The other instances try
again at every delivery tick and otherwise only serve (events, answers, Slack). When the
sender dies, its connection closes, PostgreSQL frees the lock at once, and the next
instance to try takes over within one delivery tick. A sender checks its connection before
each batch and each chunk of sends; a sender that lost it stops sending. (This needs a
direct connection or a session-mode pooler: a transaction-mode pooler such as pgbouncer's
would drop a session lock.)

Whoever acquires the lock knows that every claim in the outbox belongs to a sender that
is gone, so it recovers them at once rather than after the claim timeout; before its first
send it waits out the window its predecessor may have filled (`surveys.delivery`).

SQLite is single-instance: the process is the sender, and its first pass is the moment
it acquires the role (claims left in the file belong to a process that is gone).
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtextextended(:name || current_schema(), 0))")
_ALIVE = text("SELECT 1")
LOCK_NAME = "churnbot-delivery:"


class SenderState(StrEnum):
    """What this instance may do in this pass of the outbox."""

    ACQUIRED = "acquired"  # just became the sender: recover the claims of the previous one
    HELD = "held"  # the sender, as in the previous pass
    STANDBY = "standby"  # another instance sends


class SenderLock:
    """The sender role for one database (see the module docstring). Thread-safe: its
    methods run in worker threads, possibly two at once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._exclusive = engine.dialect.name == "postgresql"
        self._mutex = threading.Lock()
        self._connection: Connection | None = None
        self._held = False

    @property
    def exclusive(self) -> bool:
        """Whether other instances may share the database (and so compete for the role)."""
        return self._exclusive

    def acquire(self) -> SenderState:
        """Take the role if it is free; say whether this instance holds it."""
        with self._mutex:
            if not self._exclusive:
                state = SenderState.HELD if self._held else SenderState.ACQUIRED
                self._held = True
                return state
            if self._alive():
                return SenderState.HELD
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                acquired = bool(connection.execute(_TRY_LOCK, {"name": LOCK_NAME}).scalar_one())
            except Exception:
                connection.invalidate()
                connection.close()
                raise
            if not acquired:
                connection.close()
                return SenderState.STANDBY
            self._connection = connection
            log.info("this instance is now the sender of surveys")
            return SenderState.ACQUIRED

    def held(self) -> bool:
        """Whether this instance still holds the role (its lock's session is alive)."""
        with self._mutex:
            return self._held if not self._exclusive else self._alive()

    def release(self) -> None:
        """Give the role up (at shutdown), so another instance takes over at once."""
        with self._mutex:
            self._held = False
            self._drop()

    def _alive(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(_ALIVE)
        except Exception:
            log.warning("lost the connection holding the sender lock; no longer sending")
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        """Close the lock's connection for good: PostgreSQL frees the lock with it (the
        pool must never hand a connection holding the lock to other work)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.invalidate()
                connection.close()
            except Exception:
                log.debug("closing the sender lock's connection failed", exc_info=True)
