"""Customers grouped by their current tier and level, with sums of the fields reports need.

One query over the assignments (each customer's latest result) and the customers feeds the
distribution, the scorecard and the pyramid order. Sums and counts, not means, so groups can
be added up exactly into tiers, levels and the whole population.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from guanxi.engine.report.model import mean
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import DoubleSum, as_double, double_sum_terms, quoted_name

Name = str | None


@dataclass
class Group:
    tier: Name
    level: Name
    customers: int = 0
    gold: int = 0
    parts: dict[str, DoubleSum] = field(default_factory=dict)  # field -> its known values' sum
    known: dict[str, int] = field(default_factory=dict)  # field -> customers with a value

    def add(self, other: Group) -> None:
        self.customers += other.customers
        self.gold += other.gold
        for name, total in other.parts.items():
            self.parts[name] = self.parts.get(name, DoubleSum()) + total
            self.known[name] = self.known.get(name, 0) + other.known.get(name, 0)

    def total(self, name: str) -> float:
        """The sum of the field's known values (0 for none)."""
        return self.parts.get(name, DoubleSum()).value or 0.0

    def mean(self, name: str) -> float | None:
        return mean(self.parts.get(name, DoubleSum()).value, self.known.get(name, 0))


@dataclass(frozen=True)
class Measured:
    """Measures of every customer: `sql` gives the key and a column for each of `names`."""

    sql: str
    names: tuple[str, ...]


def tier_level_groups(
    store: Store, key: str, fields: Sequence[str], measured: Measured | None = None
) -> list[Group]:
    """Every (tier, level) that has customers, with their count, gold count and the sums of
    customer `fields` and of `measured` measures."""
    columns = [f"c.{quoted_name(f)}" for f in fields]
    columns += [f"m.{quoted_name(n)}" for n in measured.names] if measured else []
    terms = [double_sum_terms(as_double(c, store.dialect), store.dialect) for c in columns]
    sums = "".join(
        f", SUM({small}) AS s{i}, SUM({huge}) AS h{i}, COUNT({c}) AS n{i}"
        for i, (c, (small, huge)) in enumerate(zip(columns, terms, strict=True))
    )
    joined = (
        f" LEFT JOIN ({measured.sql}) AS m ON m.{quoted_name(key)} = a.customer_id"
        if measured
        else ""
    )
    rows = store.execute(
        "SELECT a.tier AS tier, a.level AS level, COUNT(*) AS customers,"
        f" SUM(CASE WHEN a.gold THEN 1 ELSE 0 END) AS gold{sums}"
        " FROM current_assignments AS a"
        f" LEFT JOIN customers AS c ON c.{quoted_name(key)} = a.customer_id"
        f"{joined} GROUP BY a.tier, a.level"
    )
    fields = [*fields, *(measured.names if measured else ())]
    return [
        Group(
            row["tier"],
            row["level"],
            int(row["customers"]),
            int(row["gold"] or 0),
            {f: DoubleSum.read(row[f"s{i}"], row[f"h{i}"]) for i, f in enumerate(fields)},
            {f: int(row[f"n{i}"]) for i, f in enumerate(fields)},
        )
        for row in rows
    ]


def merged(groups: Iterable[Group], by: Callable[[Group], Name]) -> dict[Name, Group]:
    """Groups added up by tier (by=lambda g: g.tier), by level, or into one (lambda g: None);
    the sums keep tier and level None."""
    result: dict[Name, Group] = {}
    for group in groups:
        result.setdefault(by(group), Group(None, None)).add(group)
    return result


def means(
    groups: Iterable[Group], by: Callable[[Group], Name], name: str
) -> dict[Name, float | None]:
    return {key: group.mean(name) for key, group in merged(groups, by).items()}
