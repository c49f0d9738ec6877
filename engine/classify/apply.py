"""Writing a run's results into the store, set-based: only what changed is written.

The engines leave the new state in the temporary table `_gx_changed` (customer_id, gold,
tier, level, strategy and the pending columns, holds applied as hold.py says: only customers
whose state is new or differs). From it, inside the store, one statement records the
transitions (tier, level, strategy or gold changed; a new customer's first assignment counts,
from NULL) and one upserts the assignments: into `assignments` itself for the in-store engine,
into `assignment_changes` for the snapshot engines (engine/store/assignments.py says why).
Customers that left the population keep their last assignment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from guanxi.engine.classify.hold import PENDING, PENDING_TYPES, STATE, held_changes, same
from guanxi.engine.classify.report import RunReport
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.assignments import (
    CHANGES,
    VALUES,
    current_value,
    joined,
    pending_changes,
)
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
    store: Store, run_id: int, ruleset_hash: str, now: dt.datetime, staged: bool = False
) -> tuple[int, int, int]:
    """Record transitions and upsert `_gx_changed` into the assignments (`staged`: customers
    already assigned into `assignment_changes`, which must then be empty only if not staged);
    (changed, transitions, held): customers whose tier, level, strategy or gold changed, the
    transitions recorded, and customers a hold keeps on an old answer."""
    values = {"run": run_id, "hash": ruleset_hash, "at": utc_text(now)}
    changed, held = _count_changed(store), _count_held(store)
    transitions = _record_transitions(store, values)
    if staged:
        _stage_assigned(store, values)
        _insert_new(store, values)
        return changed, transitions, held
    columns = ", ".join(STATE)
    store.execute(
        f"INSERT INTO assignments (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT customer_id, {columns}, :run, :hash, :at FROM {CHANGED} WHERE true"
        f" ON CONFLICT (customer_id) DO UPDATE SET {_updates(store.dialect)}",
        values,
    )
    return changed, transitions, held


def _stage_assigned(store: Store, values: dict[str, object]) -> None:
    """The new state of customers already assigned, as their row of `assignment_changes`;
    the stamps as `_updates` keeps them."""
    kept = " AND ".join(
        same(current_value("a", "n", c), f"c.{c}", store.dialect) for c in ("gold", *LADDER_COLUMNS)
    )
    stamps = ", ".join(
        f"CASE WHEN {kept} THEN {current_value('a', 'n', c)} ELSE :{given} END"
        for c, given in (("run_id", "run"), ("ruleset_hash", "hash"), ("assigned_at", "at"))
    )
    state = ", ".join(f"c.{c}" for c in STATE)
    updates = ", ".join(f"{c} = excluded.{c}" for c in VALUES)
    store.execute(
        f"INSERT INTO {CHANGES} (customer_id, {', '.join(STATE)}, run_id, ruleset_hash,"
        f" assigned_at) SELECT c.customer_id, {state}, {stamps} FROM {CHANGED} AS c"
        f" JOIN assignments AS a ON a.customer_id = c.customer_id"
        f" LEFT JOIN {CHANGES} AS n ON n.customer_id = c.customer_id WHERE true"
        f" ON CONFLICT (customer_id) DO UPDATE SET {updates}",
        values,
    )


def _insert_new(store: Store, values: dict[str, object]) -> None:
    """Customers without an assignment: straight into `assignments` (a change left behind by
    deleting only their assignment by hand is dropped first: it would cover the new one)."""
    new = (
        f"SELECT customer_id FROM {CHANGED} AS c"
        " WHERE NOT EXISTS (SELECT 1 FROM assignments AS a WHERE a.customer_id = c.customer_id)"
    )
    if pending_changes(store):
        store.execute(f"DELETE FROM {CHANGES} WHERE customer_id IN ({new})")
    columns = ", ".join(STATE)
    store.execute(
        f"INSERT INTO assignments (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT customer_id, {columns}, :run, :hash, :at FROM {CHANGED} AS c"
        " WHERE NOT EXISTS (SELECT 1 FROM assignments AS a WHERE a.customer_id = c.customer_id)",
        values,
    )


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


def _moved(store: Store) -> str:
    """FROM `_gx_changed` with each customer's current assignment, and the condition that
    it is new or its tier, level, strategy or gold changed."""
    moved = " OR ".join(
        differs(current_value("a", "n", c), f"c.{c}", store.dialect)
        for c in ("gold", *LADDER_COLUMNS)
    )
    return (
        f"FROM {CHANGED} AS c {joined('a', 'n', 'c.customer_id')}"
        f" WHERE a.customer_id IS NULL OR {moved}"
    )


def _count_changed(store: Store) -> int:
    return int(store.execute(f"SELECT COUNT(*) AS n {_moved(store)}")[0]["n"])


def _count_held(store: Store) -> int:
    """A held customer is always in `_gx_changed`: its count of runs in a row grows."""
    waiting = " OR ".join(f"{c} > 0" for c in PENDING if c.endswith("_runs"))
    return int(store.execute(f"SELECT COUNT(*) AS n FROM {CHANGED} WHERE {waiting}")[0]["n"])


def _record_transitions(store: Store, values: dict[str, object]) -> int:
    was = {c: current_value("a", "n", c) for c in ("gold", *LADDER_COLUMNS)}
    store.execute(
        "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level, to_level,"
        f" from_strategy, to_strategy, from_gold, to_gold, at) SELECT :run, c.customer_id,"
        f" {was['tier']}, c.tier, {was['level']}, c.level, {was['strategy']}, c.strategy,"
        f" {was['gold']}, c.gold, :at {_moved(store)}",
        values,
    )
    rows = store.execute("SELECT COUNT(*) AS n FROM transitions WHERE run_id = :run", values)
    return int(rows[0]["n"])
