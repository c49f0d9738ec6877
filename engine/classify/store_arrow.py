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
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from guanxi.engine.store.dialect import quoted_name
from guanxi.engine.store.sqlite import SQLiteStore

READER = Path(__file__).with_name("sqlite_reader.py")
BATCH_ROWS = 200_000  # rows per batch: DuckDB takes batches under its row group (122,880) slowly
AFFINITY = {pa.string(): "TEXT", pa.int64(): "INTEGER", pa.float64(): "REAL"}
PINNED = {pa.string(): "''", pa.int64(): "0", pa.float64(): "0.0"}  # literals of each type


class NotExact(Exception):
    """The driver cannot give exactly what the store's cursor gives: read through the cursor."""


def stored_batches(store: SQLiteStore, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The customers' `schema.names` as the store keeps them (`schema`: text, int64 or
    float64 each), as the store's cursor would give them; NotExact where it cannot. The
    driver reads in a process of its own (see sqlite_reader.py)."""
    uri = _read_only_uri(store)
    _check_affinities(store, schema)
    command = [sys.executable, "-P", str(READER), uri, str(BATCH_ROWS), _query(schema)]
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as reader:
            try:
                yield from _checked(pa.ipc.open_stream(reader.stdout), schema)
                _, error = reader.communicate()
            finally:
                if reader.returncode is None:  # left part way
                    reader.kill()
    except (OSError, pa.ArrowException) as stopped:  # a type mismatch, among others
        raise NotExact(str(stopped)) from stopped
    if reader.returncode != 0:
        raise NotExact(error.decode(errors="replace"))


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


def _query(schema: pa.Schema) -> str:
    """The customers after one row of literals that fixes each column's type, marked by the
    first column (1 for it, 0 for the customers)."""
    names = [quoted_name(name) for name in schema.names]
    pinned = ", ".join(f"{PINNED[f.type]} AS {n}" for f, n in zip(schema, names, strict=True))
    return f"SELECT 1 AS gx_pinned, {pinned} UNION ALL SELECT 0, {', '.join(names)} FROM customers"


def _checked(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The customers' batches, each checked: the literals' row first and only there, the
    types fixed, the text UTF-8."""
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
