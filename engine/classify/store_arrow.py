"""The SQLite store's customers straight into Arrow, through the ADBC SQLite driver.

Python's sqlite3 makes a Python object of every value before Arrow takes them apart again; the
ADBC driver fills the Arrow arrays in C, on a read-only connection of its own, in a process of
its own (sqlite_reader.py) that hands them over as an Arrow IPC stream. Its types are
its own, though: it infers each column's from the first batch of rows (an integer column when
that batch holds only NULLs), turns numbers into text in a text column and integers into
reals in a real column, and stops at any other value of another type. So it reads only where
it gives exactly what the store's cursor gives:

- each column's declared type has the affinity of its field's stored type (TEXT, INTEGER,
  REAL): SQLite then keeps a number written into a text column as text and an integer written
  into a real column as a real, so only values the driver stops at (text in a number column,
  a real in an integer one, a blob) can be of another type;
- a first row of literals fixes each column's type, whatever the first batch holds;
- text is checked to be UTF-8 (the driver copies the bytes as they are);
- the store is a file and its connection holds no transaction open (a separate connection
  would not see its uncommitted rows).

Otherwise, and when the driver stops, `NotExact`: the caller reads through the store's cursor,
which gives the same rows or the error it always gave.

A large store is read in ranges of rowids, by one process a core at once (a rowid table is
scanned in rowid order, so the ranges one after another are the whole scan's rows in its
order); a range read ahead of the one being taken waits in memory, so ranges hold at most
RANGE_ROWS rowids. Each
reader reads in a transaction of its own, so a write committed in between could show one
range before it and another after: if the store's `data_version` moved while they read, the
ranges are not one moment's rows, and the read is `NotExact` too.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from guanxi.engine.store.dialect import quoted_name
from guanxi.engine.store.sqlite import SQLiteStore

READER = Path(__file__).with_name("sqlite_reader.py")
BATCH_ROWS = 200_000  # rows per batch: DuckDB takes batches under its row group (122,880) slowly
AFFINITY = {pa.string(): "TEXT", pa.int64(): "INTEGER", pa.float64(): "REAL"}
PINNED = {pa.string(): "''", pa.int64(): "0", pa.float64(): "0.0"}  # literals of each type
READERS = min(os.cpu_count() or 1, 4)  # processes reading at once, each a range of rowids
SPLIT_FROM = 200_000  # rowids a range at least: below, one reader's start-up outweighs its share
RANGE_ROWS = 1_000_000  # rowids a range at most
ROWIDS = ("rowid", "_rowid_", "oid")  # SQLite's names for it, unless a column takes one


class NotExact(Exception):
    """The driver cannot give exactly what the store's cursor gives: read through the cursor."""


