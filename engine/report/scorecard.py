"""What CRM is judged by: satisfaction, loyalty and contribution, by tier and by level.

Means are over the customers whose value is known (a partial record counts in `customers`
but not in the mean); `contribution share` is the part of all known contribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import N_, _
from guanxi.engine.report.groups import Group, Name, merged
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, ColumnKind, Table, share

HEADINGS = {"tier": N_("by tier"), "level": N_("by level")}


@dataclass(frozen=True)
class Scorecard:
    groups: tuple[Group, ...]
    tiers: tuple[Name, ...]
    levels: tuple[Name, ...]
    metrics: tuple[str, ...]  # customer fields: satisfaction, loyalty, contribution
    contribution: str | None  # the field whose share of the total is shown
    labels: Labels
    name: str = "scorecard"

    @property
    def title(self) -> str:
        return _("Satisfaction, loyalty and contribution")

    def notes(self) -> list[str]:
        return [_("means count the customers whose value is known")]

    def tables(self) -> list[Table]:
        return [self._table("tier"), self._table("level"), self._cells_table()]

    def _columns(self, first: Column) -> tuple[Column, ...]:
        means = (
            Column(f"mean_{m}", _("{field} mean").format(field=self.labels.field(m)), self._kind(m))
            for m in self.metrics
        )
        tail = (Column("contribution_share", _("contribution share"), "share"),)
        counts = (
            Column("customers", _("customers"), "count"),
            Column("gold", _("gold"), "count"),
        )
        return (first, *counts, *means, *(tail if self.contribution else ()))

    def _kind(self, metric: str) -> ColumnKind:
        return "money" if metric in self.labels.money else "number"

    def _values(self, group: Group) -> tuple[Any, ...]:
        values = [group.customers, group.gold, *(group.mean(m) for m in self.metrics)]
        if self.contribution:  # of a total at or below 0 (losses outweigh), no share is sensible
            total = self._total
            part = group.total(self.contribution)
            values.append(share(part, total) if total > 0 else None)
        return tuple(values)

    @property
    def _total(self) -> float:
        if self.contribution is None:
            return 0.0
        everyone = merged(self.groups, _all).get(None, Group(None, None))
        return everyone.total(self.contribution)

    def _table(self, key: str) -> Table:
        """One row per tier (key 'tier') or per level (key 'level'), then the total."""
        by, order, show = (
            (_tier, self.tiers, self.labels.tier)
            if key == "tier"
            else (_level, self.levels, self.labels.level)
        )
        found = merged(self.groups, by)
        rows = [(show(n), *self._values(found[n])) for n in order if n in found]
        everyone = merged(self.groups, _all).get(None, Group(None, None))
        rows.append((_("total"), *self._values(everyone)))
        heading = _(HEADINGS[key])
        columns = self._columns(Column(key, heading))
        return Table(f"scorecard_by_{key}", heading, columns, tuple(rows))

    def _cells_table(self) -> Table:
        rows = [
            (self.labels.tier(g.tier), self.labels.level(g.level), *self._values(g))
            for g in sorted(self.groups, key=self._position)
        ]
        columns = (Column("tier", _("tier")), *self._columns(Column("level", _("level"))))
        heading = _("by tier and level")
        return Table("scorecard_by_tier_level", heading, columns, tuple(rows))

    def _position(self, group: Group) -> tuple[int, int]:
        return self.tiers.index(group.tier), self.levels.index(group.level)

    def to_dict(self) -> dict[str, Any]:
        def record(group: Group) -> dict[str, Any]:
            values = self._values(group)
            keys = [c.key for c in self._columns(Column("", ""))][1:]
            return dict(zip(keys, values, strict=True))

        cells = [
            {"tier": g.tier, "level": g.level, **record(g)}
            for g in sorted(self.groups, key=self._position)
        ]
        tiers = merged(self.groups, _tier)
        levels = merged(self.groups, _level)
        return {
            "metrics": list(self.metrics),
            "contribution": self.contribution,
            "by_tier": [{"tier": t, **record(tiers[t])} for t in self.tiers if t in tiers],
            "by_level": [{"level": v, **record(levels[v])} for v in self.levels if v in levels],
            "by_tier_level": cells,
        }


def _tier(group: Group) -> Name:
    return group.tier


def _level(group: Group) -> Name:
    return group.level


def _all(group: Group) -> Name:
    return None
