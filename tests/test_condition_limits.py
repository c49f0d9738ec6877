"""Conditions too deep, too long or with numbers out of range are refused with a diagnostic at
their place; every condition that is accepted compiles on every back end."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.errors import ConditionError
from guanxi.engine.events.durable_json import to_durable
from guanxi.engine.language import Condition, parse_condition

FIELDS = {"balance": "number", "kind": "string", "products_held": "integer"}
T = TypeVar("T")


def refusal(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, FIELDS)
    return caught.value


def test_49_nested_parentheses_are_a_diagnostic_not_a_traceback() -> None:
    text = "balance > 1 AND " + "(" * 49 + "products_held >= 3" + ")" * 49
    error = refusal(text)
    assert error.code == "too-complex"
    assert error.offset == text.index("(") + 16  # the first bracket over the limit
    assert "nested too deeply" in error.message


def test_331_ors_in_a_condition_are_a_diagnostic_not_a_traceback() -> None:
    error = refusal(" OR ".join(["balance >= 1"] * 331))
    assert error.code == "too-complex"
    assert error.hint is not None and "IN (" in error.hint


@pytest.mark.parametrize(
    "text",
    ["NOT " * 200 + "balance > 1", "ABS(" * 60 + "balance" + ")" * 60 + " > 1"],
)
def test_deep_not_and_function_nesting_are_diagnostics(text: str) -> None:
    assert refusal(text).code == "too-complex"


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("1e999", "1e999"), ("9" * 5000, "9" * 19 + "…"), ("2e15", "2e15"), ("-1e16", "1e16")],
)
def test_an_infinite_or_huge_number_in_a_condition_is_refused_at_its_column(
    literal: str, shown: str
) -> None:
    text = f"balance > {literal}"
    error = refusal(text)
    assert error.code == "number-out-of-range"
    assert error.offset == text.index(literal.lstrip("-"))
    assert f"the number {shown} is too large" == error.message


def test_numbers_up_to_the_limit_and_plain_nesting_are_accepted() -> None:
    accepted = [
        "balance > 1000000000000000",
        "balance BETWEEN -1e15 AND 1e15",
        "NOT (balance > 1) AND NOT (kind = 'a') AND NOT products_held IS NULL",
        "kind NOT IN ('a', 'b') AND kind NOT LIKE 'x%' AND balance - 1 - 2 - 3 > 0",
        "(" * 15 + "balance > 1" + ")" * 15,
        " AND ".join(["balance > 1"] * 40),
    ]
    for text in accepted:
        assert parse_condition(text, FIELDS).fields


def _with_frames_left(frames: int, call: Callable[[], T]) -> T:
    """`call()` with only `frames` calls left under the recursion limit: what a process with
    the default limit of 1000 has left inside a daemon job or a CLI command (hypothesis
    raises the limit while it runs a test)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return _deeper(sys.getrecursionlimit() - depth - frames, call)


def _deeper(calls: int, call: Callable[[], T]) -> T:
    return call() if calls <= 0 else _deeper(calls - 1, call)


def _compile_everywhere(condition: Condition) -> None:
    for dialect in ("sqlite", "postgres", "duckdb", "spark"):
        condition.sql(dialect)
    condition.evaluate({"balance": 3, "kind": "ab", "products_held": 2})
    to_durable(condition.tree, dict(condition.field_types), lambda name: name)


_LEAVES = st.sampled_from(["balance > 1", "kind = 'a'", "products_held IS NULL", "TRUE"])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 60),  # brackets around the chain
    st.integers(0, 30),  # NOTs before it
    st.lists(_LEAVES, min_size=1, max_size=120),
    st.sampled_from([" AND ", " OR "]),
)
def test_every_condition_is_refused_or_compiles_on_every_back_end(
    brackets: int, nots: int, leaves: list[str], joiner: str
) -> None:
    """No condition, however nested or long, gets past the parser and then breaks a back end:
    it is a ConditionError or it compiles everywhere, with 700 calls left to use."""
    text = "NOT " * nots + "(" * brackets + joiner.join(leaves) + ")" * brackets
    try:
        condition = _with_frames_left(700, lambda: parse_condition(text, FIELDS))
    except ConditionError as error:
        assert error.code == "too-complex"
        return
    _with_frames_left(700, lambda: _compile_everywhere(condition))
