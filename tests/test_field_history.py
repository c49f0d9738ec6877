"""The change of a field between classification runs (`change: balance`, `since: 30 days`):
each run keeps only the values that changed; the value then is the latest kept on or before
that day (NULL when none); the same on SQLite, PostgreSQL, DuckDB, Spark and in Python (a
property over generated histories); explained with the value then and now."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, compile_classification
from guanxi.engine.classify.compile import classified
from guanxi.engine.classify.explain import explain
from guanxi.engine.classify.field_history import grouped_history
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.classify.spark import classify_on_spark
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.ruleset import FieldChange
from guanxi.engine.scenarios.run import run_scenarios
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_classify import write_snapshot

pytestmark = pytest.mark.takes_minutes  # handed out first (conftest.py)

RULES = Path(__file__).parent.parent / "rules"
DAY = dt.date(2026, 10, 1)
MEASURES = """measures:
  - name: balance_fall
    label: 余额较上次下降比例
    change: balance
    since: last run
    as: percent
  - name: balance_change_30d
    label: 近30天余额变化
    change: balance
    since: 30 days
    as: percent
  - name: balance_since_last
    label: 余额较上次变化
    change: balance
    since: last run
  - name: txn_change_2w
    label: 近两周交易笔数变化
    change: monthly_txn_count
    since: 2 weeks
    as: difference
"""
NAMES = ("balance_change_30d", "balance_since_last", "txn_change_2w")
# ranked among the reference customers, as the shipped scenarios are: alone, a customer
# would be the gold customer of their kind, and gold customers are called when money leaves
SCENARIOS = """population: population.csv
scenarios:
  - name: 余额下降 money leaving a low-value customer who held 70 % more yesterday brings a call
    today: "2026-11-04"
    before: {balance: 100000}
    customer: {customer_id: T404, name: 鲁智, kind: personal, balance: 30000,
               monthly_txn_count: 5, last_txn_date: "2026-11-03", products_held: 1,
               annual_contribution: 600, cost_to_serve: 300, rm_id: RM002,
               consent_marketing: true}
    events:
      - {type: balance_drop, at: "2026-11-04T14:00", fields: {amount: 70000}}
    expect:
      tier: low_value
      followups:
        - {step: balance_drop_call, due: "2026-11-05T10:00", channel: rm_task}
  - name: 余额下降 the same customer without a balance the day before brings none
    today: "2026-11-04"
    customer: {customer_id: T405, name: 鲁智, kind: personal, balance: 30000,
               monthly_txn_count: 5, last_txn_date: "2026-11-03", products_held: 1,
               annual_contribution: 600, cost_to_serve: 300, rm_id: RM002,
               consent_marketing: true}
    events:
      - {type: balance_drop, at: "2026-11-04T14:00", fields: {amount: 70000}}
    expect:
      tier: low_value
      no_followups: [balance_drop_call]
"""
CALLED = (
    "on: balance_drop\n"
    "      when: (tier IN ('valuable', 'high_value_added') OR gold)"
    " AND strategy <> 'unprofitable'\n"
)


def change_rules(folder: Path) -> Path:
    """The default project with the change measures above; money leaving an account whose
    balance fell 30 % or more since the last run brings a call, whatever the tier."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    tiers = folder / "tiers.yaml"
    tiers.write_text(tiers.read_text("utf-8").replace("measures:\n", MEASURES, 1), "utf-8")
    playbooks = folder / "playbooks.yaml"
    text = playbooks.read_text("utf-8")
    assert text.count(CALLED) == 1
    fell = CALLED.removesuffix("\n") + " OR balance_fall <= -30%\n"
    playbooks.write_text(text.replace(CALLED, fell), "utf-8")
    (folder / "tests" / "changes.yaml").write_text(SCENARIOS, "utf-8")
    return folder


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return load_ruleset(change_rules(tmp_path_factory.mktemp("changes") / "rules"))


def night(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2), tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai


def customers(balances: dict[str, float | None]) -> list[dict[str, Any]]:
    return [
        {"customer_id": c, "name": "王芳", "balance": b, "monthly_txn_count": 10}
        for c, b in balances.items()
    ]


