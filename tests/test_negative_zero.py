"""-0.0 in a money field (an export's rounding of a tiny debit) is 0: load stores 0.0 and a
template writes "0.0元", never "-0.0元", also for a value stored before load read it so."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.test_ingest import NOW, event, write
from tests.test_template_empty_fields import ROW, Text

pytestmark = pytest.mark.every_store


def sign(value: float) -> float:
    return math.copysign(1.0, value)


def test_negative_zero_is_loaded_as_zero(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    written = write(tmp_path, "c.csv", "customer_id,name,balance", "C1,张三,-0.0", "C2,李四,-0")
    given = {"customer_id": "C3", "name": "王五", "balance": -0.0}
    parsed = write(tmp_path, "c.jsonl", json.dumps(given))
    for path in (written, parsed):
        assert load_customers(store, ruleset, path, NOW).loaded
    load_events(store, ruleset, write(tmp_path, "e.jsonl", event("E1", amount="-0.0")), NOW)
    balances = store.execute("SELECT balance FROM customers ORDER BY customer_id")
    assert [(r["balance"], sign(r["balance"])) for r in balances] == [(0.0, 1.0)] * 3
    [stored] = store.execute("SELECT payload FROM events")
    assert sign(json.loads(stored["payload"])["amount"]) == 1.0


def test_a_template_writes_negative_zero_as_zero() -> None:
    from guanxi.adapters.registry import load_adapter

    profile = {"customer_id": "C1", "name": "张三", "balance": -0.0, "phone": "13800000000"}
    body = Text("{{ name }}的余额{{ balance }}元，{{ balance|round(2) }}元")
    rendered = load_adapter("console").render(ROW, profile, {"t": body}).body
    assert rendered == "张三的余额0元，0元"


@pytest.mark.parametrize(
    ("balance", "written"),
    [
        (1200000.0, "1200000"),
        (9.99e15, "9990000000000000"),
        (1234.5, "1234.5"),
        (1e-05, "0.00001"),
        (-3.0, "-3"),
        (1200000, "1200000"),
    ],
)
def test_a_template_writes_a_number_as_a_customer_reads_it(balance: float, written: str) -> None:
    """A whole amount stored as a real number has no ".0", and none is in exponent form."""
    from guanxi.adapters.registry import load_adapter

    profile = {"customer_id": "C1", "name": "张三", "balance": balance, "phone": "13800000000"}
    body = Text("余额{{ balance }}元")
    rendered = load_adapter("console").render(ROW, profile, {"t": body}).body
    assert rendered == f"余额{written}元"
