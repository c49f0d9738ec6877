"""A customer whose measure overflows or underflows a double does not stop classification.

Loaded as `guanxi load` takes them (the schema allows a cost to serve of 1e-320), such
customers among ordinary ones get, on every store, the tiers, levels and strategies the
Python oracle gives with IEEE doubles: a value ratio of +Infinity or -Infinity, a value
ratio of 0 where a quotient underflows, total assets of +Infinity. And a single expression
over such values gives the same on SQLite, DuckDB, PostgreSQL and in Python, NaN (inf - inf)
being NULL everywhere.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from guanxi.engine.classify import classify
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.ingest import load_customers
from guanxi.engine.ingest.values import Invalid, integer
from guanxi.engine.language import parse_condition, parse_value
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.classify_helpers import write_csv
from tests.conftest import postgres_schema

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
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
        for r in store.execute("SELECT * FROM current_assignments")
    }
    oracle = classify_records(ruleset, [{k: v for k, v in r.items() if v != ""} for r in rows],
                              NOW.date())  # fmt: skip
    ratios = {r["customer_id"]: r["value_ratio"] for r in oracle}
    assert (ratios["X_RATIO_INF"], ratios["X_RATIO_NEG_INF"]) == (float("inf"), float("-inf"))
    assert ratios["X_RATIO_UNDERFLOW"] == 0.0
    assert found == {r["customer_id"]: (r["gold"], r["tier"], r["level"], r["strategy"])
                     for r in oracle}  # fmt: skip
    assert found["X_RATIO_INF"][2] != found["X_RATIO_NEG_INF"][2]  # +inf ≥ 10, -inf is not


# --- one expression on every back end ------------------------------------------------------

FIELDS = {"a": "number", "b": "number"}
VALUES = [1e300, -1e300, 1.7e308, -1.7e308, 1e-320, 5e-324, 0.5, 3.0, 0.0, None]
ROWS = [(a, b) for a in VALUES for b in VALUES]
EXPRESSIONS = [
    "a * b",
    "a / b",
    "a + b",
    "a - b",
    "a * b - a * b",  # inf - inf: NaN, which is NULL everywhere
    "0 * (a / b)",
    "(a * b) / (a * b)",
    "a / b * 1000000 - b",
]
CONDITIONS = ["a * b - a * b >= 0", "NOT (a / b * b < 1)", "a * b > 1000 OR a / b < 0.001"]


@pytest.fixture(scope="module")
def tables() -> Iterator[dict[str, Any]]:
    """Table t holding ROWS on SQLite, DuckDB and PostgreSQL."""
    numbered = [(i, *r) for i, r in enumerate(ROWS)]
    lite, duck = sqlite3.connect(":memory:"), duckdb.connect()
    with postgres_schema() as url, psycopg.connect(url, autocommit=True) as pg:
        for db, kind in ((lite, "REAL"), (duck, "DOUBLE"), (pg, "DOUBLE PRECISION")):
            db.execute(f"CREATE TABLE t (i INTEGER, a {kind}, b {kind})")
        for db in (lite, duck):
            db.executemany("INSERT INTO t VALUES (?, ?, ?)", numbered)
        with pg.cursor() as cursor:
            cursor.executemany("INSERT INTO t VALUES (%s, %s, %s)", numbered)
        yield {"sqlite": lite, "duckdb": duck, "postgres": pg}


def _values(db: Any, sql: str) -> list[Any]:
    return [None if v is None else float(v) for (v,) in db.execute(
        f"SELECT {sql} FROM t ORDER BY i").fetchall()]  # fmt: skip


@pytest.mark.parametrize("text", EXPRESSIONS + CONDITIONS)
def test_overflow_underflow_and_nan_agree_on_every_back_end(tables: Any, text: str) -> None:
    parse = parse_condition if text in CONDITIONS else parse_value
    parsed = parse(text, FIELDS)
    python = [parsed.compile(TODAY)(dict(zip(FIELDS, r, strict=True))) for r in ROWS]
    python = [None if v is None else float(v) for v in python]
    assert not any(v != v for v in python if v is not None)  # no NaN: NULL
    for dialect, db in tables.items():
        assert _values(db, parsed.sql(dialect, TODAY)) == python, dialect


def test_nested_arithmetic_stays_cheap_to_plan_on_postgresql(tables: Any) -> None:
    """Six levels of guarded arithmetic: the operands are computed once per level, not copied
    into each branch of the rare cases (which took gigabytes to plan from two levels up)."""
    text = "a"
    for _ in range(6):
        text = f"(({text}) * b + a) / (b + 1)"
    parsed = parse_value(text, FIELDS)
    pg = tables["postgres"]
    pg.execute("SET statement_timeout = '10s'")
    try:
        assert _values(pg, parsed.sql("postgres", TODAY)) == _values(
            tables["sqlite"], parsed.sql("sqlite", TODAY)
        )
    finally:
        pg.execute("RESET statement_timeout")


# --- integers near 2^63 ----------------------------------------------------------------------

WHOLE = {"n": "integer", "m": "integer"}
WHOLE_VALUES = [2**63 - 1, -(2**63) + 1, 2**62, 3, -7, 0, None]
WHOLE_ROWS = [(n, m) for n in WHOLE_VALUES for m in WHOLE_VALUES]
WHOLE_EXPRESSIONS = ["n + m", "n - m", "n * m", "40 * n / (n + 2)", "-n + 1", "ABS(n) * 2"]


@pytest.fixture(scope="module")
def whole_tables() -> Iterator[dict[str, Any]]:
    """Table t holding WHOLE_ROWS, 64-bit integers, on SQLite, DuckDB and PostgreSQL."""
    numbered = [(i, *r) for i, r in enumerate(WHOLE_ROWS)]
    lite, duck = sqlite3.connect(":memory:"), duckdb.connect()
    with postgres_schema() as url, psycopg.connect(url, autocommit=True) as pg:
        for db in (lite, duck, pg):
            db.execute("CREATE TABLE t (i INTEGER, n BIGINT, m BIGINT)")
        for db in (lite, duck):
            db.executemany("INSERT INTO t VALUES (?, ?, ?)", numbered)
        with pg.cursor() as cursor:
            cursor.executemany("INSERT INTO t VALUES (%s, %s, %s)", numbered)
        yield {"sqlite": lite, "duckdb": duck, "postgres": pg}


@pytest.mark.parametrize("text", WHOLE_EXPRESSIONS)
def test_arithmetic_on_integers_near_2_63_agrees_on_every_back_end(
    whole_tables: Any, text: str
) -> None:
    """Every value `guanxi load` takes for an integer field: a sum or product leaving 64 bits
    is a double on every back end (as SQLite makes it), not an error stopping the query."""
    parsed = parse_value(text, WHOLE)
    python = [parsed.compile(TODAY)(dict(zip(WHOLE, r, strict=True))) for r in WHOLE_ROWS]
    python = [None if v is None else float(v) for v in python]
    for dialect, db in whole_tables.items():
        assert _values(db, parsed.sql(dialect, TODAY)) == python, dialect


@pytest.mark.parametrize("written", [str(-(2**63)), -(2**63)])
def test_the_one_integer_without_a_negation_is_refused(written: Any) -> None:
    """-2^63 has no negation in 64 bits: SQLite's ABS and PostgreSQL's minus refuse it for the
    whole query. Load takes every integer whose negation fits, and no other."""
    with pytest.raises(Invalid, match="is too large"):
        integer(written)
    assert integer(str(-(2**63) + 1)) == -(2**63) + 1
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        sqlite3.connect(":memory:").execute("SELECT ABS(?)", (-(2**63),)).fetchall()
