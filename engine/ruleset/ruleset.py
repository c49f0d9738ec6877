"""The loaded rule project: one immutable, content-hashed RuleSet.

Every classification run and every follow-up is stamped with `RuleSet.hash`, so a decision
can always be traced to the exact rule files that made it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from guanxi.engine.calendar import BusinessCalendar
from guanxi.engine.encoding import UTF8
from guanxi.engine.language import Condition
from guanxi.engine.ruleset.models import (
    Gold,
    HitPolicy,
    PoliciesFile,
    Scenario,
    Schema,
    Settings,
    Step,
    Template,
)
from guanxi.engine.timing import Duration, Schedule

COMPUTED_FIELDS: dict[str, str] = {
    "gold": "boolean",
    "tier": "string",
    "level": "string",
    "strategy": "string",
}


@dataclass(frozen=True)
class Origin:
    """Where a rule was written: shown by `explain` and in diagnostics."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ComparedValue:
    """A text a condition or table cell compares a free-text customer field with (a field
    without `values:`), where it is written: only the store can tell whether any customer
    holds it."""

    field: str
    value: str
    file: str
    line: int
    col: int
    length: int


@dataclass(frozen=True)
class BranchRule:
    """A branch's own condition for a rule of the head office (branches/<branch>.yaml)."""

    branch: str
    condition: Condition
    origin: Origin


@dataclass(frozen=True)
class BranchCapacity:
    """A branch's own tasks a day per relationship manager (branches/<branch>.yaml)."""

    tasks_per_day: int
    origin: Origin


@dataclass(frozen=True)
class CompiledRule:
    name: str
    label: str
    label_en: str | None
    condition: Condition | None  # None: matches every customer (a catch-all)
    priority: int | None
    origin: Origin
    # branches with their own condition: `condition` is then the rewrite that combines them
    # with the head office's `head_condition` (engine/ruleset/branches.py)
    branch_rules: tuple[BranchRule, ...] = ()
    head_condition: Condition | None = None

    def seen_by(self, branch: str | None) -> tuple[Condition | None, Origin, str | None]:
        """The condition that decides for a customer of `branch` (None: no branch), where it
        was written, and the branch whose rule it is (None: the head office's)."""
        for own in self.branch_rules:
            if own.branch == branch:
                return own.condition, own.origin, own.branch
        return (self.head_condition if self.branch_rules else self.condition), self.origin, None


@dataclass(frozen=True)
class Ladder:
    """An ordered list of rules where each customer gets the first that matches."""

    kind: str
    hit_policy: HitPolicy
    rules: tuple[CompiledRule, ...]
    hold: int | None = None  # runs in a row a new answer must repeat to replace the old one
    order: tuple[str, ...] | None = None  # every name, lowest first (`on_fall:`/`on_rise:`)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def label_of(self, name: str) -> str | None:
        return next((r.label for r in self.rules if r.name == name), None)

    def shown(self, name: str) -> str:
        """The name as a reason shows it: 'partner (伙伴型)'."""
        label = self.label_of(name)
        return f"{name} ({label})" if label else name


@dataclass(frozen=True, order=True)
class Ranking:
    """What a percentile or gold ranks: `source`, among all customers or, with `within`,
    among the customers with the same values of those fields (a segment)."""

    source: str
    within: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        """A part of a column name, distinct per ranking: '@' cannot be in a field name."""
        return self.source + (f"@{','.join(self.within)}" if self.within else "")


ROLLUPS = ("sum", "max", "count")


@dataclass(frozen=True)
class Rollup:
    """A value of the customer's whole group: `function` (ROLLUPS) of `source` (None for
    count) over the customers with the same `group_by`; a customer without one is a group of
    their own."""

    function: str
    source: str | None
    group_by: str

    @property
    def uses(self) -> set[str]:
        """The fields and measures it reads: its source and the group field."""
        return {self.group_by} | ({self.source} if self.source else set())


EVENT_AGGREGATES = ("count", "sum", "max", "min", "days_since")


@dataclass(frozen=True)
class EventMeasure:
    """A measure over one customer's events of one type: `aggregate` (EVENT_AGGREGATES) of
    `field` (None for count and days_since) over the events of the last `days` days, today
    included (None: every event up to today) for which `where` holds."""

    aggregate: str
    event_type: str
    field: str | None
    days: int | None
    where: Condition | None = None  # on the event's fields (by their plain names)

    @property
    def empty_value(self) -> int | None:
        """The value when no event counts: 0 for count and sum, NULL for the others."""
        return 0 if self.aggregate in ("count", "sum") else None


CHANGE_KINDS = ("difference", "percent")


@dataclass(frozen=True)
class FieldChange:
    """How much the number `field` changed since an earlier classification run: since the
    latest run at least `days` days before today (None: the latest run before today's day),
    as the `difference` (now - then) or in `percent` ((now - then) / |then|: -0.3 is a 30 %
    fall). NULL when there was no value then (history begins with the first run that
    kept it), or for percent when it was 0."""

    field: str
    days: int | None
    kind: str = "difference"  # CHANGE_KINDS

    @property
    def percent(self) -> bool:
        return self.kind == "percent"


