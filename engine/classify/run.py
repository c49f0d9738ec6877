"""Classify every customer in the store, inside the store, with the compiled SQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from guanxi.engine.classify.apply import (
    RESULT,
    apply_changes,
    changed_from_result,
    drop_temporary,
    finish_run,
    previous_run,
    start_run,
)
from guanxi.engine.classify.compile import compile_classification
from guanxi.engine.classify.erased_meanwhile import leave_out_erased
from guanxi.engine.classify.field_history import keep_from_result
from guanxi.engine.classify.hold import holds
from guanxi.engine.classify.report import Cell, RunReport, cells_from_rows
from guanxi.engine.privacy.meanwhile import erasures_so_far
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.store import Store
from guanxi.engine.store.assignments import fold
from guanxi.engine.store.dialect import temp_table


class Stopwatch:
    """Seconds spent in each phase (a monotonic timer: durations only, never the date)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = round(self.laps.get(phase, 0.0) + now - self.last, 3)
        self.last = now

    def finished(self, start: dt.datetime) -> dt.datetime:
        return start + dt.timedelta(seconds=time.perf_counter() - self.started)


AfterRun = Callable[[int], object]
"""Work that must commit with a run (planning its transitions' follow-ups), given the run id.
It runs inside the run's transaction, once the run is written: a run killed or failing at
any point leaves neither the run nor that work, and running again redoes both."""


def classify(
    store: Store, ruleset: RuleSet, now: dt.datetime, after: AfterRun | None = None
) -> RunReport:
    """Sort every customer into tier, level and strategy; write only what changed; then
    `after` the run, in the same transaction."""
    watch = Stopwatch()
    store.prepare(ruleset.schema)
    today = today_in(ruleset, now)
    query = compile_classification(ruleset, store.dialect, today, "customers")
    mark = erasures_so_far(store)
    with tuned(store), store.transaction():
        run_id = start_run(store, ruleset, store.dialect, now)
        store.execute(f"DROP TABLE IF EXISTS {temp_table(RESULT, store.dialect)}")
        store.execute(f"CREATE TEMP TABLE {RESULT} AS {query.sql}")
        watch.lap("classify")
        leave_out_erased(store, mark, RESULT, query.key)  # erased since the read (PostgreSQL)
        cells = distribution(lambda sql: _rows(store, sql), RESULT)
        overlaps = count_overlaps(lambda sql: _rows(store, sql), RESULT, query.unique)
        watch.lap("count")
        fold(store)  # the engines' changes: this engine compares and writes `assignments`
        changed_from_result(store, query.key, holds(ruleset), run_id)
        watch.lap("compare")
        applied = apply_changes(store, run_id, ruleset.hash, now)
        keep_from_result(store, ruleset, RESULT, query.key, run_id, today)
        watch.lap("write")
        report = RunReport(
            run_id,
            ruleset.hash,
            store.dialect,
            now,
            watch.finished(now),
            sum(c.customers for c in cells),
            applied.changed,
            applied.transitions,
            cells,
            overlaps,
            timings=watch.laps,
            held=applied.held,
            held_groups=applied.held_groups,
        )
        report = close_run(store, report, after, watch)
    return report


def close_run(
    store: Store, report: RunReport, after: AfterRun | None, watch: Stopwatch
) -> RunReport:
    """Record the finished run and run what commits with it, inside the run's transaction;
    the report, with the run before it (to compare the distributions: shifts.py)."""
    report = replace(report, previous=previous_run(store, report.run_id))
    finish_run(store, report)
    drop_temporary(store)
    if after is not None:
        after(report.run_id)
        watch.lap("after run")
    return report


# a 256 MB page cache; temp tables and sorts in memory; the store's file not memory-mapped:
# the mapped pages a run touches count in the process's resident memory (a 1 GB map took the
# 10M snapshot night's peak from 2.1 to 3.1 GB) and saved no measurable time
SQLITE_TUNING = {"cache_size": -262144, "temp_store": 2, "mmap_size": 0}


@contextlib.contextmanager
def tuned(store: Store) -> Iterator[None]:
    """SQLite settings for one big run, restored afterwards (they belong to the connection)."""
    if store.dialect != "sqlite":
        yield
        return
    current = {name: store.execute(f"PRAGMA {name}") for name in SQLITE_TUNING}
    # only what differs: a run inside a tuned one changes nothing (SQLite refuses to change
    # temp_store inside a transaction); an in-memory store has no mmap_size (no row)
    before = {
        name: rows[0][name]
        for name, rows in current.items()
        if rows and rows[0][name] != SQLITE_TUNING[name]
    }
    for name in before:
        store.execute(f"PRAGMA {name} = {int(SQLITE_TUNING[name])}")
    try:
        yield
    finally:
        for name, value in before.items():
            store.execute(f"PRAGMA {name} = {int(value)}")


Query = Callable[[str], Sequence[Sequence[Any]]]


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row.values()) for row in store.execute(sql)]


def distribution(query: Query, table: str) -> tuple[Cell, ...]:
    """Customers per tier × level × strategy, with how many of them are gold."""
    return cells_from_rows(
        query(
            "SELECT tier, level, strategy, COUNT(*), SUM(CASE WHEN gold THEN 1 ELSE 0 END)"
            f" FROM {table} GROUP BY tier, level, strategy ORDER BY tier, level, strategy"
        )
    )


def count_overlaps(query: Query, table: str, unique: Sequence[str]) -> dict[str, int]:
    """For ladders with hit policy 'unique': customers that more than one rule matched."""
    if not unique:
        return {}
    sums = ", ".join(f"SUM(CASE WHEN _matches_{k} > 1 THEN 1 ELSE 0 END)" for k in unique)
    row = query(f"SELECT {sums} FROM {table}")[0]
    return {kind: int(n or 0) for kind, n in zip(unique, row, strict=True)}
