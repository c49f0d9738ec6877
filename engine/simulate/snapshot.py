"""The customers of a copy as a Parquet snapshot, for the DuckDB classification engine.

Nothing in a simulation changes a customer's fields (events are kept, not applied to the
profile), so one snapshot taken before the runs is exact for every night of both: the
nightly classification then runs on DuckDB (`classify_snapshot`, the engine `guanxi classify
--engine duckdb` uses, held equal to the SQLite one by the parity tests) at a fraction of
the cost of classifying inside SQLite.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore

TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}


def write_snapshot(store: SQLiteStore, ruleset: RuleSet, path: Path) -> Path:
    """Every customer of `store`, with the schema's fields typed as DuckDB reads them."""
    names = list(ruleset.schema.fields)
    columns = ", ".join('"' + name.replace('"', '""') + '"' for name in names)
    rows = store.db.conn.execute(f"SELECT {columns} FROM customers").fetchall()
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [_typed(values[n], ruleset.schema.fields[name].type) for n, name in enumerate(names)]
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return path


def _typed(values: tuple[object, ...], kind: str) -> pa.Array:
    """One column as stored in SQLite (dates as ISO text, booleans as 0/1) in its own type."""
    if kind in ("string", "date", "datetime"):
        text = pa.array(values, pa.string())
        if kind == "datetime":  # stored as UTC ISO text with its offset; DuckDB reads UTC
            return pc.cast(pc.cast(text, pa.timestamp("us", tz="UTC")), TYPES[kind])
        return pc.cast(text, TYPES[kind])
    if kind == "boolean":
        return pc.cast(pa.array(values, pa.int64()), pa.bool_())
    return pa.array(values, TYPES[kind])
