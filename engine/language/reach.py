"""Which customers can a condition reach? A small interval and value-set analysis.

A condition becomes a disjunction of conjunctions (DNF); each conjunction bounds some fields:
an interval, a set of allowed or excluded values, NULL or not NULL. A field's domain (the
schema's `min`/`max` and `values`, [0, 1] for a percentile) bounds it further. A conjunction
that no value can satisfy is dropped; a condition left with none can never be TRUE.

The analysis only ever over-approximates: what it does not understand (arithmetic, functions,
DAYS_SINCE, LIKE, two fields compared) is "any customer", and a DNF grown past MAX_TERMS gives up
the same way. So "no conjunction left" is a proof, never a guess.

SQL's three-valued logic is followed with four questions: is the condition TRUE, FALSE, not
TRUE (FALSE or NULL: a first-hit list passes the customer on) or not FALSE. `x >= 5` is not
TRUE when x < 5 or x is NULL.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlglot import exp

from guanxi.engine.language.conditions import field_name

Mode = Literal["true", "false", "not_true", "not_false"]
MAX_TERMS = 256
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
INF = math.inf
_FLIP = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte", "eq": "eq", "neq": "neq"}
_OPPOSITE: dict[Mode, Mode] = {
    "true": "false",
    "false": "true",
    "not_true": "not_false",
    "not_false": "not_true",
}


@dataclass(frozen=True)
class Bound:
    """What one conjunction requires of one field. `null`: True must be NULL, False must not."""

    low: float = -INF
    low_in: bool = False
    high: float = INF
    high_in: bool = False
    allowed: frozenset[Any] | None = None
    excluded: frozenset[Any] = frozenset()
    null: bool | None = None

    def describe(self, name: str) -> str:
        """The bound as a condition would say it, e.g. `days_idle >= 180`."""
        parts = []
        if self.null:
            return f"{name} IS NULL"
        if self.low > -INF:
            parts.append(f"{name} {'>=' if self.low_in else '>'} {_shown(self.low)}")
        if self.high < INF:
            parts.append(f"{name} {'<=' if self.high_in else '<'} {_shown(self.high)}")
        if self.allowed is not None:
            values = sorted(self.allowed - self.excluded, key=str)
            if len(values) == 1:
                parts.append(f"{name} = {_shown(values[0])}")
            else:
                parts.append(f"{name} IN ({', '.join(_shown(v) for v in values)})")
        elif self.excluded:
            parts.extend(f"{name} <> {_shown(v)}" for v in sorted(self.excluded, key=str))
        return " AND ".join(parts) or f"{name} IS NOT NULL"


@dataclass(frozen=True)
class Domain:
    """The values a field can hold: from the schema (`min`, `max`, `values`) or by nature."""

    low: float = -INF
    high: float = INF
    values: frozenset[Any] | None = None
    nullable: bool = True  # False for a required field, and for gold


Term = Mapping[str, Bound]
DNF = list[dict[str, Bound]]
ANY: DNF = [{}]  # every customer: what the analysis does not understand


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"'{value}'"
    return f"{value:g}" if isinstance(value, float) else str(value)


def meet(a: Bound, b: Bound) -> Bound | None:
    """Both bounds at once; None when nothing satisfies both."""
    if a.null is not None and b.null is not None and a.null != b.null:
        return None
    low = max((a.low, not a.low_in), (b.low, not b.low_in))
    high = min((a.high, a.high_in), (b.high, b.high_in))
    if a.allowed is None or b.allowed is None:
        allowed = a.allowed if b.allowed is None else b.allowed
    else:
        allowed = a.allowed & b.allowed
    return Bound(
        low[0],
        not low[1],
        high[0],
        high[1],
        allowed,
        a.excluded | b.excluded,
        a.null if a.null is not None else b.null,
    )


def possible(bound: Bound, domain: Domain | None) -> bool:
    """Some value of the field's domain satisfies the bound."""
    domain = domain or Domain()
    if bound.null:
        return domain.nullable and bound == Bound(null=True)
    low, low_in = max((bound.low, bound.low_in), (domain.low, True), key=lambda p: (p[0], not p[1]))
    high, high_in = min((bound.high, bound.high_in), (domain.high, True))
    numeric = bound.low > -INF or bound.high < INF
    if numeric and (low > high or (low == high and not (low_in and high_in))):
        return False
    if bound.allowed is not None:
        left = bound.allowed - bound.excluded
        return any(not _number(v) or _within(v, low, low_in, high, high_in) for v in left)
    if domain.values is not None:
        return bool(domain.values - bound.excluded)
    return True


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _within(value: Any, low: float, low_in: bool, high: float, high_in: bool) -> bool:
    above = value > low or (low_in and value == low)
    below = value < high or (high_in and value == high)
    return above and below


