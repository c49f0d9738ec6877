"""Measures over the customer's events (`count: complaint`, `in_last: 90 days`): exact values at
the window's edges, the same on SQLite, PostgreSQL and in Python (a property over generated
events), in a classification, and on DuckDB from the store's grouped events (Spark:
test_spark.py)."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
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

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, compile_classification
from guanxi.engine.classify.compile import measures_sql
from guanxi.engine.classify.event_measures import day_start, grouped_events, stored
from guanxi.engine.classify.explain import explain
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.ruleset import EventMeasure
from guanxi.engine.scenarios.run import run_scenarios
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_classify import write_snapshot

RULES = Path(__file__).parent.parent / "rules"
TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai
MEASURES = """measures:
  - name: complaints_90d
    label: 近90天投诉次数
    count: complaint
    in_last: 90 days
  - name: sales_90d
    label: 近90天销售额
    sum: sale.amount
    in_last: 90 days
  - name: biggest_sale_Week   # a capital: PostgreSQL keeps it only in quotes
    label: 近一周最大一笔销售
    max: sale.amount
    in_last: 1 week
  - name: smallest_sale_week
    label: 近一周最小一笔销售
    min: sale.amount
    in_last: 1 week
  - name: days_since_sale
    label: 距上次销售天数
    days_since: sale
  - name: fee_complaints_90d
    label: 近90天收费投诉
    count: complaint
    where: category = '收费' AND severity >= 2
    in_last: 90 days
  - name: big_sales_90d
    label: 近90天大额销售
    sum: sale.amount
    where: amount >= 1000 AND product LIKE '理%'
    in_last: 90 days
"""
SCENARIOS = """scenarios:
  - name: 历史 sales of 600,000 in the last 90 days make a customer valuable
    today: "2026-11-02"
    customer: {customer_id: H001, name: 王芳, balance: 1000, products_held: 1}
    events:
      - {type: sale, at: "2026-08-05T10:00", fields: {product: 基金, amount: 300000}}
      - {type: sale, at: "2026-10-01T10:00", fields: {product: 基金, amount: 300000}}
    expect: {tier: valuable}
  - name: 历史 the same sales, one of them 91 days ago, do not
    today: "2026-11-02"
    customer: {customer_id: H002, name: 李明, balance: 1000, products_held: 1}
    events:
      - {type: sale, at: "2026-08-03T23:59", fields: {product: 基金, amount: 300000}}
      - {type: sale, at: "2026-10-01T10:00", fields: {product: 基金, amount: 300000}}
    expect: {tier: low_value}
  - name: 历史 a second complaint in 90 days is called back, the first is not
    today: "2026-11-02"
    customer: {customer_id: H003, name: 张伟, balance: 1000, rm_id: RM001}
    events:
      - {type: complaint, at: "2026-10-20T10:00", fields: {category: 收费}}
      - {type: complaint, at: "2026-11-02T10:00", fields: {category: 收费}}
    expect:
      followups: [{step: complaint_callback, due: "2026-11-02T12:00"}]
"""
NAMES = ("complaints_90d", "sales_90d", "biggest_sale_Week", "smallest_sale_week",
         "days_since_sale", "fee_complaints_90d", "big_sales_90d")  # fmt: skip

CURRENT = "SELECT * FROM current_assignments"


def history_rules(folder: Path) -> Path:
    """The default project with the event measures above; a customer whose sales of the last
    90 days reach 500,000 is valuable (besides the shipped valuable customers); a complaint is
    called back from the second in 90 days."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    tiers = folder / "tiers.yaml"
    text = tiers.read_text("utf-8").replace("measures:\n", MEASURES, 1)
    valuable = "AND monthly_txn_count >= 10 AND contribution_pct >= 70%\n"
    assert text.count(valuable) == 1
    text = text.replace(valuable, f"{valuable}      OR sales_90d >= 500000\n")
    tiers.write_text(text, "utf-8")
    playbooks = folder / "playbooks.yaml"
    text = playbooks.read_text("utf-8")
    text = text.replace("on: complaint\n", "on: complaint\n      when: complaints_90d >= 2\n", 1)
    playbooks.write_text(text, "utf-8")
    (folder / "tests" / "history.yaml").write_text(SCENARIOS, "utf-8")
    return folder


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return load_ruleset(history_rules(tmp_path_factory.mktemp("history") / "rules"))


