"""The rules as Python predicates: one customer at a time, for `explain`, scenario tests and as
the oracle the SQL back ends are tested against. Never used for a whole bank: that is SQL.

Percentiles and gold need the whole population; `Population` carries what they need (how
many customers are below, above, and how many there are), computed in SQL by `explain` and
in Python over a small list of records by `classify_records`.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.classify.compile import gold_fraction, ladders, measure_layers
from guanxi.engine.language.to_python import coerce
from guanxi.engine.ruleset import CompiledRule, RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure

Record = dict[str, Any]
Predicate = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Rank:
    """Where a value stands in the population: `below`/`above` customers have a strictly
    smaller/larger value, `count` have any value, `population` customers in all."""

    value: Any
    below: int
    above: int
    count: int
    population: int

    @property
    def percentile(self) -> float | None:
        if self.value is None:
            return None
        return 0.0 if self.count <= 1 else self.below / (self.count - 1)


@dataclass
class Population:
    """The ranks a customer's percentile measures and gold are computed from, by source."""

    ranks: dict[str, Rank] = field(default_factory=dict)


class Predicates:
    """A rule set compiled to Python once, evaluated per record."""

    def __init__(self, ruleset: RuleSet, today: dt.date) -> None:
        self.ruleset = ruleset
        self.today = today
        self.types = ruleset.field_types()
        self.layers = measure_layers(ruleset.measures)
        self.measure_fns = {
            m.name: m.expression.compile(today) for m in ruleset.measures if m.expression
        }
        self.rule_fns = {  # by position: rows of a decision table may share a name
            (kind, index): r.condition.compile(today)
            for kind, ladder in ladders(ruleset).items()
            if ladder
            for index, r in enumerate(ladder.rules)
            if r.condition
        }

    def facts(self, raw: Mapping[str, Any]) -> Record:
        """The schema fields of a stored or given record, as Python values."""
        fields = self.ruleset.schema.fields
        return {name: coerce(raw.get(name), spec.type) for name, spec in fields.items()}

    def measure(
        self,
        record: Record,
        measure: CompiledMeasure,
        population: Population,
        given: Mapping[str, Any] | None = None,
    ) -> Any:
        """A measure's value; a percentile without a rank is taken from `given`, if there."""
        if measure.expression is not None:
            return self.measure_fns[measure.name](record)
        rank = population.ranks.get(str(measure.percentile_of))
        if rank is None:
            return coerce((given or {}).get(measure.name), "number")
        return rank.percentile

    def add_measures(
        self,
        record: Record,
        population: Callable[[Record, list[str]], Population],
        given: Mapping[str, Any] | None = None,
    ) -> Population:
        """Compute every measure into `record`, asking `population` for the ranks it needs."""
        ranks = Population()
        for layer in self.layers:
            sources = [str(m.percentile_of) for m in layer if m.percentile_of]
            if sources:
                ranks.ranks.update(population(record, sources).ranks)
            for measure in layer:
                record[measure.name] = self.measure(record, measure, ranks, given)
        return ranks

    def gold(self, rank: Rank | None) -> bool:
        gold = self.ruleset.gold
        if gold is None or rank is None or rank.value is None:
            return False
        share = gold_fraction(gold.top_percent)
        return rank.above * 100 * share.denominator < rank.population * share.numerator

    def ladder(
        self, kind: str, record: Mapping[str, Any]
    ) -> tuple[CompiledRule | None, list[tuple[CompiledRule, Any]]]:
        """The rule that decides, and every rule tried before it with its value."""
        tried: list[tuple[CompiledRule, Any]] = []
        ladder = ladders(self.ruleset)[kind]
        for index, rule in enumerate(ladder.rules if ladder else ()):
            value = True if rule.condition is None else self.rule_fns[(kind, index)](record)
            if value is True:
                return rule, tried
            tried.append((rule, value))
        return None, tried

    def decide(self, record: Record, gold: bool) -> Record:
        """Gold, tier, level and strategy into `record` (which holds fields and measures)."""
        record["gold"] = gold
        for kind in ("tier", "level", "strategy"):
            rule, _ = self.ladder(kind, record)
            record[kind] = rule.name if rule else None
        return record


def classify_records(
    ruleset: RuleSet, records: Iterable[Mapping[str, Any]], today: dt.date
) -> list[Record]:
    """Classify a small population entirely in Python (the parity oracle)."""
    predicates = Predicates(ruleset, today)
    rows = [predicates.facts(r) for r in records]
    ranks: list[Population] = [Population() for _ in rows]
    for layer in predicates.layers:
        for source in sorted({str(m.percentile_of) for m in layer if m.percentile_of}):
            _rank_all(rows, ranks, source)
        for row, population in zip(rows, ranks, strict=True):
            for measure in layer:
                row[measure.name] = predicates.measure(row, measure, population)
    by = ruleset.gold.by if ruleset.gold else None
    if by is not None:
        _rank_all(rows, ranks, by)
    return [
        predicates.decide(row, predicates.gold(p.ranks.get(by) if by else None))
        for row, p in zip(rows, ranks, strict=True)
    ]


def _rank_all(rows: list[Record], ranks: list[Population], source: str) -> None:
    values = sorted(r[source] for r in rows if r[source] is not None)
    for row, population in zip(rows, ranks, strict=True):
        population.ranks[source] = rank_in(values, row[source], len(rows))


def rank_in(values: list[Any], value: Any, population: int) -> Rank:
    """The rank of `value` among the sorted non-NULL `values`."""
    if value is None:
        return Rank(None, 0, 0, len(values), population)
    below = bisect.bisect_left(values, value)
    above = len(values) - bisect.bisect_right(values, value)
    return Rank(value, below, above, len(values), population)
