"""One customer's rank in the whole population, counted by one SQL query in the store (or in
the customer's segment: the customers with the same values of the ranking's `within` fields).

A percentile of a measure is ranked by the measure's expression, written out in SQL; the
percentile measure's own rank is its source's rank (a percentile keeps the order). A source
that needs a percentile to be computed first cannot be counted this way and is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlglot import exp

from guanxi.engine.classify.compile import measures_sql
from guanxi.engine.classify.predicates import (
    AskGroups,
    GroupValue,
    Population,
    Rank,
    Record,
    segment_of,
)
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.language.to_sql import to_sql
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure, Ranking, Rollup
from guanxi.engine.store import Store

Ask = Callable[[Record, list[Ranking]], Population]


def store_population(store: Store, ruleset: RuleSet, today: dt.date) -> Ask:
    """A function giving the ranks of a record's values among all the store's customers, or
    among those of the record's segment for a ranking `within:` fields."""

    def ask(record: Record, rankings: list[Ranking]) -> Population:
        parts, values = ["COUNT(*) AS n"], dict[str, Any]()
        for i, ranking in enumerate(rankings):
            base = ranked_source(ruleset, ranking)
            sql = source_sql(ruleset, base, store.dialect, today)
            segment, bound = _segment_sql(ranking, record, i, store.dialect)
            values |= bound | {f"v{i}": record[base]}
            parts += [
                f"SUM(CASE WHEN {segment}{sql} < :v{i} THEN 1 ELSE 0 END) AS below{i}",
                f"SUM(CASE WHEN {segment}{sql} > :v{i} THEN 1 ELSE 0 END) AS above{i}",
                f"SUM(CASE WHEN {segment}{sql} IS NOT NULL THEN 1 ELSE 0 END) AS count{i}",
                f"SUM(CASE WHEN {segment}TRUE THEN 1 ELSE 0 END) AS n{i}",
            ]
        row = store.execute(f"SELECT {', '.join(parts)} FROM customers", values)[0]
        return Population(
            {
                r: _rank(row, i, record[ranked_source(ruleset, r)], segment_of(record, r))
                for i, r in enumerate(rankings)
            }
        )

    return ask


def store_groups(store: Store, ruleset: RuleSet, today: dt.date) -> AskGroups:
    """A function giving the values of a record's group for roll-up measures, counted over
    the store's customers of the record's group (or the record alone, without a group)."""

    def ask(record: Record, measures: list[CompiledMeasure]) -> dict[str, GroupValue]:
        found: dict[str, GroupValue] = {}
        for measure in measures:
            rollup = measure.rollup
            assert rollup is not None
            group = record.get(rollup.group_by)
            column = rollup.group_by if group is not None else ruleset.schema.key
            value = group if group is not None else record.get(ruleset.schema.key)
            where = exp.to_identifier(column, quoted=True).sql(dialect=store.dialect)
            row = store.execute(
                f"SELECT COUNT(*) AS n, {_aggregate_sql(ruleset, measure, store.dialect, today)}"
                f" AS v FROM {_members_sql(ruleset, rollup, store.dialect, today)}"
                f" WHERE {where} = :g",
                {"g": _stored(value) if store.dialect == "sqlite" else value},
            )[0]
            result = None if row["v"] is None else float(row["v"])
            found[measure.name] = GroupValue(group, result, int(row["n"]))
        return found

    return ask


def _aggregate_sql(ruleset: RuleSet, measure: CompiledMeasure, dialect: str, today: dt.date) -> str:
    rollup = measure.rollup
    assert rollup is not None
    if rollup.source is None:
        return "COUNT(*)"
    number = exp.DataType.build("DOUBLE").sql(dialect=dialect)
    if _reads_events(ruleset, rollup.source):
        source = exp.to_identifier(rollup.source, quoted=True).sql(dialect=dialect)
    else:
        source = source_sql(ruleset, rollup.source, dialect, today)
    return f"{rollup.function.upper()}(CAST({source} AS {number}))"


def _members_sql(ruleset: RuleSet, rollup: Rollup, dialect: str, today: dt.date) -> str:
    """The customers table; with the source's value beside each customer when it reads
    events (the events are counted per customer by the classification's own query)."""
    if rollup.source is None or not _reads_events(ruleset, rollup.source):
        return "customers"
    key, source = (
        exp.to_identifier(n, quoted=True).sql(dialect=dialect)
        for n in (ruleset.schema.key, rollup.source)
    )
    values = measures_sql(ruleset, dialect, today, [rollup.source])
    return (
        f"(SELECT c.*, m.{source} FROM customers c JOIN ({values}) m ON m.{key} = c.{key}) members"
    )


def _reads_events(ruleset: RuleSet, name: str) -> bool:
    """Whether the measure `name` is an event measure or is computed from one."""
    measures = {m.name: m for m in ruleset.measures}
    measure = measures.get(name)
    if measure is None:
        return False
    if measure.events is not None:
        return True
    return any(_reads_events(ruleset, used) for used in measure.uses - {name})


def _segment_sql(
    ranking: Ranking, record: Record, i: int, dialect: str
) -> tuple[str, dict[str, Any]]:
    """'<field> = :s… AND ' for each `within` field (IS NULL for a NULL), and the values."""
    terms, values = list[str](), dict[str, Any]()
    for j, name in enumerate(ranking.within):
        column = exp.to_identifier(name, quoted=True).sql(dialect=dialect)
        value = record.get(name)
        if value is None:
            terms.append(f"{column} IS NULL AND ")
            continue
        terms.append(f"{column} = :s{i}_{j} AND ")
        values[f"s{i}_{j}"] = _stored(value) if dialect == "sqlite" else value
    return "".join(terms), values


def _stored(value: Any) -> Any:
    """A value as the SQLite store keeps it: dates as ISO text, booleans as 0 and 1."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return int(value) if isinstance(value, bool) else value


def _rank(row: dict[str, object], i: int, value: object, segment: tuple[Any, ...]) -> Rank:
    def number(name: str) -> int:
        found = row[name]
        return int(found) if isinstance(found, int | float | Decimal) else 0

    counts = number(f"count{i}"), number(f"n{i}")
    if value is None:
        return Rank(None, 0, 0, *counts, segment)
    return Rank(value, number(f"below{i}"), number(f"above{i}"), *counts, segment)


def ranked_source(ruleset: RuleSet, ranking: Ranking) -> str:
    """The field or expression measure whose order decides `ranking`'s order. A percentile
    keeps the order of its source within its own segments only: ranked within segments at
    least as fine as those, it may be ranked by its source; otherwise it is refused."""
    measures = {m.name: m for m in ruleset.measures}
    source = ranking.source
    while (inner := measures.get(source)) is not None and inner.ranking is not None:
        if not set(inner.within) <= set(ranking.within):
            raise GuanxiError(
                _(
                    "explain cannot rank '{measure}' within {within}:"
                    " it is a percentile within {inner}"
                ).format(
                    measure=source,
                    within=", ".join(ranking.within) or _("all customers"),
                    inner=", ".join(inner.within),
                )
            )
        source = inner.ranking.source
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
    if measure.change is not None:
        raise GuanxiError(
            _(
                "explain cannot rank '{measure}' among all customers: it reads the field history"
            ).format(measure=measure.name)
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
