"""Which of several daemons on one store runs the scheduled jobs (classification, recurring
planning, planning new events): the leader. Every daemon dispatches; only the leader plans,
so the nightly classification runs once however many daemons share the store.

On PostgreSQL the leader is the daemon holding a session-level advisory lock
(`pg_try_advisory_lock`) on a connection of its own. The lock lives as long as that
connection: when the leader dies, the server ends its session and frees the lock, and the
next daemon to ask takes it (every daemon asks at every tick). The lock is keyed by the
schema, so rule projects in different schemas of one database each have their own leader.

A SQLite store is one machine's file, and its daemons that machine's processes: the leader
is the daemon holding an exclusive `flock` on the file `<store>.leader` beside it. The system
frees it when the process ends, however it ends, and the next daemon to ask takes it. Without
it, two daemons started on one store would each classify every night: two runs in one night
would satisfy a `hold: 2 runs` meant to take two nights. An in-memory store has one daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import weakref
from pathlib import Path
from typing import Any, Protocol

import psycopg

from guanxi.engine.store.base import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

LEADER_LOCK = 7_416_012  # with the schema's hash, the advisory lock's key


class Leadership(Protocol):
    def held(self) -> bool:
        """Whether this daemon is the leader now; takes the lead when it is free."""

    def release(self) -> None:
        """Give up the lead (on shutdown), so another daemon takes it at once."""


class SoleLeader:
    """The only daemon of its store."""

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLock:
    """The lead as an exclusive lock on a file of its own beside a SQLite store; a daemon
    dropped without stopping (as its process ending would) lets go of it too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._closing: weakref.finalize[[int], FileLock] | None = None

    def held(self) -> bool:
        if self._closing is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another daemon leads
                os.close(fd)
                return False
            self._closing = weakref.finalize(self, os.close, fd)
        return True

    def release(self) -> None:
        if self._closing is not None:
            self._closing()  # closing the file frees its lock
            self._closing = None


class AdvisoryLock:
    """The lead as a PostgreSQL advisory lock held by a connection of this daemon's own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None

    def held(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._take()
            else:
                self._conn.execute("SELECT 1")  # our session, and with it the lock, still there
        except psycopg.Error:  # the server or our session is gone, and so is the lead
            self.release()
        return self._conn is not None

    def _take(self) -> psycopg.Connection[Any] | None:
        """A connection holding the lock, or None when another daemon holds it."""
        conn = psycopg.connect(self.url, autocommit=True)
        try:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", [LEADER_LOCK]
            ).fetchone()
        except BaseException:
            conn.close()
            raise
        if row and row[0]:
            return conn
        conn.close()
        return None

    def release(self) -> None:
        if self._conn is not None:
            # Unlock before closing: the server frees a closed session's locks only when its
            # backend process has exited, a moment later, and a follower asking at once
            # would still find the lead taken. A session already gone holds nothing.
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock_all()")
            self._conn.close()
            self._conn = None


def leadership(store: Store) -> Leadership:
    """How the daemons of `store` choose their leader."""
    if isinstance(store, PostgresStore):
        return AdvisoryLock(store.url)
    if isinstance(store, SQLiteStore) and str(store.path) != ":memory:":
        return FileLock(Path(f"{store.path}.leader"))
    return SoleLeader()
