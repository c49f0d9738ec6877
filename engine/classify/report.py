"""What a classification run reports: distribution, changes and how long each phase took."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Groups = dict[str, dict[str | None, int]]
"""Customers per group of each ladder: {'tier': {'valuable': 3000, …}, 'level': …, …}."""


@dataclass(frozen=True)
class Cell:
    """Customers in one tier × level (× strategy) cell of the distribution."""

    tier: str | None
    level: str | None
    strategy: str | None
    customers: int
    gold: int


@dataclass(frozen=True)
class HeldGroup:
    """Customers a ladder's `hold:` keeps on their assignment while a new answer waits."""

    kind: str  # tier, level or strategy
    kept: str | None  # the group they stay in for now
    waiting: str | None  # the group the rules now give them
    since: int  # the first run that gave a waiting answer
    customers: int


@dataclass(frozen=True)
class PreviousRun:
    """The store's run before a run, as `classification_runs` recorded it."""

    run_id: int
    ruleset_hash: str
    started_at: dt.datetime
    customers: int
    groups: Groups  # the customers' assignments, holds applied (`assigned_of`)
    held_groups: tuple[HeldGroup, ...] = ()
    rules_before: dict[int, str] = field(default_factory=dict)  # a `since`: the rules before it
    answers: Groups | None = None  # the rules' answers, held customers in their new group

    def answered(self) -> Groups:
        """Customers per group as the rules answered (runs of old recorded only that)."""
        return self.groups if self.answers is None else self.answers

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ruleset_hash": self.ruleset_hash,
            "started_at": self.started_at.isoformat(),
            "customers": self.customers,
        }


@dataclass(frozen=True)
class RunReport:
    run_id: int
    ruleset_hash: str
    engine: str  # 'sqlite' or 'duckdb'
    started_at: dt.datetime  # the `now` the caller passed
    finished_at: dt.datetime  # started_at + the measured duration
    customers: int
    changed: int  # assignments written (tier, level, strategy or gold differ, or new)
    transitions: int  # customers whose tier, level, strategy or gold changed (new ones included)
    cells: tuple[Cell, ...]
    overlaps: dict[str, int] = field(default_factory=dict)  # 'unique' ladders: >1 rule matched
    rejected: int = 0  # snapshot rows that load would quarantine: left out (DuckDB, Spark)
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    held: int = 0  # customers a ladder's `hold:` keeps on their old answer for now
    problems: tuple[dict[str, Any], ...] = ()  # the first problems of the rejected rows
    previous: PreviousRun | None = None  # the store's run before this one, if any
    held_groups: tuple[HeldGroup, ...] = ()  # the `held` customers by ladder and group

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def gold(self) -> int:
        return sum(c.gold for c in self.cells)

    def tier_level(self) -> dict[tuple[str | None, str | None], int]:
        counts: dict[tuple[str | None, str | None], int] = {}
        for cell in self.cells:
            key = (cell.tier, cell.level)
            counts[key] = counts.get(key, 0) + cell.customers
        return counts

    def strategies(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for cell in self.cells:
            counts[cell.strategy] = counts.get(cell.strategy, 0) + cell.customers
        return counts

    def groups(self) -> Groups:
        """Customers per tier, per level and per strategy, as the rules answer."""
        return groups_of(self.counts())

    def assigned(self) -> Groups:
        """Customers per group as they are assigned: those a hold keeps stay in their group."""
        return assigned_of(self.counts())

    def counts_json(self) -> str:
        """The distribution as stored in `classification_runs.counts`."""
        return json.dumps(self.counts(), ensure_ascii=False, sort_keys=True)

    def counts(self) -> dict[str, Any]:
        tier_level = [
            {"tier": t, "level": lv, "customers": n}
            for (t, lv), n in sorted(self.tier_level().items(), key=_sort_key)
        ]
        strategies = [{"strategy": s, "customers": n} for s, n in self.strategies().items()]
        found = {
            "tier_level": tier_level,
            "strategies": strategies,
            "gold": self.gold,
            "overlaps": self.overlaps,
        }
        if self.held_groups:
            found["held_groups"] = [asdict(h) for h in self.held_groups]
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cells")
        data.pop("held_groups")  # in counts(), when there are any
        data["previous"] = self.previous.to_dict() if self.previous else None
        data.update(self.counts(), seconds=round(self.seconds, 3))
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return data


def _sort_key(item: tuple[tuple[str | None, str | None], int]) -> tuple[str, str]:
    (tier, level), _ = item
    return (tier or "", level or "")


def cells_from_rows(rows: Iterable[Sequence[Any]]) -> tuple[Cell, ...]:
    """Cells from (tier, level, strategy, customers, gold) rows."""
    return tuple(Cell(r[0], r[1], r[2], int(r[3]), int(r[4] or 0)) for r in rows)


def groups_of(counts: Mapping[str, Any]) -> Groups:
    """Customers per group of each ladder, from a run's `counts` (as `counts()` gives them)."""
    found: Groups = {"tier": {}, "level": {}, "strategy": {}}
    for row in counts.get("tier_level", ()):
        for kind in ("tier", "level"):
            found[kind][row[kind]] = found[kind].get(row[kind], 0) + int(row["customers"])
    for row in counts.get("strategies", ()):
        found["strategy"][row["strategy"]] = int(row["customers"])
    return found


def held_groups_of(counts: Mapping[str, Any]) -> tuple[HeldGroup, ...]:
    """The held customers of a run's `counts` (none in runs recorded before they were kept)."""
    return tuple(HeldGroup(**row) for row in counts.get("held_groups", ()))


def assigned_of(counts: Mapping[str, Any]) -> Groups:
    """Customers per group as assigned after a run: `groups_of`, with the customers a hold
    keeps counted in the group they stay in, not in the one the rules now give them."""
    found = groups_of(counts)
    for held in held_groups_of(counts):
        groups = found[held.kind]
        groups[held.waiting] = groups.get(held.waiting, 0) - held.customers
        groups[held.kept] = groups.get(held.kept, 0) + held.customers
    return {kind: {g: n for g, n in groups.items() if n} for kind, groups in found.items()}
