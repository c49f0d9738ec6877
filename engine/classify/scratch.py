"""The changes of a snapshot night into a SQLite store through a scratch file.

Row by row, the changes would travel from DuckDB through Python objects into the store
(fetched, then bound one value at a time): ten million new customers spend a minute there.
Instead DuckDB hands them as Arrow batches to the ADBC SQLite driver, which writes them in C
into a scratch SQLite file; the store's connection attaches that file (before its
transaction: SQLite attaches nothing inside one) and reads it with plain SQL. The store's
write stays one transaction on its own connection.

The changes are found before the store's run exists: a customer newly held waits since the
run NO_RUN, replaced by the run's id as the store reads the changes (`scratch_rows`: straight
from the scratch file, without a copy into `_gx_changed`) and in DuckDB's own table
(`settle_run`).

A store without assignments (a first night) needs less: every customer is new, its
transition comes from NULL and nothing is held, so `insert_first` writes the assignments and
transitions straight from the scratch file, without `_gx_changed` and its join to the
assignments (apply.py). If another run assigned customers meanwhile (`still_empty`, checked
again inside the transaction), the changes take the general way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_manager
import adbc_driver_sqlite
import duckdb

from guanxi.engine.classify.apply import TRANSITION, Applied, Changed, utc_text
from guanxi.engine.classify.codes import Codes
from guanxi.engine.classify.hold import ASSIGNED, PENDING, WAITING
from guanxi.engine.classify.mirror import COLUMNS
from guanxi.engine.store.assignments import CHANGES, TABLE
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

NO_RUN = 0  # the run's id until it exists; real ones count from 1
SCRATCH = "_gx_scratch"  # the scratch file, as the store's connection attaches it
NEW = "changes"  # its table
SINCE = tuple(c for c in PENDING if c.endswith("_since"))
BATCH = 100_000
INGEST_TABLE = adbc_driver_manager.StatementOptions.INGEST_TARGET_TABLE.value
INGEST_MODE = adbc_driver_manager.StatementOptions.INGEST_MODE.value
PREFIX = "guanxi-changes-"  # the scratch folder's name in the temporary folder, then the pid


@dataclass(frozen=True)
class Scratch:
    table: str  # the changes, in the attached scratch file
    first: bool  # found for a store without assignments: only ASSIGNED, every customer new


def still_empty(store: Store) -> bool:
    """Whether no customer has an assignment (nor a change kept apart)."""
    [row] = store.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE}) AND NOT EXISTS (SELECT 1 FROM {CHANGES})"
        " AS empty"
    )
    return bool(row["empty"])


@contextlib.contextmanager
def scratch_changes(
    duck: duckdb.DuckDBPyConnection, store: Store, find: Callable[[], str], codes: Codes
) -> Iterator[Scratch | None]:
    """For a SQLite store: `find()` (DuckDB's table of the changes, found with NO_RUN, its
    answers `codes`) written into a scratch file attached to the store's connection, answers
    named, detached and deleted afterwards. None for any other store."""
    if not isinstance(store, SQLiteStore):
        yield None
        return
    empty = still_empty(store)
    changes = find()
    first = empty and not _pending(duck, changes)
    _sweep_left_behind()
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    try:
        path = Path(folder, "changes.db")
        _ingest(duck, changes, codes.named(ASSIGNED if first else COLUMNS), path)
        store.db.execute(f"ATTACH ? AS {SCRATCH}", [str(path)])
        try:
            yield Scratch(f"{SCRATCH}.{NEW}", first)
        finally:
            store.db.execute(f"DETACH {SCRATCH}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_left_behind() -> None:
    """Scratch folders of runs whose process is gone (killed part way): a first night's
    holds every customer, hundreds of MB that nothing else would remove."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _pending(duck: duckdb.DuckDBPyConnection, changes: str) -> bool:
    """Whether a change holds an answer pending (only an assigned customer's can)."""
    return bool(duck.execute(f"SELECT EXISTS (FROM {changes} WHERE {WAITING})").fetchall()[0][0])


def _ingest(duck: duckdb.DuckDBPyConnection, changes: str, columns: str, path: Path) -> None:
    """`columns` (a select list) of the changes into a new SQLite file, in key order (as the
    store's index grows)."""
    ordered = duck.sql(f"SELECT {columns} FROM {changes} ORDER BY customer_id")
    # the driver's own API: its DB-API module imports pyarrow.dataset and pandas (0.15 s)
    with (
        adbc_driver_sqlite.connect(str(path)) as database,
        adbc_driver_manager.AdbcConnection(database) as connection,
        adbc_driver_manager.AdbcStatement(connection) as statement,
    ):
        connection.set_autocommit(False)  # one transaction, not one a batch
        statement.set_options(**{INGEST_TABLE: NEW, INGEST_MODE: "adbc.ingest.mode.create"})
        statement.bind_stream(ordered.to_arrow_reader(BATCH))
        statement.execute_update()
        connection.commit()


def settle_run(duck: duckdb.DuckDBPyConnection, changes: str, run_id: int) -> None:
    """The run's id in DuckDB's table of the changes, where it waited as NO_RUN."""
    for column in SINCE:
        duck.execute(f"UPDATE {changes} SET {column} = ? WHERE {column} = ?", [run_id, NO_RUN])


def scratch_rows(scratch: Scratch, run_id: int) -> Changed:
    """The scratch file's changes as apply_changes reads them, with the run's id; what a
    first night's scratch leaves out (the pending columns) is the table's default."""
    values = {c: f"c.{c}" for c in ASSIGNED}
    for column in PENDING:
        if scratch.first:
            values[column] = "0" if column.endswith("_runs") else "NULL"
        elif column in SINCE:
            values[column] = f"CASE c.{column} WHEN {NO_RUN} THEN {int(run_id)} ELSE c.{column} END"
        else:
            values[column] = f"c.{column}"
    return Changed(scratch.table, values)


def insert_first(
    store: Store, scratch: Scratch, run_id: int, ruleset_hash: str, now: dt.datetime
) -> Applied:
    """Every customer of a first night's scratch into the assignments, as apply_changes
    writes a new one (the pending columns their defaults), and its transition from NULL;
    (changed, transitions, held) as apply_changes counts them."""
    values = {"run": run_id, "hash": ruleset_hash, "at": utc_text(now)}
    columns = ", ".join(ASSIGNED)
    store.execute(
        f"INSERT INTO {TABLE} ({columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT {columns}, :run, :hash, :at FROM {scratch.table}",
        values,
    )
    store.execute(
        f"{TRANSITION} SELECT :run, customer_id,"
        f" NULL, tier, NULL, level, NULL, strategy, NULL, gold, :at FROM {scratch.table}",
        values,
    )
    [row] = store.execute("SELECT changes() AS n")  # the rows the last INSERT wrote
    written = int(row["n"])
    return Applied(written, written, 0)
