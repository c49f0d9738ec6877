"""The ladders' answers as codes inside the classification query (DuckDB's snapshot night).

The night keeps each answer as its name's place in the columnar copy's dictionary
(codes.py). Given that dictionary, a ladder's CASE gives the code itself, and a later ladder's
rule reading the answer compares codes: `tier = 'valuable'` becomes `tier = 2`, `tier IN
('high_value_added', 'valuable')` `tier IN (1, 2)`. Ten million names are then neither
compared as text nor looked up in the dictionary afterwards. A name the dictionary lacks
compares as -1, a code no answer has, so it matches nothing, as the name would.

A rule that reads an answer in any other way (compared with another field, inside a
function) keeps the names: `recode` returns None and the query gives names as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from sqlglot import exp

from guanxi.engine.language import Condition
from guanxi.engine.language.conditions import field_name
from guanxi.engine.ruleset import Ladder, RuleSet

CODE = "USMALLINT"  # the SQL type of a code
ABSENT = -1  # the code of a name no answer has


def recode(ruleset: RuleSet, names: Mapping[str, Sequence[str]]) -> RuleSet | None:
    """`ruleset` whose ladders' rules compare the codes of `names` (by ladder) wherever they
    read an answer; None when a rule reads one otherwise than compared with names, or a
    rule gives a name `names` lacks."""
    ladders = {"tier": ruleset.tiers, "level": ruleset.levels, "strategy": ruleset.strategies}
    for kind, ladder in ladders.items():
        if ladder and any(rule.name not in names.get(kind, ()) for rule in ladder.rules):
            return None
    try:
        return dataclasses.replace(
            ruleset,
            tiers=_ladder(ruleset.tiers, names),
            levels=_ladder(ruleset.levels, names),
            strategies=_ladder(ruleset.strategies, names) if ruleset.strategies else None,
        )
    except _NotCoded:
        return None


class _NotCoded(Exception):
    """A rule reads an answer otherwise than compared with names."""


def _ladder(ladder: Ladder, names: Mapping[str, Sequence[str]]) -> Ladder:
    rules = tuple(
        dataclasses.replace(r, condition=_condition(r.condition, names)) if r.condition else r
        for r in ladder.rules
    )
    return dataclasses.replace(ladder, rules=rules)


def _condition(old: Condition, names: Mapping[str, Sequence[str]]) -> Condition:
    if not old.fields & set(names):
        return old
    tree = old.tree.copy()
    for column in [c for c in tree.find_all(exp.Column) if field_name(c) in names]:
        _recode_use(column, names[field_name(column)])
    return dataclasses.replace(old, tree=tree)


def _recode_use(column: exp.Column, names: Sequence[str]) -> None:
    """The names `column` is compared with turned into codes; _NotCoded for another use."""
    node = column.parent
    if isinstance(node, exp.Is):
        return
    if isinstance(node, exp.EQ | exp.NEQ):
        other = node.expression if node.this is column else node.this
        others = [other]
    elif isinstance(node, exp.In) and node.this is column and not node.args.get("query"):
        others = list(node.expressions)
    else:
        raise _NotCoded
    if not others or not all(_is_name(o) for o in others):
        raise _NotCoded
    for other in others:
        other.replace(exp.Literal.number(code(names, other.this)))


def _is_name(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def code(names: Sequence[str], name: str) -> int:
    """The code of `name`: its place among `names`, ABSENT when it has none."""
    return names.index(name) if name in names else ABSENT
