"""Why a condition did not match: the comparisons that were false or unknown, with the values.

The condition's tree is walked from the top: an AND fails through each part that is not true,
an OR through all of its parts (none was true), and anything else is a comparison reported
as it stands, with the value of every field and computed operand it reads. Each part is
evaluated with the Python back end, so NULL is reported as unknown exactly as SQL sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from guanxi.engine.i18n import _
from guanxi.engine.language import Condition
from guanxi.engine.language.to_python import compile_python

CONSTANTS = (exp.Literal, exp.Boolean, exp.Null, exp.Cast)


@dataclass(frozen=True)
class Fact:
    """A comparison that failed: its text, its value (False, or None for unknown/NULL), and
    the values it compared, by their text (`days_idle`, `COALESCE(balance, 0)`)."""

    condition: str
    value: bool | None
    values: dict[str, Any]

    def __str__(self) -> str:
        shown = ", ".join(f"{k} = {_show(v)}" for k, v in self.values.items())
        if self.value is None:
            verdict = _("{condition} is unknown (NULL)").format(condition=self.condition)
        else:
            verdict = _("{condition} is false").format(condition=self.condition)
        return verdict + (f" ({shown})" if shown else "")


def _show(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.10g}"
    return repr(value) if isinstance(value, str) else str(value)


def failing_facts(
    condition: Condition, record: Mapping[str, Any], today: dt.date
) -> tuple[Fact, ...]:
    """The facts that kept `condition` from being true for `record` (empty when it is true)."""
    return tuple(_Walker(condition.field_types, record, today).failures(condition.tree))


class _Walker:
    def __init__(self, types: Mapping[str, str], record: Mapping[str, Any], today: dt.date) -> None:
        self.types = types
        self.record = record
        self.today = today

    def value(self, node: exp.Expression) -> Any:
        return compile_python(node, self.types, self.today)(self.record)

    def failures(self, node: exp.Expression) -> list[Fact]:
        if isinstance(node, exp.Paren):
            return self.failures(node.this)
        value = self.value(node)
        if value is True:
            return []
        if isinstance(node, exp.And | exp.Or):
            return self.failures(node.this) + self.failures(node.expression)
        return [Fact(node.sql(), None if value is None else False, self.operands(node))]

    def operands(self, node: exp.Expression) -> dict[str, Any]:
        """Every field the comparison reads, then each computed operand that is not a field."""
        values: dict[str, Any] = {}
        for column in node.find_all(exp.Column):
            values.setdefault(column.sql(), self.value(column))
        for part in _parts(node):
            if not isinstance(part, (*CONSTANTS, exp.Column)):
                values.setdefault(part.sql(), self.value(part))
        return values


def _parts(node: exp.Expression) -> list[exp.Expression]:
    """The operands of a comparison (through NOT and parentheses)."""
    if isinstance(node, exp.Not | exp.Paren):
        return _parts(node.this)
    if isinstance(node, exp.Column):
        return []
    if isinstance(node, exp.Is | exp.In):
        return [node.this]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    parts = [node.args.get("this"), node.args.get("expression")]
    return [p for p in parts if isinstance(p, exp.Expression)]
