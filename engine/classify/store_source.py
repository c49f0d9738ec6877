"""The store's own customers as the DuckDB engine's snapshot: no file, no screen.

`load` checked every row on its way into the store, so the store's customers skip the
snapshot screen: one narrow query reads only the fields the rules read (the key first),
a batch of rows at a time (a SQLite store's through the ADBC driver, in C, wherever it reads
exactly what the store's cursor reads: store_arrow.py); each column is typed in Arrow (the
SQLite store keeps dates and instants as ISO text and booleans as 0 and 1; the PostgreSQL
store's connection hands them over alike) and DuckDB reads the batches as the relation the
classification starts from. From there the night is the snapshot engine's (snapshot.py):
event measures, field history, holds, the comparison with the columnar copy and the
write-back of what changed.

`guanxi classify` chooses this engine by size (`engine_for`): below DUCKDB_FROM customers
DuckDB's start-up costs more than classifying inside SQLite; a PostgreSQL store classifies
inside the server unless told, since the customers and assignments would cross the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from guanxi.engine.classify.compile import classified, input_fields
from guanxi.engine.classify.store_arrow import NotExact, stored_batches
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import quoted_name
from guanxi.engine.store.sqlite import SQLiteStore


class StoreValueError(DataError):
    """A customer in the store holds a value its field's type cannot (written around `load`)."""


DUCKDB_FROM = 10_000  # customers: from here DuckDB's start-up costs less than SQLite's scan
BATCH = 200_000
INSERT_ROWS = 1_000_000
TAKEN = "_gx_customers"  # the Arrow tables being copied into DuckDB's
TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}
STORED = {"date": pa.string(), "datetime": pa.string(), "boolean": pa.int64()}  # as read


def engine_for(store: Store) -> str:
    """The engine `guanxi classify` uses without --engine: "duckdb" (the store's customers
    classified on DuckDB) for a SQLite store of DUCKDB_FROM customers or more, else "sqlite"
    (inside the store)."""
    if not isinstance(store, SQLiteStore):
        return "sqlite"
    [row] = store.execute("SELECT COUNT(*) AS n FROM customers")
    return "duckdb" if int(row["n"]) >= DUCKDB_FROM else "sqlite"


def store_snapshot(
    duck: duckdb.DuckDBPyConnection, store: Store, ruleset: RuleSet, name: str
) -> list[str]:
    """The store's customers, typed, as DuckDB's temporary relation `name`; its columns.

    Up to INSERT_ROWS customers `name` is a view of their Arrow table, which DuckDB scans where
    it lies: copying them into a table of its own cost a seventh of the read's CPU, and the
    classification scans either as fast. A larger store's are copied into a table INSERT_ROWS
    at a time (each INSERT costs ~40 ms), so that no more than that many rows are ever held
    beside DuckDB's memory limit, under which a table can spill."""
    fields = input_fields(classified(ruleset))
    kinds = [_kind(ruleset, field) for field in fields]
    empty = _empty(fields, kinds)  # typed, even with no customer
    taken: list[pa.Table] = [empty]
    copied: list[bool] = []  # [True] once the table `name` exists

    def copy() -> None:
        duck.register(TAKEN, pa.concat_tables(taken))
        made = f"INSERT INTO {name}" if copied else f"CREATE TEMP TABLE {name} AS"
        duck.execute(f"{made} SELECT * FROM {TAKEN}")
        duck.unregister(TAKEN)
        copied[:] = [True]
        taken.clear()

    def restart() -> None:
        taken[:] = [empty]
        if copied:
            duck.execute(f"DROP TABLE {name}")
            copied.clear()

    try:
        for table in _tables(store, fields, kinds, restart):
            taken.append(table)
            if sum(t.num_rows for t in taken) >= INSERT_ROWS:
                copy()
        if not copied:
            _view(duck, name, pa.concat_tables(taken))
        elif taken:
            copy()
    except (pa.ArrowException, ValueError, TypeError) as error:  # written around `load`
        raise StoreValueError(
            _(
                "a customer in the store has a value its field's type cannot hold ({error});"
                " 'guanxi classify --engine sqlite' classifies inside the store"
            ).format(error=error)
        ) from None
    return fields


