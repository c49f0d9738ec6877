"""The Spark engine: the same assignments as SQLite, DuckDB and the Python predicates.

One SparkSession (local[2], conftest's `spark`) serves every Spark test: Spark takes seconds
to start. The population is fixed and generated with a seed: a few thousand customers with
NULLs, ties at the gold line, values exactly at the rules' thresholds, a zero cost (division
by zero), -0.0, idle days around 180 and a date in the future. PySpark and Java are required:
without them this module fails, it is never skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_snapshot_erased as erased
import test_snapshot_screen as screened
from click.testing import CliRunner
from pyspark.sql import SparkSession

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, compile_classification
from guanxi.engine.classify.compile import classified
from guanxi.engine.classify.event_measures import grouped_events
from guanxi.engine.classify.hold import STATE
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.classify.spark import classify_on_spark
from guanxi.engine.classify.store_source import TYPES as ARROW_TYPES
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_customers
from guanxi.engine.language import parse_condition
from guanxi.engine.privacy.erasure import pseudonym, pseudonym_function
from guanxi.engine.privacy.files import spark_output
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.ruleset import CompiledMeasure, Rollup
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.classify_helpers import (
    cli_classify,
    customers,
    first_night,
    followups,
    planning_fails,
    reference_followups,
    write_csv,
)
from tests.test_classify import write_snapshot
from tests.test_event_measures import (
    at,
    event,
    fill,
    generated_events,
    history_rules,
    measure_values,
    python_measures,
    sql_measures,
)
from tests.test_extreme_values import EXTREME
from tests.test_hold import every_state, held_rules, jittered, night

pytestmark = pytest.mark.takes_minutes

RULES = Path(__file__).parent.parent / "rules"
TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai
CUSTOMERS = 3000

CURRENT = "SELECT * FROM current_assignments"


# --- a fixed population with NULLs and edge values --------------------------------------


def generated(count: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    return [_customer(rnd, i) for i in range(count)]


def _customer(rnd: random.Random, number: int) -> dict[str, Any]:
    def maybe(value: Any) -> Any:
        return None if rnd.random() < 0.12 else value

    cost = rnd.choice([0.0, -0.0, 0.5, 60.0, 1000.0, rnd.uniform(1, 5e4)])
    ratio = rnd.choice([10.0, 5.0, 3.0, 1.0, 0.999, 0.0, rnd.uniform(0, 20)])
    contribution = rnd.choices(  # a few share the largest amount, more the next: gold ties
        [cost * ratio, 0.0, 100.0 * rnd.randint(1, 30), 9e5, 2.5e6, 1e15, rnd.uniform(0, 3e6)],
        weights=[30, 10, 20, 5, 3, 1, 30],
    )[0]
    return {
        "customer_id": f"C{number:05d}",
        "name": rnd.choice(["王小明", "长沙湘江科技有限公司", "O'Brien", "back\\slash", "李华"]),
        "kind": maybe(rnd.choice(["personal", "corporate", "institutional"])),
        "balance": maybe(rnd.choice([0.0, -0.0, 1e-9, 99.99, 100.0, 5e5, rnd.uniform(0, 1e6)])),
        "loan_balance": maybe(rnd.choice([0.0, 999_999.99, 1e6, rnd.uniform(0, 2e6)])),
        "wealth_balance": maybe(rnd.choice([0.0, 250_000.0, rnd.uniform(0, 5e5)])),
        "monthly_txn_count": maybe(rnd.choice([0, 29, 30, 31, 60])),
        "last_txn_date": maybe(
            TODAY
            - dt.timedelta(days=rnd.choice([-5, 0, 1, 179, 180, 181, 3000, rnd.randint(0, 800)]))
        ),
        "products_held": maybe(rnd.choice([0, 2, 3, 4, 8])),
        "annual_contribution": maybe(contribution),
        "cost_to_serve": maybe(cost),
        "expected_years": maybe(rnd.choice([0.0, 15.0, rnd.uniform(0, 30)])),
        "consent_marketing": maybe(rnd.random() < 0.5),
    }


def write_parquet(path: Path, rows: list[dict[str, Any]], ruleset: RuleSet) -> Path:
    fields = ruleset.schema.fields
    schema = pa.schema([(n, ARROW_TYPES[f.type]) for n, f in fields.items()])
    columns = {n: [row.get(n) for row in rows] for n in fields}
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def _stored(value: Any) -> Any:
    """A value as the SQLite store keeps it: ISO text for dates, 0/1 for booleans."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return int(value) if isinstance(value, bool) else value


