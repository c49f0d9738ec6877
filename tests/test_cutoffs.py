"""Percentiles and gold by cut-off values (engine/classify/cutoffs.py) decide exactly as the
rank of every customer does: generated populations with many ties, NULLs, segments and a
population of one, thresholds at 0 and 1 and beyond, get the same gold, tier, level and
strategy from the query with cut-offs as from the one ranking every customer (cut_offs=False),
on SQLite, DuckDB and PostgreSQL; on DuckDB also with the cut-offs found first into temporary
tables (prepared=True, as the snapshot engine runs it)."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import compile_classification, cutoff_passes, cutoffs
from guanxi.engine.classify.compile import SQL_TYPES, classified
from guanxi.engine.classify.cutoffs import threshold_measures
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.postgresql import PostgresStore
from tests.test_parity import (  # postgres: the same schema of an empty customers table
    RULESET,
    SQLITE_TYPES,
    TODAY,
    _stored,
    _table,
    postgres,  # noqa: F401
    within,
)

pytestmark = pytest.mark.takes_minutes  # handed out first (conftest.py)

OUTPUTS = ("customer_id", "gold", "tier", "level", "strategy")
OPERATORS = (">=", ">", "<", "<=")
# few distinct values, so that most customers tie with others
values = st.none() | st.sampled_from([0.0, 1.0, 2.0, 2.0, 5.0, 100.0, -3.0, 1e300])
people = st.lists(
    st.fixed_dictionaries({
        "annual_contribution": values,
        "kind": st.none() | st.sampled_from(["personal", "corporate"]),
        "industry": st.none() | st.sampled_from(["制造", "零售"]),
        "balance": st.none() | st.sampled_from([0.0, 500.0, 3e5]),
        "monthly_txn_count": st.none() | st.integers(0, 12),
        "products_held": st.none() | st.integers(0, 5),
    }),
    max_size=40,
)  # fmt: skip
thresholds = st.lists(
    st.tuples(
        st.sampled_from(OPERATORS),
        st.sampled_from(["0", "1", "0.5", "90%", "70%", "0.3", "0.25", "-0.5", "1.5", "0.999"]),
        st.booleans(),  # the number on the left: 0.5 <= contribution_pct
    ),
    min_size=1,
    max_size=4,
)
segments = st.sampled_from([(), ("kind",), ("kind", "industry")])
shares = st.sampled_from([5.0, 2.3, 0.001, 33.3, 50.0, 100.0])


def with_thresholds(
    ruleset: RuleSet, compared: list[tuple[str, str, bool]], share: float
) -> RuleSet:
    """The rule set whose first tiers compare contribution_pct with the generated numbers
    (the other tiers as shipped), and gold the top `share` %."""
    assert ruleset.tiers is not None and ruleset.gold is not None
    fields = dict(ruleset.tiers.rules[0].condition.field_types)  # type: ignore[union-attr]
    template = ruleset.tiers.rules[0]
    rules = []
    for i, (operator, number, left) in enumerate(compared):
        text = (
            f"{number} {operator} contribution_pct"
            if left
            else f"contribution_pct {operator} {number}"
        )
        condition = parse_condition(text, fields | {"contribution_pct": "number"})
        rules.append(dataclasses.replace(template, name=f"t{i}", condition=condition))
    tiers = dataclasses.replace(ruleset.tiers, rules=(*rules, *ruleset.tiers.rules))
    gold = ruleset.gold.model_copy(update={"top_percent": share})
    return dataclasses.replace(ruleset, tiers=tiers, gold=gold)


def population(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"customer_id": f"C{i:03d}", **row} for i, row in enumerate(rows)]


def stored(rows: list[dict[str, Any]], names: list[str], sqlite: bool) -> list[tuple[Any, ...]]:
    return [tuple(_stored(r.get(n)) if sqlite else r.get(n) for n in names) for r in rows]


def run(db: Any, ruleset: RuleSet, dialect: str, cut_offs: bool) -> set[tuple[Any, ...]]:
    query = compile_classification(ruleset, dialect, TODAY, "customers", cut_offs=cut_offs)
    if cut_offs:  # compiled to cut-offs, not ranks (SQLite within segments too)
        assert "RANK()" not in query.sql
    return outputs(query.columns, db.execute(query.sql).fetchall())


def run_prepared(duck: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> set[tuple[Any, ...]]:
    """The DuckDB query whose cut-offs are found first: the query itself reads the customers
    once."""
    query = compile_classification(ruleset, "duckdb", TODAY, "customers", prepared=True)
    assert query.prepare and query.sql.count("FROM customers") == 1
    assert "RANK()" not in query.sql + "".join(query.prepare)
    for statement in query.prepare:
        duck.execute(statement)
    return outputs(query.columns, duck.execute(query.sql).fetchall())


def outputs(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    picked = [columns.index(c) for c in OUTPUTS]
    return {
        tuple(bool(r[i]) if c == "gold" else r[i] for c, i in zip(OUTPUTS, picked, strict=True))
        for r in rows
    }


def fill(db: Any, rows: list[dict[str, Any]], sqlite: bool, cursor: Any = None) -> None:
    names = list(RULESET.schema.fields)
    db.execute("DELETE FROM customers")
    if rows:
        marks = ", ".join("?" if cursor is None else "%s" for _ in names)
        target = cursor or db
        target.executemany(f"INSERT INTO customers VALUES ({marks})", stored(rows, names, sqlite))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(rows=people, compared=thresholds, share=shares, gold=segments, percentile=segments)
def test_cut_offs_decide_as_the_rank(
    postgres: psycopg.Connection[Any],  # noqa: F811 (the fixture imported above)
    rows: list[dict[str, Any]],
    compared: list[tuple[str, str, bool]],
    share: float,
    gold: tuple[str, ...],
    percentile: tuple[str, ...],
) -> None:
    ruleset = with_thresholds(within(RULESET, gold, percentile), compared, share)
    assert threshold_measures(classified(ruleset), "duckdb") == {"contribution_pct"}
    customers = population(rows)
    lite = sqlite3.connect(":memory:")
    lite.execute(_table(ruleset, SQLITE_TYPES))
    fill(lite, customers, sqlite=True)
    duck = duckdb.connect()
    duck.execute(_table(ruleset, SQL_TYPES))
    fill(duck, customers, sqlite=False)
    with postgres.cursor() as cursor:
        fill(postgres, customers, sqlite=False, cursor=cursor)
    ranked = run(duck, ruleset, "duckdb", cut_offs=False)
    assert len(ranked) == len(customers)
    assert run(duck, ruleset, "duckdb", cut_offs=True) == ranked
    assert run_prepared(duck, ruleset) == ranked
    assert run(lite, ruleset, "sqlite", cut_offs=False) == ranked
    assert run(lite, ruleset, "sqlite", cut_offs=True) == ranked
    assert run(postgres, ruleset, "postgres", cut_offs=True) == ranked


def of_a_measure(ruleset: RuleSet) -> RuleSet:
    """The percentile and gold ranking total_assets, a measure: their cut-offs read a later
    stage of the query, not the customers' own fields."""
    assert ruleset.gold is not None
    measures = tuple(
        dataclasses.replace(m, percentile_of="total_assets") if m.percentile_of else m
        for m in ruleset.measures
    )
    gold = ruleset.gold.model_copy(update={"by": "total_assets"})
    return dataclasses.replace(ruleset, measures=measures, gold=gold)


