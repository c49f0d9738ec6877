"""Customers by industry, by system (行业和系统) and by corporate group (集团): how many, of
which tier, gold, their deposits and contribution. Groups are the top ones by contribution.

One query per field over the assignments (each customer's latest result) and the customers;
a customer whose field is empty counts in a row of their own, '(not given)'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from guanxi.engine.i18n import N_, _
from guanxi.engine.privacy.personal import mask_as
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, Table, share
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import as_double, double_sum, quoted_name

TOP_GROUPS = 20
MISSING = N_("(not given)")
HEADINGS = {
    "industry": N_("by industry"),
    "system": N_("by system"),
    "group": N_("top corporate groups by contribution"),
}


@dataclass
class SegmentRow:
    """The customers of one industry, system or group."""

    value: str | None
    customers: int = 0
    gold: int = 0
    tiers: dict[str | None, int] = field(default_factory=dict)  # tier -> customers
    deposits: float = 0.0
    contribution: float = 0.0


@dataclass(frozen=True)
class Segment:
    kind: str  # industry, system or group
    field: str  # the customer field
    rows: tuple[SegmentRow, ...]


@dataclass(frozen=True)
class Segments:
    segments: tuple[Segment, ...]
    deposits: str | None  # the customer fields summed, when the schema has them
    contribution: str | None
    labels: Labels
    total_contribution: float = 0.0  # of every customer: the share's whole
    name: str = "segments"

    @property
    def title(self) -> str:
        return _("Customers by industry, system and corporate group")

    def notes(self) -> list[str]:
        found = [_("customers without a value count in the row '{none}'").format(none=_(MISSING))]
        if any(s.kind == "group" for s in self.segments):
            found.append(
                _("the {count} groups with the most contribution").format(count=TOP_GROUPS)
            )
        return found

    def columns(self, kind: str, name: str) -> tuple[Column, ...]:
        tiers = (Column(f"tier_{t}", self.labels.tier(t), "count") for t in self.labels.tier_order)
        money = []
        if self.deposits:
            money.append(Column("deposits", self.labels.field(self.deposits), "money"))
        if self.contribution:
            money.append(Column("contribution", self.labels.field(self.contribution), "money"))
            money.append(Column("contribution_share", _("contribution share"), "share"))
        return (
            Column(kind, name),
            Column("customers", _("customers"), "count"),
            Column("gold", _("gold"), "count"),
            *tiers,
            *money,
        )

    def values(self, row: SegmentRow) -> tuple[Any, ...]:
        tiers = (row.tiers.get(t, 0) for t in self.labels.tier_order)
        money: list[Any] = [row.deposits] if self.deposits else []
        if self.contribution:
            total = self.total_contribution
            money += [row.contribution, share(row.contribution, total) if total > 0 else None]
        shown = _(MISSING) if row.value is None else row.value
        return (shown, row.customers, row.gold, *tiers, *money)

    def tables(self) -> list[Table]:
        return [self._table(s) for s in self.segments]

    def masked(self, kinds: Mapping[str, str]) -> Segments:
        """The values of the personal fields among `kinds` (field -> kind) masked."""

        def shown(segment: Segment) -> Segment:
            kind = kinds.get(segment.field)
            if kind is None:
                return segment
            rows = (replace(r, value=r.value and mask_as(kind, r.value)) for r in segment.rows)
            return replace(segment, rows=tuple(rows))

        return replace(self, segments=tuple(shown(s) for s in self.segments))

    def _table(self, segment: Segment) -> Table:
        heading = _(HEADINGS[segment.kind])
        columns = self.columns(segment.kind, self.labels.field(segment.field))
        rows = tuple(self.values(r) for r in segment.rows)
        return Table(f"segments_by_{segment.kind}", heading, columns, rows)

    def to_dict(self) -> dict[str, Any]:
        def record(row: SegmentRow) -> dict[str, Any]:
            keys = [c.key for c in self.columns("value", "")]
            return {**dict(zip(keys, self.values(row), strict=True)), "value": row.value}

        return {
            "fields": {s.kind: s.field for s in self.segments},
            **{f"by_{s.kind}": [record(r) for r in s.rows] for s in self.segments},
        }


def segments(
    store: Store,
    key: str,
    fields: Sequence[tuple[str, str]],
    deposits: str | None,
    contribution: str | None,
    labels: Labels,
) -> Segments:
    """`fields`: (kind, customer field) pairs, the kinds of HEADINGS."""
    found, total = [], 0.0
    for kind, name in fields:
        rows = _rows(store, key, name, deposits, contribution)
        total = sum(r.contribution for r in rows)  # every customer is in some row
        if kind == "group":
            rows = [r for r in rows if r.value is not None][:TOP_GROUPS]
        found.append(Segment(kind, name, tuple(rows)))
    return Segments(tuple(found), deposits, contribution, labels, total)


def _rows(
    store: Store, key: str, name: str, deposits: str | None, contribution: str | None
) -> list[SegmentRow]:
    """One row per value of the field, the most contribution first (then the most customers)."""
    sums = "".join(
        f", {double_sum(as_double(f'c.{quoted_name(f)}', store.dialect), store.dialect)} AS {alias}"
        for alias, f in (("deposits", deposits), ("contribution", contribution))
        if f
    )
    found = store.execute(
        f"SELECT c.{quoted_name(name)} AS value, a.tier AS tier, COUNT(*) AS customers,"
        f" SUM(CASE WHEN a.gold THEN 1 ELSE 0 END) AS gold{sums}"
        " FROM current_assignments AS a"
        f" LEFT JOIN customers AS c ON c.{quoted_name(key)} = a.customer_id"
        f" GROUP BY c.{quoted_name(name)}, a.tier"
    )
    rows: dict[str | None, SegmentRow] = {}
    for part in found:
        value = None if part["value"] is None else str(part["value"])
        row = rows.setdefault(value, SegmentRow(value))
        row.customers += int(part["customers"])
        row.gold += int(part["gold"] or 0)
        row.tiers[part["tier"]] = row.tiers.get(part["tier"], 0) + int(part["customers"])
        row.deposits += float(part.get("deposits") or 0.0)
        row.contribution += float(part.get("contribution") or 0.0)
    return sorted(rows.values(), key=lambda r: (-r.contribution, -r.customers, r.value or ""))
