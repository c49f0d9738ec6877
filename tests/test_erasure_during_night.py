"""A customer erased while the night runs (`guanxi customer erase` committed after the night
read its customers, before its write-back committed) is not written back: no assignment,
transition, kept field value, columnar-copy row or follow-up names them afterwards, and the
night's other customers are classified as usual. On both stores, the night reading the
store's customers or a Parquet snapshot (DuckDB), and inside the store (PostgreSQL: its
night reads in the transaction that writes, where SQLite's holds the database throughout)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guanxi.engine.classify import classify, snapshot
from guanxi.engine.classify import spark as spark_engine
from guanxi.engine.classify.mirror import mirror_path
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.ingest.load import load_customers
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.privacy.erasure import export_customer, fields_of
from guanxi.engine.privacy.requests import erase_request
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

ERASED = "C007"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
BEFORE = NOW - dt.timedelta(days=1)


def customer(i: int, night: int) -> dict[str, str]:
    """Customers 1-9 large (partners), the rest small; the erased one becomes large on the
    second night: they enter the partners, whose welcome visit is planned on entering."""
    large = i < 10 and (i != 7 or night == 2)
    return {
        "customer_id": f"C{i:03d}",
        "name": f"客户{i}",
        "kind": "personal",
        "balance": str(500_000 if large else 1_000),
        "monthly_txn_count": "20",
        "last_txn_date": "2026-11-20",
        "products_held": "5",
        "annual_contribution": str(50_000 + i if large else 10 + i),
        "cost_to_serve": "100",
        "consent_marketing": "true",
        "phone": f"139{i:08d}",
    }


def night_file(folder: Path, night: int) -> Path:
    rows = [customer(i, night) for i in range(1, 41)]
    path = folder / f"night{night}.parquet"
    pq.write_table(pa.table({c: [r[c] for r in rows] for c in rows[0]}), path)
    return path


def other_connection(store: Store) -> Store:
    """The same store through a connection of its own, as another process has it."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.url)


def erase_elsewhere(store: Store, ruleset: RuleSet) -> None:
    """`guanxi customer erase C007`, run by another process on the same store."""
    other = other_connection(store)
    try:
        erase_request(other, fields_of(ruleset), ERASED, NOW + dt.timedelta(minutes=5))
    finally:
        other.close()


def first_night(store: Store, ruleset: RuleSet, tmp_path: Path, source: str) -> Path | None:
    """The first night classified everyone (a baseline); the second night's snapshot (None:
    the night reads the store's customers, changed since)."""
    first = night_file(tmp_path, 1)
    if source == "store":
        load_customers(store, ruleset, first, BEFORE)
        classify_snapshot(store, ruleset, BEFORE, None)
        load_customers(store, ruleset, night_file(tmp_path, 2), NOW - dt.timedelta(hours=1))
        return None
    classify_snapshot(store, ruleset, BEFORE, first)  # a store fed by snapshots alone
    return night_file(tmp_path, 2)


def assert_nothing_of_them(store: Store, ruleset: RuleSet) -> None:
    """No row of the store, nor its columnar copy, names the erased customer; the others are
    classified as usual."""
    assert export_customer(store, fields_of(ruleset), ERASED) == {}
    planned = store.execute(
        "SELECT count(*) AS n FROM followups WHERE customer_id = :id", {"id": ERASED}
    )
    assert planned[0]["n"] == 0
    assert store.execute("SELECT count(*) AS n FROM erasures")[0]["n"] == 1
    assigned = store.execute("SELECT customer_id, level FROM assignments ORDER BY customer_id")
    assert [r["customer_id"] for r in assigned] == [f"C{i:03d}" for i in range(1, 41) if i != 7]
    assert {r["level"] for r in assigned if r["customer_id"] < "C010"} == {"partner"}
    runs = store.execute("SELECT finished_at FROM classification_runs ORDER BY id")
    assert len(runs) == 2 and runs[-1]["finished_at"] is not None
    if isinstance(store, SQLiteStore) and Path(mirror_path(store.path)).is_file():
        with duckdb.connect(mirror_path(store.path), read_only=True) as copy:
            named = "SELECT count(*) FROM assignments WHERE customer_id = ?"
            assert copy.execute(named, [ERASED]).fetchall() == [(0,)]


