"""Parity: SQLite SQL, DuckDB SQL and the Python predicates give the same answers.

Two properties: random conditions and numeric expressions from the whole grammar evaluate
identically on random records (NULLs, Chinese text, LIKE wildcards, dates, booleans, division
by zero); and whole generated populations get identical measures, gold, tiers, levels and
strategies from the compiled rule set on SQLite, DuckDB, PostgreSQL and in Python, with gold
and the percentile ranked among all customers or within generated segments (`within:`).
Measures over generated events are held to the same standard in test_event_measures.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import compile_classification
from guanxi.engine.classify.compile import SQL_TYPES, CompiledQuery, classified, sql_type
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.language import parse_condition, parse_value
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.ruleset import CompiledMeasure, Rollup
from tests.conftest import postgres_schema

TODAY = dt.date(2026, 11, 28)
# the measures the rules read: DuckDB here is given no events (event measures: test_spark.py)
RULESET = classified(load_ruleset(Path(__file__).parent.parent / "rules"))
FIELDS = {"n": "integer", "x": "number", "s": "string", "d": "date", "b": "boolean"}
SQLITE_TYPES = {"integer": "INTEGER", "number": "REAL", "string": "TEXT", "date": "TEXT",
                "boolean": "INTEGER", "datetime": "TEXT"}  # fmt: skip
CHARS = "ab张王%_ 'é"
PROFILE = settings(max_examples=150, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip

# --- generated records --------------------------------------------------------------------

texts = st.text(alphabet=CHARS, max_size=4)
dates = st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31))
numbers = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 0.1, 0.3, 0.5, 1.0, 2.5, 100.0]),
)
records = st.fixed_dictionaries({
    "n": st.none() | st.integers(-1000, 1000),
    "x": st.none() | numbers,
    "s": st.none() | texts,
    "d": st.none() | dates,
    "b": st.none() | st.booleans(),
})  # fmt: skip

# --- generated expressions (text, as a business user would write them) -------------------

int_literals = st.integers(-20, 20).map(str)
decimal_literals = st.sampled_from(["0.1", "0.2", "0.3", "0.5", "2.25", "1000.5"])
# as bankers write them: each is compiled to the plain number (0.1万 is 1000, 7% is 0.07)
banker_literals = st.sampled_from(["1万", "0.1万", "0.00002亿", "7%", "250%", "0.5%", "1.5万"])
numeric_atoms = st.one_of(
    # NULL written as an operand is refused (null-comparison); inside COALESCE it is a value
    st.sampled_from(["n", "x", "LENGTH(s)", "DAYS_SINCE(d)", "COALESCE(NULL, x)"]),
    int_literals,
    decimal_literals,
    banker_literals,
)


def _numeric_step(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"ABS({e})"),
        inner.map(lambda e: f"-({e})"),
        st.tuples(inner, inner).map(lambda t: f"COALESCE({t[0]}, {t[1]})"),
    )


numeric = st.recursive(numeric_atoms, _numeric_step, max_leaves=5)
comparison = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
string_literals = st.text(alphabet=CHARS.replace("'", ""), max_size=3).map(lambda t: f"'{t}'")
date_literals = dates.map(lambda d: f"DATE '{d.isoformat()}'")

boolean_atoms = st.one_of(
    st.tuples(numeric, comparison, numeric).map(" ".join),
    st.tuples(comparison, string_literals).map(lambda t: f"s {t[0]} {t[1]}"),
    st.tuples(comparison, date_literals).map(lambda t: f"d {t[0]} {t[1]}"),
    st.sampled_from(["b", "b = TRUE", "b = FALSE", "b IS NULL", "s IS NOT NULL", "d IS NULL"]),
    st.tuples(numeric, st.lists(int_literals | decimal_literals | banker_literals,
                                min_size=1, max_size=3)
              ).map(lambda t: f"{t[0]} IN ({', '.join(t[1])})"),
    st.lists(string_literals, min_size=1, max_size=3).map(lambda v: f"s IN ({', '.join(v)})"),
    st.tuples(numeric, numeric, numeric).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
    st.tuples(numeric, st.sampled_from(["IS NULL", "IS NOT NULL"])).map(" ".join),
    string_literals.map(lambda p: f"s LIKE {p}"),
)  # fmt: skip


def _boolean_step(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, st.sampled_from(["AND", "OR"]), inner)
    return st.one_of(inner.map(lambda c: f"NOT ({c})"), pair.map(lambda t: f"({' '.join(t)})"))


conditions = st.recursive(boolean_atoms, _boolean_step, max_leaves=4)


# --- the three back ends -------------------------------------------------------------------


class Engines:
    """One SQLite and one DuckDB connection holding table t, refilled for each example."""

    def __init__(self) -> None:
        self.lite = sqlite3.connect(":memory:")
        self.lite.execute("PRAGMA case_sensitive_like = ON")
        self.duck = duckdb.connect()
        self.lite.execute(f"CREATE TABLE t (id INTEGER, {_columns(FIELDS, SQLITE_TYPES)})")
        self.duck.execute(f"CREATE TABLE t (id INTEGER, {_columns(FIELDS, SQL_TYPES)})")

    def fill(self, rows: list[dict[str, Any]]) -> None:
        self.lite.execute("DELETE FROM t")
        self.duck.execute("DELETE FROM t")
        names = ["id", *FIELDS]
        marks = ", ".join("?" for _ in names)
        values = [(i, *(_stored(r[n]) for n in FIELDS)) for i, r in enumerate(rows)]
        self.lite.executemany(f"INSERT INTO t VALUES ({marks})", values)
        if values:
            self.duck.executemany(
                f"INSERT INTO t VALUES ({marks})",
                [(i, *(r[n] for n in FIELDS)) for i, r in enumerate(rows)],
            )

    def sqlite(self, sql: str) -> list[Any]:
        return [row[1] for row in self.lite.execute(f"SELECT id, {sql} FROM t ORDER BY id")]

    def duckdb(self, sql: str) -> list[Any]:
        return [
            row[1] for row in self.duck.execute(f"SELECT id, {sql} FROM t ORDER BY id").fetchall()
        ]


def _columns(fields: dict[str, str], types: dict[str, str]) -> str:
    return ", ".join(f'"{name}" {types[kind]}' for name, kind in fields.items())


def _stored(value: Any) -> Any:
    """A value the way the SQLite store keeps it: ISO text for dates, 0/1 for booleans."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return int(value) if isinstance(value, bool) else value