def run(store: Store, rules: RuleSet, day: dt.date, balances: dict[str, float | None]) -> None:
    store.upsert_customers(customers(balances))
    classify(store, rules, night(day))


def sql_measures(store: Store, rules: RuleSet, today: dt.date) -> dict[str, tuple[Any, ...]]:
    query = compile_classification(rules, store.dialect, today, "customers", measures=True)
    return {r["customer_id"]: _values(r) for r in store.execute(query.sql)}


def _values(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(None if row[n] is None else round(float(row[n]), 9) for n in NAMES)


def kept(store: Store) -> list[tuple[Any, ...]]:
    """The balances kept."""
    rows = store.execute(
        "SELECT customer_id, day, run_id, value FROM field_history WHERE field = 'balance'"
    )
    return sorted((r["customer_id"], r["day"], r["run_id"], r["value"]) for r in rows)


@pytest.mark.every_store
def test_runs_keep_only_what_changed_and_measures_read_the_value_then(
    store: Store, rules: RuleSet
) -> None:
    run(store, rules, DAY, {"A": 1000, "B": 500, "C": None})
    run(store, rules, DAY + dt.timedelta(days=1), {"A": 1000, "B": 700, "C": 5})
    # A's balance did not change on the second night: nothing is written for it
    assert [k for k in kept(store) if k[0] != "A" or k[1] != "2026-10-01"] == [
        ("B", "2026-10-01", 1, 500.0),
        ("B", "2026-10-02", 2, 700.0),
        ("C", "2026-10-02", 2, 5.0),
    ]
    day = DAY + dt.timedelta(days=31)  # 30 days before: 2026-10-02
    run(store, rules, day, {"A": 700, "B": 700, "C": 5})
    assert sql_measures(store, rules, day) == {
        "A": (-0.3, -300.0, 0.0),  # fell 30 % since 30 days ago
        "B": (0.0, 0.0, 0.0),
        "C": (0.0, 0.0, 0.0),
    }
    # no value 30 days ago (C had none then): NULL
    assert sql_measures(store, rules, DAY + dt.timedelta(days=20))["C"] == (None, 0.0, 0.0)
    # a second run on one day replaces that day's value, and still compares with the day before
    run(store, rules, day, {"A": 600, "B": 700, "C": 5})
    assert ("A", "2026-11-01", 4, 600.0) in kept(store)
    assert ("A", "2026-11-01", 3, 700.0) not in kept(store)
    assert sql_measures(store, rules, day)["A"] == (-0.4, -400.0, 0.0)


def test_a_percent_change_from_zero_is_null(lite: Store, rules: RuleSet) -> None:
    clear(lite)
    history = [("Z", DAY, 0.0)]
    fill(lite, {"Z": 50.0}, history)
    today = DAY + dt.timedelta(days=40)
    assert sql_measures(lite, rules, today)["Z"] == (None, 50.0, None)
    assert python_measures(rules, {"Z": 50.0}, history, today)["Z"] == (None, 50.0, None)


# --- parity over generated histories -------------------------------------------------------


def fill(store: Store, balances: dict[str, float | None], history: list[Any]) -> None:
    store.upsert_customers(customers(balances))
    store.execute_many(
        "INSERT INTO field_history (field, customer_id, day, run_id, value)"
        " VALUES ('balance', :c, :day, 1, :value)",
        [{"c": c, "day": d.isoformat(), "value": v} for c, d, v in history],
    )


def clear(store: Store) -> None:
    store.execute("DELETE FROM field_history")
    store.execute("DELETE FROM customers")


def python_measures(
    rules: RuleSet, balances: dict[str, float | None], history: list[Any], today: dt.date
) -> dict[str, tuple[Any, ...]]:
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for c, d, v in history:
        by_customer.setdefault(c, []).append({"field": "balance", "day": d, "value": v})
    rows = classify_records(rules, customers(balances), today, kept=by_customer)
    return {r["customer_id"]: _values(r) for r in rows}


def duckdb_measures(
    store: Store, rules: RuleSet, balances: dict[str, float | None], today: dt.date
) -> dict[str, tuple[Any, ...]]:
    duck = duckdb.connect()
    duck.register("kept", grouped_history(store, rules, today))
    duck.register("customers", pyarrow.Table.from_pylist(customers(balances)))
    columns = ["customer_id", "name", "balance", "monthly_txn_count"]
    changes = classified(rules)  # the measures the rules read, no events
    query = compile_classification(
        changes, "duckdb", today, "customers", columns, True, history="kept"
    )
    found = duck.execute(query.sql).fetchall()
    return {r[0]: _values(dict(zip(query.columns, r, strict=True))) for r in found}


values = st.none() | st.sampled_from([0.0, 1.0, 99.5, 1000.0, -20.0, 250_000.0])
drawn_histories = st.tuples(
    st.lists(values, min_size=4, max_size=4),  # today's balances of C0 … C3
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 60), values), max_size=12),
)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, rules: RuleSet) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path_factory.mktemp("lite") / "guanxi.db")
    opened.prepare(rules.schema)
    yield opened
    opened.close()


