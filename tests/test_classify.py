"""Classification: exact tiers for hand-made customers, transitions, runs, the DuckDB engine."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, compile_classification, store_source
from guanxi.engine.classify.chosen import classify_chosen
from guanxi.engine.classify.mirror import mirror_path
from guanxi.engine.classify.snapshot import SnapshotMemoryError, classify_snapshot
from guanxi.engine.errors import DataError
from guanxi.engine.ingest.screen import SQL_TYPES
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

RULES = Path(__file__).parent.parent / "rules"
TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai


def day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


def population() -> list[dict[str, Any]]:
    """45 customers: three very large companies (only the largest is gold: gold is ranked within
    each kind, and 1 ahead ≥ 5 % of the 3 corporate customers; so is the contribution
    percentile of the tiers, which puts the other two in the middle and at the bottom of their
    market), and 42 without a kind, ranked together: 40 ordinary ones, a large personal customer
    P1 (the top of them, so gold) and a dormant one. The two largest ordinary ones (B040, B039:
    1 and 2 ahead < 5 % of 42) are gold too."""
    rows = [
        {
            "customer_id": f"B{i:03d}",
            "name": f"普通客户{i}",
            "balance": 1000.0,
            "last_txn_date": day(3),
            "products_held": 1,
            "annual_contribution": 100.0 * i,
            "cost_to_serve": 1000.0,
        }
        for i in range(1, 41)
    ]
    for i, amount in enumerate((2_500_000.0, 1_500_000.0, 1_000_000.0), start=1):
        rows.append(
            {
                "customer_id": f"G{i}",
                "name": f"长沙湘江科技{i}号有限公司",
                "kind": "corporate",
                "balance": 80_000_000.0,
                "monthly_txn_count": 300,
                "last_txn_date": day(1),
                "products_held": 6,
                "annual_contribution": amount,
                "cost_to_serve": 3000.0,
                "expected_years": 15.0,
            }
        )
    rows.append(
        {
            "customer_id": "P1",
            "name": "李华",
            "balance": 600_000.0,
            "monthly_txn_count": 40,
            "last_txn_date": day(8),
            "products_held": 4,
            "annual_contribution": 900_000.0,
            "cost_to_serve": 1000.0,
        }
    )
    rows.append(
        {
            "customer_id": "D1",
            "name": "王小明",
            "balance": 0.0,
            "last_txn_date": day(362),
            "products_held": 1,
            "annual_contribution": 0.0,
            "cost_to_serve": 60.0,
        }
    )
    return rows


@pytest.fixture
def loaded(store: Store) -> Store:
    store.upsert_customers(population())
    return store


def assignment(store: Store, key: str) -> tuple[Any, ...]:
    rows = store.execute(
        "SELECT tier, level, strategy, gold FROM current_assignments WHERE customer_id = :k",
        {"k": key},
    )
    return tuple(rows[0].values())


def transitions(store: Store, run_id: int | None = None) -> list[dict[str, Any]]:
    where = "" if run_id is None else f" WHERE run_id = {int(run_id)}"
    return store.execute(f"SELECT * FROM transitions{where} ORDER BY customer_id")


def test_hand_made_customers_get_exact_tiers(loaded: Store, ruleset: RuleSet) -> None:
    classify(loaded, ruleset, NOW)
    assert assignment(loaded, "D1") == ("dormant", "basic", "unprofitable", 0)
    assert assignment(loaded, "G1") == ("high_value_added", "partner", "gold_package", 1)
    # second of the three companies: contribution percentile 50 % within its kind, not large
    assert assignment(loaded, "G2") == ("low_value", "responsible", "general", 0)
    assert assignment(loaded, "P1") == ("high_value_added", "partner", "gold_package", 1)
    # gold among the customers without a kind, but an account of ¥1,000 with few transactions
    # is low value: not a partner (伙伴型 is for the valuable and high value added)
    assert assignment(loaded, "B040") == ("low_value", "responsible", "gold_package", 1)
    assert assignment(loaded, "B038") == ("low_value", "responsible", "general", 0)  # 3 ahead
    assert assignment(loaded, "B030") == ("low_value", "responsible", "general", 0)  # ratio 3
    assert assignment(loaded, "B001") == ("low_value", "basic", "unprofitable", 0)
    gold = loaded.execute("SELECT customer_id FROM current_assignments WHERE gold ORDER BY 1")
    assert [r["customer_id"] for r in gold] == ["B039", "B040", "G1", "P1"]


def test_first_run_records_each_customer_once_and_a_second_run_nothing(
    loaded: Store, ruleset: RuleSet
) -> None:
    first = classify(loaded, ruleset, NOW)
    assert (first.customers, first.changed, first.transitions) == (45, 45, 45)
    moved = transitions(loaded, first.run_id)
    assert len({t["customer_id"] for t in moved}) == 45
    dormant = next(t for t in moved if t["customer_id"] == "D1")
    assert (dormant["from_tier"], dormant["to_tier"]) == (None, "dormant")
    assert (dormant["from_level"], dormant["to_level"]) == (None, "basic")
    assert (dormant["from_strategy"], dormant["to_strategy"]) == (None, "unprofitable")
    second = classify(loaded, ruleset, NOW)
    assert (second.changed, second.transitions) == (0, 0)
    assert len(transitions(loaded)) == 45


def test_a_changed_customer_is_one_transition(loaded: Store, unheld: RuleSet) -> None:
    classify(loaded, unheld, NOW)
    loaded.upsert_customers([{"customer_id": "D1", "last_txn_date": day(2)}])
    report = classify(loaded, unheld, NOW)
    assert (report.changed, report.transitions) == (1, 1)
    [moved] = transitions(loaded, report.run_id)
    assert (moved["customer_id"], moved["from_tier"], moved["to_tier"]) == (
        "D1",
        "dormant",
        "low_value",
    )
    assert (moved["from_level"], moved["to_level"]) == ("basic", "basic")
    assert moved["at"] == "2026-11-28T02:00:00+00:00"


def test_runs_record_hash_engine_times_and_counts(loaded: Store, ruleset: RuleSet) -> None:
    report = classify(loaded, ruleset, NOW)
    [run] = loaded.execute("SELECT * FROM classification_runs")
    assert (run["id"], run["ruleset_hash"], run["engine"]) == (
        report.run_id,
        ruleset.hash,
        loaded.dialect,
    )
    assert (run["customers"], run["changed"]) == (45, 45)
    assert run["started_at"] == "2026-11-28T02:00:00+00:00" <= run["finished_at"]
    counts = json.loads(run["counts"])
    assert counts["gold"] == 4
    cells = {(c["tier"], c["level"]): c["customers"] for c in counts["tier_level"]}
    assert cells == {
        ("dormant", "basic"): 1,
        ("high_value_added", "partner"): 2,
        ("low_value", "basic"): 9,
        ("low_value", "passive"): 20,
        ("low_value", "responsible"): 13,
    }
    assert report.tier_level() == cells


def test_today_is_the_date_in_the_project_time_zone(store: Store, unheld: RuleSet) -> None:
    store.upsert_customers(
        [{"customer_id": "E1", "name": "边界", "balance": 0.0, "last_txn_date": day(180)}]
    )
    late_evening_utc = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)  # 28th in Shanghai
    classify(store, unheld, late_evening_utc)
    assert assignment(store, "E1")[0] == "dormant"
    classify(store, unheld, dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC))  # the 27th
    assert assignment(store, "E1")[0] == "low_value"


def test_a_null_contribution_is_never_gold_and_has_no_percentile(
    loaded: Store, ruleset: RuleSet
) -> None:
    loaded.upsert_customers([{"customer_id": "N1", "name": "未知", "last_txn_date": day(1)}])
    classify(loaded, ruleset, NOW)
    query = compile_classification(ruleset, loaded.dialect, TODAY, "customers", measures=True)
    rows = {r["customer_id"]: r for r in loaded.execute(query.sql)}
    assert (rows["N1"]["contribution_pct"], rows["N1"]["gold"]) == (None, 0)
    assert rows["G1"]["contribution_pct"] == 1.0
    assert rows["D1"]["contribution_pct"] == 0.0
    assert assignment(loaded, "N1") == ("low_value", "basic", "unprofitable", 0)


def project(tmp_path: Path, file: str, old: str, new: str) -> RuleSet:
    folder = tmp_path / "rules"
    if not folder.exists():
        shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_ruleset(folder)


def test_without_a_catch_all_an_unmatched_customer_has_no_tier(
    loaded: Store, tmp_path: Path
) -> None:
    ruleset = project(
        tmp_path,
        "tiers.yaml",
        "  - name: low_value\n",
        "  - name: low_value\n    when: products_held >= 1\n",
    )
    loaded.upsert_customers([{"customer_id": "X1", "name": "无产品", "last_txn_date": day(1)}])
    report = classify(loaded, ruleset, NOW)
    assert assignment(loaded, "X1")[:2] == (None, "basic")
    assert report.tier_level()[(None, "basic")] == 1


def test_unique_hit_policy_reports_customers_matched_twice(loaded: Store, tmp_path: Path) -> None:
    ruleset = project(tmp_path, "strategies.yaml", "hit_policy: first", "hit_policy: unique")
    report = classify(loaded, ruleset, NOW)
    # G1 and P1 (gold, high value added) are also 'growth' and 'general'; B039 and B040 (gold,
    # low value) are also 'general'
    assert report.overlaps == {"strategy": 4}
    assert assignment(loaded, "G1")[2] == "gold_package"  # the first still decides


# --- the DuckDB snapshot engine ----------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path, ruleset: RuleSet) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "store.db")
    opened.prepare(ruleset.schema)
    yield opened
    opened.close()


def write_snapshot(path: Path, rows: list[dict[str, Any]], ruleset: RuleSet) -> Path:
    names = list(ruleset.schema.fields)
    table = [{n: row.get(n) for n in names} for row in rows]
    duck = duckdb.connect()
    columns = ", ".join(f"CAST(r['{n}'] AS {_type(ruleset, n)}) AS {n}" for n in names)
    duck.execute(f"CREATE TABLE t AS SELECT {columns} FROM (SELECT unnest(?) AS r)", [table])
    kind = "parquet" if path.suffix == ".parquet" else "csv, HEADER true"
    duck.execute(f"COPY t TO '{path}' (FORMAT {kind})")
    duck.close()
    return path


def _type(ruleset: RuleSet, name: str) -> str:
    return SQL_TYPES[ruleset.schema.fields[name].type]


def all_assignments(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.execute("SELECT customer_id, tier, level, strategy, gold FROM current_assignments")
    return {r["customer_id"]: (r["tier"], r["level"], r["strategy"], r["gold"]) for r in rows}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_snapshot_engine_agrees_with_the_store_engine(
    loaded: Store, sqlite_store: SQLiteStore, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    classify(loaded, ruleset, NOW)
    snapshot = write_snapshot(tmp_path / f"night{suffix}", population(), ruleset)
    report = classify_snapshot(sqlite_store, ruleset, NOW, snapshot)
    assert (report.engine, report.customers, report.changed, report.transitions) == (
        "duckdb",
        45,
        45,
        45,
    )
    assert all_assignments(sqlite_store) == all_assignments(loaded)
    assert report.tier_level() == classify(loaded, ruleset, NOW).tier_level()


def test_snapshot_nights_write_only_what_changed(
    store: Store, unheld: RuleSet, tmp_path: Path
) -> None:
    rows = population()
    first = classify_snapshot(
        store, unheld, NOW, write_snapshot(tmp_path / "1.parquet", rows, unheld)
    )
    assert "assignments from store" in first.timings
    again = classify_snapshot(
        store, unheld, NOW, write_snapshot(tmp_path / "2.parquet", rows, unheld)
    )
    assert (again.changed, again.transitions) == (0, 0)
    kept = "copy" if isinstance(store, SQLiteStore) else "store"  # PostgreSQL: read afresh
    assert f"assignments from {kept}" in again.timings
    next(r for r in rows if r["customer_id"] == "D1")["last_txn_date"] = day(1)
    night = classify_snapshot(
        store, unheld, NOW, write_snapshot(tmp_path / "3.parquet", rows, unheld)
    )
    assert (night.changed, night.transitions) == (1, 1)
    [moved] = transitions(store, night.run_id)
    assert (moved["customer_id"], moved["from_tier"], moved["to_tier"]) == (
        "D1",
        "dormant",
        "low_value",
    )
    assert len(transitions(store)) == 46


def test_a_stale_copy_is_rebuilt_from_the_store(
    sqlite_store: SQLiteStore, ruleset: RuleSet, tmp_path: Path
) -> None:
    snapshot = write_snapshot(tmp_path / "s.parquet", population(), ruleset)
    classify_snapshot(sqlite_store, ruleset, NOW, snapshot)
    sqlite_store.execute("DELETE FROM assignments WHERE customer_id = 'D1'")
    sqlite_store.upsert_customers(population())
    classify(sqlite_store, ruleset, NOW)  # a store run: the copy is now one run behind
    report = classify_snapshot(sqlite_store, ruleset, NOW, snapshot)
    assert "assignments from store" in report.timings
    assert (report.changed, report.transitions) == (0, 0)
    assert Path(mirror_path(sqlite_store.path)).exists()


def test_snapshot_rows_without_key_or_unreadable_are_counted(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "customer_id,name,balance\nA1,甲,10\n,无编号,5\nA2,乙,not-a-number\n", encoding="utf-8"
    )
    report = classify_snapshot(store, ruleset, NOW, path)
    assert (report.customers, report.rejected) == (1, 2)


def test_a_repeated_id_in_a_snapshot_is_quarantined_and_the_night_goes_on(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """As load does: the first row of the id is classified, the repeat quarantined with the
    row it repeats (tests/test_snapshot_duplicates.py has the cases)."""
    rows = population()
    snapshot = write_snapshot(tmp_path / "dup.parquet", rows + rows[:1], ruleset)
    report = classify_snapshot(store, ruleset, NOW, snapshot)
    assert (report.customers, report.rejected) == (len(rows), 1)
    [why] = [r["reason"] for r in store.execute("SELECT reason FROM quarantine")]
    assert why == f"duplicate customer_id '{rows[0]['customer_id']}': already on row 1"
    assert store.execute("SELECT COUNT(*) AS n FROM classification_runs")[0]["n"] == 1


# --- the command ------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_classify_command_prints_the_table_and_transitions(loaded: Store) -> None:
    store_path = loaded.location
    first = invoke(
        "classify", "--rules", str(RULES), "--store", store_path, "--now", "2026-11-28T10:00"
    )
    assert first.exit_code == 0, first.output
    assert "睡眠客户" in first.output and "伙伴型" in first.output
    assert "transitions: 45" in first.output and "gold 金牌客户: 4" in first.output
    second = invoke("classify", "--rules", str(RULES), "--store", store_path, "--json")
    data = json.loads(second.stdout)
    assert (data["transitions"], data["customers"], data["gold"]) == (0, 45, 4)


def test_classify_command_with_a_snapshot(ruleset: RuleSet, tmp_path: Path) -> None:
    snapshot = write_snapshot(tmp_path / "s.parquet", population(), ruleset)
    result = invoke(
        "classify",
        "--rules",
        str(RULES),
        "--store",
        str(tmp_path / "x.db"),
        "--input",
        str(snapshot),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["engine"] == "duckdb"
    usage = CliRunner().invoke(cli, ["classify", "--engine", "spark"])
    assert usage.exit_code == 2 and "needs --input" in usage.output


def test_classify_chooses_duckdb_for_a_large_sqlite_store(
    loaded: Store, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --input: the store's customers on DuckDB from DUCKDB_FROM customers on (a
    SQLite store), else inside the store; --engine chooses either."""
    args = ["classify", "--rules", str(RULES), "--store", loaded.location, "--json"]
    small = invoke(*args)
    monkeypatch.setattr(store_source, "DUCKDB_FROM", 45)
    large, inside, duck = (
        invoke(*args),
        invoke(*args, "--engine", "sqlite"),
        invoke(*args, "--engine", "duckdb", "--memory-limit", "1GB"),
    )
    engines = [json.loads(r.stdout)["engine"] for r in (small, large, inside, duck)]
    auto = "duckdb" if loaded.dialect == "sqlite" else "postgres"
    assert engines == [loaded.dialect, auto, loaded.dialect, "duckdb"]
    reports = [json.loads(r.stdout) for r in (large, inside, duck)]
    assert [(r["customers"], r["transitions"]) for r in reports] == [(45, 0)] * 3