@pytest.fixture(scope="module")
def engines() -> Iterator[Engines]:
    found = Engines()
    yield found
    found.lite.close()
    found.duck.close()


def _truth(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@PROFILE
@given(text=conditions, rows=st.lists(records, max_size=6))
def test_conditions_agree(engines: Engines, text: str, rows: list[dict[str, Any]]) -> None:
    condition = parse_condition(text, FIELDS)
    engines.fill(rows)
    python = [_truth(condition.compile(TODAY)(r)) for r in rows]
    assert [_truth(v) for v in engines.sqlite(condition.sql("sqlite", TODAY))] == python, text
    assert [_truth(v) for v in engines.duckdb(condition.sql("duckdb", TODAY))] == python, text


@PROFILE
@given(text=numeric, rows=st.lists(records, max_size=6))
def test_numeric_expressions_agree(engines: Engines, text: str, rows: list[dict[str, Any]]) -> None:
    value = parse_value(text, FIELDS)
    engines.fill(rows)
    python = [_number(value.compile(TODAY)(r)) for r in rows]
    assert [_number(v) for v in engines.sqlite(value.sql("sqlite", TODAY))] == python, text
    assert [_number(v) for v in engines.duckdb(value.sql("duckdb", TODAY))] == python, text


# --- whole populations through the compiled rule set --------------------------------------

# extremes a double overflows or underflows with (1e300 * 1e10, 5000 / 1e-320, 5e-324 / 60)
extreme = st.sampled_from([5e-324, 1e-320, 1e300, 1.7e308])
money = (
    st.none()
    | st.sampled_from([0.0, 50.0, 99.99, 1000.0, 600_000.0, 2e6])
    | st.floats(0, 5e6, allow_nan=False)
    | extreme
)
customers = st.fixed_dictionaries({
    "name": st.text(alphabet="王李张华明湘江科技有限公司", min_size=1, max_size=6),
    "kind": st.none() | st.sampled_from(["personal", "corporate", "institutional"]),
    "balance": money, "loan_balance": money, "wealth_balance": money,
    "monthly_txn_count": st.none() | st.integers(0, 60),
    "last_txn_date": st.none() | st.dates(dt.date(2024, 1, 1), TODAY),
    "products_held": st.none() | st.integers(0, 8),
    "annual_contribution": st.none() | st.sampled_from([0.0, 10.0, 500.0, 9e5]) | st.floats(0, 3e6)
                           | extreme | extreme.map(lambda v: -v),
    "cost_to_serve": st.none() | st.sampled_from([0.0, 60.0, 1000.0]) | st.floats(0, 5e4) | extreme,
    "expected_years": st.none() | st.floats(0, 30) | st.just(1e10),
    "consent_marketing": st.none() | st.booleans(),
    # "C001" is also a customer's key: a customer without a group is a group of one all the same
    "group_id": st.none() | st.sampled_from(["G1", "G2", "集团", "C001"]),
})  # fmt: skip
OUTPUTS = ("gold", "tier", "level", "strategy")


def _population(ruleset: RuleSet, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{ruleset.schema.key: f"C{i:03d}", **row} for i, row in enumerate(rows)]


def _table(ruleset: RuleSet, types: dict[str, str]) -> str:
    fields = {n: f.type for n, f in ruleset.schema.fields.items()}
    return f"CREATE TABLE customers ({_columns(fields, types)})"


@pytest.fixture(scope="module")
def postgres() -> Iterator[psycopg.Connection[Any]]:
    """A connection to a schema of its own holding an empty customers table."""
    types = {kind: sql_type(kind, "postgres") for kind in SQL_TYPES}
    with postgres_schema() as url, psycopg.connect(url, autocommit=True) as db:
        db.execute(_table(RULESET, types))
        yield db


def _run_sql(
    ruleset: RuleSet,
    people: list[dict[str, Any]],
    dialect: str,
    postgres: psycopg.Connection[Any] | None = None,
) -> dict[str, tuple[Any, ...]]:
    """Classify `people` with the compiled query in an in-memory SQLite or DuckDB database,
    or in the customers table of `postgres`."""
    query = compile_classification(ruleset, dialect, TODAY, "customers", measures=True)
    names = list(ruleset.schema.fields)
    if postgres is not None:
        return _run_postgres(ruleset, people, query, postgres)
    if dialect == "sqlite":
        db: Any = sqlite3.connect(":memory:")
        db.execute(_table(ruleset, SQLITE_TYPES))
        values = [tuple(_stored(p.get(n)) for n in names) for p in people]
    else:
        db = duckdb.connect()
        db.execute(_table(ruleset, SQL_TYPES))
        values = [tuple(p.get(n) for n in names) for p in people]
    if values:
        db.executemany(f"INSERT INTO customers VALUES ({', '.join('?' for _ in names)})", values)
    rows = db.execute(query.sql).fetchall()
    db.close()
    return {r[0]: _normal(dict(zip(query.columns, r, strict=True)), ruleset) for r in rows}


def _run_postgres(
    ruleset: RuleSet,
    people: list[dict[str, Any]],
    query: CompiledQuery,
    db: psycopg.Connection[Any],
) -> dict[str, tuple[Any, ...]]:
    names = list(ruleset.schema.fields)
    db.execute("DELETE FROM customers")
    with db.cursor() as cursor:
        marks = ", ".join("%s" for _ in names)
        rows = [tuple(p.get(n) for n in names) for p in people]
        cursor.executemany(f"INSERT INTO customers VALUES ({marks})", rows)
    found = db.execute(query.sql).fetchall()
    return {r[0]: _normal(dict(zip(query.columns, r, strict=True)), ruleset) for r in found}


def _normal(row: dict[str, Any], ruleset: RuleSet) -> tuple[Any, ...]:
    measures = tuple(_number(row[m.name]) for m in ruleset.measures)
    return (bool(row["gold"]), row["tier"], row["level"], row["strategy"], *measures)


# ranked among all customers, or within segments of fields of each type a segment may have
segments = st.sampled_from(
    [(), ("kind",), ("kind", "consent_marketing"), ("last_txn_date",), ("products_held",)]
)


def within(ruleset: RuleSet, gold: tuple[str, ...], percentile: tuple[str, ...]) -> RuleSet:
    """The rule set with gold ranked within `gold` and its percentiles within `percentile`."""
    assert ruleset.gold is not None
    measures = tuple(
        dataclasses.replace(m, within=percentile) if m.percentile_of else m
        for m in ruleset.measures
    )
    segmented = ruleset.gold.model_copy(update={"within": gold})
    return dataclasses.replace(ruleset, gold=segmented, measures=measures)


def with_rollups(ruleset: RuleSet) -> RuleSet:
    """The rule set with roll-ups over group_id: sums of whole numbers (a sum of amounts may
    differ in its last digit with the order it is added in), the largest contribution and
    total assets (a measure), and the members."""
    origin = ruleset.measures[0].origin
    rollups = [
        Rollup("sum", "products_held", "group_id"),
        Rollup("max", "annual_contribution", "group_id"),
        Rollup("max", "total_assets", "group_id"),
        Rollup("count", None, "group_id"),
    ]
    measures = tuple(
        CompiledMeasure(f"group_{i}", "集团", None, None, origin, rollup=r)
        for i, r in enumerate(rollups)
    )
    return dataclasses.replace(ruleset, measures=(*ruleset.measures, *measures))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(customers, max_size=25), gold=segments, percentile=segments)
