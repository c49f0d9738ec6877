"""Compile a checked condition tree to a Python function of one record.

The function returns the SQL value of the expression, with None for NULL and SQL's
three-valued logic (NULL AND FALSE is FALSE, NULL AND TRUE is NULL). No eval: each node
becomes a small closure. This back end serves `explain`, scenario tests and the parity oracle.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlglot import exp

from guanxi.engine.language.conditions import field_name

Record = Mapping[str, Any]
Fn = Callable[[Record], Any]

_COMPARE: dict[type[exp.Expression], Callable[[Any, Any], bool]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}
_ARITHMETIC: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
}


def compile_python(
    tree: exp.Expression, field_types: Mapping[str, str], today: dt.date | None = None
) -> Fn:
    return _Compiler(field_types, today).compile(tree)


def coerce(value: Any, field_type: str) -> Any:
    """A stored value as Python sees it: SQLite gives 0/1 for booleans, text for dates.
    An empty text is a value for a string field (as in SQL), and missing for any other."""
    if value is None or (value == "" and field_type != "string"):
        return None
    if field_type == "boolean":
        return bool(value)
    if field_type == "date" and isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if field_type == "date" and isinstance(value, dt.datetime):
        return value.date()
    if field_type == "datetime" and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def _number(value: Any) -> Any:
    """NaN (inf - inf, 0 * inf, inf / inf) is no number: NULL, as SQL gives on every back end."""
    return None if value != value else value


def _defined(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda a, b: _number(op(a, b))


def _and(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    """A date compared with a datetime is that date at midnight, as in SQL (Python refuses)."""
    if isinstance(a, dt.datetime) and type(b) is dt.date:
        return a, dt.datetime.combine(b, dt.time(), tzinfo=a.tzinfo)
    if isinstance(b, dt.datetime) and type(a) is dt.date:
        return dt.datetime.combine(a, dt.time(), tzinfo=b.tzinfo), b
    return a, b


def _like(value: str, pattern: str) -> bool:
    """SQL LIKE (case-sensitive, no escape character) in O(len(value) * len(pattern)) at worst.
    A regex with a `.*` for each '%' backtracks: '%@%.%.cn' took seconds on 5,000 characters.
    Instead the pieces between the '%'s are found left to right, each at its first place after
    the one before, the first pinned to the start and the last to the end: taking the first
    place never loses a match, as a later one only leaves less room for the pieces after it."""
    pieces = _pieces(pattern)
    if len(pieces) == 1:
        return pieces[0].regex.fullmatch(value) is not None
    head, *middle, tail = pieces
    start, end = head.width, len(value) - tail.width
    if end < start or not head.regex.match(value) or not tail.regex.match(value, end):
        return False
    for piece in middle:
        found = piece.regex.search(value, start, end)
        if found is None:
            return False
        start = found.end()
    return True


class _Piece(NamedTuple):
    """The part of a LIKE pattern between two '%': one character of text per character."""

    regex: re.Pattern[str]
    width: int


@functools.lru_cache(maxsize=256)
def _pieces(pattern: str) -> tuple[_Piece, ...]:
    """The pieces of a LIKE pattern, each a regex without repetition ('_' is `.`), so none can
    backtrack."""
    return tuple(
        _Piece(re.compile("".join(_char(c) for c in piece), re.DOTALL), len(piece))
        for piece in pattern.split("%")
    )


def _char(c: str) -> str:
    return "." if c == "_" else re.escape(c)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    assert isinstance(value, dt.date)
    return value


class _Compiler:
    def __init__(self, field_types: Mapping[str, str], today: dt.date | None) -> None:
        self.field_types = field_types
        self.today = today

    def compile(self, node: exp.Expression) -> Fn:
        if isinstance(node, exp.Paren):
            return self.compile(node.this)
        if isinstance(node, exp.Column):
            return self.column(field_name(node))
        if isinstance(node, exp.Literal | exp.Boolean | exp.Null | exp.Cast):
            value = self.constant(node)
            return lambda r: value
        if isinstance(node, exp.And | exp.Or):
            return self.logic(node)
        if isinstance(node, tuple(_COMPARE)):
            compare = _COMPARE[type(node)]
            return self.binary(node, lambda a, b: compare(*_comparable(a, b)))
        if isinstance(node, tuple(_ARITHMETIC)):
            return self.binary(node, _defined(_ARITHMETIC[type(node)]))
        return self.special(node)

    def column(self, name: str) -> Fn:
        field_type = self.field_types.get(name, "string")
        return lambda r: coerce(r.get(name), field_type)

    def constant(self, node: exp.Expression) -> Any:
        if isinstance(node, exp.Null):
            return None
        if isinstance(node, exp.Boolean):
            return bool(node.this)
        if isinstance(node, exp.Cast):
            return dt.date.fromisoformat(node.this.this)
        assert isinstance(node, exp.Literal)
        if node.is_string:
            return str(node.this)
        text = str(node.this)
        return float(text) if any(c in text for c in ".eE") else int(text)

    def logic(self, node: exp.Expression) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)
        combine = _and if isinstance(node, exp.And) else _or
        return lambda r: combine(left(r), right(r))

    def binary(self, node: exp.Expression, op: Callable[[Any, Any], Any]) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)

        def apply(r: Record) -> Any:
            a, b = left(r), right(r)
            return None if a is None or b is None else op(a, b)

        return apply

    def special(self, node: exp.Expression) -> Fn:
        if isinstance(node, exp.Not):
            inner = self.compile(node.this)
            return lambda r: None if (v := inner(r)) is None else not v
        if isinstance(node, exp.Is):
            inner = self.compile(node.this)
            return lambda r: inner(r) is None
        if isinstance(node, exp.In):
            return self.membership(node)
        if isinstance(node, exp.Between):
            low = exp.GTE(this=node.this, expression=node.args["low"])
            high = exp.LTE(this=node.this, expression=node.args["high"])
            return self.compile(exp.And(this=low, expression=high))
        if isinstance(node, exp.Like):
            return self.binary(node, _like)
        if isinstance(node, exp.Div):
            return self.divide(node)
        return self.function(node)

    def membership(self, node: exp.In) -> Fn:
        value = self.compile(node.this)
        options = [self.compile(e) for e in node.expressions]

        def member(r: Record) -> Any:
            v = value(r)
            if v is None:
                return None
            found = [o(r) for o in options]
            if v in [f for f in found if f is not None]:
                return True
            return None if None in found else False

        return member

    def divide(self, node: exp.Div) -> Fn:
        left, right = self.compile(node.this), self.compile(node.expression)

        def divide(r: Record) -> Any:
            a, b = left(r), right(r)
            return None if a is None or b is None or b == 0 else _number(float(a) / b)

        return divide

    def function(self, node: exp.Expression) -> Fn:
        if isinstance(node, exp.Neg):
            inner = self.compile(node.this)
            return lambda r: None if (v := inner(r)) is None else -v
        if isinstance(node, exp.Abs):
            inner = self.compile(node.this)
            return lambda r: None if (v := inner(r)) is None else abs(v)
        if isinstance(node, exp.Length):
            inner = self.compile(node.this)
            return lambda r: None if (v := inner(r)) is None else len(v)
        if isinstance(node, exp.Coalesce):
            parts = [self.compile(e) for e in [node.this, *node.expressions]]
            return lambda r: next((v for p in parts if (v := p(r)) is not None), None)
        return self.days_since(node)

    def days_since(self, node: exp.Expression) -> Fn:
        if self.today is None:
            raise ValueError("DAYS_SINCE needs today's date; pass today= when compiling")
        today, inner = self.today, self.compile(node.expressions[0])
        return lambda r: None if (v := inner(r)) is None else (today - _as_date(v)).days
