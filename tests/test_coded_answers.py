"""The DuckDB query giving the ladders' answers as codes (engine/classify/coded.py) decides
exactly as the one giving names: generated levels reading the tier in every form a rule may
(=, <>, IN, NOT IN, IS NULL, a name no tier has, the name on the left), over generated
customers, with dictionaries whose codes are not the rules' order. A rule reading a tier
otherwise keeps the names."""

from __future__ import annotations

import dataclasses
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import compile_classification
from guanxi.engine.classify.codes import rule_names
from guanxi.engine.classify.compile import SQL_TYPES
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import RuleSet
from tests.test_cutoffs import OUTPUTS, fill, people, population
from tests.test_parity import RULESET, TODAY, _table

TIERS = [*dict.fromkeys(rule_names(RULESET, "tier")), "no_such_tier"]
names = st.sampled_from(TIERS)
uses = st.one_of(
    st.builds("tier = '{}'".format, names),
    st.builds("'{}' = tier".format, names),
    st.builds("tier <> '{}'".format, names),
    st.builds("tier IN ('{}', '{}')".format, names, names),
    st.builds("tier NOT IN ('{}')".format, names),
    st.just("tier IS NULL"),
    st.just("tier IS NOT NULL"),
)
conditions = st.builds(
    "{} {} ({})".format, uses, st.sampled_from(["AND", "OR"]), st.sampled_from(["gold", "NOT gold"])
)


def with_levels(ruleset: RuleSet, texts: list[str], catch_all: bool) -> RuleSet:
    """The rule set whose levels are `texts` in order (then, with `catch_all`, the shipped
    last level)."""
    assert ruleset.levels is not None
    fields = dict(ruleset.levels.rules[0].condition.field_types)  # type: ignore[union-attr]
    template = ruleset.levels.rules[0]
    rules = [
        dataclasses.replace(template, name=f"l{i}", condition=parse_condition(text, fields))
        for i, text in enumerate(texts)
    ]
    last = (ruleset.levels.rules[-1],) if catch_all else ()
    return dataclasses.replace(
        ruleset, levels=dataclasses.replace(ruleset.levels, rules=(*rules, *last))
    )


def dictionary(ruleset: RuleSet, order: list[int]) -> dict[str, tuple[str, ...]]:
    """Each ladder's names, an older name first, in an order of their own."""
    found = {}
    for kind in ("tier", "level", "strategy"):
        given_names = ["retired", *dict.fromkeys(rule_names(ruleset, kind))]
        places = sorted(range(len(given_names)), key=lambda i: order[i % len(order)])
        found[kind] = tuple(given_names[i] for i in places)
    return found


def answers(duck: duckdb.DuckDBPyConnection, ruleset: RuleSet, codes: Any) -> set[tuple[Any, ...]]:
    query = compile_classification(
        ruleset, "duckdb", TODAY, "customers", prepared=True, codes=codes
    )
    for statement in query.prepare:
        duck.execute(statement)
    rows = duck.execute(query.sql).fetchall()
    assert query.coded == (codes is not None)
    picked = [query.columns.index(c) for c in OUTPUTS]
    found = set()
    for row in rows:
        values = dict(zip(OUTPUTS, (row[i] for i in picked), strict=True))
        for kind in ("tier", "level", "strategy"):
            if codes is not None and values[kind] is not None:
                values[kind] = codes[kind][values[kind]]
        found.add(tuple(values.values()))
    return found


@settings(max_examples=80, deadline=None)
@given(
    rows=people,
    texts=st.lists(conditions, min_size=1, max_size=4),
    catch_all=st.booleans(),
    order=st.permutations(range(12)),
)
def test_coded_answers_decide_as_the_names(
    rows: list[dict[str, Any]], texts: list[str], catch_all: bool, order: list[int]
) -> None:
    ruleset = with_levels(RULESET, texts, catch_all)
    duck = duckdb.connect()
    duck.execute(_table(ruleset, SQL_TYPES))
    fill(duck, population(rows), sqlite=False)
    named = answers(duck, ruleset, None)
    assert answers(duck, ruleset, dictionary(ruleset, order)) == named


def test_a_tier_read_otherwise_keeps_the_names() -> None:
    ruleset = with_levels(RULESET, ["tier = kind", "tier = 'valuable'"], catch_all=True)
    codes = dictionary(ruleset, list(range(12)))
    query = compile_classification(ruleset, "duckdb", TODAY, "customers", codes=codes)
    assert not query.coded and "'valuable'" in query.sql
    shipped = dictionary(RULESET, list(range(12)))
    coded = compile_classification(RULESET, "duckdb", TODAY, "customers", codes=shipped)
    assert coded.coded and "'valuable'" not in coded.sql


def test_a_dictionary_lacking_a_rules_name_keeps_the_names() -> None:
    codes = dictionary(RULESET, list(range(12)))
    codes["tier"] = tuple(n for n in codes["tier"] if n != "dormant")
    query = compile_classification(RULESET, "duckdb", TODAY, "customers", codes=codes)
    assert not query.coded
