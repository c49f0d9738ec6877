"""Writing a run's results into the store, set-based: only what changed is written.

The engines leave the new state in the temporary table `_gx_changed` (customer_id, gold,
tier, level, strategy and the pending columns, holds applied as hold.py says: only customers
whose state is new or differs). From it, inside the store, one statement records the
transitions (tier, level, strategy or gold changed; a new customer's first assignment counts,
from NULL) and one upserts the assignments. Customers that left the population keep their last
assignment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path

from guanxi.engine.classify.hold import PENDING, PENDING_TYPES, STATE, held_changes, same
from guanxi.engine.classify.report import RunReport
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import temp_table

CHANGED = "_gx_changed"
RESULT = "_gx_result"
LADDER_COLUMNS = ("tier", "level", "strategy")


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def differs(a: str, b: str, dialect: str) -> str:
    """SQL true when a and b differ, NULLs included (NULL vs 'x' differs, NULL vs NULL not)."""
    operator = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    return f"{a} {operator} {b}"


def any_differs(old: str, new: str, columns: Iterable[str], dialect: str) -> str:
    return " OR ".join(differs(f"{old}.{c}", f"{new}.{c}", dialect) for c in columns)


def start_run(store: Store, ruleset: RuleSet, engine: str, now: dt.datetime) -> int:
    """A new run, with the rule set's hash and its project's folder (what commands given no
    --rules use later)."""
    rows = store.execute(
        "INSERT INTO classification_runs (ruleset_hash, engine, started_at, rules)"
        " VALUES (:hash, :engine, :at, :rules) RETURNING id",
        {
            "hash": ruleset.hash,
            "engine": engine,
            "at": utc_text(now),
            "rules": str(Path(ruleset.root).resolve()),
        },
    )
    return int(rows[0]["id"])


def finish_run(store: Store, report: RunReport) -> None:
    store.execute(
        "UPDATE classification_runs SET finished_at = :finished, customers = :customers,"
        " changed = :changed, counts = :counts WHERE id = :id",
        {
            "finished": utc_text(report.finished_at),
            "customers": report.customers,
            "changed": report.changed,
            "counts": report.counts_json(),
            "id": report.run_id,
        },
    )


def drop_temporary(store: Store) -> None:
    for table in (CHANGED, RESULT):
        store.execute(f"DROP TABLE IF EXISTS {temp_table(table, store.dialect)}")


def create_changed(store: Store) -> None:
    """An empty `_gx_changed`, for an engine that computes the difference elsewhere; what is
    pending defaults to nothing."""
    store.execute(f"DROP TABLE IF EXISTS {temp_table(CHANGED, store.dialect)}")
    pending = ", ".join(
        f"{column} {kind}{' NOT NULL DEFAULT 0' if column.endswith('_runs') else ''}"
        for column, kind in PENDING_TYPES.items()
    )
    store.execute(
        f"CREATE TEMP TABLE {CHANGED} (customer_id TEXT PRIMARY KEY, gold BOOLEAN NOT NULL,"
        f" tier TEXT, level TEXT, strategy TEXT, {pending})"
    )


def changed_from_result(store: Store, key: str, hold: Mapping[str, int], run_id: int) -> None:
    """`_gx_changed` from `_gx_result` (the whole population) against the assignments."""
    store.execute(f"DROP TABLE IF EXISTS {temp_table(CHANGED, store.dialect)}")
    customer = f'CAST(r."{key}" AS TEXT)'
    changes = held_changes(RESULT, customer, "assignments", hold, run_id, store.dialect)
    store.execute(f"CREATE TEMP TABLE {CHANGED} AS {changes}")


def apply_changes(
    store: Store, run_id: int, ruleset_hash: str, now: dt.datetime
) -> tuple[int, int, int]:
    """Record transitions and upsert `_gx_changed` into assignments; (changed, transitions,
    held): customers whose tier, level, strategy or gold changed, the transitions recorded,
    and customers a hold keeps on an old answer."""
    values = {"run": run_id, "hash": ruleset_hash, "at": utc_text(now)}
    changed, held = _count_changed(store), _count_held(store)
    transitions = _record_transitions(store, values)
    columns = ", ".join(STATE)
    store.execute(
        f"INSERT INTO assignments (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT customer_id, {columns}, :run, :hash, :at FROM {CHANGED} WHERE true"
        f" ON CONFLICT (customer_id) DO UPDATE SET {_updates(store.dialect)}",
        values,
    )
    return changed, transitions, held


def _updates(dialect: str) -> str:
    """The new state; the run, rule set and time only if the assignment itself changed (not
    only what is pending): they say who assigned it."""
    kept = " AND ".join(
        same(f"assignments.{c}", f"excluded.{c}", dialect) for c in ("gold", *LADDER_COLUMNS)
    )
    stamps = (
        f"{c} = CASE WHEN {kept} THEN assignments.{c} ELSE excluded.{c} END"
        for c in ("run_id", "ruleset_hash", "assigned_at")
    )
    return ", ".join([*(f"{c} = excluded.{c}" for c in STATE), *stamps])


def _count_changed(store: Store) -> int:
    moved = any_differs("a", "c", ("gold", *LADDER_COLUMNS), store.dialect)
    rows = store.execute(
        f"SELECT COUNT(*) AS n FROM {CHANGED} AS c LEFT JOIN assignments AS a"
        f" ON a.customer_id = c.customer_id WHERE a.customer_id IS NULL OR {moved}"
    )
    return int(rows[0]["n"])


def _count_held(store: Store) -> int:
    """A held customer is always in `_gx_changed`: its count of runs in a row grows."""
    waiting = " OR ".join(f"{c} > 0" for c in PENDING if c.endswith("_runs"))
    return int(store.execute(f"SELECT COUNT(*) AS n FROM {CHANGED} WHERE {waiting}")[0]["n"])


def _record_transitions(store: Store, values: dict[str, object]) -> int:
    moved = any_differs("a", "c", ("gold", *LADDER_COLUMNS), store.dialect)
    store.execute(
        "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level, to_level,"
        " from_strategy, to_strategy, from_gold, to_gold, at) SELECT :run, c.customer_id,"
        " a.tier, c.tier, a.level, c.level, a.strategy, c.strategy, a.gold, c.gold, :at"
        f" FROM {CHANGED} AS c LEFT JOIN assignments AS a"
        f" ON a.customer_id = c.customer_id WHERE a.customer_id IS NULL OR {moved}",
        values,
    )
    rows = store.execute("SELECT COUNT(*) AS n FROM transitions WHERE run_id = :run", values)
    return int(rows[0]["n"])
