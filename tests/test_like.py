"""LIKE in the Python back end: the same answers as SQLite, in time linear in the value."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.language import parse_condition
from tests.conftest import POSTGRES

TODAY = dt.date(2026, 11, 28)
FIELDS = {"s": "string"}


def python_like(value: str, pattern: str) -> bool:
    return parse_condition(f"s LIKE '{pattern}'", FIELDS).evaluate({"s": value}, TODAY) is True


def sqlite_like(value: str, pattern: str) -> bool:
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA case_sensitive_like = ON")
    return bool(db.execute("SELECT ? LIKE ?", (value, pattern)).fetchone()[0])


ADDRESSES = {
    "at-dot": "@." * 2_500,  # every '@' and '.' a place the old regex tried again
    "a@b.": "a@b." * 1_250,
    "one-address": "x" * 4_990 + "@bank.cn",
    "runs": "@" * 2_500 + "." * 2_500 + "cn",
}


@pytest.mark.parametrize("value", ADDRESSES.values(), ids=ADDRESSES.keys())
def test_like_with_several_percents_on_a_5000_character_value_finishes_at_once(
    value: str,
) -> None:
    pattern = "%@%.%.cn"
    started = time.perf_counter()
    answer = python_like(value, pattern)
    elapsed = time.perf_counter() - started
    assert answer is sqlite_like(value, pattern)
    assert elapsed < 1.0, f"LIKE took {elapsed:.2f} s on {len(value):,} characters"


CHARS = "aA@._%张\\\n"  # the wildcards, a backslash, case and a newline


@settings(max_examples=400, deadline=None)
@given(value=st.text(alphabet=CHARS, max_size=30), pattern=st.text(alphabet=CHARS, max_size=8))
def test_like_agrees_with_sqlite_on_generated_patterns_and_values(value: str, pattern: str) -> None:
    assert python_like(value, pattern) is sqlite_like(value, pattern)


@pytest.fixture(scope="module")
def postgres() -> Iterator[psycopg.Connection]:
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        yield connection


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=CHARS, max_size=12), pattern=st.text(alphabet=CHARS, max_size=6))
def test_a_backslash_in_a_like_pattern_is_itself_on_postgresql_as_in_python(
    postgres: psycopg.Connection, value: str, pattern: str
) -> None:
    where = parse_condition(f"s LIKE '{pattern}'", FIELDS).sql("postgres", TODAY)
    query = f"SELECT {where.replace('%', '%%')} FROM (SELECT %s::text AS s) AS t"
    [(answer,)] = postgres.execute(query, (value,)).fetchall()
    assert python_like(value, pattern) is answer
