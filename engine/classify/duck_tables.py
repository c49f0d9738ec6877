"""Two small steps the DuckDB nights take again and again (snapshot.py, snapshot_ids.py)."""

from __future__ import annotations

import duckdb
import pyarrow


def table_from_arrow(duck: duckdb.DuckDBPyConnection, name: str, table: pyarrow.Table) -> None:
    """The Arrow `table` copied into DuckDB as the table `name`."""
    duck.register("_gx_arrow", table)
    duck.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM _gx_arrow")
    duck.unregister("_gx_arrow")


def relation_columns(duck: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    """The names of the columns of `relation` (a table, a view or a query), in order."""
    return [str(row[0]) for row in duck.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
