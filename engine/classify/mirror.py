"""The store's current assignments as DuckDB sees them, for the snapshot engine's comparison.

Reading ten million assignments out of SQLite row by row takes longer than classifying them,
so the snapshot engine keeps a columnar copy in a DuckDB file next to a SQLite store,
`<store>.assignments.duckdb`, stamped with the classification run it reflects. The copy is
used only while it provably equals the store: its run is the store's latest run and the row
counts agree. Any other run (a `classify` inside the store, a run whose copy failed to
commit) makes it stale; it is then rebuilt from the store. The copy's changes are committed
only after the store has committed, so a crash leaves it stale, never wrong. A PostgreSQL
store, which other machines write too, is read afresh into memory at every run. The copy holds
the answers as codes, named by its dictionary (codes.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from guanxi.engine.classify.codes import CODE, NAMES, Codes, load_codes
from guanxi.engine.classify.hold import LADDERS, PENDING_TYPES
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.assignments import VIEW
from guanxi.engine.store.base import Store

TABLE = "mirror.assignments"
PLACE = "copy_row"  # a stored row's place in the copy (its rowid), as the comparison found it
BATCH = 200_000
STORED = {  # as the store holds them
    "customer_id": "TEXT",
    "gold": "BOOLEAN",
    **dict.fromkeys(LADDERS, "TEXT"),
    **PENDING_TYPES,
}
COLUMNS = tuple(STORED)
NAMED = tuple(c for c, kind in STORED.items() if kind == "TEXT" and c != "customer_id")
TYPES = {c: CODE if c in NAMED else kind for c, kind in STORED.items()}  # the copy's own
ARROW_TYPES = {
    "TEXT": pa.string(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
}
ARROW_SCHEMA = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in STORED.items()])


def mirror_path(store_path: Path | None) -> str:
    return ":memory:" if store_path is None else f"{store_path}.assignments.duckdb"


def open_mirror(
    duck: duckdb.DuckDBPyConnection, store: Store, path: str, ruleset: RuleSet
) -> tuple[str, Codes]:
    """Attach the copy as `mirror` and make it equal the store's assignments; say how, and
    give the codes of its answers (with the names `ruleset` gives)."""
    duck.execute("ATTACH ? AS mirror", [path])
    _drop_if_older(duck)
    columns = ", ".join(f"{name} {kind}" for name, kind in TYPES.items())
    duck.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
    duck.execute("CREATE TABLE IF NOT EXISTS mirror.meta (run_id BIGINT)")
    duck.execute(f"CREATE TABLE IF NOT EXISTS {NAMES} (kind TEXT, code {CODE}, name TEXT)")
    if _is_current(duck, store):
        return "copy", load_codes(duck, ruleset, {})
    table = pa.Table.from_batches(list(_batches(store)), schema=ARROW_SCHEMA)  # on this thread
    codes = load_codes(duck, ruleset, _names_in(table))
    _reload(duck, table, codes)
    return "store", codes


def _drop_if_older(duck: duckdb.DuckDBPyConnection) -> None:
    """A copy written by an older guanxi (other columns, or answers as text) is dropped, to be
    rebuilt, with its dictionary."""
    found = duck.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'mirror'"
        " AND table_name = 'assignments' ORDER BY column_index"
    ).fetchall()
    if found and tuple((str(n), str(t)) for n, t in found) != tuple(_declared()):
        duck.execute(f"DROP TABLE {TABLE}")
        duck.execute("DROP TABLE IF EXISTS mirror.meta")
        duck.execute(f"DROP TABLE IF EXISTS {NAMES}")


def _declared() -> list[tuple[str, str]]:
    """The copy's columns and their types as DuckDB names them."""
    spelt = {"TEXT": "VARCHAR"}
    return [(name, spelt.get(kind, kind)) for name, kind in TYPES.items()]


def _is_current(duck: duckdb.DuckDBPyConnection, store: Store) -> bool:
    [latest] = store.execute("SELECT MAX(id) AS id FROM classification_runs")
    stamp = duck.execute("SELECT MAX(run_id) FROM mirror.meta").fetchall()[0][0]
    if latest["id"] is None or stamp != latest["id"]:
        return False
    copied = duck.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchall()[0][0]
    [stored] = store.execute("SELECT COUNT(*) AS n FROM assignments")  # = the view's
    return bool(copied == stored["n"])


def _names_in(table: pa.Table) -> dict[str, list[str]]:
    """Per ladder, the names the store's assignments hold (answers and pending ones)."""
    found: dict[str, list[str]] = {kind: [] for kind in LADDERS}
    for column in NAMED:
        kind = column.removeprefix("pending_")
        found[kind] += [str(n) for n in pc.unique(table[column]).to_pylist() if n is not None]
    return found


def _reload(duck: duckdb.DuckDBPyConnection, table: pa.Table, codes: Codes) -> None:
    duck.register("_gx_stored", table)
    duck.execute("BEGIN")
    duck.execute(f"DELETE FROM {TABLE}")
    duck.execute(f"INSERT INTO {TABLE} SELECT * REPLACE ({codes.encoded(NAMED)}) FROM _gx_stored")
    duck.execute("DELETE FROM mirror.meta")
    duck.execute("COMMIT")
    duck.unregister("_gx_stored")


def _batches(store: Store) -> Iterator[pa.RecordBatch]:
    found = store.iter_rows(f"SELECT {', '.join(COLUMNS)} FROM {VIEW}")
    while rows := [tuple(row.values()) for row in itertools.islice(found, BATCH)]:
        columns = list(zip(*rows, strict=True))
        columns[1] = tuple(bool(g) for g in columns[1])  # gold: SQLite keeps 0 and 1
        arrays = [pa.array(c, f.type) for c, f in zip(columns, ARROW_SCHEMA, strict=True)]
        yield pa.RecordBatch.from_arrays(arrays, schema=ARROW_SCHEMA)


def with_rows() -> str:
    """The copy with each row's place (PLACE), for a comparison whose changes `stage_changes`
    applies: the copy is not written in between, so the places still hold."""
    return f"(SELECT *, rowid AS {PLACE} FROM {TABLE})"


def stage_changes(duck: duckdb.DuckDBPyConnection, changes: str, run_id: int) -> None:
    """Apply the run's changes (compared with `with_rows`, each customer's old row at its PLACE,
    NULL for a new one) to the copy in an open transaction; `commit_mirror` ends it. Deleting
    by place fetches the old rows alone, where deleting by id would scan every id."""
    duck.execute("BEGIN")
    duck.execute(f"DELETE FROM {TABLE} WHERE rowid IN (SELECT {PLACE} FROM {changes})")
    duck.execute(f"INSERT INTO {TABLE} SELECT {', '.join(COLUMNS)} FROM {changes}")
    duck.execute("DELETE FROM mirror.meta")
    duck.execute("INSERT INTO mirror.meta VALUES (?)", [run_id])


def commit_mirror(duck: duckdb.DuckDBPyConnection) -> None:
    duck.execute("COMMIT")


def discard_mirror(duck: duckdb.DuckDBPyConnection, path: str) -> None:
    """Drop the staged changes and the copy at `path` itself (the next run builds it again
    from the store): it may name a customer erased while the run read it."""
    duck.execute("ROLLBACK")
    duck.execute("DETACH mirror")
    if path != mirror_path(None):
        for name in (path, f"{path}.wal"):
            Path(name).unlink(missing_ok=True)
