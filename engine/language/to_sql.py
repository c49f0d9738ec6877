"""Compile a checked condition tree to SQL for one dialect.

The rewrites make every dialect give the same answer as the Python back end:
division is real division and x/0 is NULL (SQLite divides integers and DuckDB gives inf),
numbers with a decimal point are binary floating point as in SQLite and Python (not DECIMAL),
and DAYS_SINCE becomes the dialect's date arithmetic against a bound `today`.
LIKE is case-sensitive everywhere; SQLite connections set `PRAGMA case_sensitive_like`.
PostgreSQL and Spark read a backslash in a LIKE pattern as an escape; their patterns get every
backslash doubled, so a backslash matches itself as in SQLite, DuckDB and Python.
A +, -, * or / that may involve a double gives NULL for NaN (inf - inf, 0 * inf), as SQLite
does by itself, and on PostgreSQL ±Infinity and ±0 where it would raise for a double that
overflows or underflows (pg_arithmetic.py). With `field_types`, arithmetic on integers alone
is left as written, but on PostgreSQL, DuckDB and Spark in doubles (exact up to 2^53), so that
integers near 2^63 do not overflow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlglot import exp

from guanxi.engine.language import pg_arithmetic
from guanxi.engine.language.conditions import field_name

DIALECTS = ("sqlite", "duckdb", "postgres", "spark")


def to_sql(
    tree: exp.Expression,
    dialect: str = "sqlite",
    today: dt.date | None = None,
    field_types: Mapping[str, str] | None = None,
) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unsupported SQL dialect {dialect!r}; choose one of {DIALECTS}")
    quoted = tree.copy().transform(_quote_column)
    return _rewrite_all(quoted, dialect, today, field_types or {}).sql(dialect=dialect)


def _rewrite_all(
    tree: exp.Expression, dialect: str, today: dt.date | None, field_types: Mapping[str, str]
) -> exp.Expression:
    """Rewrite every node, children before their parent: a node the rewrite replaces (a
    division) keeps its rewritten operands (a nested division, a DAYS_SINCE)."""
    nodes = [node for node in tree.walk() if isinstance(node, exp.Expression)]
    integral = {id(n) for n in nodes if _integral(n, field_types)}
    for node in reversed(nodes):
        new = _rewrite(node, dialect, today)
        if id(node) in integral and dialect != "sqlite":
            new = _widened(new)
        if isinstance(node, pg_arithmetic.GUARDED) and id(node) not in integral:
            new = _defined(new, dialect)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def _quote_column(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Column):
        return exp.column(field_name(node), quoted=True)
    return node


def _rewrite(node: exp.Expression, dialect: str, today: dt.date | None) -> exp.Expression:
    if isinstance(node, exp.Div):
        numerator = exp.Cast(this=node.this.copy(), to=exp.DataType.build("DOUBLE"))
        denominator = exp.Nullif(this=node.expression.copy(), expression=exp.Literal.number(0))
        return exp.Div(this=numerator, expression=denominator)
    if dialect != "sqlite" and _is_decimal(node):
        # DuckDB, PostgreSQL and Spark read 0.1 as an exact DECIMAL; SQLite and Python use
        # binary floating point, so n * 0.1 would differ in the last digit.
        return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "DAYS_SINCE":
        return _days_since(node.expressions[0], dialect, today)
    if dialect in ("postgres", "spark") and isinstance(node, exp.Like):
        return exp.Like(this=node.this.copy(), expression=_literal_backslashes(node.expression))
    return node


def _defined(operation: exp.Expression, dialect: str) -> exp.Expression:
    """A double +, -, * or /: NaN (inf - inf, 0 * inf) is NULL, as SQLite makes it; on
    PostgreSQL also ±Infinity and ±0 where it would raise."""
    if dialect == "postgres":
        return pg_arithmetic.guarded(operation)
    if dialect == "sqlite":
        return operation
    nan = exp.Cast(this=exp.Literal.string("NaN"), to=exp.DataType.build("DOUBLE"))
    return exp.Nullif(this=operation.copy(), expression=nan)


def _widened(operation: exp.Expression) -> exp.Expression:
    """An integer +, - or * computed in doubles: integers near 2^63 would overflow 64 bits,
    which PostgreSQL, DuckDB and Spark refuse for the whole query (SQLite goes over to a
    double by itself, Python to a larger integer)."""
    if not isinstance(operation, exp.Add | exp.Sub | exp.Mul):
        return operation
    widened = exp.Cast(this=operation.this.copy(), to=exp.DataType.build("DOUBLE"))
    return operation.__class__(this=widened, expression=operation.expression.copy())


def _integral(node: exp.Expression, field_types: Mapping[str, str]) -> bool:
    """Whether a numeric node is an integer on every back end (so PostgreSQL's integer
    arithmetic applies, which neither gives Infinity nor needs to)."""
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs):
        return _integral(node.this, field_types)
    if isinstance(node, exp.Column):
        return field_types.get(field_name(node)) == "integer"
    if isinstance(node, exp.Literal):
        return not node.is_string and not _is_decimal(node)
    if isinstance(node, exp.Add | exp.Sub | exp.Mul):
        return _integral(node.this, field_types) and _integral(node.expression, field_types)
    if isinstance(node, exp.Coalesce):
        parts = [node.this, *node.expressions]
        return all(isinstance(p, exp.Null) or _integral(p, field_types) for p in parts)
    if isinstance(node, exp.Anonymous):  # DAYS_SINCE
        return str(node.this).upper() == "DAYS_SINCE"
    return isinstance(node, exp.Length)


def _literal_backslashes(pattern: exp.Expression) -> exp.Expression:
    """A LIKE pattern in which PostgreSQL and Spark read a backslash as itself, not as an
    escape."""
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return exp.Literal.string(str(pattern.this).replace("\\", "\\\\"))
    doubled = [exp.Literal.string("\\"), exp.Literal.string("\\\\")]
    return exp.Anonymous(this="REPLACE", expressions=[pattern.copy(), *doubled])


def _is_decimal(node: exp.Expression) -> bool:
    if not isinstance(node, exp.Literal) or node.is_string:
        return False
    return any(c in str(node.this) for c in ".eE")


def _days_since(value: exp.Expression, dialect: str, today: dt.date | None) -> exp.Expression:
    if today is None:
        raise ValueError("DAYS_SINCE needs today's date; pass today= when compiling")
    day = exp.Literal.string(today.isoformat())
    if dialect == "sqlite":
        julian_today = exp.Anonymous(this="julianday", expressions=[day])
        julian_then = exp.Anonymous(
            this="julianday", expressions=[exp.Anonymous(this="date", expressions=[value])]
        )
        difference = exp.Sub(this=julian_today, expression=julian_then)
        return exp.Cast(this=difference, to=exp.DataType.build("INT"))
    as_date = exp.DataType.build("DATE")
    if dialect == "spark":
        return exp.Anonymous(
            this="datediff",
            expressions=[exp.Cast(this=day, to=as_date), exp.Cast(this=value, to=as_date)],
        )
    return exp.Paren(
        this=exp.Sub(
            this=exp.Cast(this=day, to=as_date), expression=exp.Cast(this=value, to=as_date)
        )
    )
