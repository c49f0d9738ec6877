"""The few SQL constructs SQLite and PostgreSQL spell differently, each written once here.

The engine writes one statement for every store; where the dialects differ, it asks this
module for the piece (`dialect` is the store's `Store.dialect`: 'sqlite' or 'postgres').
Instants are ISO-8601 UTC text in both stores, so comparing them stays plain text comparison.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BUCKET_FUNCTION = "gx_bucket"


def temp_table(name: str, dialect: str) -> str:
    """A temporary table by its qualified name (to drop it without touching a real table)."""
    return f"{'temp' if dialect == 'sqlite' else 'pg_temp'}.{name}"


def unindexed(column: str, dialect: str) -> str:
    """`column`, kept off the index by SQLite's planner with a unary `+`. PostgreSQL chooses by
    its statistics and has no `+` for text."""
    return f"+{column}" if dialect == "sqlite" else column


def ordered_join(dialect: str) -> str:
    """A join whose left side SQLite must read first (its CROSS JOIN); PostgreSQL plans the
    order itself and allows no ON after CROSS JOIN."""
    return "CROSS JOIN" if dialect == "sqlite" else "JOIN"


def epoch_seconds(instant: str, dialect: str) -> str:
    """Whole seconds since 1970 of the ISO instant (text) `instant`."""
    if dialect == "sqlite":
        return f"unixepoch({instant})"
    return f"CAST(EXTRACT(EPOCH FROM CAST({instant} AS TIMESTAMPTZ)) AS BIGINT)"


def contains(text: str, parameter: str, dialect: str) -> str:
    """Whether `text` holds the value bound to `parameter`, letter case counting (SQLite's
    LIKE ignores the case of ASCII letters)."""
    function = "instr" if dialect == "sqlite" else "strpos"
    return f"{function}({text}, :{parameter}) > 0"


def json_array_rows(parameter: str, dialect: str) -> str:
    """A FROM item with one row per element of the JSON array bound to `parameter`, as the
    column `value`."""
    if dialect == "sqlite":
        return f"json_each(:{parameter})"
    return f"jsonb_array_elements(CAST(:{parameter} AS JSONB)) AS j(value)"


def json_item(index: int, dialect: str, sql_type: str = "TEXT") -> str:
    """Element `index` of the JSON array `value` (a row of `json_array_rows`), as `sql_type`."""
    if dialect == "sqlite":
        return f"json_extract(value, '$[{index}]')"
    return f"CAST(value ->> {index} AS {sql_type})"


def json_texts(parameter: str, dialect: str, sql_type: str = "TEXT") -> str:
    """A subquery: the elements of the JSON array bound to `parameter`, as `sql_type` (TEXT,
    or BIGINT for an array of ids)."""
    if dialect == "sqlite":
        return f"SELECT value FROM json_each(:{parameter})"
    elements = f"jsonb_array_elements_text(CAST(:{parameter} AS JSONB))"
    return f"SELECT {elements}" if sql_type == "TEXT" else f"SELECT CAST({elements} AS {sql_type})"


def indexed_by(table: str, index: str, dialect: str) -> str:
    """`table`, read through `index` in SQLite (its planner may otherwise choose a worse one);
    PostgreSQL chooses by its statistics."""
    return f"{table} INDEXED BY {index}" if dialect == "sqlite" else table


def skip_locked(dialect: str) -> str:
    """The end of a SELECT that locks the rows it returns and passes over rows another
    transaction holds (PostgreSQL). SQLite's write transaction locks the whole database."""
    return "" if dialect == "sqlite" else " FOR UPDATE SKIP LOCKED"


def transaction_lock(key: int, dialect: str) -> str:
    """A statement taking the lock `key` (of this schema) until the transaction ends; '' where
    a write transaction is exclusive already (SQLite's holds the whole database)."""
    if dialect == "sqlite":
        return ""
    return f"SELECT pg_advisory_xact_lock({int(key)}, hashtext(current_schema()))"


def column_names(table: str, dialect: str) -> str:
    """A query for the columns of `table` (in the current schema), one row each, as `name`;
    no rows when there is no such table."""
    if dialect == "sqlite":
        return f"SELECT name FROM pragma_table_info('{table}')"
    return (
        "SELECT column_name AS name FROM information_schema.columns"
        f" WHERE table_schema = current_schema() AND table_name = '{table}'"
    )


def not_plain_ascii(text: str, dialect: str) -> str:
    """SQL true when the text expression `text` holds a character other than printable ASCII
    (a space is one): the only ids that NFKC or stripping could change (engine/ids.py)."""
    if dialect == "sqlite":
        return f"{text} GLOB '*[^!-~]*'"
    return f"{text} ~ '[^!-~]'"


def read_only(dialect: str, on: bool = True) -> str:
    """The statement that makes the connection's work from then on read-only (the database
    refuses any write), or, `on` False, writable again."""
    if dialect == "sqlite":
        return f"PRAGMA query_only = {'ON' if on else 'OFF'}"
    return f"SET SESSION CHARACTERISTICS AS TRANSACTION READ {'ONLY' if on else 'WRITE'}"


def bucket(text: str) -> float:
    """A number in [0, 1) drawn from `text` alone: the first 32 bits of its MD5 over 2^32. The
    same in Python, SQLite (registered as gx_bucket) and PostgreSQL (bucket_sql)."""
    return (
        int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:8], 16) / 2**32
    )  # a spread, not a secret


