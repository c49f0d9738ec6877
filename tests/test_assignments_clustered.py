"""SQLite keeps `assignments` ordered by customer id itself (WITHOUT ROWID, migration m035):
a store made before keeps every row and the view of the current assignments."""

from __future__ import annotations

from pathlib import Path

from guanxi.engine.store.assignments import COLUMNS, VIEW
from guanxi.engine.store.sqlite import SQLiteStore

OLD_SHAPE = (
    "CREATE TABLE assignments (customer_id TEXT PRIMARY KEY, tier TEXT, level TEXT,"
    " strategy TEXT, gold INTEGER NOT NULL DEFAULT 0, run_id INTEGER NOT NULL,"
    " ruleset_hash TEXT NOT NULL, assigned_at TEXT NOT NULL, pending_tier TEXT,"
    " pending_tier_runs INTEGER NOT NULL DEFAULT 0, pending_tier_since INTEGER,"
    " pending_level TEXT, pending_level_runs INTEGER NOT NULL DEFAULT 0,"
    " pending_level_since INTEGER, pending_strategy TEXT,"
    " pending_strategy_runs INTEGER NOT NULL DEFAULT 0, pending_strategy_since INTEGER)"
)
ROWS = [  # stored out of key order, as a rowid table may hold them
    ("C3", "valuable", "proactive", "growth", 1, 2, "h2", "2026-11-02", "dormant", 1, 2),
    ("C1", "low_value", "basic", None, 0, 1, "h1", "2026-11-01", None, 0, None),
    ("C2", "dormant", "passive", "reactivate", 0, 1, "h1", "2026-11-01", None, 0, None),
]
NAMES = "customer_id, tier, level, strategy, gold, run_id, ruleset_hash, assigned_at"
PENDING = "pending_tier, pending_tier_runs, pending_tier_since"


def old_store(path: Path) -> SQLiteStore:
    """A store as guanxi made it before m035: assignments a rowid table with a text key, a
    change of C2 kept apart."""
    store = SQLiteStore(path)
    store.execute(f"DROP VIEW {VIEW}")
    store.execute("DROP TABLE assignments")
    store.execute(OLD_SHAPE)
    store.db.conn.executemany(
        f"INSERT INTO assignments ({NAMES}, {PENDING}) VALUES ({', '.join('?' * 11)})", ROWS
    )
    store.execute(
        f"INSERT INTO assignment_changes ({NAMES}) VALUES"
        " ('C2', 'valuable', 'responsible', 'growth', 1, 3, 'h3', '2026-11-03')"
    )
    store.execute("DELETE FROM _sqlite_migrations WHERE name = 'm035_assignments_clustered'")
    store.execute(
        "CREATE VIEW current_assignments AS SELECT a.customer_id, a.tier FROM assignments AS a"
    )  # any view of that name: the migration makes it again
    return store


def table_sql(store: SQLiteStore) -> str:
    [row] = store.execute("SELECT sql FROM sqlite_master WHERE name = 'assignments'")
    return str(row["sql"])


def test_a_new_store_keeps_assignments_without_rowid(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "new.db")
    assert table_sql(store).endswith("WITHOUT ROWID")
    assert [r["name"] for r in store.execute("PRAGMA table_info(assignments)")] == list(COLUMNS)


def test_an_older_store_keeps_every_assignment_and_the_current_view(tmp_path: Path) -> None:
    store = old_store(tmp_path / "old.db")
    assert "m035_assignments_clustered" in store.migrate()
    assert table_sql(store).endswith("WITHOUT ROWID")
    kept = store.execute(f"SELECT {NAMES}, {PENDING} FROM assignments ORDER BY customer_id")
    assert [tuple(r.values()) for r in kept] == sorted(ROWS)
    current = store.execute(f"SELECT customer_id, tier, level FROM {VIEW} ORDER BY customer_id")
    assert [tuple(r.values()) for r in current] == [
        ("C1", "low_value", "basic"),
        ("C2", "valuable", "responsible"),  # its change over it
        ("C3", "valuable", "proactive"),
    ]
    assert store.migrate() == []