def test_a_value_written_around_load_stops_the_store_s_duckdb_night(
    sqlite_store: SQLiteStore, ruleset: RuleSet
) -> None:
    sqlite_store.upsert_customers(population())
    sqlite_store.execute("UPDATE customers SET balance = 'lots' WHERE customer_id = 'P1'")
    with pytest.raises(DataError, match="cannot hold"):
        classify_snapshot(sqlite_store, ruleset, NOW, None)
    assert sqlite_store.execute("SELECT COUNT(*) AS n FROM classification_runs") == [{"n": 0}]


def test_a_value_written_around_load_sends_the_chosen_night_inside_the_store(
    sqlite_store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chosen by size, the DuckDB night does not stop on a value load would have refused:
    the night runs inside the store, as it did before, and says why."""
    sqlite_store.upsert_customers(population())
    sqlite_store.execute("UPDATE customers SET balance = 'lots' WHERE customer_id = 'P1'")
    monkeypatch.setattr(store_source, "DUCKDB_FROM", 1)
    args = ["classify", "--rules", str(RULES), "--store", sqlite_store.location]
    chosen = CliRunner().invoke(cli, args)
    assert chosen.exit_code == 0, chosen.output
    assert "cannot hold" in chosen.output and "inside the store" in chosen.output
    assert sqlite_store.execute("SELECT engine FROM classification_runs") == [{"engine": "sqlite"}]
    forced = CliRunner().invoke(cli, [*args, "--engine", "duckdb"])
    assert forced.exit_code == 1 and "cannot hold" in forced.output


@pytest.mark.parametrize("trouble", ["memory", "value"])
def test_a_night_duckdb_cannot_run_is_classified_inside_the_store(
    sqlite_store: SQLiteStore,
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trouble: str,
) -> None:
    """Chosen by size (as the CLI and the daemon choose), a DuckDB night that needs more memory
    than it may use, or meets a value written around load, writes nothing and runs inside the
    store: the same assignments as the in-store engine's, and the reason said."""
    reference = SQLiteStore(tmp_path / "reference.db")
    reference.prepare(ruleset.schema)
    bad = "UPDATE customers SET balance = 'lots' WHERE customer_id = 'P1'"
    for opened in (sqlite_store, reference):
        opened.upsert_customers(population())
        if trouble == "value":
            opened.execute(bad)
    monkeypatch.setattr(store_source, "DUCKDB_FROM", 1)
    limit = "1MB" if trouble == "memory" else None
    report, reason = classify_chosen(sqlite_store, ruleset, NOW, limit)
    expected = {"memory": SnapshotMemoryError, "value": store_source.StoreValueError}[trouble]
    assert isinstance(reason, expected) and report.engine == "sqlite"
    assert sqlite_store.execute("SELECT COUNT(*) AS n FROM classification_runs") == [{"n": 1}]
    classify(reference, ruleset, NOW)
    shown = "SELECT customer_id, tier, level, strategy, gold FROM current_assignments ORDER BY 1"
    assert sqlite_store.execute(shown) == reference.execute(shown)
    reference.close()


def test_without_the_columnar_copy_the_store_is_read_every_time(
    sqlite_store: SQLiteStore, ruleset: RuleSet, tmp_path: Path
) -> None:
    snapshot = write_snapshot(tmp_path / "s.parquet", population(), ruleset)
    classify_snapshot(sqlite_store, ruleset, NOW, snapshot, keep_mirror=False)
    again = classify_snapshot(sqlite_store, ruleset, NOW, snapshot, keep_mirror=False)
    assert "assignments from store" in again.timings
    assert (again.changed, again.transitions) == (0, 0)
    assert not Path(mirror_path(sqlite_store.path)).exists()


@pytest.mark.parametrize("dialect", ["postgres", "spark"])
def test_the_query_is_valid_sql_for_the_scale_out_dialects(ruleset: RuleSet, dialect: str) -> None:
    events = "grouped" if dialect == "spark" else None  # Spark is given the grouped events
    query = compile_classification(
        ruleset, dialect, TODAY, "customers", measures=True, events=events
    )
    parsed = sqlglot.parse_one(query.sql, read=dialect)
    assert [c.alias_or_name for c in parsed.expressions] == list(query.columns)
    assert "VARCHAR" not in query.sql if dialect == "spark" else "DOUBLE PRECISION" in query.sql
