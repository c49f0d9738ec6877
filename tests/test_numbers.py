"""Numbers as bankers write them: 50万, 1.2亿, 70% compile to plain numbers; 500,000 is refused
with its rewrite, and never with a hint about a missing AND or OR."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.errors import ConditionError
from guanxi.engine.language import parse_condition
from guanxi.engine.language.numbers import plain_number
from guanxi.engine.ruleset.tables import cell_test

FIELDS = {"balance": "number", "pct": "number", "n": "integer", "kind": "string"}


def _error(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, FIELDS)
    return caught.value


@pytest.mark.parametrize(
    ("written", "plain"),
    [
        ("balance >= 50万", "balance >= 500000"),
        ("balance >= 1.2亿", "balance >= 120000000"),
        ("balance >= 5万亿", "balance >= 5000000000000"),
        ("pct >= 70%", "pct >= 0.7"),
        ("pct < 3% OR pct > 0.5%", "pct < 0.03 OR pct > 0.005"),
        ("balance > -2.5万 AND n IN (1万, 2万)", "balance > -25000 AND n IN (10000, 20000)"),
        ("balance >= 50 万", "balance >= 500000"),
        ("n IN (100,200)", "n IN (100,200)"),  # two values, as SQL reads them
    ],
)
def test_units_compile_to_the_plain_number(written: str, plain: str) -> None:
    condition = parse_condition(written, FIELDS)
    assert condition.text == written
    assert condition.compiled_text == plain
    assert condition.sql() == parse_condition(plain, FIELDS).sql()


def test_the_plain_number_is_exact_and_keeps_its_kind() -> None:
    assert parse_condition("balance = 1.2亿", FIELDS).evaluate({"balance": 120_000_000})
    assert parse_condition("pct = 7%", FIELDS).evaluate({"pct": 0.07})
    assert plain_number("0.1", "万") == "1000"  # an integer literal, not 1000.0000000000001


@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=4), st.sampled_from(["万", "亿", "%"])
)
def test_written_out_numbers_are_exact(value: Decimal, unit: str) -> None:
    shift = {"万": 4, "亿": 8, "%": -2}[unit]
    assert Decimal(plain_number(str(value), unit)) == value.scaleb(shift)


@pytest.mark.parametrize(
    ("text", "span", "message", "hint"),
    [
        ("balance >= 500,000", "500,000", "has a comma inside", "write 500000 (no thousands"),
        ("balance >= 1,000,000 AND n > 1", "1,000,000", "has a comma", "write 1000000 (no"),
        ("n IN (1,000, 2)", "1,000", "the number 1000 or the values 1 and 000", "write 1000"),
        ("n IN (2,050)", "2,050", "the number 2050 or the values 2 and 050", "write 2050"),
        ("balance >= 500,00", "500,00", "a comma cannot be inside", "without commas"),
        ("balance >= 5万万", "5万万", "'5万万' is not a number", "write 万 or 亿 once"),
        ("balance >= 万", "万", "'万' needs a number right before it", "50万 = 500000"),
        ("balance >= 50万元", "50万元", "is not a number", "leave out '元': write 50万"),
        ("balance >= 50万AND n > 1", "50万AND", "a space is missing after 50万", "write 50万 AND"),
        ("balance >= 50w", "50w", "'50w' is not a number", "for 万 write 50万"),
        ("balance >= 1.5k", "1.5k", "'1.5k' is not a number", "write 1500"),
        ("balance >= 50元", "50元", "'50元' is not a number", "leave out '元': write 50"),
        ("balance >= 1 000 000", "1 000 000", "a space inside the number", "write 1000000 (no"),
    ],
)
def test_misspelt_numbers_point_at_the_number(
    text: str, span: str, message: str, hint: str
) -> None:
    error = _error(text)
    assert text[error.offset : error.offset + error.length] == span
    assert message in error.message
    assert error.hint is not None and hint in error.hint
    assert "AND or OR" not in error.hint


def test_an_error_after_a_unit_points_at_what_was_written() -> None:
    error = _error("balance >= 1.2亿 AND balanse > 1")
    assert error.code == "unknown-field"
    assert "balance >= 1.2亿 AND balanse > 1"[error.offset :].startswith("balanse")


def test_a_number_too_large_with_its_unit_is_out_of_range() -> None:
    error = _error("balance >= 1e12亿")
    assert error.code == "number-out-of-range"
    assert (error.offset, error.length) == (11, 5)


def test_percent_between_operands_is_still_the_forbidden_modulo() -> None:
    assert _error("n % 2 = 0").code == "forbidden-construct"


@given(
    st.integers(1, 999),
    st.lists(st.integers(0, 999).map(lambda g: f"{g:03d}"), min_size=1, max_size=3),
    st.sampled_from(["balance >= {}", "{} < balance AND n > 1", "(balance = {})"]),
)
def test_a_thousands_separator_is_never_a_missing_and_or_or(
    head: int, groups: list[str], template: str
) -> None:
    written = ",".join([str(head), *groups])
    error = _error(template.format(written))
    assert error.code == "number-format"
    assert error.hint == f"write {head}{''.join(groups)} (no thousands separator)"


@pytest.mark.parametrize(
    ("cell", "test"),
    [
        (">= 50万", "balance >= 500000"),
        (">= 70%", "balance >= 0.7"),
        (">= 500,000", "balance >= 500000"),  # one test in the cell: the comma groups digits
        ("[1万..1.5万]", "balance BETWEEN 10000 AND 15000"),
        ("100, 200", "balance IN (100, 200)"),
    ],
)
def test_table_cells_take_numbers_as_bankers_write_them(cell: str, test: str) -> None:
    assert cell_test("balance", cell, "number")[0] == test


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1,000, 5", "'1,000' could be the number 1000 or the values 1 and 000"),
        (">= 5万万", "'5万万' is not a number"),
        (">= 1e20", "the number 1e20 is too large"),
    ],
)
def test_table_cells_refuse_a_misspelt_number(cell: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cell_test("balance", cell, "number")