def assignments(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.execute("SELECT customer_id, tier, level, strategy, gold FROM current_assignments")
    return {r["customer_id"]: (r["tier"], r["level"], r["strategy"], bool(r["gold"])) for r in rows}


def moves(store: Store, run_id: int) -> set[tuple[Any, ...]]:
    rows = store.execute(
        "SELECT customer_id, from_tier, to_tier, from_level, to_level, from_strategy,"
        " to_strategy FROM transitions WHERE run_id = :run",
        {"run": run_id},
    )
    return {tuple(r.values()) for r in rows}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- parity ---------------------------------------------------------------------------


def test_spark_duckdb_sqlite_and_python_assign_alike(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = generated(CUSTOMERS, seed=7)
    night = write_parquet(tmp_path / "night1.parquet", rows, ruleset)
    lite = SQLiteStore(tmp_path / "sqlite.db")
    lite.prepare(ruleset.schema)
    lite.upsert_customers([{k: _stored(v) for k, v in row.items()} for row in rows])
    by_sqlite = classify(lite, ruleset, NOW)
    duck = SQLiteStore(tmp_path / "duckdb.db")
    by_duckdb = classify_snapshot(duck, ruleset, NOW, night)
    on_spark = SQLiteStore(tmp_path / "spark.db")
    by_spark = classify_on_spark(on_spark, ruleset, NOW, night, spark)

    python = {
        r["customer_id"]: (r["tier"], r["level"], r["strategy"], r["gold"])
        for r in classify_records(ruleset, rows, TODAY)
    }
    assert assignments(on_spark) == python
    assert assignments(duck) == python
    assert assignments(lite) == python
    assert by_spark.cells == by_duckdb.cells == by_sqlite.cells
    assert (by_spark.engine, by_spark.customers, by_spark.changed) == ("spark", CUSTOMERS, 3000)
    assert 0 < by_spark.gold < CUSTOMERS / 10
    assert len({v[0] for v in python.values()}) == 4  # every tier is reached

    # The next night: one customer in twenty traded today and tripled their contribution.
    for row in rows[::20]:
        row["last_txn_date"] = TODAY
        row["annual_contribution"] = (row["annual_contribution"] or 0.0) * 3
    # The default rules hold a change 2 runs: the night after confirms it.
    second = write_parquet(tmp_path / "night2.parquet", rows, ruleset)
    for _ in range(2):
        duck_night = classify_snapshot(duck, ruleset, NOW, second)
        spark_night = classify_on_spark(on_spark, ruleset, NOW, second, spark)
        assert assignments(on_spark) == assignments(duck)
        assert (spark_night.changed, spark_night.transitions, spark_night.held) == (
            duck_night.changed,
            duck_night.transitions,
            duck_night.held,
        )
    assert 0 < spark_night.transitions < CUSTOMERS / 5
    assert moves(on_spark, spark_night.run_id) == moves(duck, duck_night.run_id)
    assert "assignments from copy" in spark_night.timings
    written = duckdb.sql(f"SELECT COUNT(*) FROM '{spark_output(on_spark)}/*.parquet'")
    assert written.fetchall() == [(CUSTOMERS,)]
    for store in (lite, duck, on_spark):
        store.close()


def test_measures_and_ranks_are_exact_on_spark(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Percentiles from Spark's ranks by value bucket equal the ranks over everyone; measures
    that overflow or underflow a double are ±Infinity and 0 as in Python."""
    rows = generated(CUSTOMERS, seed=11)
    rows += [{"customer_id": key, "name": key, **row} for key, row in EXTREME.items()]
    spark.read.parquet(
        str(write_parquet(tmp_path / "m.parquet", rows, ruleset))
    ).createOrReplaceTempView("m")
    ruleset = classified(ruleset)  # the measures the rules read (events: further below)
    query = compile_classification(ruleset, "spark", TODAY, "m", measures=True)
    names = [m.name for m in ruleset.measures]
    on_spark = {
        r[0]: dict(zip(query.columns, r, strict=True)) for r in spark.sql(query.sql).collect()
    }
    for record in classify_records(ruleset, rows, TODAY):
        found = on_spark[record["customer_id"]]
        assert [found[n] for n in (*names, "gold")] == [record[n] for n in (*names, "gold")]
    assert len({r["contribution_pct"] for r in on_spark.values()}) > 100


def test_ranks_within_segments_are_exact_on_spark(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Gold within each kind and a percentile within kind × consent (NULL a segment of its
    own) next to the bucketed percentile over everyone, in one query; and roll-ups over
    corporate groups (a third of the customers in none)."""
    assert ruleset.gold is not None
    ruleset = classified(ruleset)  # the measures the rules read (events: further below)
    whole = next(m for m in ruleset.measures if m.percentile_of)
    rollups = [
        CompiledMeasure(f"group_{r.function}", "集团", None, None, whole.origin, rollup=r)
        for r in (
            Rollup("sum", "products_held", "group_id"),
            Rollup("max", "annual_contribution", "group_id"),
            Rollup("count", None, "group_id"),
        )
    ]
    segmented = dataclasses.replace(
        ruleset,
        gold=ruleset.gold.model_copy(update={"within": ("kind",)}),
        measures=(
            *ruleset.measures,
            dataclasses.replace(whole, name="pct_in_kind", within=("kind", "consent_marketing")),
            *rollups,
        ),
    )
    rows = [
        {**row, "group_id": f"G{i % 37}" if i % 3 else None}
        for i, row in enumerate(generated(600, seed=13))
    ]
    spark.read.parquet(
        str(write_parquet(tmp_path / "w.parquet", rows, segmented))
    ).createOrReplaceTempView("w")
    query = compile_classification(segmented, "spark", TODAY, "w", measures=True)
    on_spark = {r[0]: r.asDict() for r in spark.sql(query.sql).collect()}
    names = ("contribution_pct", "pct_in_kind", "gold", "tier", *(m.name for m in rollups))
    python = classify_records(segmented, rows, TODAY)
    assert {r["customer_id"]: [on_spark[r["customer_id"]][n] for n in names] for r in python} == {
        r["customer_id"]: [r[n] for n in names] for r in python
    }
    assert 4 <= sum(r["gold"] for r in python) < 60


RECORDS = [
    {"n": None, "x": None, "s": None, "d": None, "b": None},
    {"n": 0, "x": -0.0, "s": "", "d": TODAY, "b": False},
    {"n": 3, "x": 0.1, "s": "a\\b", "d": dt.date(2026, 6, 1), "b": True},
    {"n": -7, "x": 2.5, "s": "a\\\\b", "d": dt.date(2000, 1, 1), "b": True},
    {"n": 10, "x": 0.30000000000000004, "s": "张%_", "d": dt.date(2030, 12, 31), "b": False},
    {"n": 1000, "x": 1e6, "s": "it's", "d": dt.date(2026, 5, 2), "b": None},
    {"n": 1, "x": 0.0, "s": "AB", "d": dt.date(2026, 11, 27), "b": True},
    {"n": 2, "x": 100.0, "s": "é王ab", "d": None, "b": False},
]
CONDITIONS = [
    "s LIKE 'a\\b'",
    "s LIKE 'a\\\\b'",
    "s LIKE 'a%b'",
    "s LIKE '张\\%%'",
    "s LIKE '_'",
    "s LIKE 'ab'",
    "s LIKE s",
    "s = 'it''s'",
    "s < 'b' AND s > 'A'",
    "s IN ('', 'AB', 'é王ab')",
    "LENGTH(s) = 3",
    "n / 0 IS NULL",
    "x / (n - 3) > 0",
    "n * 0.1 = 0.30000000000000004",
    "x = 0.1 + 0.2",
    "n / 4 = 0.75",
    "DAYS_SINCE(d) >= 180",
    "DAYS_SINCE(d) = 1",
    "DAYS_SINCE(d) < 0",
    "d BETWEEN DATE '2026-01-01' AND DATE '2026-12-31'",
    "n IN (1, 2.0) OR n IS NULL",  # NULL written in the list is refused (null-comparison)
    "NOT (n IN (1, 2))",
    "b",
    "b = FALSE OR b IS NULL",
    "COALESCE(x, n, -1) < 1",
    "ABS(-(n)) BETWEEN 2 AND 10",
    "x = -0.0",
    "NOT (s IS NULL OR x > 1)",
]


def test_conditions_agree_on_spark(spark: SparkSession) -> None:
    fields = {"n": "integer", "x": "number", "s": "string", "d": "date", "b": "boolean"}
    data = [(i, *(r[f] for f in fields)) for i, r in enumerate(RECORDS)]
    schema = "id INT, n BIGINT, x DOUBLE, s STRING, d DATE, b BOOLEAN"
    spark.createDataFrame(data, schema).createOrReplaceTempView("t")
    duck = duckdb.connect()
    duck.execute("CREATE TABLE t (id INT, n BIGINT, x DOUBLE, s VARCHAR, d DATE, b BOOLEAN)")
    duck.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", data)
    parsed = [parse_condition(text, fields) for text in CONDITIONS]
    on_spark = spark.sql(_select(parsed, "spark")).collect()
    on_duckdb = duck.execute(_select(parsed, "duckdb")).fetchall()
    for i, (text, condition) in enumerate(zip(CONDITIONS, parsed, strict=True)):
        python = [_truth(condition.compile(TODAY)(r)) for r in RECORDS]
        assert [_truth(row[i]) for row in on_spark] == python, text
        assert [_truth(row[i]) for row in on_duckdb] == python, text


def _select(conditions: list[Any], dialect: str) -> str:
    columns = ", ".join(f"{c.sql(dialect, TODAY)} AS c{i}" for i, c in enumerate(conditions))
    return f"SELECT {columns} FROM t ORDER BY id"


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


# --- event measures ---------------------------------------------------------------------


def test_event_measures_agree_on_spark(spark: SparkSession, tmp_path: Path) -> None:
    """The store's events grouped by customer, joined on Spark: every event measure (counts,
    sums, largest, smallest, days since; with and without `where:`) as the store and Python
    compute them, at the window's edges and over generated events; and a night on Spark
    assigns the tiers they decide (sales in 90 days make a customer valuable)."""
    rules = load_ruleset(history_rules(tmp_path / "rules"))
    people = [{"customer_id": f"C{i}", "name": "王芳"} for i in range(30)]
    edges = [  # C0: the first and last instants of 90 days and of today, and either side
        event(1000 + n, kind, "C0", at(days, seconds, rules), amount=9.5, product="理财")
        for n, (kind, days, seconds) in enumerate(
            [("complaint", 89, 0), ("complaint", 89, -1), ("sale", 0, 86_399),
             ("sale", -1, 0), ("sale", 6, 0), ("sale", 7, -1)]
        )
    ]  # fmt: skip
    events = [*generated_events(11, 30, 400, rules), *edges]
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(rules.schema)
    fill(store, people, events)
    expected = sql_measures(store, rules)
    assert python_measures(rules, people, events) == expected
    spark.createDataFrame(pa.Table.from_pylist(people)).createOrReplaceTempView("people")
    spark.createDataFrame(grouped_events(store, rules, TODAY)).createOrReplaceTempView("grouped")
    query = compile_classification(
        rules, "spark", TODAY, "people", ["customer_id", "name"], True, events="grouped"
    )
    assert {r[0]: measure_values(r.asDict()) for r in spark.sql(query.sql).collect()} == expected
    classify_on_spark(store, rules, NOW, write_snapshot(tmp_path / "s.parquet", people, rules))
    tiers = {r["customer_id"]: r["tier"] for r in store.execute(CURRENT)}
    assert tiers == {key: values[-1] for key, values in expected.items()}
    assert "valuable" in tiers.values()
    store.close()


# --- reading snapshots, errors, the command ---------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_spark_reads_amounts_in_yuan_as_load_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """`100元整`, `人民币壹万贰仟叁佰肆拾伍元陆角柒分` read, `100块` and `壹佰伍元` refused: the
    same tiers and the same quarantine as `load` + `classify`."""
    snapshot = screened.currency_snapshot(tmp_path / f"night{suffix}")
    loaded, on_spark = _loaded_and_on_spark(spark, ruleset, tmp_path, snapshot)
    assert len(screened.assignments(loaded)) == len(screened.currency_kept())
    for store in (loaded, on_spark):
        store.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_spark_reads_dates_typed_in_full_width_as_load_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """`２０２６－１１－０２`, `２０２６年１１月２日`: the day their half-width twins are, with the
    same tiers and the same quarantine (`２０２６－０２－３０` alone) as `load` + `classify`."""
    snapshot = screened.wide_dates_snapshot(tmp_path / f"night{suffix}")
    loaded, on_spark = _loaded_and_on_spark(spark, ruleset, tmp_path, snapshot)
    refused = [q[2] for q in screened.quarantined(on_spark) if q[1] == "last_txn_date"]
    assert refused == [screened.WIDE_NOT_A_DAY]
    for store in (loaded, on_spark):
        store.close()


def test_spark_names_excel_day_numbers_as_load_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """`46328` in a date column: refused with the day Excel keeps it for, as load refuses it."""
    snapshot = screened.excel_days_snapshot(tmp_path / "night.csv")
    with language("zh"):
        loaded, on_spark = _loaded_and_on_spark(spark, ruleset, tmp_path, snapshot)
    screened.assert_excel_days_named(on_spark)
    for store in (loaded, on_spark):
        store.close()


def _loaded_and_on_spark(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, snapshot: Path
) -> tuple[SQLiteStore, SQLiteStore]:
    """The snapshot through `load` + `classify` and through the Spark night, each into a store
    of its own: the same assignments and the same quarantine (rows, values, reasons)."""
    loaded = SQLiteStore(tmp_path / "loaded.db")
    load_customers(loaded, ruleset, snapshot, NOW)
    classify(loaded, ruleset, NOW)
    on_spark = SQLiteStore(tmp_path / "spark.db")
    classify_on_spark(on_spark, ruleset, NOW, snapshot, spark, tmp_path / "out")
    assert screened.assignments(on_spark) == screened.assignments(loaded)
    assert screened.quarantined(on_spark) == screened.quarantined(loaded)
    assert screened.quarantined_customers(on_spark) == screened.quarantined_customers(loaded)
    return loaded, on_spark


# Spark settings a session may have (a notebook's, a cluster's): another session zone, and
# timestamps without a zone read as instants
ELSEWHERE = {"spark.sql.session.timeZone": "America/New_York"}
AS_INSTANTS = {**ELSEWHERE, "spark.sql.parquet.inferTimestampNTZ.enabled": "false"}


def test_spark_reads_timestamps_in_a_date_field_as_load_and_duckdb_do(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """{µs, ns (pandas')} x {no zone, UTC (Java, Spark), Asia/Shanghai}: nanoseconds read, an
    instant is its day in the project's zone and a timestamp without a zone its wall clock,
    whatever Spark's session says, and the same assignments and quarantine (rows, values,
    reasons) as load + classify and DuckDB."""
    nights = [
        (unit, zone, ELSEWHERE if unit == "ns" else {})
        for unit in screened.TIMESTAMP_UNITS
        for zone in screened.TIMESTAMP_ZONES
    ]
    nights.append(("us", None, AS_INSTANTS))  # fmt: skip
    for number, (unit, zone, settings) in enumerate(nights):
        folder = tmp_path / str(number)
        folder.mkdir()
        snapshot = screened.timestamped_snapshot(folder / "night.parquet", unit, zone)
        loaded, duck, on_spark = (SQLiteStore(folder / f"{n}.db") for n in ("l", "d", "s"))
        load_customers(loaded, ruleset, snapshot, NOW)
        classify(loaded, ruleset, NOW)
        classify_snapshot(duck, ruleset, NOW, snapshot)
        with _spark_settings(spark, settings):
            classify_on_spark(on_spark, ruleset, NOW, snapshot, spark, folder / "out")
        assert screened.quarantined(loaded) == screened.timestamped_quarantine(unit, zone)
        for other in (duck, on_spark):
            assert screened.assignments(other) == screened.assignments(loaded), (unit, zone)
            assert screened.quarantined(other) == screened.quarantined(loaded), (unit, zone)
        for store in (loaded, duck, on_spark):
            store.close()


@contextlib.contextmanager
def _spark_settings(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """The session with `settings` meanwhile."""
    before = {name: spark.conf.get(name) for name in settings}
    for name, value in settings.items():
        spark.conf.set(name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            spark.conf.set(name, value)


def test_a_column_spark_cannot_read_stops_the_night_with_one_error_naming_it(
    tmp_path: Path,
) -> None:
    """A time of day in milliseconds (TIME(MILLIS)), which Spark has no type for: `guanxi
    classify --engine spark` says which column and what to do, without Java stack traces."""
    snapshot = tmp_path / "night.parquet"
    times = pa.array([dt.time(9, 30), dt.time(14)], pa.time32("ms"))
    pq.write_table(pa.table({"customer_id": ["C1", "C2"], "name": ["张三", "李四"],
                             "last_txn_time": times}), snapshot)  # fmt: skip
    args = ["classify", "--rules", str(RULES), "--engine", "spark", "--input", str(snapshot),
            "--store", str(tmp_path / "s.db"), "--output", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "guanxi.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if "Error" in line or "ERROR" in line]
    assert errors == [
        f"Error: Spark cannot read column 'last_txn_time' of the snapshot '{snapshot}': it has"
        " no type for the column's Parquet type (Time(isAdjustedToUTC=false,"
        " timeUnit=milliseconds)); save the column as text, a number, a date or a timestamp,"
        " or classify this snapshot with --engine duckdb"
    ]
    assert "\tat " not in done.stderr and "Traceback" not in done.stderr


def test_a_decimal_wider_than_sparks_stops_the_night_with_one_error_naming_it(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """pyarrow writes a decimal256 as a DECIMAL of up to 76 digits; Spark's hold 38. Its own
    message named neither the column nor what to do."""
    snapshot = tmp_path / "night.parquet"
    amounts = pa.array([Decimal("1" * 40), Decimal(5)], pa.decimal256(76, 2))
    pq.write_table(pa.table({"customer_id": ["C1", "C2"], "name": ["张三", "李四"],
                             "annual_contribution": amounts}), snapshot)  # fmt: skip
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(DataError) as raised:
        classify_on_spark(store, ruleset, NOW, snapshot, spark, tmp_path / "out")
    assert str(raised.value) == (
        f"Spark cannot read column 'annual_contribution' of the snapshot '{snapshot}': it has"
        " no type for the column's Parquet type (Decimal(precision=76, scale=2)); save the"
        " column as text, a number, a date or a timestamp, or classify this snapshot with"
        " --engine duckdb"
    )
    store.close()


def test_a_folder_whose_files_type_a_column_differently_stops_with_one_error_naming_it(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """One day's export writes balances as DOUBLE, the next as DECIMAL(18,2): Spark failed
    while collecting the doubtful rows, and its Java error escaped as a traceback."""
    parts = tmp_path / "parts"
    parts.mkdir()
    people = generated(6, seed=5)
    write_parquet(parts / "part-0.parquet", people[:3], ruleset)
    later = pq.read_table(write_parquet(parts / "part-1.parquet", people[3:], ruleset))
    balances = later.column("balance").cast(pa.decimal128(18, 2))
    later = later.set_column(later.schema.get_field_index("balance"), "balance", balances)
    pq.write_table(later, parts / "part-1.parquet")
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(DataError) as raised:
        classify_on_spark(store, ruleset, NOW, parts, spark, tmp_path / "out")
    said = "'{}' holds it as {}, the others as {}"  # Spark takes the types of either file
    assert str(raised.value) in {
        f"the files of the snapshot folder '{parts}' give column 'balance' different types:"
        f" {said.format(*held)}; save the column in one type in every file"
        for held in (("part-1.parquet", "decimal128(18, 2)", "double"),
                     ("part-0.parquet", "double", "decimal(18,2)"))
    }  # fmt: skip
    store.close()


def test_spark_reads_a_parquet_snapshot_headed_by_the_fields_labels_as_load_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """客户编号 is customer_id, and 开户日期 in nanoseconds a timestamp (test_snapshot_screen)."""
    snapshot = screened.labelled_parquet(tmp_path / "night.parquet")
    loaded, on_spark = SQLiteStore(tmp_path / "loaded.db"), SQLiteStore(tmp_path / "spark.db")
    load_customers(loaded, ruleset, snapshot, NOW)
    classify(loaded, ruleset, NOW)
    report = classify_on_spark(on_spark, ruleset, NOW, snapshot, spark, tmp_path / "out")
    assert report.rejected == len(screened.BAD) + 1
    assert screened.assignments(on_spark) == screened.assignments(loaded)
    assert screened.quarantined(on_spark) == screened.quarantined(loaded)
    assert screened.quarantined_customers(on_spark) == screened.quarantined_customers(loaded)
    for store in (loaded, on_spark):
        store.close()


def test_spark_takes_a_uint64_count_of_19_digits_exactly(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Spark reads a UINT64 column as DECIMAL(20,0): its doubtful values were made reals,
    2^63 - 1 refused as 2^63 (load and DuckDB take it) and 2^64 - 1 named as 2^64."""
    snapshot = screened.wide_counts_snapshot(tmp_path / "night.parquet", pa.uint64())
    duck, on_spark = SQLiteStore(tmp_path / "duckdb.db"), SQLiteStore(tmp_path / "spark.db")
    classify_snapshot(duck, ruleset, NOW, snapshot)
    classify_on_spark(on_spark, ruleset, NOW, snapshot, spark, tmp_path / "out")
    assert screened.quarantined(on_spark) == screened.WIDE_COUNTS_REFUSED
    assert screened.assignments(on_spark) == screened.assignments(duck)
    for store in (duck, on_spark):
        store.close()


def test_spark_leaves_out_the_rows_load_rejects_as_duckdb_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Every kind of bad value load rejects, in CSV and in Parquet: the same assignments and
    the same quarantine as `load` + `classify` (test_snapshot_screen.py holds DuckDB to it)."""
    for snapshot in (
        screened.write_csv(tmp_path / "night.csv", screened.rows()),
        screened.write_parquet(tmp_path / "night.parquet", screened.rows()),
    ):
        loaded = SQLiteStore(tmp_path / f"{snapshot.name}.loaded.db")
        load_customers(loaded, ruleset, snapshot, NOW)
        by_store = classify(loaded, ruleset, NOW)
        on_spark = SQLiteStore(tmp_path / f"{snapshot.name}.spark.db")
        by_spark = classify_on_spark(on_spark, ruleset, NOW, snapshot, spark, tmp_path / "out")
        expected = screened.assignments(loaded)
        assert screened.assignments(on_spark) == expected
        assert (by_spark.cells, by_spark.gold) == (by_store.cells, 4)  # as in test_snapshot_screen
        assert screened.quarantined(on_spark) == screened.quarantined(loaded)
        assert by_spark.rejected == len(screened.BAD) + (snapshot.suffix == ".csv")
        for store in (loaded, on_spark):
            store.close()
    parts = tmp_path / "parts"  # a folder: rows are numbered within their file
    parts.mkdir()
    screened.write_parquet(parts / "part-0.parquet", screened.rows()[:30])
    screened.write_parquet(parts / "part-1.parquet", screened.rows()[30:])
    on_parts = SQLiteStore(tmp_path / "parts.db")
    classify_on_spark(on_parts, ruleset, NOW, parts, spark, tmp_path / "out")
    assert screened.assignments(on_parts) == expected
    where = on_parts.execute("SELECT DISTINCT source, row_number FROM quarantine")
    assert {(Path(r["source"]).name, r["row_number"]) for r in where} == {
        ("part-1.parquet", 11 + i) for i in range(len(screened.BAD))
    }
    on_parts.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_spark_keeps_a_customer_an_earlier_version_stored_as_123_0(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, suffix: str
) -> None:
    """As DuckDB and load: a night naming `123` classifies the stored customer `123.0`."""
    screened.upgraded_store(ruleset, tmp_path / "s.db")
    snapshot = screened.night_naming_digits(tmp_path / f"night{suffix}")
    store = SQLiteStore(tmp_path / "s.db")
    report = classify_on_spark(store, ruleset, NOW, snapshot, spark, tmp_path / "out")
    screened.assert_kept_as_stored(store, report.changed, report.rejected, suffix)
    store.close()


def test_spark_writes_into_a_postgresql_store_as_into_sqlite(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, postgres_url: str
) -> None:
    """Night after night, as DuckDB into SQLite, which Spark into SQLite equals (held by
    test_spark_duckdb_sqlite_and_python_assign_alike): one Spark run a night, not two."""
    rows = generated(500, seed=11)
    lite, pg = SQLiteStore(tmp_path / "duckdb.db"), PostgresStore(postgres_url)
    try:
        for night in (1, 2, 3):  # night 3 confirms what night 2 held (the default hold)
            snapshot = write_parquet(tmp_path / f"night{night}.parquet", rows, ruleset)
            by_duckdb = classify_snapshot(lite, ruleset, NOW, snapshot)
            on_spark = classify_on_spark(pg, ruleset, NOW, snapshot, spark, tmp_path / "out")
            assert assignments(pg) == assignments(lite)
            assert moves(pg, on_spark.run_id) == moves(lite, by_duckdb.run_id)
            assert (on_spark.changed, on_spark.held) == (by_duckdb.changed, by_duckdb.held)
            assert on_spark.changed + on_spark.held > 0
            for row in rows[3::4]:  # the next night, one in four traded today (the dormant
                row["last_txn_date"] = TODAY  # C00191 and C00395 among them)
    finally:
        lite.close()
        pg.close()


def test_classify_command_on_spark(spark: SparkSession, ruleset: RuleSet, tmp_path: Path) -> None:
    snapshot = write_parquet(tmp_path / "s.parquet", generated(200, seed=3), ruleset)
    store, output = str(tmp_path / "x.db"), tmp_path / "out"
    common = ["classify", "--rules", str(RULES), "--store", store, "--input", str(snapshot)]
    result = invoke(*common, "--engine", "spark", "--output", str(output), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["engine"], data["customers"], data["output"]) == ("spark", 200, str(output))
    assert (output / "_SUCCESS").exists()
    assert spark.sparkContext._jsc is not None  # the running session was used and left running
    again = invoke(*common, "--engine", "spark", "--output", str(tmp_path))
    assert again.exit_code == 1
    assert "exists and is not an earlier assignments output" in again.output
    usage = CliRunner().invoke(cli, [*common[:-2], "--engine", "spark"])
    assert usage.exit_code == 2 and "--engine spark needs --input" in usage.output
    usage = CliRunner().invoke(cli, [*common, "--master", "local[1]"])
    assert usage.exit_code == 2 and "--master and --output are for --engine spark" in usage.output


def test_a_spark_run_commits_with_its_transitions_followups(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The Spark engine's run fails while planning its follow-ups: nothing of the run stays,
    and the next run plans every follow-up, as the store's own engine does."""
    expected = reference_followups(ruleset, tmp_path, 60)
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    first_night(store, ruleset, 60)
    runs = store.execute("SELECT count(*) AS n FROM classification_runs")[0]["n"]
    snapshot = write_csv(tmp_path / "night.csv", customers(60, 1))
    command = [*cli_classify(store.location), "--engine", "spark", "--input", str(snapshot),
               "--output", str(tmp_path / "out")]  # fmt: skip
    with planning_fails(store):
        assert CliRunner().invoke(cli, command).exit_code != 0
    assert store.execute("SELECT count(*) AS n FROM classification_runs")[0]["n"] == runs
    again = CliRunner().invoke(cli, command)
    assert again.exit_code == 0, again.output
    assert followups(store) == expected
    store.close()


def _guanxi(tmp_path: Path, prelude: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`guanxi classify --engine spark` in a fresh process, after `prelude`."""
    snapshot = tmp_path / "none.parquet"
    snapshot.write_bytes(b"")
    code = f"{prelude}; from guanxi.cli.main import main; main()"
    args = ["classify", "--engine", "spark", "--input", str(snapshot), "--store",
            str(tmp_path / "s.db")]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=300,
    )


def test_without_pyspark_the_spark_engine_says_how_to_install_it(tmp_path: Path) -> None:
    done = _guanxi(tmp_path, "import sys; sys.modules['pyspark'] = None")
    assert done.returncode == 1, done.stderr
    assert "pip install 'guanxi[spark]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_java_the_spark_engine_says_what_it_needs(tmp_path: Path) -> None:
    done = _guanxi(tmp_path, "pass", JAVA_HOME=str(tmp_path / "no-java"))
    assert done.returncode == 1, done.stderr
    assert "Error: Spark could not start on 'local[2]'" in done.stderr
    assert "it needs Java 17 or newer" in done.stderr
    assert "Traceback" not in done.stderr


def test_spark_holds_the_customers_the_store_holds(spark: SparkSession, tmp_path: Path) -> None:
    ruleset = load_ruleset(held_rules(tmp_path / "rules"))
    lite, on_spark = SQLiteStore(tmp_path / "sqlite.db"), SQLiteStore(tmp_path / "spark.db")
    lite.prepare(ruleset.schema)
    for number in range(2):  # the second night holds some customers
        rows = jittered(number)
        lite.upsert_customers(rows)
        classify(lite, ruleset, night(number))
        snapshot = write_snapshot(tmp_path / f"{number}.parquet", rows, ruleset)
        classify_on_spark(on_spark, ruleset, night(number), snapshot, spark)
        assert every_state(on_spark) == every_state(lite)
    assert any(s[STATE.index("pending_tier_runs")] for s in every_state(lite).values())
    for store in (lite, on_spark):
        store.close()


# --- one bad value never stops the others: Spark quarantines what DuckDB does -------------

BAD_ROW = 8  # the bad row's place: row 8 of a Parquet file, line 9 of a CSV one (its header)
RICH = {"annual_contribution": 9e6, "balance": 5e5, "products_held": 8}  # gold, if counted
BAD_CELLS = {  # case: (how the snapshot is written, the bad row's values)
    "a number written badly": ("csv", {"balance": "1,5"}),
    "text in a number column": ("text parquet", {"balance": "lots"}),
    "a whole number with a fraction": ("csv", {"products_held": "3.5"}),
    "an impossible date": ("csv", {"last_txn_date": "2016-02-30"}),
    "a date out of range": ("typed parquet", {"last_txn_date": dt.date(1899, 12, 30)}),
    "a year written short": ("text parquet", {"last_txn_date": "0202-01-01"}),
    "NaN": ("typed parquet", {"balance": float("nan")}),
    "infinity": ("typed parquet", {"annual_contribution": float("inf")}),
    "-nan as text": ("csv", {"balance": "-nan"}),
    "NULL for a required name": ("text parquet", {"name": "NULL"}),
    "NULL typed in full width for a required name": ("csv", {"name": "ＮＵＬＬ"}),
    "a text-direction control in a name": ("csv", {"name": "王\u202e小明"}),
    "a text-direction control in an id": ("text parquet", {"customer_id": "C\u2066X"}),
    "an isolate in a typed name": ("typed parquet", {"name": "\u2067李华"}),
    "an over-long name": ("csv", {"name": "长" * 4001}),
    "an over-long id": ("typed parquet", {"customer_id": "X" * 65}),
    "a negative balance": ("typed parquet", {"balance": -5.0}),
    "a structure in a number column": ("nested parquet", {"balance": {"amount": 5.0}}),
    "a whole number below its minimum": ("typed parquet", {"products_held": -1}),
    "a number too large to be exact": ("csv", {"products_held": "1e400"}),
    "an empty id": ("csv", {"customer_id": ""}),
    "an id of spaces": ("text parquet", {"customer_id": "  "}),
    "an id as Excel shows a long number": ("csv", {"customer_id": "6.22848E+18"}),
    "no id": ("typed parquet", {"customer_id": None}),
    "an id given twice": ("csv", {"customer_id": "C00002"}),
    "an id given twice, typed": ("typed parquet", {"customer_id": "C00002"}),
    "an id given twice in full width": ("text parquet", {"customer_id": "Ｃ００００２"}),
}


def _bad_night(folder: Path, form: str, bad: dict[str, Any], ruleset: RuleSet) -> Path:
    """Forty customers, and at BAD_ROW a rich one with the bad values, written as `form`."""
    rows = generated(40, seed=5)
    rows.insert(BAD_ROW - 1, {**rows[20], "customer_id": "C99999", **RICH, **bad})
    if form == "typed parquet":
        return write_parquet(folder / "night.parquet", rows, ruleset)
    if form == "nested parquet":  # the bad values' columns hold nothing else, of their type
        alone = [{**row, **dict.fromkeys(bad)} for row in rows if row["customer_id"] != "C99999"]
        alone.insert(BAD_ROW - 1, rows[BAD_ROW - 1])
        pq.write_table(pa.Table.from_pylist(alone), folder / "night.parquet")
        return folder / "night.parquet"
    cells = [{n: _cell(row.get(n)) for n in ruleset.schema.fields} for row in rows]
    if form == "csv":
        return write_csv(folder / "night.csv", cells)
    pq.write_table(pa.Table.from_pylist(cells), folder / "night.parquet")
    return folder / "night.parquet"


def _cell(value: Any) -> str:
    """A value as an export writes it in text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if isinstance(value, dt.date) else str(value)


@pytest.mark.parametrize("case", list(BAD_CELLS))
def test_spark_quarantines_every_bad_row_duckdb_does(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path, case: str
) -> None:
    """The row is quarantined on both engines, at the same row with the same reasons, and
    every other customer is classified alike: the bad row never stops the night."""
    form, bad = BAD_CELLS[case]
    night = _bad_night(tmp_path, form, bad, ruleset)
    duck, on_spark = SQLiteStore(tmp_path / "duckdb.db"), SQLiteStore(tmp_path / "spark.db")
    by_duckdb = classify_snapshot(duck, ruleset, NOW, night)
    by_spark = classify_on_spark(on_spark, ruleset, NOW, night, spark, tmp_path / "out")
    expected = screened.quarantined(duck)
    row = BAD_ROW + (form == "csv")
    assert {(q[0], q[1]) for q in expected} == {(row, name) for name in bad}
    assert screened.quarantined(on_spark) == expected
    assert assignments(on_spark) == assignments(duck)
    assert (by_spark.customers, by_spark.rejected) == (by_duckdb.customers, 1)
    assert by_spark.problems == by_duckdb.problems
    for store in (duck, on_spark):
        store.close()


def test_an_id_repeated_in_a_folder_of_parquet_files_is_quarantined(
    spark: SparkSession, ruleset: RuleSet, tmp_path: Path
) -> None:
    """In a folder the first row by file and row wins; a later row names the file of the first
    when it is another's."""
    people = generated(7, seed=5)
    parts = tmp_path / "parts"
    parts.mkdir()
    write_parquet(parts / "part-0.parquet", people[:5], ruleset)
    later = [people[5], {**people[1], **RICH}, people[6], {**people[5], **RICH}]
    write_parquet(parts / "part-1.parquet", later, ruleset)
    store = SQLiteStore(tmp_path / "spark.db")
    report = classify_on_spark(store, ruleset, NOW, parts, spark, tmp_path / "out")
    assert (report.customers, report.rejected) == (7, 2)
    found = store.execute("SELECT source, row_number, reason FROM quarantine")
    assert sorted((Path(r["source"]).name, r["row_number"], r["reason"]) for r in found) == [
        (
            "part-1.parquet",
            2,
            "duplicate customer_id 'C00001': already on row 2 of 'part-0.parquet'",
        ),
        ("part-1.parquet", 4, "duplicate customer_id 'C00005': already on row 1"),
    ]
    duck = SQLiteStore(tmp_path / "duckdb.db")  # the seven customers, each once
    classify_snapshot(duck, ruleset, NOW, write_parquet(tmp_path / "once.parquet", people, ruleset))
    assert assignments(store) == assignments(duck)
    for each in (store, duck):
        each.close()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_spark_refuses_an_erased_customer_still_in_the_snapshot(
    spark: SparkSession, tmp_path: Path, suffix: str
) -> None:
    """As DuckDB and load: a customer erased at their request is not classified again, nor
    written into the assignments output the bank's own jobs read."""
    store_path, night = erased.classified_then_erased(tmp_path, suffix)
    store = SQLiteStore(store_path)
    ruleset = load_ruleset(erased.RULES)
    report = classify_on_spark(store, ruleset, NOW, night, spark, tmp_path / "out")
    problems = [dict(p) for p in report.problems]
    erased.assert_refused(store_path, report.customers, report.rejected, problems, suffix)
    output = pq.read_table(tmp_path / "out").column("customer_id").to_pylist()
    assert len(output) == 39 and erased.ERASED not in output
    store.close()


def test_an_erasure_reaches_the_assignments_spark_wrote_beside_the_store(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The night's output (every customer's assignment, where Spark writes it unless told)
    loses the person's row at their erasure, and Spark reads the folder again (a rewritten
    file's stale checksum would stop it)."""
    store_path = tmp_path / "guanxi.db"
    people = [erased.customer(i) for i in range(1, 41)]
    night = erased.write(tmp_path / "night.parquet", people)
    store = SQLiteStore(store_path)
    classify_on_spark(store, load_ruleset(erased.RULES), NOW, night, spark)
    store.close()
    output = spark_output(store)
    assert any(output.glob(".*.crc")), "Spark writes a checksum beside each file"
    erased.guanxi(store_path, "customer", "erase", erased.ERASED, "--yes")
    kept = spark.read.parquet(str(output)).select("customer_id").collect()
    assert sorted(r["customer_id"] for r in kept) == sorted(
        p["customer_id"] for p in people if p["customer_id"] != erased.ERASED
    )


@pytest.mark.parametrize("customer_id", ["C007", "客户①", " a'b ", "ﾃｽﾄ\u200b"])
def test_spark_computes_the_pseudonym_erasure_wrote(spark: SparkSession, customer_id: str) -> None:
    secret = bytes(range(32))
    spark.udf.register("gx_test_pseudonym", pseudonym_function(secret), "string")
    frame = spark.createDataFrame([(customer_id,)], "id string")
    query = frame.selectExpr("gx_test_pseudonym(id) AS p")
    assert query.collect()[0]["p"] == pseudonym(secret, customer_id)
    shown = query._jdf.queryExecution().toString()  # what Spark's UI and event log show
    assert secret.hex() not in shown and bytes(b ^ 0x36 for b in secret).hex() not in shown