@settings(max_examples=60, deadline=None)
@given(rows=people, compared=thresholds, share=shares, gold=segments, percentile=segments)
def test_prepared_cut_offs_of_a_measure_decide_as_the_rank(
    rows: list[dict[str, Any]],
    compared: list[tuple[str, str, bool]],
    share: float,
    gold: tuple[str, ...],
    percentile: tuple[str, ...],
) -> None:
    ruleset = of_a_measure(with_thresholds(within(RULESET, gold, percentile), compared, share))
    assert threshold_measures(classified(ruleset), "duckdb") == {"contribution_pct"}
    customers = population(rows)
    duck = duckdb.connect()
    duck.execute(_table(ruleset, SQL_TYPES))
    fill(duck, customers, sqlite=False)
    lite = sqlite3.connect(":memory:")
    lite.execute(_table(ruleset, SQLITE_TYPES))
    fill(lite, customers, sqlite=True)
    ranked = run(duck, ruleset, "duckdb", cut_offs=False)
    assert run_prepared(duck, ruleset) == ranked
    assert run(lite, ruleset, "sqlite", cut_offs=True) == ranked


@settings(max_examples=60, deadline=None)
@given(
    rows=people,
    compared=thresholds,
    share=shares,
    gold=segments | st.just(("industry",)),
    percentile=segments | st.just(("industry",)),
    scale=st.sampled_from([0.001, 0.01, 0.1]),
)
def test_prepared_cut_offs_from_few_buckets_decide_as_the_rank(
    rows: list[dict[str, Any]],
    compared: list[tuple[str, str, bool]],
    share: float,
    gold: tuple[str, ...],
    percentile: tuple[str, ...],
    scale: float,
) -> None:
    """Buckets holding many values (one or two for every value from 1e-300 to 1e300): each
    cut-off is read in a sorted range gathered from several finest segments (rankings sharing
    their passes), or in one of its own (a ranking within industry beside one within kind
    shares none)."""
    ruleset = with_thresholds(within(RULESET, gold, percentile), compared, share)
    duck = duckdb.connect()
    duck.execute(_table(ruleset, SQL_TYPES))
    fill(duck, population(rows), sqlite=False)
    ranked = run(duck, ruleset, "duckdb", cut_offs=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cutoff_passes, "SCALE", scale)
        assert run_prepared(duck, ruleset) == ranked