def at(days_ago: int, seconds: int = 0, ruleset: RuleSet | None = None) -> str:
    """An instant: the start of the day `days_ago` days before TODAY (Asia/Shanghai), plus
    `seconds`; as the events table stores it."""
    assert ruleset is not None
    start = day_start(ruleset, TODAY - dt.timedelta(days=days_ago))
    return stored(start + dt.timedelta(seconds=seconds))


def event(n: int, kind: str, customer: str, when: str, **payload: Any) -> dict[str, Any]:
    return {"id": f"E{n}", "type": kind, "customer_id": customer, "at": when, "payload": payload}


def sql_measures(store: Store, ruleset: RuleSet) -> dict[str, tuple[Any, ...]]:
    query = compile_classification(ruleset, store.dialect, TODAY, "customers", measures=True)
    return {r["customer_id"]: measure_values(r) for r in store.execute(query.sql)}


def python_measures(
    ruleset: RuleSet, customers: list[dict[str, Any]], events: list[dict[str, Any]]
) -> dict[str, tuple[Any, ...]]:
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_customer.setdefault(e["customer_id"], []).append(e)
    rows = classify_records(ruleset, customers, TODAY, by_customer)
    return {r["customer_id"]: measure_values(r) for r in rows}


def measure_values(row: dict[str, Any]) -> tuple[Any, ...]:
    return (*(None if row[n] is None else float(row[n]) for n in NAMES), row["tier"])


def fill(store: Store, customers: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    store.upsert_customers(customers)
    store.insert_events(events)


@pytest.mark.every_store
def test_values_at_the_edges_of_the_window(store: Store, rules: RuleSet) -> None:
    customers = [{"customer_id": "C1", "name": "王芳"}, {"customer_id": "C2", "name": "李明"}]
    events = [
        event(1, "complaint", "C1", at(89, 0, rules)),  # the first instant of the window
        event(2, "complaint", "C1", at(89, -1, rules)),  # a second before: not counted
        event(3, "complaint", "C1", at(0, 86_399, rules)),  # the last second of today
        event(4, "complaint", "C1", at(-1, 0, rules)),  # tomorrow: not counted
        event(5, "sale", "C1", at(3, 100, rules), amount=300_000.0, product="基金"),
        event(6, "sale", "C1", at(10, 0, rules), amount=250_000.5, product="理财"),
        event(7, "sale", "C1", at(2, 0, rules), amount=20.0, product="保险"),
        event(8, "sale", "C1", at(200, 0, rules), amount=1e9, product="理财"),  # too old
        event(9, "sale", "C1", at(1, 0, rules), product="基金"),  # no amount: skipped
        event(10, "login", "C2", at(1, 0, rules), channel="app"),
        event(11, "complaint", "C1", at(5, 0, rules), category="收费", severity=3),
        event(12, "complaint", "C1", at(5, 0, rules), category="收费", severity=1),
    ]
    fill(store, customers, events)
    expected = {
        "C1": (4.0, 550_020.5, 300_000.0, 20.0, 1.0, 1.0, 250_000.5, "valuable"),
        "C2": (0.0, 0.0, None, None, None, 0.0, 0.0, "low_value"),
    }
    assert sql_measures(store, rules) == expected
    assert python_measures(rules, customers, events) == expected
    # the query planning reads measures with (a recurring or on_enter step's `when:`)
    planned = store.execute(measures_sql(rules, store.dialect, TODAY, ["complaints_90d"]))
    assert sorted((r["customer_id"], r["complaints_90d"]) for r in planned) == [
        ("C1", 4),
        ("C2", 0),
    ]


@pytest.mark.every_store
def test_a_classification_reads_the_events(store: Store, rules: RuleSet) -> None:
    store.upsert_customers([{"customer_id": "C1", "name": "王芳"}, {"customer_id": "C2"}])
    sale = event(1, "sale", "C1", at(5, 0, rules), amount=600_000.0, product="基金")
    store.insert_events([sale])
    classify(store, rules, NOW)
    tiers = store.execute("SELECT customer_id, tier FROM current_assignments ORDER BY customer_id")
    assert [r["tier"] for r in tiers] == ["valuable", "low_value"]


def generated_events(seed: int, customers: int, count: int, rules: RuleSet) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    found = []
    for n in range(count):
        kind = rng.choice(["complaint", "sale", "login"])
        seconds = rng.randrange(-2 * 86_400, 120 * 86_400)
        when = at(0, -seconds, rules)
        amount = rng.choice([None, 0.0, 1.5, 100.0, 250_000.0])
        payload = fields(kind, amount, rng.choice(TEXTS), rng.choice([None, 1, 2, 3]))
        found.append(event(n, kind, f"C{rng.randrange(customers)}", when, **payload))
    return found


TEXTS = [None, "收费", "服务", "理财", "基金"]


def fields(kind: str, number: float | None, text: str | None, level: int | None) -> dict[str, Any]:
    """A payload of the event type: what is None is left out."""
    found: dict[str, Any] = {
        "sale": {"amount": number, "product": text},
        "complaint": {"category": text, "severity": level},
    }.get(kind, {})
    return {k: v for k, v in found.items() if v is not None}


@pytest.mark.every_store
def test_both_stores_agree_with_python_on_generated_events(store: Store, rules: RuleSet) -> None:
    customers = [{"customer_id": f"C{i}"} for i in range(30)]
    events = generated_events(7, 30, 600, rules)
    fill(store, customers, events)
    assert sql_measures(store, rules) == python_measures(rules, customers, events)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory, rules: RuleSet) -> Iterator[Store]:
    opened = SQLiteStore(tmp_path_factory.mktemp("lite") / "guanxi.db")
    opened.prepare(rules.schema)
    yield opened
    opened.close()


