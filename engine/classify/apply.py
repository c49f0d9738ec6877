"""Writing a run's results into the store, set-based: only what changed is written.

The engines leave the new state in the temporary table `_gx_changed` (customer_id, gold,
tier, level, strategy and the pending columns, holds applied as hold.py says: only customers
whose state is new or differs). Inside the store, one join finds their current assignments
(`_gx_previous`, small); from it one statement records the transitions (tier, level,
strategy or gold changed; a new customer's first assignment counts, from NULL) and one
upserts the assignments: into `assignments` itself for the in-store engine, into
`assignment_changes` for the snapshot engines (engine/store/assignments.py says why).
Customers that left the population keep their last assignment.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from guanxi.engine.classify.hold import (
    LADDERS,
    PENDING_TYPES,
    STATE,
    WAITING,
    held_changes,
    same,
)
from guanxi.engine.classify.report import (
    HeldGroup,
    PreviousRun,
    RunReport,
    assigned_of,
    groups_of,
    held_groups_of,
)
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
PREVIOUS = "_gx_previous"  # the changed customers with their current assignments
LADDER_COLUMNS = ("tier", "level", "strategy")
COMPARED = ("gold", *LADDER_COLUMNS)  # a change of these is a transition
STAMPS = ("run_id", "ruleset_hash", "assigned_at")
TRANSITION = (  # a row of `transitions`, as a run records it
    "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level, to_level,"
    " from_strategy, to_strategy, from_gold, to_gold, at)"
)


@dataclass(frozen=True)
class Changed:
    """Where apply_changes reads the new states: a table (as `c`) and each column's SQL."""

    table: str
    values: Mapping[str, str]  # customer_id and STATE: an expression over `c`


class Applied(NamedTuple):
    """What writing a run's changes counted."""

    changed: int  # customers whose tier, level, strategy or gold changed
    transitions: int  # transitions recorded
    held: int  # customers a hold keeps on an old answer
    held_groups: tuple[HeldGroup, ...] = ()  # those, by ladder and group


IN_CHANGED = Changed(CHANGED, {c: f"c.{c}" for c in ("customer_id", *STATE)})


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


def previous_run(store: Store, run_id: int) -> PreviousRun | None:
    """The last run finished before `run_id`, with the distribution it counted; None for a
    store's first run (or one before runs kept their counts)."""
    rows = store.execute(
        "SELECT id, ruleset_hash, started_at, customers, counts FROM classification_runs"
        " WHERE id < :id AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        {"id": run_id},
    )
    if not rows or rows[0]["counts"] is None:
        return None
    row, counts = rows[0], json.loads(rows[0]["counts"])
    held_groups = held_groups_of(counts)
    return PreviousRun(
        int(row["id"]),
        row["ruleset_hash"],
        dt.datetime.fromisoformat(row["started_at"]),
        int(row["customers"] or 0),
        assigned_of(counts),
        held_groups,
        {since: _rules_before(store, since) for since in {h.since for h in held_groups}},
        groups_of(counts),
    )


def _rules_before(store: Store, run_id: int) -> str:
    """The rule set of the last run finished before `run_id` ('' for none): the rules the
    customers a hold keeps were assigned under."""
    rows = store.execute(
        "SELECT ruleset_hash FROM classification_runs"
        " WHERE id < :id AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        {"id": run_id},
    )
    return str(rows[0]["ruleset_hash"]) if rows else ""


def drop_temporary(store: Store) -> None:
    for table in (CHANGED, RESULT, PREVIOUS):
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
    store: Store,
    run_id: int,
    ruleset_hash: str,
    now: dt.datetime,
    staged: bool = False,
    source: Changed = IN_CHANGED,
) -> Applied:
    """Record transitions and upsert `source` (by default `_gx_changed`) into the
    assignments (`staged`: customers already assigned into `assignment_changes`, which must
    then be empty only if not staged)."""
    values = {"run": run_id, "hash": ruleset_hash, "at": utc_text(now)}
    _find_previous(store, source)
    changed, held = _count_changed_and_held(store)
    held_groups = _held_groups(store) if held else ()
    transitions = _record_transitions(store, values)
    if staged:
        _stage_assigned(store, values)
        _insert_new(store, values)
    else:
        columns = ", ".join(STATE)
        store.execute(
            f"INSERT INTO assignments (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
            f" SELECT customer_id, {columns}, :run, :hash, :at FROM {CHANGED} WHERE true"
            f" ON CONFLICT (customer_id) DO UPDATE SET {_updates(store.dialect)}",
            values,
        )
    store.execute(f"DROP TABLE {temp_table(PREVIOUS, store.dialect)}")
    return Applied(changed, transitions, held, held_groups)