class Reach:
    """DNF of conditions over fields with known domains."""

    def __init__(self, domains: Mapping[str, Domain]) -> None:
        self.domains = domains

    # --- combining ------------------------------------------------------------------------

    def both(self, a: DNF, b: DNF) -> DNF:
        found: DNF = []
        for left in a:
            for right in b:
                term = self.conjoin(left, right)
                if term is not None:
                    found.append(term)
                    if len(found) > MAX_TERMS:
                        return ANY
        return found

    def either(self, a: DNF, b: DNF) -> DNF:
        if {} in a or {} in b:
            return ANY
        found = a + b
        return found if len(found) <= MAX_TERMS else ANY

    def all_of(self, parts: Iterable[DNF]) -> DNF:
        result = ANY
        for part in parts:
            result = self.both(result, part)
            if not result:
                return result
        return result

    def conjoin(self, a: Term, b: Term) -> dict[str, Bound] | None:
        term = dict(a)
        for name, bound in b.items():
            merged = meet(term[name], bound) if name in term else bound
            if merged is None or not possible(merged, self.domains.get(name)):
                return None
            term[name] = merged
        return term

    def term(self, name: str, bound: Bound) -> DNF:
        return [{name: bound}] if possible(bound, self.domains.get(name)) else []

    # --- conditions -----------------------------------------------------------------------

    def dnf(self, node: exp.Expression | None, mode: Mode = "true") -> DNF:
        """The customers for whom `node` is TRUE (FALSE, not TRUE, not FALSE), or more."""
        if node is None:  # a rule without a condition: always TRUE
            return ANY if mode in ("true", "not_false") else []
        if isinstance(node, exp.Paren):
            return self.dnf(node.this, mode)
        if isinstance(node, exp.Not):
            return self.dnf(node.this, _OPPOSITE[mode])
        if isinstance(node, exp.And | exp.Or):
            left, right = self.dnf(node.this, mode), self.dnf(node.expression, mode)
            conjunctive = isinstance(node, exp.And) == (mode in ("true", "not_false"))
            return self.both(left, right) if conjunctive else self.either(left, right)
        if isinstance(node, exp.Boolean):
            truth = bool(node.this)
            return ANY if truth == (mode in ("true", "not_false")) else []
        return self.leaf(node, mode)

    def leaf(self, node: exp.Expression, mode: Mode) -> DNF:
        found = atom(node)
        if found is None:
            return ANY
        name, bound = found
        if mode in ("true", "not_false"):
            result = self.term(name, bound)
            if mode == "not_false" and not _is_null_test(bound):
                result = self.either(result, self.term(name, Bound(null=True)))
            return result
        result = []
        for negated in _complement(bound):
            result = self.either(result, self.term(name, negated))
        if mode == "not_true" and not _is_null_test(bound):
            result = self.either(result, self.term(name, Bound(null=True)))
        return result

    def substitute(self, dnf: DNF, name: str, reaches: Mapping[str, DNF]) -> DNF:
        """Replace a bound on `name` (tier, level) by the reach of each value it allows."""
        result: DNF = []
        for term in dnf:
            bound = term.get(name)
            names = _candidates(bound, reaches)
            if names is None:
                result = self.either(result, [dict(term)])
                continue
            for value in sorted(names):
                one = {**term, name: Bound(allowed=frozenset({value}), null=False)}
                result = self.either(result, self.both([one], reaches[value]))
        return result


def _candidates(bound: Bound | None, reaches: Mapping[str, DNF]) -> set[str] | None:
    """The names a bound lets through, when all of them have a known reach."""
    if bound is None or bound.null is not False:
        return None
    if bound.allowed is None:
        return set(reaches) - set(bound.excluded)
    names = set(bound.allowed) - set(bound.excluded)
    return names if names <= set(reaches) else None


