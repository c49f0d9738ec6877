"""The reach analysis never calls a reachable rule unreachable.

Generated conditions over fields with schema bounds, generated customers within those bounds
(NULLs included), and the Python back end as the judge: a rule the analysis says nobody can
reach is matched by nobody; a level naming a tier likewise, with tiers decided first-hit.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.language import parse_condition
from guanxi.engine.language.reach import Domain, Reach, first_hit

FIELDS = {"n": "integer", "x": "number", "k": "string", "g": "boolean", "p": "number"}
DOMAINS = {
    "n": Domain(0, 10),
    "x": Domain(-5, 5),
    "k": Domain(values=frozenset({"a", "b", "c"})),
    "g": Domain(values=frozenset({True, False}), nullable=False),
    "p": Domain(0, 1),
}
TIERS = ("t0", "t1", "t2")
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

records = st.fixed_dictionaries({
    "n": st.none() | st.integers(0, 10),
    "x": st.none() | st.sampled_from([-5.0, -0.5, 0.0, 2.5, 5.0]) | st.floats(-5, 5),
    "k": st.none() | st.sampled_from(["a", "b", "c"]),
    "g": st.booleans(),
    "p": st.none() | st.sampled_from([0.0, 0.3, 0.7, 1.0]) | st.floats(0, 1),
})  # fmt: skip

numbers = st.sampled_from(["-1", "0", "1", "3", "5", "10", "11", "0.5", "70%", "0.001万"])
comparison = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
atoms = st.one_of(
    st.tuples(st.sampled_from(["n", "x", "p"]), comparison, numbers).map(" ".join),
    st.tuples(comparison, st.sampled_from(["'a'", "'b'", "'z'"])).map(lambda t: f"k {t[0]} {t[1]}"),
    st.sampled_from(["g", "NOT g", "k IS NULL", "n IS NULL", "x IS NOT NULL", "k IN ('a', 'b')"]),
    st.sampled_from(["n BETWEEN 3 AND 6", "n IN (1, 2, 12)", "x * 2 > 3", "LENGTH(k) = 1"]),
)


def _step(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(inner, st.sampled_from(["AND", "OR"]), inner)
    return st.one_of(inner.map(lambda c: f"NOT ({c})"), pair.map(lambda t: f"({' '.join(t)})"))


conditions = st.recursive(atoms, _step, max_leaves=4)
tier_tests = st.sampled_from(["t = 't0'", "t <> 't1'", "t IN ('t1', 't2')", "t IS NULL"])
level_conditions = st.tuples(tier_tests, st.sampled_from(["AND", "OR"]), conditions).map(" ".join)


def _first(trees: list[Any], record: dict[str, Any]) -> int | None:
    return next((i for i, tree in enumerate(trees) if tree.evaluate(record)), None)


@PROFILE
@given(texts=st.lists(conditions, min_size=1, max_size=4), people=st.lists(records, max_size=40))
def test_unreachable_rules_of_a_first_hit_list_match_nobody(
    texts: list[str], people: list[dict[str, Any]]
) -> None:
    parsed = [parse_condition(t, FIELDS) for t in texts]
    reaches = first_hit(Reach(DOMAINS), [c.tree for c in parsed])
    hits = {_first(parsed, person) for person in people}
    for index, reach in enumerate(reaches):
        if not reach:
            assert index not in hits, texts


@PROFILE
@given(
    tiers=st.lists(conditions, min_size=3, max_size=3),
    level=level_conditions,
    people=st.lists(records, max_size=40),
)
def test_a_level_naming_a_tier_is_unreachable_only_when_no_one_of_that_tier_matches(
    tiers: list[str], level: str, people: list[dict[str, Any]]
) -> None:
    reach = Reach({**DOMAINS, "t": Domain(values=frozenset(TIERS))})
    parsed = [parse_condition(t, FIELDS) for t in tiers]
    who = dict(zip(TIERS, first_hit(reach, [c.tree for c in parsed]), strict=True))
    condition = parse_condition(level, {**FIELDS, "t": "string"})
    found = reach.substitute(reach.dnf(condition.tree), "t", who)
    if found:
        return
    for person in people:
        tier = _first(parsed, person)
        record = {**person, "t": TIERS[tier] if tier is not None else None}
        assert not condition.evaluate(record), (tiers, level, record)


def test_the_issue_examples_are_unreachable() -> None:
    reach = Reach(DOMAINS)
    for text in [
        "n >= 10 AND n < 5",
        "n > 10",
        "p > 1",
        "x < -5",
        "k <> 'a' AND k NOT IN ('b', 'c')",
    ]:
        assert reach.dnf(parse_condition(text, FIELDS).tree) == [], text
    for text in ["n >= 10", "x * 2 > 100", "k = 'a' OR n > 10", "p IS NULL"]:
        assert reach.dnf(parse_condition(text, FIELDS).tree) != [], text


def test_an_interval_implied_by_earlier_rules_is_unreachable() -> None:
    trees = [parse_condition(t, FIELDS).tree for t in ["x >= 1 OR x IS NULL", "x < 1", "x > 3"]]
    assert first_hit(Reach(DOMAINS), trees)[2] == []
    assert first_hit(Reach({}), [trees[1], trees[2]])[1] != []