def generated(drawn: tuple[list[Any], list[Any]]) -> tuple[dict[str, Any], list[Any], dt.date]:
    """Today's balances, and history kept on days up to 60 days before today (one per day)."""
    now, rows = drawn
    today = DAY + dt.timedelta(days=60)
    history = {(f"C{c}", today - dt.timedelta(days=d)): v for c, d, v in rows}
    return (
        {f"C{i}": v for i, v in enumerate(now)},
        [(c, d, v) for (c, d), v in history.items()],
        today,
    )


@settings(max_examples=25, deadline=None)
@given(drawn=drawn_histories)
def test_sqlite_duckdb_and_python_agree(
    lite: Store, rules: RuleSet, drawn: tuple[list[Any], list[Any]]
) -> None:
    balances, history, today = generated(drawn)
    clear(lite)
    fill(lite, balances, history)
    expected = python_measures(rules, balances, history, today)
    assert sql_measures(lite, rules, today) == expected
    assert duckdb_measures(lite, rules, balances, today) == expected


@pytest.mark.every_store
def test_both_stores_agree_with_python_on_a_generated_history(store: Store, rules: RuleSet) -> None:
    drawn = (
        [1000.0, None, 0.0, 250_000.0],
        [(0, 31, 1500.0), (0, 29, 900.0), (1, 40, 5.0), (2, 30, 0.0), (3, 1, 99.5), (3, 45, -20.0)],
    )
    balances, history, today = generated(drawn)
    fill(store, balances, history)
    assert sql_measures(store, rules, today) == python_measures(rules, balances, history, today)


# --- the snapshot engines -------------------------------------------------------------------


