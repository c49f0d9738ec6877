"""Customers by tier × relationship level, as the latest classification left them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.report.groups import Group, Name
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, Table, share


@dataclass(frozen=True)
class Distribution:
    groups: tuple[Group, ...]
    tiers: tuple[Name, ...]  # pyramid order, most valuable first
    levels: tuple[Name, ...]
    labels: Labels
    name: str = "distribution"

    @property
    def title(self) -> str:
        return _("Customers by tier and relationship level")

    @property
    def customers(self) -> int:
        return sum(g.customers for g in self.groups)

    @property
    def gold(self) -> int:
        return sum(g.gold for g in self.groups)

    def count(self, tier: Name, level: Name) -> int:
        return sum(g.customers for g in self.groups if (g.tier, g.level) == (tier, level))

    def tier_total(self, tier: Name) -> int:
        return sum(g.customers for g in self.groups if g.tier == tier)

    def notes(self) -> list[str]:
        if not self.groups:
            return [_("no customer has been classified yet: run 'guanxi classify'")]
        return [
            _("gold customers: {gold} / {customers}").format(
                gold=f"{self.gold:,}", customers=f"{self.customers:,}"
            ),
            _("tiers and levels from the highest mean contribution down"),
        ]

    def tables(self) -> list[Table]:
        columns = (
            Column("tier", _("tier \\ level")),
            *(Column(str(v), self.labels.level(v), "count") for v in self.levels),
            Column("customers", _("total"), "count"),
            Column("share", _("share"), "share"),
            Column("gold", _("gold"), "count"),
        )
        rows = [self._row(self.labels.tier(t), [t]) for t in self.tiers]
        rows.append(self._row(_("total"), list(self.tiers)))
        return [Table("distribution", "", columns, tuple(rows))]

    def _row(self, label: str, tiers: Sequence[Name]) -> tuple[Any, ...]:
        chosen = [g for g in self.groups if g.tier in tiers]
        counts = [sum(g.customers for g in chosen if g.level == v) for v in self.levels]
        total = sum(counts)
        return (label, *counts, total, share(total, self.customers), sum(g.gold for g in chosen))

    def to_dict(self) -> dict[str, Any]:
        cells = [
            {"tier": g.tier, "level": g.level, "customers": g.customers, "gold": g.gold}
            for g in sorted(self.groups, key=self._position)
        ]
        return {
            "customers": self.customers,
            "gold": self.gold,
            "tiers": list(self.tiers),
            "levels": list(self.levels),
            "cells": cells,
        }

    def _position(self, group: Group) -> tuple[int, int]:
        return self.tiers.index(group.tier), self.levels.index(group.level)