def stored_batches(store: SQLiteStore, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The customers' `schema.names` as the store keeps them (`schema`: text, int64 or
    float64 each), as the store's cursor would give them; NotExact where it cannot. The
    driver reads in processes of their own (see sqlite_reader.py), one a range of rowids,
    READERS at once."""
    uri = _read_only_uri(store)
    _check_affinities(store, schema)
    ranges = _rowid_ranges(store, READERS)
    moment = _data_version(store)
    started: list[_Range] = []
    whole = False
    try:
        for number in range(len(ranges)):
            while len(started) < min(len(ranges), number + READERS):
                started.append(_Range(uri, _query(schema, ranges[len(started)])))
            yield from _checked(started[number].batches(), schema)
        whole = True
    except (pa.ArrowException, OSError) as stopped:  # a type mismatch, among others
        raise NotExact(str(stopped)) from stopped
    finally:
        errors = [reading.end(whole) for reading in started]
    if any(errors):
        raise NotExact(next(error for error in errors if error))
    if len(ranges) > 1 and _data_version(store) != moment:
        raise NotExact("the customers changed while their ranges were read")


class _Range:
    """A reader's process, and a thread taking its batches as they come: the ranges after the
    one being taken are read meanwhile, their processes never waiting on a full pipe."""

    def __init__(self, uri: str, sql: str) -> None:
        command = [sys.executable, "-P", str(READER), uri, str(BATCH_ROWS), sql]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.taken: queue.SimpleQueue[pa.RecordBatch | Exception | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._take, daemon=True)
        self.thread.start()

    def _take(self) -> None:
        assert self.process.stdout is not None
        try:
            for batch in pa.ipc.open_stream(self.process.stdout):
                self.taken.put(batch)
            self.taken.put(None)
        except (pa.ArrowException, OSError) as error:  # its process stopped, or was stopped
            self.taken.put(error)

    def batches(self) -> Iterator[pa.RecordBatch]:
        while (batch := self.taken.get()) is not None:
            if isinstance(batch, Exception):
                raise batch
            yield batch

    def end(self, whole: bool) -> str:
        """What the reader said if it failed ("" if not); stopped first unless the read was
        `whole` (left part way, nobody takes the rest)."""
        if not whole:
            self.process.kill()
        self.thread.join()
        assert self.process.stdout is not None and self.process.stderr is not None
        said = self.process.stderr.read()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
        return said.decode(errors="replace") if self.process.returncode else ""


def _read_only_uri(store: SQLiteStore) -> str:
    if store.db.conn.in_transaction:
        raise NotExact("the store's connection holds a transaction open")
    files = {row[1]: row[2] for row in store.db.conn.execute("PRAGMA database_list")}
    if not files.get("main"):
        raise NotExact("the store is not a file")
    return Path(files["main"]).as_uri() + "?mode=ro"


def _check_affinities(store: SQLiteStore, schema: pa.Schema) -> None:
    declared = {row[1]: row[2] for row in store.db.conn.execute("PRAGMA table_info(customers)")}
    for field in schema:
        if field.name not in declared or affinity(declared[field.name]) != AFFINITY[field.type]:
            raise NotExact(f"column {field.name} is not of the affinity {AFFINITY[field.type]}")


def affinity(declared: str) -> str:
    """The type affinity of a column declared as `declared`, by SQLite's rules in their order."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(text in upper for text in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    if any(real in upper for real in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _rowid_ranges(store: SQLiteStore, readers: int) -> list[str]:
    """The customers' rowids cut into ranges (as WHERE clauses) for `readers` processes at
    once: at least SPLIT_FROM rowids a range and at most RANGE_ROWS (a range read ahead is kept
    in memory); [""] (every row, one reader) for a small table, or one without rowids."""
    columns = {row[1].lower() for row in store.db.conn.execute("PRAGMA table_info(customers)")}
    name = next((n for n in ROWIDS if n not in columns), None)
    if name is None or readers < 2:
        return [""]
    try:
        [(low, high)] = store.db.conn.execute(  # apart: SQLite scans for both in one SELECT
            f"SELECT (SELECT MIN({name}) FROM customers), (SELECT MAX({name}) FROM customers)"
        )
    except sqlite3.OperationalError:  # WITHOUT ROWID
        return [""]
    if low is None:
        return [""]
    span = high - low + 1
    parts = max(min(readers, span // SPLIT_FROM), -(-span // RANGE_ROWS))
    if parts <= 1:
        return [""]
    step = -(-span // parts)
    cuts = [low + step * n for n in range(1, parts)]
    wheres = [f"WHERE {name} < {cuts[0]}"]
    wheres += [f"WHERE {name} >= {a} AND {name} < {b}" for a, b in pairwise(cuts)]
    return [*wheres, f"WHERE {name} >= {cuts[-1]}"]


def _data_version(store: SQLiteStore) -> int:
    [(version,)] = store.db.conn.execute("PRAGMA data_version")
    return int(version)


def _query(schema: pa.Schema, where: str = "") -> str:
    """The customers (`where`) after one row of literals that fixes each column's type, marked
    by the first column (1 for it, 0 for the customers)."""
    names = [quoted_name(name) for name in schema.names]
    pinned = ", ".join(f"{PINNED[f.type]} AS {n}" for f, n in zip(schema, names, strict=True))
    customers = f"SELECT 0, {', '.join(names)} FROM customers {where}".rstrip()
    return f"SELECT 1 AS gx_pinned, {pinned} UNION ALL {customers}"


def _checked(reader: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A reader's batches, each checked: the literals' row first and only there, the types
    fixed, the text UTF-8."""
    pinned = 1
    for batch in reader:
        marks = batch.column(0)
        if pc.sum(marks, min_count=0).as_py() != pinned or (pinned and marks[0].as_py() != 1):
            raise NotExact("the literals' row is not the first")
        columns, pinned = [column.slice(pinned) for column in batch.columns[1:]], 0
        if [column.type for column in columns] != schema.types:
            raise NotExact(f"the driver read {batch.schema}")
        for column in columns:
            if column.type == pa.string():
                column.validate(full=True)  # ArrowInvalid for bytes that are not UTF-8
        yield pa.RecordBatch.from_arrays(columns, schema=schema)