@pytest.mark.every_store
def test_the_duckdb_engine_reads_and_keeps_history_like_the_store(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    def snapshot(day: dt.date, balances: dict[str, float | None]) -> None:
        path = write_snapshot(tmp_path / f"{day}.parquet", customers(balances), rules)
        classify_snapshot(store, rules, night(day), path, keep_mirror=False)

    snapshot(DAY, {"A": 1000, "B": 500})
    snapshot(DAY + dt.timedelta(days=1), {"A": 1000, "B": 700})
    assert kept(store) == [
        ("A", "2026-10-01", 1, 1000.0),
        ("B", "2026-10-01", 1, 500.0),
        ("B", "2026-10-02", 2, 700.0),
    ]
    day = DAY + dt.timedelta(days=31)
    balances = {"A": 700.0, "B": 700.0}
    assert duckdb_measures(store, rules, balances, day) == {
        "A": (-0.3, -300.0, 0.0),
        "B": (0.0, 0.0, 0.0),
    }


def test_spark_reads_and_keeps_history_like_the_store(
    rules: RuleSet, tmp_path: Path, spark: SparkSession
) -> None:
    """Two nights on Spark keep what a store's own runs keep; the third reads the value then
    as SQLite does."""
    nights = [(DAY, {"A": 1000.0, "B": 500.0}), (DAY + dt.timedelta(days=1), {"A": 1000.0})]
    nights.append((DAY + dt.timedelta(days=31), {"A": 700.0, "B": 350.0}))
    on_spark, in_store = SQLiteStore(tmp_path / "spark.db"), SQLiteStore(tmp_path / "store.db")
    in_store.prepare(rules.schema)
    session = spark
    try:
        for number, (day, balances) in enumerate(nights):
            path = write_snapshot(tmp_path / f"{number}.parquet", customers(balances), rules)
            output = tmp_path / f"out{number}"
            classify_on_spark(on_spark, rules, night(day), path, session, output, False)
            in_store.execute("DELETE FROM customers")
            run(in_store, rules, day, balances)
        assert kept(on_spark) == kept(in_store)
        assert len(kept(on_spark)) == 4  # A's unchanged balance was kept once
        written = session.read.parquet(str(tmp_path / "out2")).collect()
        measures = {r["customer_id"]: r["_fh_new_balance"] for r in written}
        assert measures == {"A": 1, "B": 1}
        # the third night's measures, on Spark from the history the second night left
        day = nights[2][0]
        session.read.parquet(str(tmp_path / "2.parquet")).createOrReplaceTempView("snap")
        history = grouped_history(on_spark, rules, day).combine_chunks()
        session.createDataFrame(history).createOrReplaceTempView("kept")
        columns = list(rules.schema.fields)
        changes = classified(rules)
        query = compile_classification(changes, "spark", day, "snap", columns, True, history="kept")
        rows = session.sql(query.sql).collect()
        on_spark_values = {r["customer_id"]: _values(r.asDict()) for r in rows}
        assert on_spark_values == {"A": (-0.3, -300.0, 0.0), "B": (-0.3, -150.0, 0.0)}
    finally:
        on_spark.close()
        in_store.close()


# --- explain --------------------------------------------------------------------------------


@pytest.mark.every_store
def test_explain_shows_the_value_then_and_now(store: Store, rules: RuleSet) -> None:
    run(store, rules, DAY, {"A": 1000})
    run(store, rules, DAY + dt.timedelta(days=31), {"A": 700})
    found = explain(store, rules, "A", night(DAY + dt.timedelta(days=31)))
    standings = {s.name: s for s in found.change_standings}
    assert found.measures["balance_change_30d"] == pytest.approx(-0.3)
    assert (standings["balance_change_30d"].then, standings["balance_change_30d"].now) == (
        1000.0,
        700.0,
    )
    assert standings["balance_change_30d"].then_day == DAY
    where = ["--rules", str(rules.root), "--store", store.location]
    shown = CliRunner().invoke(cli, ["explain", "A", *where, "--now", "2026-11-01T10:00"])
    assert shown.exit_code == 0, shown.output
    assert (
        "balance_change_30d: -0.3 — balance was 1000 30 days ago (kept on 2026-10-01),"
        " is 700 now" in shown.output
    )
    assert found.to_dict()["change_standings"][0]["then"] == 1000.0
    early = explain(store, rules, "A", night(DAY + dt.timedelta(days=19)))
    month = next(s for s in early.change_standings if s.name == "balance_change_30d")
    assert (month.value, month.reason) == (None, "no value 30 days ago: the change is unknown")


def test_a_scenario_states_the_balance_before(rules: RuleSet) -> None:
    """`before:` is classified the day before: its balance is the value the last run kept."""
    suite = run_scenarios(rules, only="余额下降")
    assert [(r.status, r.error, r.differences) for r in suite.results] == [("passed", None, ())] * 2


def test_since_in_weeks_is_counted_in_days_and_last_run_has_none(rules: RuleSet) -> None:
    found = {m.name: m.change for m in rules.change_measures}
    assert found["txn_change_2w"] == FieldChange("monthly_txn_count", 14, "difference")
    assert found["balance_since_last"] == FieldChange("balance", None, "difference")
    assert rules.kept_fields == ("balance", "monthly_txn_count")
