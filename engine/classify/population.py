"""One customer's rank in the whole population, counted by one SQL query in the store.

A percentile of a measure is ranked by the measure's expression, written out in SQL; the
percentile measure's own rank is its source's rank (a percentile keeps the order). A source
that needs a percentile to be computed first cannot be counted this way and is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlglot import exp

from guanxi.engine.classify.predicates import Population, Rank, Record
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.language.to_sql import to_sql
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure
from guanxi.engine.store import Store

Ask = Callable[[Record, list[str]], Population]


def store_population(store: Store, ruleset: RuleSet, today: dt.date) -> Ask:
    """A function giving the ranks of a record's values among all the store's customers."""

    def ask(record: Record, sources: list[str]) -> Population:
        ranked = {s: ranked_source(ruleset, s) for s in sources}
        parts, values = ["COUNT(*) AS n"], {}
        for i, base in enumerate(ranked.values()):
            sql = source_sql(ruleset, base, store.dialect, today)
            values[f"v{i}"] = record[base]
            parts += [
                f"SUM(CASE WHEN {sql} < :v{i} THEN 1 ELSE 0 END) AS below{i}",
                f"SUM(CASE WHEN {sql} > :v{i} THEN 1 ELSE 0 END) AS above{i}",
                f"COUNT({sql}) AS count{i}",
            ]
        row = store.execute(f"SELECT {', '.join(parts)} FROM customers", values)[0]
        return Population({s: _rank(row, i, record[b]) for i, (s, b) in enumerate(ranked.items())})

    return ask


def _rank(row: dict[str, object], i: int, value: object) -> Rank:
    def number(name: str) -> int:
        found = row[name]
        return int(found) if isinstance(found, int | float) else 0

    if value is None:
        return Rank(None, 0, 0, number(f"count{i}"), number("n"))
    return Rank(value, number(f"below{i}"), number(f"above{i}"), number(f"count{i}"), number("n"))


def ranked_source(ruleset: RuleSet, source: str) -> str:
    """The field or expression measure whose order decides `source`'s order."""
    measures = {m.name: m for m in ruleset.measures}
    while source in measures and measures[source].percentile_of:
        source = str(measures[source].percentile_of)
    return source


def source_sql(ruleset: RuleSet, source: str, dialect: str, today: dt.date) -> str:
    measures = {m.name: m for m in ruleset.measures}
    if source not in measures:
        return exp.to_identifier(source, quoted=True).sql(dialect=dialect)
    return f"({to_sql(_inlined(measures[source], measures), dialect, today)})"


def _inlined(measure: CompiledMeasure, measures: dict[str, CompiledMeasure]) -> exp.Expression:
    """The measure's expression with every measure it uses written out in place."""
    if measure.events is not None:
        raise GuanxiError(
            _("explain cannot rank '{measure}' among all customers: it counts events").format(
                measure=measure.name
            )
        )
    if measure.expression is None:
        raise GuanxiError(
            _("explain cannot rank '{measure}': it uses a percentile of a percentile").format(
                measure=measure.name
            )
        )

    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in measures:
            return exp.Paren(this=_inlined(measures[node.name], measures))
        return node

    return measure.expression.tree.copy().transform(expand)