def before_write_back(monkeypatch: pytest.MonkeyPatch, erase: Callable[[], None]) -> None:
    """`erase` once the night has read and classified everyone, just before its write-back's
    transaction begins (the changes found, a SQLite store's scratch file not yet written)."""
    real = snapshot.scratch_changes

    @contextlib.contextmanager
    def erasing_first(*args: Any, **kwargs: Any) -> Iterator[Any]:
        erase()
        with real(*args, **kwargs) as scratch:
            yield scratch

    monkeypatch.setattr(snapshot, "scratch_changes", erasing_first)


@pytest.mark.every_store
@pytest.mark.parametrize("source", ["store", "snapshot"])
def test_a_customer_erased_before_the_write_back_is_not_written_back(
    store: Store, unheld: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    night = first_night(store, unheld, tmp_path, source)
    before_write_back(monkeypatch, lambda: erase_elsewhere(store, unheld))
    planner = TransitionPlanner(store, unheld, NOW)
    report = classify_snapshot(store, unheld, NOW, night, after=planner)
    assert report.transitions >= 1  # the erased customer's move was among the night's
    assert_nothing_of_them(store, unheld)


@contextlib.contextmanager
def erasing_meanwhile(store: Store, ruleset: RuleSet) -> Iterator[Callable[[], None]]:
    """A function that starts the erasure on a thread of its own and gives it a moment: it
    waits (for the lock the night holds) or commits in the meantime; joined afterwards."""
    threads: list[threading.Thread] = []

    def start() -> None:
        thread = threading.Thread(target=erase_elsewhere, args=(store, ruleset))
        thread.start()
        threads.append(thread)
        thread.join(timeout=1.5)

    yield start
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.mark.every_store
@pytest.mark.parametrize("source", ["store", "snapshot"])
def test_an_erasure_during_the_write_back_waits_for_it_and_erases_what_it_wrote(
    store: Store, unheld: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    night = first_night(store, unheld, tmp_path, source)
    real = snapshot.start_run
    with erasing_meanwhile(store, unheld) as erase:

        def erasing_first(*args: Any) -> int:  # the write-back's first statement
            erase()
            return real(*args)

        monkeypatch.setattr(snapshot, "start_run", erasing_first)
        classify_snapshot(store, unheld, NOW, night, after=TransitionPlanner(store, unheld, NOW))
    assert_nothing_of_them(store, unheld)


def test_a_customer_erased_after_the_read_inside_postgresql_is_not_written_back(
    postgres_emptied: str, unheld: RuleSet, tmp_path: Path
) -> None:
    """The night inside PostgreSQL reads its customers in the transaction that writes them
    back, at the statement that makes `_gx_result`: an erasure commits after it."""
    store = PostgresStore(postgres_emptied)
    try:
        store.prepare(unheld.schema)
        first_night(store, unheld, tmp_path, "store")
        read = store.execute

        def erasing_after_the_read(sql: str, *args: Any, **kwargs: Any) -> Any:
            rows = read(sql, *args, **kwargs)
            if sql.startswith("CREATE TEMP TABLE _gx_result"):
                erase_elsewhere(store, unheld)
            return rows

        store.execute = erasing_after_the_read  # type: ignore[method-assign]
        report = classify(store, unheld, NOW, after=TransitionPlanner(store, unheld, NOW))
        del store.execute
        assert report.customers == 39
        assert_nothing_of_them(store, unheld)
    finally:
        store.close()


def test_a_customer_erased_while_spark_classifies_is_left_out_of_its_output(
    store: Store, unheld: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark: Any
) -> None:
    """Spark writes every customer's assignment before the write-back: a customer erased
    after the snapshot was read, before that output was written, leaves it too (and Spark
    reads the folder afterwards)."""
    night = first_night(store, unheld, tmp_path, "snapshot")
    assert night is not None
    real = spark_engine.write_back

    def erasing_first(*args: Any) -> Any:  # the output is written by now
        erase_elsewhere(store, unheld)
        return real(*args)

    monkeypatch.setattr(spark_engine, "write_back", erasing_first)
    output = tmp_path / "assignments"
    spark_engine.classify_on_spark(store, unheld, NOW, night, spark, output)
    assert_nothing_of_them(store, unheld)
    kept = [r["customer_id"] for r in spark.read.parquet(str(output)).collect()]
    assert sorted(kept) == [f"C{i:03d}" for i in range(1, 41) if i != 7]
