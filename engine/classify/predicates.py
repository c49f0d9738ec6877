"""The rules as Python predicates: one customer at a time, for `explain`, scenario tests and as
the oracle the SQL back ends are tested against. Never used for a whole bank: that is SQL.

Percentiles and gold need the whole population (or the customer's segment, with `within:`);
`Population` carries what they need (how many customers are below, above, and how many there
are), computed in SQL by `explain` and in Python over a small list of records by
`classify_records`.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.classify.compile import gold_fraction, ladders, measure_layers
from guanxi.engine.classify.event_measures import Event, event_value
from guanxi.engine.classify.field_history import Kept, change_value
from guanxi.engine.language.to_python import coerce
from guanxi.engine.ruleset import CompiledRule, RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure, Ranking, Rollup

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
    segment: tuple[Any, ...] = ()  # the values of the ranking's `within` fields

    @property
    def percentile(self) -> float | None:
        if self.value is None:
            return None
        return 0.0 if self.count <= 1 else self.below / (self.count - 1)


@dataclass(frozen=True)
class GroupValue:
    """A roll-up measure's value over the customer's group, and how many members it has."""

    group: Any  # the group field's value; None: the customer is a group of one
    value: Any
    members: int


@dataclass
class Population:
    """The ranks a customer's percentile measures and gold are computed from, and the values
    of their group's roll-up measures (by measure name)."""

    ranks: dict[Ranking, Rank] = field(default_factory=dict)
    groups: dict[str, GroupValue] = field(default_factory=dict)


AskGroups = Callable[[Record, list[CompiledMeasure]], dict[str, GroupValue]]


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
        events: Sequence[Event] | None = None,
        history: Sequence[Kept] | None = None,
    ) -> Any:
        """A measure's value; a percentile without a rank, a roll-up without its group's
        value, an event measure without `events` (the customer's), or a change measure
        without `history` (the customer's kept field history), is taken from `given`, if
        there."""
        if measure.rollup is not None:
            found = population.groups.get(measure.name)
            if found is None:
                return coerce((given or {}).get(measure.name), "number")
            return found.value
        if measure.events is not None:
            if events is None:
                return coerce((given or {}).get(measure.name), "number")
            return event_value(self.ruleset, measure, events, self.today)
        if measure.change is not None:
            if history is None:
                return coerce((given or {}).get(measure.name), "number")
            return change_value(measure, record.get(measure.change.field), history, self.today)
        if measure.ranking is None:
            return self.measure_fns[measure.name](record)
        rank = population.ranks.get(measure.ranking)
        if rank is None:
            return coerce((given or {}).get(measure.name), "number")
        return rank.percentile

    def add_measures(
        self,
        record: Record,
        population: Callable[[Record, list[Ranking]], Population],
        given: Mapping[str, Any] | None = None,
        groups: AskGroups | None = None,
        events: Sequence[Event] | None = None,
        history: Sequence[Kept] | None = None,
    ) -> Population:
        """Compute every measure into `record`, asking `population` for the ranks it needs
        and `groups` for the values of the customer's group; `events`: the customer's, for
        event measures; `history`: their kept field history, for change measures."""
        ranks = Population()
        for layer in self.layers:
            rankings = [m.ranking for m in layer if m.ranking]
            if rankings:
                ranks.ranks.update(population(record, rankings).ranks)
            rollups = [m for m in layer if m.rollup]
            if rollups and groups is not None:
                ranks.groups.update(groups(record, rollups))
            for measure in layer:
                record[measure.name] = self.measure(record, measure, ranks, given, events, history)
        return ranks

    def gold(self, rank: Rank | None) -> bool:
        gold = self.ruleset.gold
        if gold is None or rank is None or rank.value is None or rank.value <= 0:
            return False  # a customer who brings the bank nothing is never gold
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
    ruleset: RuleSet,
    records: Iterable[Mapping[str, Any]],
    today: dt.date,
    events: Mapping[Any, Sequence[Event]] | None = None,
    kept: Mapping[Any, Sequence[Kept]] | None = None,
) -> list[Record]:
    """Classify a small population entirely in Python (the parity oracle); `events`: each
    customer's events by key (none when not there); `kept`: likewise their kept field
    history."""
    predicates = Predicates(ruleset, today)
    rows = [predicates.facts(r) for r in records]
    key, events, kept = ruleset.schema.key, events or {}, kept or {}
    ranks: list[Population] = [Population() for _ in rows]
    for layer in predicates.layers:
        for ranking in sorted({m.ranking for m in layer if m.ranking}):
            _rank_all(rows, ranks, ranking)
        for measure in (m for m in layer if m.rollup):
            _roll_up_all(rows, ranks, measure, ruleset.schema.key)
        for row, population in zip(rows, ranks, strict=True):
            for measure in layer:
                row[measure.name] = predicates.measure(
                    row, measure, population, None, events.get(row[key], ()), kept.get(row[key], ())
                )
    gold = ruleset.gold_ranking
    if gold is not None:
        _rank_all(rows, ranks, gold)
    return [
        predicates.decide(row, predicates.gold(p.ranks.get(gold) if gold else None))
        for row, p in zip(rows, ranks, strict=True)
    ]


def segment_of(record: Mapping[str, Any], ranking: Ranking) -> tuple[Any, ...]:
    """The customer's segment: NULLs match NULLs, as SQL's PARTITION BY groups them."""
    return tuple(record.get(name) for name in ranking.within)


def _rank_all(rows: list[Record], ranks: list[Population], ranking: Ranking) -> None:
    segments: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        segments[segment_of(row, ranking)].append(index)
    source = ranking.source
    for segment, members in segments.items():
        values = sorted(rows[i][source] for i in members if rows[i][source] is not None)
        for i in members:
            rank = rank_in(values, rows[i][source], len(members))
            ranks[i].ranks[ranking] = dataclasses.replace(rank, segment=segment)


def rank_in(values: list[Any], value: Any, population: int) -> Rank:
    """The rank of `value` among the sorted non-NULL `values` (of a population or segment)."""
    if value is None:
        return Rank(None, 0, 0, len(values), population)
    below = bisect.bisect_left(values, value)
    above = len(values) - bisect.bisect_right(values, value)
    return Rank(value, below, above, len(values), population)


def group_of(record: Mapping[str, Any], measure: CompiledMeasure, key: str) -> tuple[Any, Any]:
    """The customer's group as SQL partitions it: the group field, or (NULL, their key)."""
    assert measure.rollup is not None
    group = record.get(measure.rollup.group_by)
    return (group, None) if group is not None else (None, record.get(key))


def _roll_up_all(
    rows: list[Record], ranks: list[Population], measure: CompiledMeasure, key: str
) -> None:
    groups: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[group_of(row, measure, key)].append(index)
    assert measure.rollup is not None
    for (group, _own), members in groups.items():
        value = roll_up(measure.rollup, [rows[i] for i in members])
        for i in members:
            ranks[i].groups[measure.name] = GroupValue(group, value, len(members))


def roll_up(rollup: Rollup, members: list[Record]) -> float | None:
    """SUM, MAX or COUNT(*) of the members as SQL gives them: NULL when no value is known."""
    if rollup.source is None:
        return float(len(members))
    values = [float(m[rollup.source]) for m in members if m[rollup.source] is not None]
    if not values:
        return None
    if rollup.function == "max":
        return max(values)
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):  # past a double, or infinities of both signs
        return sum(values)
