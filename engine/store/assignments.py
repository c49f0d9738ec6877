"""Each customer's current assignment: the `assignments` table with the changes not yet
folded into it.

A night's changes fall at random over `assignments`, a B-tree ordered by customer id: 4 % of
ten million customers changing rewrites nearly every page (a gigabyte of WAL each night).
So the snapshot and Spark engines write the changes to customers already assigned into
`assignment_changes` (one row per customer, its newest state; a few pages) and only new
customers into `assignments` itself. The view `current_assignments` is each customer's row of
`assignments` with its change over it, if any: that is what readers read. The changes are
folded into `assignments` (one pass over its pages, whatever their number) when they reach a
quarter of it, and before the in-store engine, which compares and writes `assignments`
itself. Every customer with an assignment has a row of `assignments`.

A migration that adds a column to `assignments` adds it to `assignment_changes` too and
creates the view again (`create_statements`).
"""

from __future__ import annotations

from guanxi.engine.store.base import Store

TABLE = "assignments"
CHANGES = "assignment_changes"
VIEW = "current_assignments"
FOLD_SHARE = 4  # fold once the changes are a quarter of the assignments
# column: (SQLite type, PostgreSQL type); the same as the assignments table's (m001, m011)
COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("TEXT PRIMARY KEY", "TEXT PRIMARY KEY"),
    "tier": ("TEXT", "TEXT"),
    "level": ("TEXT", "TEXT"),
    "strategy": ("TEXT", "TEXT"),
    "gold": ("INTEGER NOT NULL DEFAULT 0", "BOOLEAN NOT NULL DEFAULT FALSE"),
    "run_id": ("INTEGER NOT NULL", "BIGINT NOT NULL"),
    "ruleset_hash": ("TEXT NOT NULL", "TEXT NOT NULL"),
    "assigned_at": ("TEXT NOT NULL", "TEXT NOT NULL"),
    **{
        f"pending_{kind}{part}": kinds
        for kind in ("tier", "level", "strategy")
        for part, kinds in (
            ("", ("TEXT", "TEXT")),
            ("_runs", ("INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0")),
            ("_since", ("INTEGER", "BIGINT")),
        )
    },
}
VALUES = tuple(name for name in COLUMNS if name != "customer_id")


def create_statements(dialect: str) -> tuple[str, ...]:
    """The changes table and the view (migration m021)."""
    which = 0 if dialect == "sqlite" else 1
    columns = ", ".join(f"{name} {kinds[which]}" for name, kinds in COLUMNS.items())
    compact = " WITHOUT ROWID" if dialect == "sqlite" else ""
    current = ", ".join(f"{current_value('a', 'n', name)} AS {name}" for name in VALUES)
    return (
        f"CREATE TABLE {CHANGES} ({columns}){compact}",
        f"CREATE VIEW {VIEW} AS SELECT a.customer_id, {current} FROM {TABLE} AS a"
        f" LEFT JOIN {CHANGES} AS n ON n.customer_id = a.customer_id",
    )


def clustered_statements() -> tuple[str, ...]:
    """SQLite's `assignments` rebuilt as a B-tree ordered by customer id itself (WITHOUT
    ROWID, migration m035), the view dropped and created again around it. As a rowid table
    with a text key, every row was written twice (the table, and the key's index beside it),
    and every look-up by customer went through the index, then the table."""
    columns = ", ".join(f"{name} {sqlite}" for name, (sqlite, _) in COLUMNS.items())
    names = ", ".join(COLUMNS)
    new = f"{TABLE}_clustered"
    return (
        f"DROP VIEW {VIEW}",
        f"CREATE TABLE {new} ({columns}) WITHOUT ROWID",
        f"INSERT INTO {new} ({names}) SELECT {names} FROM {TABLE}"
        " WHERE customer_id IS NOT NULL ORDER BY customer_id",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {new} RENAME TO {TABLE}",
        create_statements("sqlite")[1],
    )


def current_value(table: str, changes: str, column: str) -> str:
    """SQL for a column's current value, `table` being an alias of `assignments` and
    `changes` one of `assignment_changes` left-joined on the customer."""
    return (
        f"CASE WHEN {changes}.customer_id IS NULL THEN {table}.{column} ELSE {changes}.{column} END"
    )


def joined(table: str, changes: str, customer: str) -> str:
    """FROM-clause joins of a customer's assignment and change (both may be missing): for
    SQLite, which would make a whole copy of the view to left-join it."""
    return (
        f"LEFT JOIN {TABLE} AS {table} ON {table}.customer_id = {customer}"
        f" LEFT JOIN {CHANGES} AS {changes} ON {changes}.customer_id = {customer}"
    )


def pending_changes(store: Store) -> int:
    return int(store.execute(f"SELECT COUNT(*) AS n FROM {CHANGES}")[0]["n"])


def fold(store: Store) -> int:
    """Write the changes into `assignments` and empty them; how many there were."""
    waiting = pending_changes(store)
    if waiting:
        updates = ", ".join(f"{name} = n.{name}" for name in VALUES)
        store.execute(
            f"UPDATE {TABLE} SET {updates} FROM {CHANGES} AS n"
            f" WHERE n.customer_id = {TABLE}.customer_id"
        )
        store.execute(f"DELETE FROM {CHANGES}")
    return waiting


def fold_if_large(store: Store, assigned: int) -> bool:
    """Fold once the changes reach 1/FOLD_SHARE of the `assigned` customers."""
    if pending_changes(store) * FOLD_SHARE < assigned:
        return False
    fold(store)
    return True