instants = st.integers(-2 * 86_400, 100 * 86_400)  # seconds before the end of today
generated = st.lists(
    st.tuples(
        st.sampled_from(["complaint", "sale", "login"]),
        st.integers(0, 3),
        instants,
        st.none() | st.sampled_from([0.0, 0.5, 1.5, 100.0, 1000.0, 250_000.0]),
        st.sampled_from(TEXTS),
        st.none() | st.integers(1, 3),
    ),
    max_size=15,
)


@settings(max_examples=40, deadline=None)
@given(drawn=generated)
def test_sqlite_and_python_agree(lite: Store, rules: RuleSet, drawn: list[Any]) -> None:
    customers = [{"customer_id": f"C{i}"} for i in range(4)]
    events = [
        event(n, kind, f"C{who}", at(-1, -seconds, rules), **fields(kind, a, text, level))
        for n, (kind, who, seconds, a, text, level) in enumerate(drawn)
    ]
    lite.execute("DELETE FROM events")
    lite.execute("DELETE FROM customers")
    fill(lite, customers, events)
    assert sql_measures(lite, rules) == python_measures(rules, customers, events)


@pytest.mark.every_store
@pytest.mark.parametrize("from_file", [True, False])
def test_duckdb_agrees_with_the_store_on_its_grouped_events(
    store: Store, rules: RuleSet, tmp_path: Path, from_file: bool
) -> None:
    customers = [{"customer_id": f"C{i}", "name": "王芳"} for i in range(30)]
    events = generated_events(11, 30, 400, rules)
    fill(store, customers, events)
    duck = duckdb.connect()
    duck.register("grouped", grouped_events(store, rules, TODAY))
    table = pyarrow.Table.from_pylist(
        [{n: c.get(n) for n in ("customer_id", "name")} for c in customers]
    )
    duck.register("customers", table)
    query = compile_classification(
        rules, "duckdb", TODAY, "customers", ["customer_id", "name"], True, events="grouped"
    )
    found = duck.execute(query.sql).fetchall()
    duckdb_values = {r[0]: measure_values(dict(zip(query.columns, r, strict=True))) for r in found}
    assert duckdb_values == sql_measures(store, rules)
    snapshot = write_snapshot(tmp_path / "s.parquet", customers, rules) if from_file else None
    classify_snapshot(store, rules, NOW, snapshot)  # None: the store's customers
    tiers = {r["customer_id"]: r["tier"] for r in store.execute(CURRENT)}
    assert tiers == {k: v[-1] for k, v in duckdb_values.items()}


