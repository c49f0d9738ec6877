"""Compile a checked condition into a durable_rules expression that is true exactly when the
SQL condition is TRUE (not FALSE, not NULL).

durable_rules has no NULL logic, so negations are pushed down to the leaves first (Kleene's
De Morgan laws hold for SQL's three-valued logic) and every comparison also requires its
field to be present. Leaves durable_rules cannot express faithfully (arithmetic on the left,
LIKE, dates, functions) are evaluated by the Python back end and posted as a precomputed
attribute `_p<n>`; durable_rules then only tests that attribute.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine
from sqlglot import exp

from guanxi.engine.language.conditions import field_name

Json = dict[str, Any]
_OPS: dict[type[exp.Expression], tuple[str, str]] = {  # operator, its negation
    exp.EQ: ("$eq", "$neq"),
    exp.NEQ: ("$neq", "$eq"),
    exp.GT: ("$gt", "$lte"),
    exp.GTE: ("$gte", "$lt"),
    exp.LT: ("$lt", "$gte"),
    exp.LTE: ("$lte", "$gt"),
}
_FLIPPED = {
    "$gt": "$lt",
    "$gte": "$lte",
    "$lt": "$gt",
    "$lte": "$gte",
    "$eq": "$eq",
    "$neq": "$neq",
}


@dataclass
class DurableCondition:
    """The durable_rules expression and the Python leaves it needs precomputed."""

    expression: Json
    leaves: dict[str, exp.Expression] = field(default_factory=dict)


INT64 = range(-(2**63), 2**63)  # the integers durable_rules holds exactly
MAX_TERMS = 8  # durable_rules expands a rule into OR-ed terms and fails on large expansions
MAX_TESTS = 64


def to_durable(
    tree: exp.Expression, field_types: dict[str, str], name: Callable[[str], str]
) -> DurableCondition:
    """`name` maps a field to its attribute in the posted message (dots are not allowed)."""
    compiler = _Compiler(field_types, name)
    expression = compiler.truth(tree, negated=False)
    terms, tests = _expansion(expression)
    if terms <= MAX_TERMS and tests <= MAX_TESTS and accepted(expression):
        return DurableCondition(expression, compiler.leaves)
    whole = _Compiler(field_types, name)  # too big for durable_rules: one Python leaf
    return DurableCondition(whole.python_leaf(tree, negated=False), whole.leaves)


_PROBES = itertools.count()


def accepted(expression: Json) -> bool:
    """Whether durable_rules takes the expression: besides large expansions it refuses a
    node whose serialized tests and operators pass 31 (error 113, `MAX_SEQUENCE_EXPRESSIONS`),
    which no simple count of ours predicts, so a throw-away ruleset is created to ask it."""
    definition = json.dumps({"probe": {"all": [{"m": expression}]}}, ensure_ascii=False)
    try:
        handle = durable_rules_engine.create_ruleset(f"guanxi_probe_{next(_PROBES)}", definition)
    except durable_rules_engine.error:
        return False
    durable_rules_engine.delete_ruleset(handle)
    return True


def _expansion(expression: Json) -> tuple[int, int]:
    """How many OR-ed terms, and tests in all, the expression expands to."""
    if "$or" in expression:
        parts = [_expansion(p) for p in expression["$or"]]
        return sum(t for t, _ in parts), sum(n for _, n in parts)
    if "$and" in expression:
        terms, tests = 1, 0
        for part_terms, part_tests in (_expansion(p) for p in expression["$and"]):
            tests = tests * part_terms + part_tests * terms
            terms *= part_terms
        return terms, tests
    return 1, 1


class _Compiler:
    def __init__(self, field_types: dict[str, str], name: Callable[[str], str]) -> None:
        self.field_types = field_types
        self.name = name
        self.leaves: dict[str, exp.Expression] = {}

    def truth(self, node: exp.Expression, negated: bool) -> Json:
        """An expression true exactly when `node` is TRUE (or, negated, exactly when FALSE)."""
        if isinstance(node, exp.Paren):
            return self.truth(node.this, negated)
        if isinstance(node, exp.Not):
            return self.truth(node.this, not negated)
        if isinstance(node, exp.And | exp.Or):
            parts = [self.truth(node.this, negated), self.truth(node.expression, negated)]
            conjunction = isinstance(node, exp.And) != negated
            return {"$and" if conjunction else "$or": parts}
        return self.leaf(node, negated)

    def leaf(self, node: exp.Expression, negated: bool) -> Json:
        native = self.native(node, negated)
        return native if native is not None else self.python_leaf(node, negated)

    def native(self, node: exp.Expression, negated: bool) -> Json | None:
        if isinstance(node, exp.Is) and self.column(node.this) and negated:
            return {"$ex": {self.attribute(node.this): 1}}  # ($nex hangs durable_rules 2.0.28)
        if isinstance(node, exp.Column) and self.kind(node) == "boolean":
            return {self.attribute(node): not negated}
        if isinstance(node, tuple(_OPS)):
            return self.comparison(node, negated)
        if isinstance(node, exp.In) and not negated and self.column(node.this):
            options = [
                self.comparison(exp.EQ(this=node.this, expression=o), False)
                for o in node.expressions
            ]
            return {"$or": options} if None not in options else None
        return None

    def comparison(self, node: exp.Expression, negated: bool) -> Json | None:
        left, right = node.this, node.expression
        operator = _OPS[type(node)][1 if negated else 0]
        if not self.column(left) and self.column(right):
            left, right, operator = right, left, _FLIPPED[operator]
        if not self.column(left) or self.kind(left) not in ("number", "string", "boolean"):
            return None
        if isinstance(right, exp.Literal) and (right.is_string == (self.kind(left) == "string")):
            value: Any = durable_value(right.this if right.is_string else _number(right.this))
            if value is None:
                return None  # a number durable_rules cannot hold: a Python leaf
        elif self.column(right) and self.kind(right) == self.kind(left):
            value = {"$m": self.attribute(right)}
        else:
            return None
        present = [{"$ex": {self.attribute(left): 1}}]
        if isinstance(value, dict):
            present.append({"$ex": {value["$m"]: 1}})
        test = (
            {self.attribute(left): value}
            if operator == "$eq"
            else {operator: {self.attribute(left): value}}
        )
        return {"$and": [*present, test]}

    def python_leaf(self, node: exp.Expression, negated: bool) -> Json:
        key = f"_p{len(self.leaves)}"
        self.leaves[key] = node
        return {key: not negated}

    def column(self, node: exp.Expression) -> bool:
        return isinstance(node, exp.Column)

    def kind(self, node: exp.Expression) -> str:
        field_type = self.field_types.get(_field(node), "string")
        return {
            "integer": "number",
            "number": "number",
            "string": "string",
            "boolean": "boolean",
        }.get(field_type, "other")

    def attribute(self, node: exp.Expression) -> str:
        return self.name(_field(node))


def _field(node: exp.Expression) -> str:
    assert isinstance(node, exp.Column)
    return field_name(node)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def durable_value(value: Any) -> Any:
    """`value` in a form durable_rules reads back exactly, or None if there is none.

    Its JSON parser refuses Python's `5e-05` and `1e+16` (it wants a decimal point before an
    exponent), holds integers in 64 bits (larger ones saturate) and refuses NaN and infinity.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value in INT64 else None
    if isinstance(value, float):
        if value.is_integer() and int(value) in INT64:
            return int(value)  # 1e+16 as 10000000000000000
        text = repr(value)
        return value if math.isfinite(value) and ("." in text or "e" not in text) else None
    if isinstance(value, str):
        return value if _encodable(value) else None
    return value


def _encodable(text: str) -> bool:
    """Whether durable_rules takes the text: it holds UTF-8 C strings (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