def _view(duck: duckdb.DuckDBPyConnection, name: str, customers: pa.Table) -> None:
    """`customers` as the temporary view `name`, for as long as the connection lives."""
    kept = f"_gx_{name}_rows"
    duck.register(kept, customers)
    duck.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {kept}")


def customers_table(store: Store, ruleset: RuleSet, fields: list[str]) -> pa.Table:
    """The store's customers with `fields`, typed (for a Parquet snapshot of them)."""
    kinds = [_kind(ruleset, field) for field in fields]
    tables: list[pa.Table] = []
    for table in _tables(store, fields, kinds, tables.clear):
        tables.append(table)
    return pa.concat_tables([_empty(fields, kinds), *tables])


def _kind(ruleset: RuleSet, field: str) -> str:
    return "string" if field == ruleset.schema.key else ruleset.schema.fields[field].type


def _tables(
    store: Store, fields: list[str], kinds: list[str], restart: Callable[[], object]
) -> Iterator[pa.Table]:
    """The customers, typed, a batch at a time: from a SQLite store through ADBC where it
    reads exactly what the store's cursor reads (store_arrow.py), else through the cursor;
    also when ADBC stops part way, after `restart()` drops the batches it gave."""
    if isinstance(store, SQLiteStore):
        try:
            for batch in stored_batches(store, _stored_schema(fields, kinds)):
                yield _typed(batch, kinds)
            return
        except (NotExact, pa.ArrowException):  # the cursor gives the rows, or the error
            restart()
    for rows in _rows(store, fields, kinds):  # on this thread: SQLite's connection is its own
        yield _typed(_stored(rows, fields, kinds), kinds)


def _rows(store: Store, fields: list[str], kinds: list[str]) -> Iterator[list[tuple[object, ...]]]:
    """The customers' values, BATCH rows at a time, as tuples (the store's own cursor: no
    dictionary per row)."""
    selected = ", ".join(_selected(f, k, store.dialect) for f, k in zip(fields, kinds, strict=True))
    sql = f"SELECT {selected} FROM customers"
    if isinstance(store, SQLiteStore):
        cursor = store.db.conn.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            yield rows
        return
    from guanxi.engine.store.postgresql import PostgresStore  # psycopg only for its store

    assert isinstance(store, PostgresStore), "a store is SQLite or PostgreSQL"
    with store.conn.transaction(), store.conn.cursor("gx_customers") as server:
        server.execute(sql)
        while rows := server.fetchmany(BATCH):
            yield rows


def _selected(field: str, kind: str, dialect: str) -> str:
    """A field as selected: PostgreSQL's booleans as 0 and 1, as SQLite keeps them."""
    column = quoted_name(field)
    if kind == "boolean" and dialect == "postgres":
        return f"CAST({column} AS INTEGER) AS {column}"
    return column


def _stored_schema(fields: list[str], kinds: list[str]) -> pa.Schema:
    """The fields as the store keeps them: dates and instants as ISO text, booleans as 0/1."""
    return pa.schema([(f, STORED.get(k, TYPES[k])) for f, k in zip(fields, kinds, strict=True)])


def _empty(fields: list[str], kinds: list[str]) -> pa.Table:
    """No customers, typed; built without pyarrow's Python-value paths, which import pandas
    (0.15 s)."""
    return pa.Table.from_arrays([pa.nulls(0, TYPES[kind]) for kind in kinds], names=fields)


def _stored(rows: list[tuple[object, ...]], fields: list[str], kinds: list[str]) -> pa.RecordBatch:
    """Rows as the store's cursor gives them, in their stored types. The rows become one
    struct array in a single call: far faster than taking them apart in Python."""
    struct = pa.struct(list(_stored_schema(fields, kinds)))
    return pa.RecordBatch.from_struct_array(pa.array(rows, struct))


def _typed(stored: pa.RecordBatch, kinds: list[str]) -> pa.Table:
    """Stored values, each column in its own type; instants in UTC, as DuckDB reads a
    snapshot's."""
    columns = [_column(stored.column(n), kind) for n, kind in enumerate(kinds)]
    return pa.Table.from_arrays(columns, names=stored.schema.names)


def _column(values: pa.Array, kind: str) -> pa.Array:
    if kind == "datetime":
        return pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), TYPES[kind])
    if kind == "boolean":
        return pc.not_equal(values, 0)
    return pc.cast(values, TYPES[kind])
