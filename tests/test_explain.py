"""`explain`: the rules tried in order, the facts that failed them, file:line, gold and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_classify import NOW, RULES, day, population

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.explain import Explanation, UnknownCustomer, explain
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.test_within import line_number

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores


@pytest.fixture
def loaded(store: Store, ruleset: RuleSet) -> Store:
    store.upsert_customers(population())
    classify(store, ruleset, NOW)
    return store


def tried(found: Explanation, kind: str) -> list[tuple[str, bool]]:
    return [(t.rule, t.matched) for t in found.decision(kind).tried]


def failed(found: Explanation, kind: str, rule: str) -> list[str]:
    step = next(t for t in found.decision(kind).tried if t.rule == rule)
    return [str(f) for f in step.failed]


def origin(ruleset: RuleSet, kind: str, name: str) -> str:
    ladder = {"tier": ruleset.tiers, "level": ruleset.levels, "strategy": ruleset.strategies}[kind]
    assert ladder is not None
    return str(next(r for r in ladder.rules if r.name == name).origin)


def test_dormant_customer(loaded: Store, ruleset: RuleSet) -> None:
    found = explain(loaded, ruleset, "D1", NOW)
    assert found.ruleset_hash == ruleset.hash
    assert (found.facts["balance"], found.measures["days_idle"]) == (0.0, 362)
    assert tried(found, "tier") == [("dormant", True)]
    assert found.decision("tier").tried[0].origin == origin(ruleset, "tier", "dormant")
    dormant = line_number(ruleset.root / "tiers.yaml", "  - name: dormant")
    assert found.decision("tier").tried[0].origin.endswith(f"tiers.yaml:{dormant}")
    assert tried(found, "level") == [
        ("partner", False),
        ("proactive", False),
        ("responsible", False),
        ("passive", False),
        ("basic", True),
    ]
    assert failed(found, "level", "partner") == [
        "tier = 'high_value_added' is false (tier = 'dormant')",
        "gold is false (gold = False)",
        "tier = 'valuable' is false (tier = 'dormant')",
        "value_ratio >= 10 is false (value_ratio = 0)",
    ]
    assert found.stored is not None and found.stored["tier"] == "dormant"


def test_gold_customer_and_why(loaded: Store, ruleset: RuleSet) -> None:
    found = explain(loaded, ruleset, "G1", NOW)
    assert found.gold is True
    gold = next(s for s in found.standings if s.name == "gold")
    # ranked among the 3 corporate customers only: gold is per kind (and industry)
    assert (gold.value, gold.above, gold.population, gold.result) == (2_500_000.0, 0, 3, True)
    assert gold.reason == (
        "number 1 of the 3 customers with kind = corporate, industry IS NULL: 0 have a larger"
        " annual_contribution; gold needs fewer than 5% of them (0.15): gold"
    )
    # the contribution percentile too is ranked within the kind: the first of 3 companies
    percentile = next(s for s in found.standings if s.name == "contribution_pct")
    assert (percentile.below, percentile.count, percentile.result) == (2, 3, 1.0)
    assert found.decision("strategy").result == "gold_package"
    assert tried(found, "level") == [("partner", True)]


def test_a_loss_maker_alone_in_its_industry_is_told_why_it_is_not_gold(
    store: Store, ruleset: RuleSet
) -> None:
    alone = {"customer_id": "L1", "name": "亏损", "kind": "corporate", "industry": "采矿业",
             "last_txn_date": day(2), "annual_contribution": -8_000.0}  # fmt: skip
    store.upsert_customers([*population(), alone])
    classify(store, ruleset, NOW)
    found = explain(store, ruleset, "L1", NOW)
    gold = next(s for s in found.standings if s.name == "gold")
    assert (found.gold, gold.above, gold.population) == (False, 0, 1)
    assert gold.reason == "annual_contribution is -8000, 0 or less: never gold"
    assert found.decision("strategy").result == "unprofitable"


# high value added among the customers without a kind, behind P1, B040 and B039: 3 ahead is
# not fewer than 5 % of 43, so not gold; its lifetime value is 38.5 times its cost
NOT_GOLD = {"customer_id": "H1", "name": "高附加值", "balance": 600_000.0,
            "monthly_txn_count": 40, "last_txn_date": day(2), "products_held": 4,
            "annual_contribution": 3_850.0, "cost_to_serve": 100.0}  # fmt: skip


def test_partner_who_is_not_gold(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([*population(), NOT_GOLD])
    classify(store, ruleset, NOW)
    found = explain(store, ruleset, "H1", NOW)
    gold = next(s for s in found.standings if s.name == "gold")
    assert (found.gold, gold.above, gold.population) == (False, 3, 43)
    assert "3 have a larger annual_contribution" in gold.reason
    assert gold.reason.endswith(": not gold")
    assert found.decision("tier").result == "high_value_added"
    assert failed(found, "tier", "dormant") == [
        "balance = 0 is false (balance = 600000)",
        "days_idle >= 180 is false (days_idle = 2)",
        "days_idle IS NULL is false (days_idle = 2)",
    ]
    assert (found.decision("level").result, found.decision("strategy").result) == (
        "partner",
        "growth",
    )
    assert failed(found, "strategy", "gold_package") == ["gold = TRUE is false (gold = False)"]


def test_a_null_fact_is_reported_as_unknown(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([*population(), {"customer_id": "N1", "name": "未知"}])
    found = explain(store, ruleset, "N1", NOW)
    # balance unknown: an empty account cannot be told from a missing figure
    assert failed(found, "tier", "dormant") == ["balance = 0 is unknown (NULL) (balance = NULL)"]
    percentile = next(s for s in found.standings if s.name == "contribution_pct")
    assert percentile.result is None and "NULL" in percentile.reason
    assert found.stored is None


def test_explain_agrees_with_the_sql_for_everyone(loaded: Store, ruleset: RuleSet) -> None:
    rows = loaded.execute(
        "SELECT customer_id, tier, level, strategy, gold FROM current_assignments"
    )
    for row in rows:
        found = explain(loaded, ruleset, row["customer_id"], NOW)
        decided = tuple(found.decision(k).result for k in ("tier", "level", "strategy"))
        assert (*decided, found.gold) == (
            row["tier"],
            row["level"],
            row["strategy"],
            bool(row["gold"]),
        )


def test_explain_a_record_without_a_store(ruleset: RuleSet) -> None:
    record: dict[str, Any] = {"balance": 0.0, "last_txn_date": day(400), "contribution_pct": 0.95}
    found = explain(record, ruleset, "R1", NOW)
    assert found.measures["contribution_pct"] == 0.95
    assert found.decision("tier").result == "dormant"
    assert found.notes == ("gold needs the population; taken from the record as given",)


def test_unknown_customer(loaded: Store, ruleset: RuleSet) -> None:
    with pytest.raises(UnknownCustomer, match="no customer 'X9'"):
        explain(loaded, ruleset, "X9", NOW)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_explain_command(loaded: Store, tmp_path: Path) -> None:
    where = [
        "--rules",
        str(RULES),
        "--store",
        loaded.location,
        "--now",
        "2026-11-28T10:00",
    ]
    result = invoke("explain", "D1", *where)
    assert result.exit_code == 0, result.output
    assert "tier: dormant 睡眠客户" in result.output
    assert "✗ partner (" in result.output and "levels.yaml:6)" in result.output
    assert "tier = 'high_value_added' is false (tier = 'dormant')" in result.output
    data = json.loads(invoke("explain", "G1", *where, "--json").stdout)
    assert (data["gold"], data["decisions"][0]["result"]) == (True, "high_value_added")
    missing = invoke("explain", "X9", *where)
    assert (missing.exit_code, missing.output) == (1, "Error: no customer 'X9'\n")


def test_rows_sharing_a_name_are_each_tried_with_their_own_condition(ruleset: RuleSet) -> None:
    """strategies.csv gives 'growth' in three rows; the first (young, well paid, good credit)
    decides here, not the last row's condition under the same name."""
    record: dict[str, Any] = {
        "kind": "personal", "age": 30, "occupation": "工程师", "annual_income": 180_000.0,
        "credit_rating": "AA", "balance": 30_000.0, "monthly_txn_count": 12,
        "last_txn_date": day(2), "products_held": 1, "annual_contribution": 600.0,
        "cost_to_serve": 200.0, "contribution_pct": 0.5,
    }  # fmt: skip
    found = explain(record, ruleset, "R2", NOW)
    assert (found.decision("tier").result, found.decision("strategy").result) == (
        "low_value",
        "growth",
    )
