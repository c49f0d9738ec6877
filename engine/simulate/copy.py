"""The copy a simulation works on: the live store is read, never written.

SQLite's backup API copies the store page by page, with what its write-ahead log holds, into
a new file. The live file is opened read-only; while no other connection has it open (no
`-wal` file beside it), it is opened `immutable`, so that not even the empty `-wal` and `-shm`
files a read-only connection would create appear beside it. Should a writer open it during
that copy, the copy is made again under SQLite's locks.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from guanxi.engine.errors import SimulationError
from guanxi.engine.i18n import _


def copy_store(live: Path, into: Path) -> None:
    """Copy the SQLite store at `live` into the new file `into`, without writing to `live`."""
    if not live.is_file():
        raise SimulationError(
            _("no store at '{store}': load and classify customers first").format(store=live)
        )
    wal = live.with_name(live.name + "-wal")
    try:
        if wal.exists():
            _backup(_uri(live, "mode=ro"), into)
            return
        before = _stamp(live)
        _backup(_uri(live, "mode=ro&immutable=1"), into)
        if wal.exists() or _stamp(live) != before:  # a writer came in the meantime
            into.unlink()
            _backup(_uri(live, "mode=ro"), into)
    except sqlite3.DatabaseError as error:
        raise SimulationError(
            _("cannot copy the store '{store}': {error}").format(store=live, error=error)
        ) from None


def _uri(path: Path, query: str) -> str:
    return f"{path.resolve().as_uri()}?{query}"


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def _backup(source_uri: str, into: Path) -> None:
    with (
        contextlib.closing(sqlite3.connect(source_uri, uri=True)) as source,
        contextlib.closing(sqlite3.connect(into)) as target,
    ):
        source.backup(target)


def duplicate(copy: Path, into: Path) -> None:
    """A second copy of a copy (the baseline's): the same data, page for page."""
    _backup(_uri(copy, "mode=ro"), into)