def _is_null_test(bound: Bound) -> bool:
    return bound.null is True


def _complement(bound: Bound) -> list[Bound]:
    """The non-NULL values outside the bound (`bound` comes from one atom: one kind)."""
    if bound.null is True:
        return [Bound(null=False)]
    if bound.allowed is not None:
        return [Bound(excluded=bound.allowed, null=False)]
    if bound.excluded:
        return [Bound(allowed=bound.excluded, null=False)]
    found = []
    if bound.low > -INF:
        found.append(Bound(high=bound.low, high_in=not bound.low_in, null=False))
    if bound.high < INF:
        found.append(Bound(low=bound.high, low_in=not bound.high_in, null=False))
    return found


def atom(node: exp.Expression) -> tuple[str, Bound] | None:
    """A test of one field against constants, as (field, bound); None if it is not one."""
    if isinstance(node, exp.Column):
        return field_name(node), Bound(allowed=frozenset({True}), null=False)
    if isinstance(node, exp.Is) and isinstance(node.this, exp.Column):
        if isinstance(node.expression, exp.Null):
            return field_name(node.this), Bound(null=True)
        return None
    if isinstance(node, exp.In):
        return _membership(node)
    if isinstance(node, exp.Between):
        return _between(node)
    if isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
        return _comparison(node)
    return None


def _comparison(node: exp.Expression) -> tuple[str, Bound] | None:
    op = node.key
    column, other = _unwrap(node.this), _unwrap(node.expression)
    if not isinstance(column, exp.Column):
        column, other, op = other, column, _FLIP[op]
    value = constant(other)
    if not isinstance(column, exp.Column) or value is None:
        return None
    name = field_name(column)
    if op == "eq":
        return name, Bound(allowed=frozenset({value}), null=False)
    if op == "neq":
        return name, Bound(excluded=frozenset({value}), null=False)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # text and dates in order: not analysed
    return name, {
        "gt": Bound(low=value, null=False),
        "gte": Bound(low=value, low_in=True, null=False),
        "lt": Bound(high=value, null=False),
        "lte": Bound(high=value, high_in=True, null=False),
    }[op]


def _membership(node: exp.In) -> tuple[str, Bound] | None:
    column = _unwrap(node.this)
    values = [constant(e) for e in node.expressions]
    if not isinstance(column, exp.Column) or not values or any(v is None for v in values):
        return None
    return field_name(column), Bound(allowed=frozenset(values), null=False)


def _between(node: exp.Between) -> tuple[str, Bound] | None:
    column = _unwrap(node.this)
    low, high = constant(node.args["low"]), constant(node.args["high"])
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if not isinstance(column, exp.Column) or not numbers:
        return None
    bound = Bound(low=low, low_in=True, high=high, high_in=True, null=False)
    return field_name(column), bound


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def constant(node: exp.Expression) -> Any:
    """A literal's value (number, text, TRUE/FALSE); None for anything else, NULL included."""
    node = _unwrap(node)
    if isinstance(node, exp.Neg):
        inner = constant(node.this)
        return -inner if isinstance(inner, int | float) and not isinstance(inner, bool) else None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if _is_date(node):  # DATE '2026-01-01': its day number, so that dates are ordered too
        return dt.date.fromisoformat(node.this.this).toordinal()
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return str(node.this)
    number = float(node.this)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _is_date(node: exp.Expression) -> bool:
    if not isinstance(node, exp.Cast) or not node.to.is_type(exp.DataType.Type.DATE):
        return False
    literal = node.this
    return (
        isinstance(literal, exp.Literal) and literal.is_string and bool(DAY.fullmatch(literal.this))
    )


def first_hit(reach: Reach, conditions: Sequence[exp.Expression | None]) -> list[DNF]:
    """Who reaches each rule of a first-hit list: its condition TRUE, every earlier not TRUE."""
    passed = ANY
    found: list[DNF] = []
    for tree in conditions:
        found.append(reach.both(passed, reach.dnf(tree)))
        passed = reach.both(passed, reach.dnf(tree, "not_true"))
    return found