def _find_previous(store: Store, changed: Changed) -> None:
    """`_gx_previous`: each row of `changed` with the customer's current assignment
    (`was_*`), whether there is one (`assigned`) and whether its tier, level, strategy or
    gold changed or it is new (`moved`). The one look-up into the large `assignments` table:
    the counts, transitions and writes read this small table instead."""
    store.execute(f"DROP TABLE IF EXISTS {temp_table(PREVIOUS, store.dialect)}")
    was = {c: current_value("a", "n", c) for c in (*COMPARED, *STAMPS)}
    moved = " OR ".join(differs(was[c], changed.values[c], store.dialect) for c in COMPARED)
    columns = ", ".join(
        [f"{changed.values[c]} AS {c}" for c in ("customer_id", *STATE)]
        + [f"{value} AS was_{c}" for c, value in was.items()]
        + ["a.customer_id IS NOT NULL AS assigned", f"a.customer_id IS NULL OR {moved} AS moved"]
    )
    store.execute(
        f"CREATE TEMP TABLE {PREVIOUS} AS SELECT {columns}"
        f" FROM {changed.table} AS c {joined('a', 'n', changed.values['customer_id'])}"
    )


def _stage_assigned(store: Store, values: dict[str, object]) -> None:
    """The new state of customers already assigned, as their row of `assignment_changes`;
    the stamps as `_updates` keeps them."""
    stamps = ", ".join(
        f"CASE WHEN moved THEN :{given} ELSE was_{c} END"
        for c, given in (("run_id", "run"), ("ruleset_hash", "hash"), ("assigned_at", "at"))
    )
    columns = ", ".join(STATE)
    updates = ", ".join(f"{c} = excluded.{c}" for c in VALUES)
    store.execute(
        f"INSERT INTO {CHANGES} (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT customer_id, {columns}, {stamps} FROM {PREVIOUS} WHERE assigned"
        f" ON CONFLICT (customer_id) DO UPDATE SET {updates}",
        values,
    )


def _insert_new(store: Store, values: dict[str, object]) -> None:
    """Customers without an assignment: straight into `assignments` (a change left behind by
    deleting only their assignment by hand is dropped first: it would cover the new one)."""
    if pending_changes(store):
        store.execute(
            f"DELETE FROM {CHANGES} WHERE customer_id IN"
            f" (SELECT customer_id FROM {PREVIOUS} WHERE NOT assigned)"
        )
    columns = ", ".join(STATE)
    store.execute(
        f"INSERT INTO assignments (customer_id, {columns}, run_id, ruleset_hash, assigned_at)"
        f" SELECT customer_id, {columns}, :run, :hash, :at FROM {PREVIOUS} WHERE NOT assigned",
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


def _count_changed_and_held(store: Store) -> tuple[int, int]:
    """Customers whose assignment changed, and customers a hold keeps (a held customer is
    always in `_gx_changed`: its count of runs in a row grows), in one pass."""
    [row] = store.execute(
        f"SELECT COUNT(CASE WHEN moved THEN 1 END) AS changed,"
        f" COUNT(CASE WHEN {WAITING} THEN 1 END) AS held FROM {PREVIOUS}"
    )
    return int(row["changed"]), int(row["held"])


def _held_groups(store: Store) -> tuple[HeldGroup, ...]:
    """The customers a hold keeps, by ladder, kept group and waiting one: the counts of the
    run then say what the customers are assigned, not only what the rules answer."""
    selects = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, {kind} AS kept, pending_{kind} AS waiting,"
        f" MIN(pending_{kind}_since) AS since, COUNT(*) AS customers FROM {PREVIOUS}"
        f" WHERE pending_{kind}_runs > 0 GROUP BY {kind}, pending_{kind}"
        for kind in LADDERS
    )
    rows = store.execute(f"SELECT * FROM ({selects}) AS h ORDER BY kind, kept, waiting")
    return tuple(
        HeldGroup(r["kind"], r["kept"], r["waiting"], int(r["since"]), int(r["customers"]))
        for r in rows
    )


def _record_transitions(store: Store, values: dict[str, object]) -> int:
    store.execute(
        f"{TRANSITION} SELECT :run, customer_id,"
        " was_tier, tier, was_level, level, was_strategy, strategy, was_gold, gold, :at"
        f" FROM {PREVIOUS} WHERE moved",
        values,
    )
    rows = store.execute("SELECT COUNT(*) AS n FROM transitions WHERE run_id = :run", values)
    return int(rows[0]["n"])