def bucket_sql(text: str, dialect: str) -> str:
    """SQL for `bucket` of the text expression `text`."""
    if dialect == "sqlite":
        return f"{BUCKET_FUNCTION}({text})"
    bits = f"CAST(('x' || substr(md5({text}), 1, 8)) AS BIT(32))"
    return f"(CAST({bits} AS BIGINT) / 4294967296.0)"


def quoted_name(name: str) -> str:
    """A column's name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


# A sum of doubles that is the same on every store and in Python, whatever the order of the
# rows: PostgreSQL's SUM raises "value out of range" where the running sum overflows, and the
# others give ±Infinity or not depending on which values come first (1e308 + 1e308 - 1e308).
# Values of at least 2^960 (no amount comes near) are summed apart, scaled down by 2^128
# (exact), so neither part can overflow; the total is scaled back, ±Infinity past the
# largest double. Without such values the sum is SUM(value) as written.
_HUGE = 2.0**960
_SCALE = 2.0**128
_NEGLIGIBLE = 2.0**-800  # beside a part of 2^832 or more; scaled down it could underflow
_MAX_SCALED = 1.7976931348623157e308 / _SCALE


def _double(value: float, dialect: str) -> str:
    """A double constant, read exactly (repr is the shortest exact decimal)."""
    if dialect == "sqlite":
        return repr(value) if math.isfinite(value) else f"{'-' if value < 0 else ''}9e999"
    return f"CAST('{value!r}' AS {'DOUBLE PRECISION' if dialect == 'postgres' else 'DOUBLE'})"


def double_sum_terms(value: str, dialect: str) -> tuple[str, str]:
    """What to SUM for the sum of the double `value`: its part below 2^960 and its part at
    2^960 or more, scaled down. `double_sum_total` combines the two sums."""
    huge = f"ABS({value}) >= {_double(_HUGE, dialect)}"
    return (
        f"CASE WHEN {huge} THEN NULL ELSE {value} END",
        f"CASE WHEN {huge} THEN {value} / {_double(_SCALE, dialect)} END",
    )


def double_sum_total(small: str, huge: str, dialect: str) -> str:
    """The sum of a double from the sums of its `double_sum_terms`."""
    rest, scale = f"COALESCE({small}, 0)", _double(_SCALE, dialect)
    negligible = f"ABS({rest}) < {_double(_NEGLIGIBLE, dialect)}"
    scaled = f"({huge} + CASE WHEN {negligible} THEN 0 ELSE {rest} / {scale} END)"
    return (
        f"(CASE WHEN {huge} IS NULL THEN {small} WHEN {scaled} = 0 THEN {rest}"
        f" WHEN ABS({scaled}) > {_double(_MAX_SCALED, dialect)}"
        f" THEN SIGN({scaled}) * {_double(math.inf, dialect)} ELSE {scaled} * {scale} END)"
    )


def double_sum(value: str, dialect: str) -> str:
    """SUM of the double `value` as `sum_of_doubles` gives it: ±Infinity where it overflows."""
    small, huge = double_sum_terms(value, dialect)
    return double_sum_total(f"SUM({small})", f"SUM({huge})", dialect)


@dataclass(frozen=True)
class DoubleSum:
    """A sum of doubles kept as the two sums of `double_sum_terms`, so that sums of groups
    add up, in any order, to what one `double_sum` over all their values gives (added as
    floats, 1.7e308 + 1.7e308 - 1.7e308 is infinite or not by the order of the groups)."""

    small: float | None = None
    huge: float | None = None  # the values of at least 2^960, scaled down

    @classmethod
    def of(cls, values: Iterable[float]) -> DoubleSum:
        small: float | None = None
        huge: float | None = None
        for value in values:
            if abs(value) >= _HUGE:
                huge = (huge or 0.0) + value / _SCALE
            else:
                small = (small or 0.0) + value
        return cls(small, huge)

    @classmethod
    def read(cls, small: Any, huge: Any) -> DoubleSum:
        """The sum from the SQL sums of its two terms (NULL where no value had that part)."""
        return cls(None if small is None else float(small), None if huge is None else float(huge))

    def __add__(self, other: DoubleSum) -> DoubleSum:
        return DoubleSum(_plus(self.small, other.small), _plus(self.huge, other.huge))

    @property
    def value(self) -> float | None:
        """The sum (None for no values, as SUM gives NULL); ±Infinity where it overflows."""
        if self.huge is None:
            return self.small
        rest = self.small or 0.0
        scaled = self.huge + (0.0 if abs(rest) < _NEGLIGIBLE else rest / _SCALE)
        if scaled == 0:
            return rest
        if abs(scaled) > _MAX_SCALED:
            return math.copysign(math.inf, scaled)
        return scaled * _SCALE


def _plus(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def sum_of_doubles(values: Iterable[float]) -> float | None:
    """The sum `double_sum` gives in SQL (None for no values, as SUM gives NULL)."""
    return DoubleSum.of(values).value


def as_double(value: str, dialect: str) -> str:
    """`value` as a double (a sum of integers near 2^63 then gives a double, as in SQLite when
    it overflows, instead of an error)."""
    return f"CAST({value} AS {'REAL' if dialect == 'sqlite' else 'DOUBLE PRECISION'})"
