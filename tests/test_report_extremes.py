"""The report over customers at the ends of what `guanxi load` accepts.

Balances and contributions near the largest double (their sums overflow) and counts near
2^63 (their arithmetic leaves 64 bits) beside ordinary customers: the report is built on
every store and gives the same numbers on PostgreSQL as on SQLite, where a sum that
overflows is infinite, as IEEE doubles make it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guanxi.engine.classify import classify
from guanxi.engine.ingest import load_customers
from guanxi.engine.report import ReportRequest, build_report
from guanxi.engine.report.groups import Group, merged
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import DoubleSum
from guanxi.engine.store.sqlite import SQLiteStore
from tests.classify_helpers import write_csv

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
BIGGEST = 2**63 - 1
EXTREME = {
    "X_ASSETS_1": {"balance": 1.7e308, "annual_contribution": 1.7e308, "kind": "corporate"},
    "X_ASSETS_2": {"balance": 1.7e308, "annual_contribution": 1.7e308, "kind": "corporate"},
    "X_LOSS": {"annual_contribution": -1.7e308, "kind": "corporate"},
    "X_COUNTS": {"products_held": BIGGEST, "monthly_txn_count": BIGGEST},
}


def customers() -> list[dict[str, Any]]:
    ordinary = {"balance": 5_000.0, "last_txn_date": "2026-11-20", "products_held": 2}
    rows = [
        {"customer_id": f"N{i:02d}", "name": f"客户{i}", "kind": "corporate", **ordinary,
         "industry": "制造业", "annual_contribution": 100.0 * i, "cost_to_serve": 50.0}
        for i in range(12)
    ]  # fmt: skip
    rows += [{"customer_id": key, "name": key, **ordinary, **row} for key, row in EXTREME.items()]
    columns = sorted({name for row in rows for name in row})
    return [{**dict.fromkeys(columns, ""), **row} for row in rows]


def fill(store: Store, ruleset: RuleSet, folder: Path) -> dict[str, Any]:
    load_customers(store, ruleset, write_csv(folder / "customers.csv", customers()), NOW)
    classify(store, ruleset, NOW)
    classify(store, ruleset, NOW + dt.timedelta(days=1))
    report = build_report(store, ruleset, ReportRequest())
    return json.loads(json.dumps(report.to_dict(), default=str))


def test_the_report_of_extreme_values_is_the_same_on_every_store(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    found = fill(store, ruleset, tmp_path)
    (tmp_path / "lite").mkdir()
    lite = SQLiteStore(tmp_path / "lite" / "guanxi.db")
    try:
        expected = fill(lite, ruleset, tmp_path / "lite")
    finally:
        lite.close()
    assert _comparable(found) == _approximately(_comparable(expected))
    assert not list(_nans(found))  # a share of an infinite total is none, not NaN
    top = found["concentration"]["fields"][0]["top"]
    assert set(top.values()) == {None}, top
    corporate = [r for r in found["segments"]["by_industry"] if r["value"] == "制造业"]
    assert found["scorecard"]["by_tier"] and corporate
    deposits = {r["value"]: r["deposits"] for r in found["segments"]["by_industry"]}
    assert deposits[None] == math.inf  # 1.7e308 twice, as IEEE doubles add them


def _approximately(value: Any) -> Any:
    """`value` with each float replaced by one equal to it to 12 digits: the stores add a
    group's values in their own order (SQLite compensates rounding, PostgreSQL does not), so a
    mean may differ in its last bit, never in what a report shows."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12)
    if isinstance(value, dict):
        return {k: _approximately(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approximately(v) for v in value]
    return value


def _nans(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, float) and math.isnan(value):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nans(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nans(item, f"{path}[{i}]")


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs by store though the customers do not: run times."""
    report = dict(report)
    for key in ("latest_run", "migration"):
        report.pop(key, None)
    return report


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_level_adds_up_its_tiers_to_the_same_sum_in_any_order(order: tuple[int, ...]) -> None:
    """A store returns a level's groups (one per tier) in no set order: added as floats,
    1.7e308 + 1.7e308 - 1.7e308 was infinite or 1.7e308 by that order (PostgreSQL's plan)."""
    values = [1.7e308, 1.7e308, -1.7e308]
    groups = [
        Group(tier, "partner", 1, 0, {"c": DoubleSum.of([v])}, {"c": 1})
        for tier, v in zip("abc", values, strict=True)
    ]
    level = merged([groups[i] for i in order], lambda g: g.level)["partner"]
    assert level.total("c") == 1.7e308
    assert level.mean("c") == pytest.approx(1.7e308 / 3)
