"""Concentration (Pareto): how much of the deposits or of the contribution the top customers
hold. The domain's question: is it 80/20, or do under 10 % of customers hold over 90 %?

The top k % are the first ceil(n·k/100) of the n customers whose value is known, largest
first. One sorted pass in the store gives every share and the whole curve. A value below 0 (a
loss-making customer's contribution) counts as 0: the shares are of what customers hold, so
they stay between 0 and 1 and the curve never falls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.report.model import Column, Table, share
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import double_sum, double_sum_terms, double_sum_total, quoted_name

TOPS = (1, 5, 10, 20)
CURVE_POINTS = 100  # the curve at every 1 % of customers
TARGET = 0.8  # who holds 80 %: the other side of the 80/20 question


@dataclass(frozen=True)
class Curve:
    field: str
    label: str
    customers: int  # customers whose value is known
    total: float
    top: dict[int, float | None]  # k -> share of the total held by the top k %
    holders: int | None  # fewest customers that hold 80 % of the total (None: total ≤ 0)
    points: tuple[tuple[float, float], ...]  # (share of customers, share of the total)
    below_zero: int = 0  # customers whose value is below 0, counted as holding 0

    @property
    def holders_share(self) -> float | None:
        return share(self.holders, self.customers) if self.holders is not None else None

    def verdict(self) -> str:
        """One sentence on the 80/20 question."""
        top10, holders = self.top.get(10), self.holders_share
        if top10 is None or holders is None:
            if not self.customers:
                return _("{measure}: no customer has a value").format(measure=self.label)
            return _("{measure}: no customer holds more than 0").format(measure=self.label)
        verdict = _("{measure}: the top 10 % hold {top}; {holders} of customers hold 80 %").format(
            measure=self.label, top=f"{top10:.1%}", holders=f"{holders:.1%}"
        )
        if self.below_zero:
            below = _("{count} customers below 0 count as 0").format(count=f"{self.below_zero:,}")
            verdict += f" ({below})"
        return verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "customers": self.customers,
            "total": self.total,
            "top": {f"top_{k}_percent": v for k, v in self.top.items()},
            "holders_of_80_percent": self.holders,
            "holders_of_80_percent_share": self.holders_share,
            "below_zero": self.below_zero,
            "curve": [{"customers": c, "held": h} for c, h in self.points],
        }


@dataclass(frozen=True)
class Concentration:
    curves: tuple[Curve, ...]
    money: bool = False  # every field is an amount in yuan (`unit: 元` in schema.yaml)
    name: str = "concentration"

    @property
    def title(self) -> str:
        return _("Concentration (Pareto)")

    def notes(self) -> list[str]:
        return [curve.verdict() for curve in self.curves]

    def tables(self) -> list[Table]:
        columns = (
            Column("field", _("measure")),
            Column("customers", _("customers"), "count"),
            Column("total", _("total"), "money" if self.money else "number"),
            *(Column(f"top_{k}_percent", f"前{k}% top {k} %", "share") for k in TOPS),
            Column("holders_of_80_percent", _("customers holding 80 %"), "share"),
        )
        rows = tuple(
            (c.label, c.customers, c.total, *(c.top[k] for k in TOPS), c.holders_share)
            for c in self.curves
        )
        return [Table("concentration", "", columns, rows)]

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [c.to_dict() for c in self.curves]}


def top_count(customers: int, percent: int) -> int:
    """How many customers are the top `percent` % of `customers` (rounded up)."""
    return -(-customers * percent // 100)


def curve_of(store: Store, field: str, label: str) -> Curve:
    column = quoted_name(field)
    head = store.execute(
        f"SELECT COUNT({column}) AS n, {double_sum(_held(column), store.dialect)} AS total,"
        f" COUNT(CASE WHEN {column} < 0 THEN 1 END) AS below FROM customers"
    )
    customers, total = int(head[0]["n"]), float(head[0]["total"] or 0.0)
    if customers == 0:
        return Curve(field, label, 0, 0.0, dict.fromkeys(TOPS), None, ())
    held, holders = _running_sums(store, column, customers, total)
    top = {k: share(held[top_count(customers, k)], total) for k in TOPS}
    points = [(0.0, 0.0)] + [
        (p / CURVE_POINTS, share(held[top_count(customers, p)], total) or 0.0)
        for p in range(1, CURVE_POINTS + 1)
    ]
    below = int(head[0]["below"])
    return Curve(field, label, customers, total, top, holders, tuple(points), below)


def _held(column: str) -> str:
    """What a customer holds of `column`: its value, or 0 below 0."""
    return f"CASE WHEN {column} > 0 THEN {column} ELSE 0 END"


def _ranked(column: str, dialect: str) -> str:
    """The CTE `ranked`: each customer's holding `v`, rank `rn` (largest first) and the sum
    `held` up to that rank."""
    small, huge = double_sum_terms(_held(column), dialect)
    running = f"OVER (ORDER BY {column} DESC ROWS UNBOUNDED PRECEDING)"
    return (
        f"summed AS (SELECT {_held(column)} AS v,"
        f" ROW_NUMBER() OVER (ORDER BY {column} DESC) AS rn,"
        f" SUM({small}) {running} AS held_small, SUM({huge}) {running} AS held_huge"
        f" FROM customers WHERE {column} IS NOT NULL),"
        f" ranked AS (SELECT v, rn, {double_sum_total('held_small', 'held_huge', dialect)}"
        " AS held FROM summed)"
    )


def _running_sums(
    store: Store, column: str, customers: int, total: float
) -> tuple[dict[int, float], int | None]:
    """The sum held by the customers up to each rank the report needs (largest first), and
    the rank where that sum first reaches 80 % of the total (None when the total is ≤ 0)."""
    ranks = sorted({top_count(customers, p) for p in (*TOPS, *range(1, CURVE_POINTS + 1))})
    target = TARGET * total
    crossing = " OR (held >= :target AND held - v < :target)" if total > 0 else ""
    rows = store.execute(
        f"WITH {_ranked(column, store.dialect)}"
        f" SELECT rn, held, v FROM ranked WHERE rn IN ({', '.join(map(str, ranks))}){crossing}",
        {"target": target},
    )
    held = {int(r["rn"]): float(r["held"]) for r in rows}
    crossed = [
        int(r["rn"])
        for r in rows
        if total > 0 and float(r["held"]) >= target and float(r["held"]) - float(r["v"]) < target
    ]
    return held, min(crossed, default=None)