def test_populations_agree(
    postgres: psycopg.Connection[Any],
    rows: list[dict[str, Any]],
    gold: tuple[str, ...],
    percentile: tuple[str, ...],
) -> None:
    ruleset = with_rollups(within(RULESET, gold, percentile))
    people = _population(ruleset, rows)
    python = {
        r[ruleset.schema.key]: _normal(r, ruleset) for r in classify_records(ruleset, people, TODAY)
    }
    assert _run_sql(ruleset, people, "sqlite") == python
    assert _run_sql(ruleset, people, "duckdb") == python
    assert _run_sql(ruleset, people, "postgres", postgres) == python


def test_ties_at_the_gold_line_are_all_gold(ruleset: RuleSet) -> None:
    """Top 5 % of 40 is 2 customers; four share the largest contribution: all four are gold."""
    ruleset = classified(ruleset)  # the databases here hold no events
    rows = [{"annual_contribution": 100.0 + i} for i in range(36)]
    rows += [{"annual_contribution": 9_000.0} for _ in range(4)]
    people = _population(ruleset, rows)
    for dialect in ("sqlite", "duckdb"):
        gold = {k for k, v in _run_sql(ruleset, people, dialect).items() if v[0]}
        assert gold == {"C036", "C037", "C038", "C039"}
    python = classify_records(ruleset, people, TODAY)
    assert sum(r["gold"] for r in python) == 4


