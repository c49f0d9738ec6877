"""The first write-back into a SQLite store without assignments: every customer is new.

The general write-back copies the changes row by row through Python into a temporary table
of the store, joins them to the current assignments and writes from the join: ten million
new customers spend a minute there and gigabytes of memory (the temporary tables). When the
store has no assignment yet, each classified customer is simply new: its transition comes
from NULL and nothing is held. DuckDB then hands the changes as Arrow batches to the ADBC
SQLite driver, which writes them in C into a scratch SQLite file; the store's connection
attaches that file (before its transaction: SQLite attaches nothing inside one) and inserts
from it into `assignments` and `transitions`, in key order. The store's write stays one
transaction on its own connection; if another writer assigned customers meanwhile, the run
takes the general path inside its transaction (`still_empty`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import adbc_driver_sqlite.dbapi
import duckdb

from guanxi.engine.classify.apply import utc_text
from guanxi.engine.classify.hold import LADDERS, PENDING
from guanxi.engine.store.assignments import CHANGES, TABLE
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

SCRATCH = "_gx_scratch"  # the scratch file, as the store's connection attaches it
NEW = "new_assignments"  # its table
ASSIGNED = ("customer_id", "gold", *LADDERS)  # what a new customer's assignment says
BATCH = 100_000


def still_empty(store: Store) -> bool:
    """Whether no customer has an assignment (nor a change kept apart)."""
    [row] = store.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE}) AND NOT EXISTS (SELECT 1 FROM {CHANGES})"
        " AS empty"
    )
    return bool(row["empty"])


@contextlib.contextmanager
def scratch_changes(
    duck: duckdb.DuckDBPyConnection, store: Store, find: Callable[[], str]
) -> Iterator[str | None]:
    """For a SQLite store without assignments: `find()` (DuckDB's table of the changes, which
    are then every customer, nothing pending) written into a scratch file attached to the
    store's connection; its table, detached and deleted afterwards. None for any other store,
    and whenever a change holds something pending (then the general path writes)."""
    if not isinstance(store, SQLiteStore) or not still_empty(store):
        yield None
        return
    changes = find()
    if _pending(duck, changes):
        yield None
        return
    folder = tempfile.mkdtemp(prefix="guanxi-first-")
    try:
        path = Path(folder, "changes.db")
        _ingest(duck, changes, path)
        store.db.execute(f"ATTACH ? AS {SCRATCH}", [str(path)])
        try:
            yield f"{SCRATCH}.{NEW}"
        finally:
            store.db.execute(f"DETACH {SCRATCH}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pending(duck: duckdb.DuckDBPyConnection, changes: str) -> bool:
    """Whether a change holds an answer pending (only an assigned customer's can)."""
    waiting = " OR ".join(f"{c} > 0" for c in PENDING if c.endswith("_runs"))
    return bool(duck.execute(f"SELECT EXISTS (FROM {changes} WHERE {waiting})").fetchall()[0][0])


def _ingest(duck: duckdb.DuckDBPyConnection, changes: str, path: Path) -> None:
    """The new assignments into a new SQLite file, in key order (as the store's index grows)."""
    ordered = duck.sql(f"SELECT {', '.join(ASSIGNED)} FROM {changes} ORDER BY customer_id")
    with adbc_driver_sqlite.dbapi.connect(str(path)) as conn, conn.cursor() as cursor:
        cursor.adbc_ingest(NEW, ordered.to_arrow_reader(BATCH), mode="create")
        conn.commit()


def insert_first(
    store: Store, source: str, run_id: int, ruleset_hash: str, now: dt.datetime
) -> tuple[int, int, int]:
    """Every customer of `source` into the assignments, as apply_changes writes a new one
    (the pending columns their defaults), and its transition from NULL; (changed,
    transitions, held) as apply_changes counts them."""
    values = {"run": run_id, "hash": ruleset_hash, "at": utc_text(now)}
    columns = ", ".join(ASSIGNED)
    store.execute(
        f"INSERT INTO {TABLE} ({columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT {columns}, :run, :hash, :at FROM {source}",
        values,
    )
    store.execute(
        "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level, to_level,"
        " from_strategy, to_strategy, from_gold, to_gold, at) SELECT :run, customer_id,"
        f" NULL, tier, NULL, level, NULL, strategy, NULL, gold, :at FROM {source}",
        values,
    )
    [row] = store.execute("SELECT changes() AS n")  # the rows the last INSERT wrote
    written = int(row["n"])
    return written, written, 0
