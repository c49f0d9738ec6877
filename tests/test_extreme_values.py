"""A customer whose measure overflows or underflows a double does not stop classification.

Loaded as `guanxi load` takes them (the schema allows a cost to serve of 1e-320), such
customers among ordinary ones get, on every store, the tiers, levels and strategies the
Python oracle gives with IEEE doubles: a value ratio of +Infinity or -Infinity, a value
ratio of 0 where a quotient underflows, total assets of +Infinity.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from guanxi.engine.classify import classify
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.classify_helpers import write_csv

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
EXTREME = {
    "X_RATIO_INF": {"annual_contribution": 5_000.0, "cost_to_serve": 1e-320},
    "X_RATIO_NEG_INF": {"annual_contribution": -5_000.0, "cost_to_serve": 1e-320},
    "X_RATIO_UNDERFLOW": {"annual_contribution": 5e-324, "cost_to_serve": 1e6},
    "X_LIFETIME_INF": {"annual_contribution": 1e300, "expected_years": 1e10},
    "X_ASSETS_INF": {"balance": 1.7e308, "wealth_balance": 1.7e308},
}


def customers() -> list[dict[str, Any]]:
    ordinary = {"balance": 1_000.0, "last_txn_date": "2026-11-20", "products_held": 1}
    rows = [
        {"customer_id": f"N{i:02d}", "name": f"客户{i}", **ordinary,
         "annual_contribution": 100.0 * i, "cost_to_serve": 50.0 + i}
        for i in range(20)
    ]  # fmt: skip
    rows += [{"customer_id": key, "name": key, **ordinary, **row} for key, row in EXTREME.items()]
    return [{**dict.fromkeys(_columns(), ""), **row} for row in rows]


def _columns() -> list[str]:
    fields = ("customer_id", "name", "balance", "wealth_balance", "last_txn_date")
    return [*fields, "products_held", "annual_contribution", "cost_to_serve", "expected_years"]


def test_an_overflowing_measure_is_infinite_on_every_store(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = customers()
    load_customers(store, ruleset, write_csv(tmp_path / "customers.csv", rows), NOW)
    classify(store, ruleset, NOW)
    found = {
        r["customer_id"]: (bool(r["gold"]), r["tier"], r["level"], r["strategy"])
        for r in store.execute("SELECT * FROM assignments")
    }
    oracle = classify_records(ruleset, [{k: v for k, v in r.items() if v != ""} for r in rows],
                              NOW.date())  # fmt: skip
    ratios = {r["customer_id"]: r["value_ratio"] for r in oracle}
    assert (ratios["X_RATIO_INF"], ratios["X_RATIO_NEG_INF"]) == (float("inf"), float("-inf"))
    assert ratios["X_RATIO_UNDERFLOW"] == 0.0
    assert found == {r["customer_id"]: (r["gold"], r["tier"], r["level"], r["strategy"])
                     for r in oracle}  # fmt: skip
    assert found["X_RATIO_INF"][2] != found["X_RATIO_NEG_INF"][2]  # +inf ≥ 10, -inf is not