def test_a_customer_who_brings_nothing_is_never_gold(
    ruleset: RuleSet, postgres: psycopg.Connection[Any]
) -> None:
    """ "非金牌客户不能给银行带来较大利益，有些甚至会损害银行的利益": a market where no one
    contributes yet, or a loss-maker alone at its top, has no gold customer."""
    ruleset = classified(ruleset)
    rows = [{"annual_contribution": 0.0} for _ in range(38)]
    rows += [{"annual_contribution": -50.0}, {"annual_contribution": 10.0}]
    people = _population(ruleset, rows)
    python = {
        r[ruleset.schema.key]: _normal(r, ruleset) for r in classify_records(ruleset, people, TODAY)
    }
    assert {k for k, v in python.items() if v[0]} == {"C039"}
    for dialect in ("sqlite", "duckdb"):
        assert _run_sql(ruleset, people, dialect) == python
    assert _run_sql(ruleset, people, "postgres", postgres) == python
    losers = _population(ruleset, [{"annual_contribution": -50.0}] * 3)
    assert not any(r["gold"] for r in classify_records(ruleset, losers, TODAY))
    assert not any(v[0] for v in _run_sql(ruleset, losers, "sqlite").values())


def test_a_datetime_compared_with_a_date_is_that_date_at_midnight() -> None:
    fields = {"t": "datetime"}
    later = dt.datetime(2024, 1, 1, 10, 0)
    duck = duckdb.connect()
    for text in ("t > DATE '2024-01-01'", "t < DATE '2024-01-02'", "t = DATE '2024-01-01'"):
        condition = parse_condition(text, fields)
        sql = f"SELECT {condition.sql('duckdb', TODAY)} FROM (SELECT ?::TIMESTAMP AS t)"
        assert condition.evaluate({"t": later}) is duck.execute(sql, [later]).fetchall()[0][0]