@pytest.mark.every_store
def test_explain_shows_each_event_measure_and_its_events(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([{"customer_id": "C1", "name": "王芳"}])
    store.insert_events(
        [
            event(1, "complaint", "C1", at(100, 0, rules)),  # too old for 90 days
            event(2, "complaint", "C1", at(3, 3_600, rules)),
            event(3, "sale", "C1", at(2, 36_000, rules), amount=600_000.0, product="基金"),
        ]
    )
    found = explain(store, rules, "C1", NOW)
    standings = {s.name: s for s in found.event_standings}
    assert found.measures["complaints_90d"] == 1 and found.measures["sales_90d"] == 600_000.0
    assert [(e.id, e.type, e.at.isoformat()) for e in standings["complaints_90d"].events] == [
        ("E2", "complaint", "2026-11-25T01:00:00+08:00")
    ]
    assert standings["days_since_sale"].value == 2
    assert found.decision("tier").result == "valuable"
    where = ["--rules", str(rules.root), "--store", store.location, "--now", "2026-11-28T10:00"]
    shown = CliRunner().invoke(cli, ["explain", "C1", *where])
    assert shown.exit_code == 0, shown.output
    assert (
        "complaints_90d: 1 — how many complaint events, from 2026-08-31 to 2026-11-28"
        " (90 days): 1 event(s)" in shown.output
    )
    assert "2026-11-25 01:00  complaint E2" in shown.output
    assert "2026-11-26 10:00  sale E3  600000" in shown.output
    data = json.loads(CliRunner().invoke(cli, ["explain", "C1", *where, "--json"]).stdout)
    assert data["event_standings"][1]["events"][0]["value"] == 600_000.0


@pytest.mark.every_store
def test_an_event_step_counts_the_events_up_to_its_own(store: Store, rules: RuleSet) -> None:
    """The call-back needs a second complaint in 90 days: of three complaints planned together,
    the oldest (110 days ago) and the next (3 days ago: the oldest is out of its window, the
    newest after it) get none; the newest, with the one 3 days ago, gets it."""
    store.upsert_customers([{"customer_id": "C1", "name": "王芳", "rm_id": "RM001"}])
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES ('C1', 'valuable', 'basic', 'growth', FALSE, 1,"
        " :h, :at)",
        {"h": rules.hash, "at": NOW.isoformat()},
    )
    store.insert_events(
        [
            event(1, "complaint", "C1", at(110, 0, rules)),
            event(2, "complaint", "C1", at(3, 3_600, rules)),
            event(3, "complaint", "C1", at(1, 3_600, rules)),
        ]
    )
    assert plan_new_events(store, rules, NOW).events == 3
    assert callbacks(store) == ["complaint_callback:C1:E3"]


def callbacks(store: Store) -> list[str]:
    rows = store.execute("SELECT key FROM followups WHERE step_id = 'complaint_callback'")
    return sorted(r["key"] for r in rows)


def test_a_scenario_pins_a_history_rule(rules: RuleSet) -> None:
    """Events before the scenario's day are the customer's history, counted by its
    classification; the complaint's step counts the earlier complaint."""
    suite = run_scenarios(rules, only="历史")
    assert [(r.status, r.error, r.differences) for r in suite.results] == [("passed", None, ())] * 3


def test_a_window_in_weeks_is_counted_in_days(tmp_path: Path) -> None:
    folder = history_rules(tmp_path / "rules")
    tiers = folder / "tiers.yaml"
    tiers.write_text(
        tiers.read_text("utf-8").replace("in_last: 1 week", "in_last: 2 weeks"), "utf-8"
    )
    found = {m.name: m.events for m in load_ruleset(folder).event_measures}
    assert found["biggest_sale_Week"] == EventMeasure("max", "sale", "amount", 14)
    assert found["days_since_sale"] == EventMeasure("days_since", "sale", None, None)
    assert found["complaints_90d"] == EventMeasure("count", "complaint", None, 90)


@pytest.mark.every_store
def test_sales_whose_sum_overflows_are_infinite_not_a_stop(store: Store, rules: RuleSet) -> None:
    """Amounts near the largest double, as `guanxi load` accepts them: their sum is +Infinity
    (as IEEE doubles add them) in the store as in Python, and the classification of every
    customer goes on."""
    customers = [{"customer_id": c, "name": "王芳"} for c in ("C1", "C2", "C3")]
    events = [
        event(1, "sale", "C1", at(3, 0, rules), amount=1.7e308, product="基金"),
        event(2, "sale", "C1", at(2, 0, rules), amount=1.7e308, product="理财"),
        event(3, "sale", "C2", at(2, 0, rules), amount=1e308, product="理财"),
        event(4, "sale", "C2", at(1, 0, rules), amount=5e-324, product="理财"),
        event(5, "sale", "C3", at(1, 0, rules), amount=0.1, product="基金"),
        event(6, "sale", "C3", at(1, 9, rules), amount=0.2, product="基金"),
    ]
    fill(store, customers, events)
    found = sql_measures(store, rules)
    assert found == python_measures(rules, customers, events)
    assert [found[c][1] for c in ("C1", "C2", "C3")] == [math.inf, 1e308, 0.1 + 0.2]
    assert [found[c][-1] for c in ("C1", "C2", "C3")] == ["valuable", "valuable", "low_value"]
    classify(store, rules, NOW)
    tiers = store.execute(CURRENT + " ORDER BY customer_id")
    assert [r["tier"] for r in tiers] == ["valuable", "valuable", "low_value"]
