"""Roll-up measures over a customer's corporate group (集团): the same values on every store and
in Python; a customer without a group_id is a group of one; explain shows the group."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, compile_classification
from guanxi.engine.classify.explain import explain
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.ruleset import RuleSet, load_ruleset, validate_project
from guanxi.engine.store import Store
from tests.test_event_measures import at, event
from tests.test_within import line_number, project

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 28)
PCT = "    percentile_of: annual_contribution\n"
ROLLUPS = (
    PCT,
    PCT
    + "  - name: group_contribution\n    label: 集团贡献度\n    group_sum: annual_contribution\n"
    "  - name: group_assets\n    label: 集团最大总资产\n    group_max: total_assets\n"
    "  - name: group_members\n    label: 集团成员数\n    group_count: true\n",
)
# G1 has three members (one without a contribution); "G2" is a group id and, unrelated, the key
# of a customer without a group: each customer without a group is a group of their own.
EXPECTED = {
    "A1": (600.0, 5000.0, 3.0),
    "A2": (600.0, 5000.0, 3.0),
    "A3": (600.0, 5000.0, 3.0),
    "B1": (7.0, 0.0, 1.0),
    "G2": (None, 10.0, 1.0),
    "N1": (50.0, 0.0, 1.0),
}


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return load_ruleset(project(tmp_path_factory.mktemp("groups") / "rules", ROLLUPS))


def customers() -> list[dict[str, Any]]:
    def one(key: str, group: str | None, contribution: float | None, **more: Any) -> dict[str, Any]:
        return {"customer_id": key, "name": key, "group_id": group, "kind": "corporate",
                "annual_contribution": contribution, **more}  # fmt: skip

    return [
        one("A1", "G1", 100.0, balance=5000.0),
        one("A2", "G1", 500.0),
        one("A3", "G1", None),
        one("B1", "G2", 7.0),
        one("G2", None, None, balance=10.0),
        one("N1", None, 50.0),
    ]


def values(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    names = ("group_contribution", "group_assets", "group_members")
    return {
        r["customer_id"]: tuple(None if r[n] is None else float(r[n]) for n in names) for r in rows
    }


@pytest.fixture
def loaded(store: Store, grouped: RuleSet) -> Store:
    store.upsert_customers(customers())
    classify(store, grouped, NOW)
    return store


def test_the_store_rolls_up_each_group(loaded: Store, grouped: RuleSet) -> None:
    query = compile_classification(grouped, loaded.dialect, TODAY, "customers", measures=True)
    assert "PARTITION BY" in query.sql
    assert values(loaded.execute(query.sql)) == EXPECTED


def test_python_rolls_up_alike(grouped: RuleSet) -> None:
    assert values(classify_records(grouped, customers(), TODAY)) == EXPECTED


def test_explain_shows_the_group_and_its_members(loaded: Store, grouped: RuleSet) -> None:
    found = explain(loaded, grouped, "A2", NOW)
    total = next(g for g in found.groups if g.name == "group_contribution")
    assert (total.group, total.value, total.members) == ("G1", 600.0, 3)
    assert total.reason == "sum of annual_contribution over 3 customers with group_id = G1"
    alone = next(g for g in explain(loaded, grouped, "G2", NOW).groups if g.name == "group_members")
    assert (alone.group, alone.value, alone.members) == (None, 1.0, 1)
    assert "a group of one" in alone.reason
    assert found.measures["group_assets"] == 5000.0


def test_explain_command_prints_the_group(loaded: Store, grouped: RuleSet) -> None:
    where = ["--rules", str(grouped.root), "--store", loaded.location, "--now", NOW.isoformat()]
    result = CliRunner().invoke(cli, ["explain", "A1", *where])
    assert result.exit_code == 0, result.output
    assert "group_members: 3" in result.output and "group_id = G1" in result.output


SALES = (
    PCT,
    PCT
    + "  - name: sales_90d\n    label: 近90天销售额\n    sum: sale.amount\n    in_last: 90 days\n"
    "  - name: group_sales\n    label: 集团近90天销售额\n    group_sum: sales_90d\n",
)


def test_a_group_adds_up_its_members_event_measures(store: Store, tmp_path: Path) -> None:
    ruleset = load_ruleset(project(tmp_path / "rules", SALES))
    sales = [
        event(1, "sale", "A1", at(3, ruleset=ruleset), product="基金", amount=100.0),
        event(2, "sale", "A2", at(10, ruleset=ruleset), product="基金", amount=500.0),
        event(3, "sale", "A2", at(100, ruleset=ruleset), product="基金", amount=9e5),  # too old
        event(4, "sale", "N1", at(1, ruleset=ruleset), product="基金", amount=50.0),
    ]
    store.upsert_customers(customers())
    store.insert_events(sales)
    query = compile_classification(ruleset, store.dialect, TODAY, "customers", measures=True)
    in_sql = {r["customer_id"]: r["group_sales"] for r in store.execute(query.sql)}
    expected = {"A1": 600.0, "A2": 600.0, "A3": 600.0, "B1": 0.0, "G2": 0.0, "N1": 50.0}
    assert {k: float(v) for k, v in in_sql.items()} == expected
    history: dict[str, list[dict[str, Any]]] = {}
    for e in sales:
        history.setdefault(e["customer_id"], []).append(e)
    rows = classify_records(ruleset, customers(), TODAY, history)
    assert {r["customer_id"]: r["group_sales"] for r in rows} == expected
    found = explain(store, ruleset, "A3", NOW)
    assert [(g.value, g.members) for g in found.groups] == [(600.0, 3)]
    assert found.measures["group_sales"] == 600.0


BAD = [
    (
        ("    group_count: true\n", "    group_sum: annual_contributon\n"),
        "    group_sum: annual_contributon",
        "tiers.yaml:{line}:16: error[unknown-field]: no field or measure 'annual_contributon'",
        "did you mean 'annual_contribution'?",
    ),
    (
        ("    group_count: true\n", "    group_max: name\n"),
        "    group_max: name",
        "tiers.yaml:{line}:16: error[type-mismatch]: 'name' is not a number: a group adds up or"
        " compares numbers",
        None,
    ),
    (
        ("    group_count: true\n", "    group_max: contribution_pct\n"),
        "    group_max: contribution_pct",
        "tiers.yaml:{line}:16: error[type-mismatch]: 'contribution_pct' is a percentile or a group"
        " measure: it cannot be rolled up",
        "an 'expr:' measure",
    ),
    (
        ("measures:\n", "group_by: grup_id\nmeasures:\n"),
        "group_by: grup_id",
        "tiers.yaml:{line}:11: error[unknown-field]: no customer field 'grup_id' names the"
        " customer's group",
        "did you mean 'group_id'?",
    ),
    (
        ("    group_count: true\n", "    group_count: true\n    within: kind\n"),
        "    within: kind",
        "tiers.yaml:{line}:13: error[unknown-key]: 'within:' goes with 'percentile_of:', not with"
        " 'group_count:'",
        "the customer's own group",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("change", "written", "error", "hint"), BAD)
def test_a_wrong_roll_up_is_shown_where_it_is_written(
    tmp_path: Path, change: tuple[str, str], written: str, error: str, hint: str | None
) -> None:
    folder = project(tmp_path / "rules", ROLLUPS, change)
    error = error.format(line=line_number(folder / "tiers.yaml", written))
    result = validate_project(folder)
    assert result.ruleset is None
    shown = [
        f"{Path(d.file).name}:{d.line}:{d.col}: error[{d.code}]: {d.message}"
        for d in result.diagnostics
    ]
    assert any(s.endswith(error) for s in shown), shown
    assert len(result.diagnostics) == 1
    found = result.diagnostics[0].hint
    assert found is None if hint is None else hint in str(found)