# --- a branch overlay (branches/<branch>.yaml) ---------------------------------------------

BRANCH = "长沙分行"
OVERLAY = """\
tiers:
  valuable: {when: "total_assets >= 200000 AND monthly_txn_count >= 10"}
  low_value: {when: "products_held >= 1"}
levels:
  responsible: {when: "tier IN ('high_value_added', 'valuable')"}
"""
with_branch = st.tuples(customers, st.none() | st.sampled_from(["", BRANCH, "北京分行"])).map(
    lambda pair: {**pair[0], "branch": pair[1]}
)


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("branched") / "rules"
    shutil.copytree(RULESET.root, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*"))
    (folder / "branches").mkdir()
    (folder / "branches" / f"{BRANCH}.yaml").write_text(OVERLAY, encoding="utf-8")
    return classified(load_ruleset(folder))


def _branch_alone(branched: RuleSet) -> RuleSet:
    """The head office's rule set with the branch's conditions written in its place."""
    ladders = {}
    for ladder in (branched.tiers, branched.levels):
        rules = tuple(dataclasses.replace(r, condition=r.seen_by(BRANCH)[0]) for r in ladder.rules)
        ladders[ladder.kind] = dataclasses.replace(ladder, rules=rules)
    return dataclasses.replace(RULESET, tiers=ladders["tier"], levels=ladders["level"])


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(with_branch, max_size=20))
def test_a_branch_overlay_decides_for_its_branch_alone(
    postgres: psycopg.Connection[Any], branched: RuleSet, rows: list[dict[str, Any]]
) -> None:
    """A customer of the branch is classified as by the branch's conditions, every other
    customer (no branch, an empty one, another) as by the head office's; the SQL back ends
    agree with Python."""
    people = _population(branched, rows)
    python = {
        r["customer_id"]: _normal(r, branched) for r in classify_records(branched, people, TODAY)
    }
    head = classify_records(RULESET, people, TODAY)
    alone = classify_records(_branch_alone(branched), people, TODAY)
    for person, by_head, by_branch in zip(people, head, alone, strict=True):
        expected = by_branch if person["branch"] == BRANCH else by_head
        assert python[person["customer_id"]] == _normal(expected, RULESET)
    assert _run_sql(branched, people, "sqlite") == python
    assert _run_sql(branched, people, "duckdb") == python
    assert _run_sql(branched, people, "postgres", postgres) == python
