"""The snapshot engines keep their changes to assignments apart (assignment_changes) and fold
them in later: whatever the nights and whenever the fold, the current assignments, the
transitions and what readers see equal those of the in-store engine; a copy that failed to
commit after the store did is rebuilt from the current assignments. The store's own
customers classified on DuckDB (no snapshot file) give what the in-store engine gives too:
assignments, holds, transitions, field history and run reports, night after night."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from guanxi.engine.classify import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.privacy.catalog import tables
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store, assignments
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_classify import write_snapshot
from tests.test_field_history import change_rules

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
NEVER, ALWAYS = 0, 10**9  # FOLD_SHARE: changes never / always large enough to fold


def night(number: int) -> dt.datetime:
    return NOW + dt.timedelta(days=number)


def customer(rnd: random.Random, key: str) -> dict[str, Any]:
    """Near the default rules' lines: deposits around 20万, contributions and costs spread,
    some not trading lately."""
    return {
        "customer_id": key,
        "name": f"客户{key}",
        "rm_id": f"RM{rnd.randrange(3)}",
        "balance": rnd.choice([1_000.0, 190_000.0, 210_000.0, 800_000.0]),
        "monthly_txn_count": rnd.choice([0, 3, 20]),
        "products_held": rnd.randrange(1, 4),
        "annual_contribution": round(rnd.uniform(100, 50_000), 2),
        "cost_to_serve": rnd.choice([100.0, 1_000.0, 10_000.0]),
        "last_txn_date": rnd.choice(["2026-10-30", "2026-06-01", "2025-12-01"]),
        "consent_marketing": True,
    }


def nights(seed: int, count: int) -> list[list[dict[str, Any]]]:
    """Each night's customers: a third of them change at random, a few are new."""
    rnd = random.Random(seed)
    rows = {f"C{i:03d}": customer(rnd, f"C{i:03d}") for i in range(60)}
    found = []
    for number in range(count):
        for key in rnd.sample(sorted(rows), len(rows) // 3):
            rows[key] = customer(rnd, key)
        for i in range(rnd.randrange(4)):
            key = f"N{number}{i}"
            rows[key] = customer(rnd, key)
        found.append([dict(r) for r in rows.values()])
    return found


def current(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.execute("SELECT * FROM current_assignments")
    return {r["customer_id"]: tuple(_plain(k, v) for k, v in r.items()) for r in rows}


def _plain(name: str, value: Any) -> Any:
    return bool(value) if name == "gold" else value


def transitions(store: Store) -> list[tuple[Any, ...]]:
    rows = store.execute(
        "SELECT run_id, customer_id, from_tier, to_tier, from_level, to_level, from_strategy,"
        " to_strategy, from_gold, to_gold, at FROM transitions ORDER BY run_id, customer_id"
    )
    return [tuple(_plain(k, v) for k, v in r.items()) for r in rows]


@pytest.mark.every_store
@pytest.mark.parametrize("share", [NEVER, assignments.FOLD_SHARE, ALWAYS])
@pytest.mark.parametrize("seed", [1, 2])
def test_nights_of_random_changes_give_what_the_in_store_engine_gives(
    store: Store,
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    share: int,
    seed: int,
) -> None:
    monkeypatch.setattr(assignments, "FOLD_SHARE", share)
    in_store = SQLiteStore(tmp_path / "in-store.db")
    in_store.prepare(ruleset.schema)
    staged = 0
    try:
        for number, rows in enumerate(nights(seed, 6)):
            in_store.upsert_customers(rows)
            by_store = classify(in_store, ruleset, night(number))
            snapshot = write_snapshot(tmp_path / f"{number}.parquet", rows, ruleset)
            by_snapshot = classify_snapshot(store, ruleset, night(number), snapshot)
            assert current(store) == current(in_store)
            assert (by_snapshot.changed, by_snapshot.transitions, by_snapshot.held) == (
                by_store.changed,
                by_store.transitions,
                by_store.held,
            )
            staged = max(staged, assignments.pending_changes(store))
        assert transitions(store) == transitions(in_store)
        assignments.fold(store)
        assert assignments.pending_changes(store) == 0
        assert current(store) == current(in_store)
    finally:
        in_store.close()
    assert (staged == 0) == (share == ALWAYS)  # changes were kept apart unless always folded


def test_the_in_store_engine_folds_the_changes_first(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Two snapshot nights, then the in-store engine on the second night's customers: as if
    the in-store engine had run all three times."""
    in_store = SQLiteStore(tmp_path / "in-store.db")
    in_store.prepare(ruleset.schema)
    try:
        for number, rows in enumerate(nights(3, 2)):
            snapshot = write_snapshot(tmp_path / f"{number}.parquet", rows, ruleset)
            classify_snapshot(store, ruleset, night(number), snapshot)
            in_store.upsert_customers(rows)
            classify(in_store, ruleset, night(number))
        assert assignments.pending_changes(store) > 0
        store.upsert_customers(rows)
        report = classify(store, ruleset, night(2))
        expected = classify(in_store, ruleset, night(2))
        assert assignments.pending_changes(store) == 0
        assert report.changed == expected.changed
        assert current(store) == current(in_store)
    finally:
        in_store.close()


@pytest.mark.parametrize("from_file", [True, False])
def test_a_copy_failing_after_the_store_committed_is_rebuilt(
    store: Store,
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    from_file: bool,
) -> None:
    """The store holds the night (its changes kept apart), the copy not: the next night
    reads the current assignments afresh and still writes only what changed; whether the
    customers come from a snapshot file or from the store itself."""
    rows = nights(4, 3)
    in_store = SQLiteStore(tmp_path / "in-store.db")
    in_store.prepare(ruleset.schema)
    try:
        for number, night_rows in enumerate(rows):
            store.upsert_customers(night_rows)
            path = tmp_path / f"{number}.parquet"
            snapshot = write_snapshot(path, night_rows, ruleset) if from_file else None
            if number == 1:
                with monkeypatch.context() as patched:
                    patched.setattr("guanxi.engine.classify.snapshot.commit_mirror", _fail_commit)
                    with pytest.raises(OSError):
                        classify_snapshot(store, ruleset, night(number), snapshot)
            else:
                report = classify_snapshot(store, ruleset, night(number), snapshot)
            in_store.upsert_customers(night_rows)
            by_store = classify(in_store, ruleset, night(number))
        assert "assignments from store" in report.timings
        assert report.changed == by_store.changed
        assert current(store) == current(in_store)
    finally:
        in_store.close()


def _fail_commit(*_: object) -> None:
    raise OSError("the disk of the copy is full")


@pytest.mark.every_store
def test_erasure_sees_the_changes_table_and_not_the_view(store: Store) -> None:
    names = {t.name for t in tables(store)}
    assert {"assignments", "assignment_changes"} <= names
    assert "current_assignments" not in names


@pytest.fixture(scope="module")
def with_history(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default rules (held two runs) with change measures: every run keeps history."""
    return load_ruleset(change_rules(tmp_path_factory.mktemp("history") / "rules"))


def field_history(store: Store) -> list[tuple[Any, ...]]:
    rows = store.execute("SELECT field, customer_id, day, run_id, value FROM field_history")
    return sorted(tuple(r.values()) for r in rows)


def runs(store: Store) -> list[tuple[Any, ...]]:
    rows = store.execute(
        "SELECT id, ruleset_hash, customers, changed, counts FROM classification_runs ORDER BY id"
    )
    return [tuple(r.values()) for r in rows]


@pytest.mark.every_store
@pytest.mark.parametrize("seed", [5, 6])
def test_the_store_s_customers_on_duckdb_give_what_the_in_store_engine_gives(
    store: Store, with_history: RuleSet, tmp_path: Path, seed: int
) -> None:
    """Nights of random changes (a third of the customers, a few new ones), once inside a
    SQLite store and once read from `store` into DuckDB; the last night inside `store`."""
    in_store = SQLiteStore(tmp_path / "in-store.db")
    in_store.prepare(with_history.schema)
    held = 0
    try:
        for number, rows in enumerate(nights(seed, 4)):
            in_store.upsert_customers(rows)
            store.upsert_customers(rows)
            by_store = classify(in_store, with_history, night(number))
            on_duckdb = classify_snapshot(store, with_history, night(number), None)
            assert (on_duckdb.engine, on_duckdb.rejected) == ("duckdb", 0)
            assert (on_duckdb.changed, on_duckdb.transitions, on_duckdb.held) == (
                by_store.changed,
                by_store.transitions,
                by_store.held,
            )
            assert on_duckdb.cells == by_store.cells
            assert current(store) == current(in_store)
            held = max(held, on_duckdb.held)
        assert transitions(store) == transitions(in_store)
        assert field_history(store) == field_history(in_store) != []
        assert runs(store) == runs(in_store)
        last = classify(store, with_history, night(4))  # inside the store after DuckDB nights
        assert last.changed == classify(in_store, with_history, night(4)).changed
        assert current(store) == current(in_store)
    finally:
        in_store.close()
    assert held > 0  # the holds had customers to keep
