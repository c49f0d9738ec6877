"""The customers of a copy as a Parquet snapshot, for the DuckDB classification engine.

Nothing in a simulation changes a customer's fields (events are kept, not applied to the
profile), so one snapshot taken before the runs is exact for every night of both: the
nightly classification then runs on DuckDB (`classify_snapshot`, the engine `guanxi classify
--engine duckdb` uses, held equal to the SQLite one by the parity tests) at a fraction of
the cost of classifying inside SQLite.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from guanxi.engine.classify.store_source import customers_table
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore


def write_snapshot(store: SQLiteStore, ruleset: RuleSet, path: Path) -> Path:
    """Every customer of `store`, with the schema's fields typed as DuckDB reads them."""
    pq.write_table(customers_table(store, ruleset, list(ruleset.schema.fields)), path)
    return path
