"""The store's own night on the engine its size calls for, as `guanxi classify` without
--engine and the daemon run it.

From `store_source.DUCKDB_FROM` customers a SQLite store's customers are read into DuckDB;
below that, and on PostgreSQL, they are classified inside the store. A night chosen for
DuckDB that cannot run there (a value written around `load` that its field's type cannot
hold, or more memory than `snapshot_memory:` allows) stops before anything is written, and
runs inside the store instead: a choice made for speed never costs a night.
"""

from __future__ import annotations

import datetime as dt

from guanxi.engine.classify.report import RunReport
from guanxi.engine.classify.run import AfterRun, classify
from guanxi.engine.classify.snapshot import SnapshotMemoryError, classify_snapshot
from guanxi.engine.classify.store_source import StoreValueError, engine_for
from guanxi.engine.errors import DataError
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store


def classify_chosen(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    memory_limit: str | None = None,
    after: AfterRun | None = None,
) -> tuple[RunReport, DataError | None]:
    """Classify the store's customers on the engine chosen by its size; the report, and why
    the night ran inside the store after DuckDB was chosen (None when it did not)."""
    if engine_for(store) == "sqlite":
        return classify(store, ruleset, now, after=after), None
    try:
        return classify_snapshot(store, ruleset, now, None, memory_limit, after=after), None
    except (StoreValueError, SnapshotMemoryError) as reason:
        return classify(store, ruleset, now, after=after), reason
