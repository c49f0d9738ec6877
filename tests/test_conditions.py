"""The condition language: what it accepts, where it points when it refuses, what it computes."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from guanxi.engine.errors import ConditionError
from guanxi.engine.language import parse_condition, parse_value

FIELDS = {
    "balance": "number",
    "products_held": "integer",
    "kind": "string",
    "name": "string",
    "opened_on": "date",
    "consent_sms": "boolean",
}
TODAY = dt.date(2026, 11, 28)


def refusal(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, FIELDS)
    return caught.value


@pytest.mark.parametrize(
    ("text", "code", "at"),
    [
        ("balanse >= 100", "unknown-field", "balanse"),
        ("balance > 1; DROP TABLE customers", "forbidden-construct", "; DROP TABLE customers"),
        ("__import__('os')", "unknown-function", "__import__"),
        ("balance > (SELECT 1)", "forbidden-construct", "SELECT"),
        ("LOWER(name) = 'a'", "unknown-function", "LOWER"),
        ("balance >= ", "condition-syntax", ">="),
        ("kind = 'personal", "condition-syntax", "'personal"),
        ("balance > 1 kind = 'a'", "condition-syntax", "="),
        ("balance > 'many'", "type-mismatch", "balance > 'many'"),
        ("opened_on < '2020-01-01'", "type-mismatch", "opened_on < '2020-01-01'"),
        ("balance * 2", "not-a-condition", "balance * 2"),
        ("balance >> 2", "forbidden-construct", ">>"),
        ("kind = 'a' COLLATE nocase", "forbidden-construct", "COLLATE"),
    ],
)
def test_refusals_point_at_the_offending_text(text: str, code: str, at: str) -> None:
    error = refusal(text)
    assert error.code == code
    assert text[error.offset : error.offset + error.length] == at


def test_unknown_field_suggests_the_closest_name() -> None:
    assert refusal("products_helds > 1").hint == "did you mean 'products_held'?"


def test_allowed_constructs_parse_and_record_their_fields() -> None:
    text = (
        "kind IN ('personal', 'corporate') AND NOT consent_sms IS NULL "
        "AND balance BETWEEN 1 AND 1e6 AND name LIKE '张%' AND opened_on >= DATE '2020-01-01' "
        "AND ABS(balance - 3) / 2 > COALESCE(products_held, 0) AND LENGTH(name) <= 40 "
        "AND DAYS_SINCE(opened_on) >= 0"
    )
    condition = parse_condition(text, FIELDS)
    assert condition.fields == {
        "kind",
        "consent_sms",
        "balance",
        "name",
        "opened_on",
        "products_held",
    }


def test_a_value_expression_must_give_a_number() -> None:
    assert parse_value("balance / products_held", FIELDS).fields == {"balance", "products_held"}
    with pytest.raises(ConditionError) as caught:
        parse_value("kind = 'a'", FIELDS)
    assert caught.value.code == "type-mismatch"


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("balance >= 100", {"balance": 100}, True),
        ("balance >= 100", {"balance": None}, False),
        ("NOT balance >= 100", {"balance": None}, False),  # NOT NULL is NULL, not TRUE
        ("balance >= 100 OR kind = 'a'", {"balance": None, "kind": "a"}, True),
        ("balance IS NULL", {}, True),
        ("kind IN ('a')", {"kind": None}, False),
        ("NOT kind IN ('a')", {"kind": None}, False),  # NULL NOT IN (a) is NULL
        ("balance / 0 > 1 OR balance / 0 IS NULL", {"balance": 5}, True),
        ("balance / 2 = 2.5", {"balance": 5}, True),  # real division, never integer
        ("name LIKE '张%'", {"name": "张三"}, True),
        ("name LIKE 'a%'", {"name": "Abc"}, False),  # LIKE is case-sensitive everywhere
        ("consent_sms", {"consent_sms": 1}, True),  # SQLite keeps booleans as 0/1
        ("DAYS_SINCE(opened_on) = 27", {"opened_on": "2026-11-01"}, True),
        ("opened_on < DATE '2026-01-01'", {"opened_on": "2025-12-31"}, True),
    ],
)
def test_python_and_sqlite_agree_on_examples(text: str, record: dict, expected: bool) -> None:  # type: ignore[type-arg]
    condition = parse_condition(text, FIELDS)
    assert condition.evaluate(record, TODAY) is expected
    assert _sqlite_matches(condition.sql("sqlite", TODAY), record) is expected


def _sqlite_matches(where: str, record: dict) -> bool:  # type: ignore[type-arg]
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA case_sensitive_like = ON")
    db.execute(f"CREATE TABLE c ({', '.join(FIELDS)})")
    row = {name: record.get(name) for name in FIELDS}
    db.execute(f"INSERT INTO c VALUES ({', '.join('?' for _ in FIELDS)})", list(row.values()))
    return db.execute(f"SELECT count(*) FROM c WHERE {where}").fetchone()[0] == 1


def test_sql_quotes_fields_and_binds_today_per_dialect() -> None:
    condition = parse_condition("DAYS_SINCE(opened_on) >= 180 AND balance / 2 > 1", FIELDS)
    assert condition.sql("sqlite", TODAY) == (
        "CAST(JULIANDAY('2026-11-28') - JULIANDAY(DATE(\"opened_on\")) AS INTEGER) >= 180 "
        'AND CAST("balance" AS REAL) / NULLIF(2, 0) > 1'
    )
    assert "CAST('2026-11-28' AS DATE) - CAST(\"opened_on\" AS DATE)" in condition.sql(
        "duckdb", TODAY
    )
    with pytest.raises(ValueError, match="unsupported SQL dialect"):
        condition.sql("oracle", TODAY)