@dataclass(frozen=True)
class CompiledMeasure:
    name: str
    label: str
    expression: Condition | None
    percentile_of: str | None
    origin: Origin
    within: tuple[str, ...] = ()  # a percentile ranks among customers alike in these fields
    events: EventMeasure | None = None
    label_en: str | None = None
    scorecard: bool = False  # the report's scorecard shows its mean (an assessment)
    rollup: Rollup | None = None  # a value of the customer's corporate group
    change: FieldChange | None = None  # a field's change between classification runs

    @property
    def ranking(self) -> Ranking | None:
        return Ranking(self.percentile_of, self.within) if self.percentile_of else None

    @property
    def uses(self) -> set[str]:
        """The fields and measures the measure reads (none for an event measure)."""
        if self.change is not None:
            return {self.change.field}
        if self.rollup is not None:
            return self.rollup.uses
        if self.expression is not None:
            return set(self.expression.fields)
        return {self.percentile_of} if self.percentile_of else set()


@dataclass(frozen=True)
class CompiledStep:
    level: str
    step: Step
    when: Condition | None
    unless: Condition | None
    after: Duration | None
    expires: Duration | None
    at: dt.time | None
    schedule: Schedule | None
    origin: Origin
    branch: str | None = None  # a branch's version of a head office step (its id: `id@branch`)
    # a head office step: the branches that changed it or switched it off, with their files
    branches_apart: tuple[tuple[str, Origin], ...] = ()

    @property
    def id(self) -> str:
        return self.step.id

    def applies_to(self, branch: str | None) -> bool:
        """The step is in the effective rules of `branch` (None: a customer without one)."""
        if self.branch is not None:
            return self.branch == branch
        return all(name != branch for name, _origin in self.branches_apart)


@dataclass(frozen=True)
class ScenarioFile:
    """One file of scenario tests: its path as shown, its scenarios and the line each starts
    on, and its population file (a path in the project) if it names one, with the encoding
    that file was read in."""

    file: str
    scenarios: tuple[Scenario, ...]
    lines: tuple[int, ...] = ()
    population: str | None = None
    population_encoding: str = UTF8


@dataclass(frozen=True)
class RuleSet:
    root: Path
    hash: str
    settings: Settings
    schema: Schema
    measures: tuple[CompiledMeasure, ...]
    gold: Gold | None
    tiers: Ladder
    levels: Ladder
    strategies: Ladder | None
    steps: tuple[CompiledStep, ...]
    policies: PoliciesFile | None
    templates: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    scenarios: tuple[ScenarioFile, ...] = ()
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    branches: Mapping[str, Origin] = field(default_factory=lambda: MappingProxyType({}))
    capacities: Mapping[str, BranchCapacity] = field(default_factory=lambda: MappingProxyType({}))
    compared_values: tuple[ComparedValue, ...] = ()  # free-text literals, checked with --store

    def tasks_per_day(self, branch: str | None) -> int | None:
        """The tasks a day a relationship manager takes for customers of `branch` (None: no
        branch): the branch's own capacity, else the head office's (None: no limit)."""
        own = self.capacities.get(branch or "")
        if own is not None:
            return own.tasks_per_day
        capacity = self.policies.capacity if self.policies else None
        return capacity.tasks_per_day if capacity else None

    @property
    def event_measures(self) -> tuple[CompiledMeasure, ...]:
        return tuple(m for m in self.measures if m.events is not None)

    @property
    def change_measures(self) -> tuple[CompiledMeasure, ...]:
        return tuple(m for m in self.measures if m.change is not None)

    @property
    def kept_fields(self) -> tuple[str, ...]:
        """The fields whose history each classification run keeps: those a change measure
        reads, in schema order."""
        read = {m.change.field for m in self.change_measures if m.change}
        return tuple(n for n in self.schema.fields if n in read)

    @property
    def gold_ranking(self) -> Ranking | None:
        return Ranking(self.gold.by, self.gold.within) if self.gold else None

    def field_types(self) -> dict[str, str]:
        """Every name a condition may use: schema fields, measures and computed fields."""
        types = {name: spec.type for name, spec in self.schema.fields.items()}
        types.update({m.name: "number" for m in self.measures})
        return {**types, **COMPUTED_FIELDS}

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.settings.name,
            "hash": self.hash,
            "timezone": self.settings.timezone,
            "calendar": self.settings.calendar,
            "store": self.settings.store,
            "fields": len(self.schema.fields),
            "events": sorted(self.schema.events),
            "measures": [m.name for m in self.measures],
            "gold": self.gold.model_dump() if self.gold else None,
            "tiers": list(self.tiers.names),
            "levels": list(self.levels.names),
            "strategies": list(self.strategies.names) if self.strategies else [],
            "steps": {s.id: s.level for s in self.steps},
            "channels": sorted(self.policies.channels) if self.policies else [],
            "templates": sorted(self.templates),
            "scenarios": sum(len(f.scenarios) for f in self.scenarios),
        }