@settings(max_examples=40, deadline=None)
@given(rows=people, compared=thresholds, share=shares, gold=segments, percentile=segments)
def test_a_bucket_function_out_of_order_never_gives_a_wrong_cut_off(
    rows: list[dict[str, Any]],
    compared: list[tuple[str, str, bool]],
    share: float,
    gold: tuple[str, ...],
    percentile: tuple[str, ...],
) -> None:
    """The counts below a bucket are read from the histogram only where the buckets around
    it keep the values' order: a bucket function that does not (sin x) decides as the rank or
    stops the query, never decides otherwise."""
    ruleset = with_thresholds(within(RULESET, gold, percentile), compared, share)
    duck = duckdb.connect()
    duck.execute(_table(ruleset, SQL_TYPES))
    fill(duck, population(rows), sqlite=False)
    ranked = run(duck, ruleset, "duckdb", cut_offs=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cutoffs, "compressed", lambda x: f"SIN({x})")
        try:
            found = run_prepared(duck, ruleset)
        except duckdb.InvalidInputException as error:
            assert "cut-off outside its range" in str(error)
        else:
            assert found == ranked


def test_rankings_of_one_source_share_their_passes() -> None:
    """The shipped gold (within kind and industry) and percentile (within kind) rank
    annual_contribution: two passes over the customers find both, not two each."""
    gold = RULESET.gold_ranking
    rankings = {m.ranking for m in classified(RULESET).measures if m.ranking}
    assert gold is not None and gold.within == ("kind", "industry")
    assert {(r.source, r.within) for r in rankings} == {(gold.source, ("kind",))}
    query = compile_classification(RULESET, "duckdb", TODAY, "customers", prepared=True)
    assert sum(s.count("FROM _gx_cut_in0") for s in query.prepare) == 2


@pytest.mark.parametrize(
    "text",
    [
        "contribution_pct * 2 >= 1",  # arithmetic on the value
        "contribution_pct = 0.5",  # equality: not one cut-off
        "contribution_pct BETWEEN 0.2 AND 0.8",
        "contribution_pct >= total_assets",  # compared with a measure, not a number
    ],
)
def test_a_percentile_whose_value_is_read_keeps_the_rank(text: str) -> None:
    ruleset = with_thresholds(RULESET, [(">=", "0.5", False)], 5.0)
    assert ruleset.tiers is not None
    fields = dict(ruleset.tiers.rules[0].condition.field_types)  # type: ignore[union-attr]
    fields |= {"contribution_pct": "number", "total_assets": "number"}
    reading = dataclasses.replace(ruleset.tiers.rules[0], condition=parse_condition(text, fields))
    tiers = dataclasses.replace(ruleset.tiers, rules=(reading, *ruleset.tiers.rules))
    ruleset = dataclasses.replace(ruleset, tiers=tiers)
    assert threshold_measures(ruleset, "duckdb") == set()
    sql = compile_classification(ruleset, "duckdb", TODAY, "customers").sql
    assert 'RANK() OVER (PARTITION BY "kind", ("annual_contribution" IS NULL)' in sql


def test_the_values_returned_keep_the_rank() -> None:
    """With the measures returned (as a report or explain reads them), the percentile is the
    rank's; Spark keeps its bucketed rank."""
    measured = compile_classification(RULESET, "duckdb", TODAY, "customers", measures=True)
    assert "contribution_pct" in measured.columns and "RANK()" in measured.sql
    assert "RANK()" in compile_classification(RULESET, "spark", TODAY, "customers").sql
    assert threshold_measures(RULESET, "spark") == set()


def test_sqlite_finds_the_cut_offs_within_segments() -> None:
    """The shipped gold, within kind and industry, by a cut-off on SQLite too: the values
    grouped by segment, a running sum of their counts, no rank of every customer."""
    assert RULESET.gold_ranking is not None and RULESET.gold_ranking.within
    sql = compile_classification(RULESET, "sqlite", TODAY, "customers").sql
    assert "RANK()" not in sql and "ROWS UNBOUNDED PRECEDING" in sql


def test_postgresql_finds_a_segments_cut_off_once_not_once_per_customer(
    postgres_emptied: str, ruleset: RuleSet
) -> None:
    """PostgreSQL folded the segments' cut-offs into the join with every customer, sorting a
    segment's values again for each of its customers: a first classification of 20,000
    customers ran for over ten minutes. The plan reads a few rows per customer."""
    store = PostgresStore(postgres_emptied)
    try:
        store.prepare(ruleset.schema)
        store.upsert_customers(
            {"customer_id": f"C{i:05d}", "kind": KINDS[i % 3], "industry": f"行业{i % 5}",
             "annual_contribution": float(i), "balance": float(i * 100)}
            for i in range(CUSTOMERS)
        )  # fmt: skip
        query = compile_classification(ruleset, "postgres", TODAY, "customers")
        [plan] = store.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {query.sql}")
    finally:
        store.close()
    assert rows_read(plan["QUERY PLAN"][0]["Plan"]) < 50 * CUSTOMERS


KINDS = ("personal", "corporate", "institutional")
CUSTOMERS = 2_000


def rows_read(node: dict[str, Any]) -> float:
    """The rows every node of a plan produced, over all its loops."""
    own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
    return own + sum(rows_read(child) for child in node.get("Plans", []))
