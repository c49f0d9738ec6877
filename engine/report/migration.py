"""Migration: how customers moved between tiers and between levels from one classification
run to a later one — who moved up the pyramid, who slipped.

The store keeps each customer's latest result (assignments) and every change (transitions,
one row per customer per run that changed their tier, level or strategy). A customer's state
at run R is therefore the `from` side of their first transition after R, or their latest
result when nothing changed after R. So the states at two runs come from one query, and the
usual question (the last two runs) reads only the last run's transitions.

A customer whose earlier result was empty (never classified, or no tier, level and strategy)
counts as new; customers classified only after the later run are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from guanxi.engine.clock import stored_in_zone
from guanxi.engine.errors import ReportError
from guanxi.engine.i18n import N_, _
from guanxi.engine.report.groups import Name
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, Table, mean
from guanxi.engine.report.order import pyramid
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import DoubleSum, as_double, double_sum_terms, quoted_name

Kind = Literal["tier", "level"]


@dataclass(frozen=True)
class Run:
    id: int
    started_at: str
    ruleset_hash: str
    customers: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.started_at,
            "ruleset_hash": self.ruleset_hash,
            "customers": self.customers,
        }

    def shown(self, zone: str) -> str:
        """'run 3 (2026-12-04)': the day it started in the project's zone (stored in UTC,
        a night's run at 02:00 in Shanghai started the evening before)."""
        day = stored_in_zone(self.started_at, zone).date()
        return _("run {run} ({day})").format(run=self.id, day=day.isoformat())


@dataclass(frozen=True)
class Moves:
    """One row of the query: customers with the same states at both runs."""

    from_tier: Name
    from_level: Name
    new: bool
    to_tier: Name
    to_level: Name
    customers: int
    contribution: DoubleSum
    known: int  # customers with a known contribution


@dataclass(frozen=True)
class Matrix:
    kind: Kind
    order: tuple[Name, ...]  # pyramid order, most valuable first
    moves: dict[tuple[Name, Name], int]  # (from, to) -> customers classified at both runs
    arrivals: dict[Name, int]  # to -> new customers

    def direction(self, source: Name, target: Name) -> str:
        """'up', 'down' or 'same': up is toward the top of the pyramid."""
        a, b = self.order.index(source), self.order.index(target)
        return "same" if a == b else "up" if b < a else "down"

    def summary(self) -> dict[str, int]:
        counts = Counter({"up": 0, "down": 0, "same": 0})
        for (source, target), customers in self.moves.items():
            counts[self.direction(source, target)] += customers
        return {**counts, "new": sum(self.arrivals.values())}

    def to_dict(self) -> dict[str, Any]:
        moves = [
            {"from": s, "to": t, "customers": n, "direction": self.direction(s, t)}
            for (s, t), n in sorted(self.moves.items(), key=self._position)
        ]
        arrivals = [{"to": t, "customers": n} for t, n in self.arrivals.items()]
        return {"order": list(self.order), "moves": moves, "new": arrivals, **self.summary()}

    def _position(self, item: tuple[tuple[Name, Name], int]) -> tuple[int, int]:
        (source, target), _count = item
        return self.order.index(source), self.order.index(target)


@dataclass(frozen=True)
class Migration:
    runs: tuple[Run, ...]  # every finished run in the store
    compared: tuple[Run, Run] | None  # None: fewer than two runs
    tiers: Matrix | None
    levels: Matrix | None
    labels: Labels = field(default_factory=Labels)
    name: str = "migration"
    timezone: str = "UTC"  # the project's: the runs' days are shown in it

    @property
    def title(self) -> str:
        return _("Migration between classification runs")

    def notes(self) -> list[str]:
        if self.compared is None:
            return [
                _("needs two classification runs; the store has {count}").format(
                    count=len(self.runs)
                )
            ]
        before, after = self.compared
        lines = [f"{before.shown(self.timezone)} → {after.shown(self.timezone)}"]
        for matrix in (self.tiers, self.levels):
            if matrix is not None:
                s = matrix.summary()
                lines.append(
                    _("{kind}: up {up} · down {down} · same {same} · new {new}").format(
                        kind=_(_KIND_LABEL[matrix.kind]),
                        up=f"{s['up']:,}",
                        down=f"{s['down']:,}",
                        same=f"{s['same']:,}",
                        new=f"{s['new']:,}",
                    )
                )
        return lines

    def tables(self) -> list[Table]:
        return [self._matrix_table(m) for m in (self.tiers, self.levels) if m is not None]

    def _matrix_table(self, matrix: Matrix) -> Table:
        show = self.labels.tier if matrix.kind == "tier" else self.labels.level
        columns = (
            Column("from", _("{kind} from \\ to").format(kind=_(_KIND_LABEL[matrix.kind]))),
            *(Column(str(t), show(t), "count") for t in matrix.order),
            Column("customers", _("total"), "count"),
        )
        rows = []
        for source in matrix.order:
            counts = [matrix.moves.get((source, t), 0) for t in matrix.order]
            rows.append((show(source), *counts, sum(counts)))
        if matrix.arrivals:
            counts = [matrix.arrivals.get(t, 0) for t in matrix.order]
            rows.append((_("new"), *counts, sum(counts)))
        title = _(_KIND_LABEL[matrix.kind])
        return Table(f"migration_{matrix.kind}s", title, columns, tuple(rows))

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [r.to_dict() for r in self.runs],
            "from_run": self.compared[0].to_dict() if self.compared else None,
            "to_run": self.compared[1].to_dict() if self.compared else None,
            "tiers": self.tiers.to_dict() if self.tiers else None,
            "levels": self.levels.to_dict() if self.levels else None,
        }


_KIND_LABEL = {"tier": N_("tiers"), "level": N_("levels")}


def finished_runs(store: Store) -> list[Run]:
    rows = store.execute(
        "SELECT id, started_at, ruleset_hash, customers FROM classification_runs"
        " WHERE finished_at IS NOT NULL ORDER BY id"
    )
    return [Run(int(r["id"]), r["started_at"], r["ruleset_hash"], r["customers"]) for r in rows]


def chosen_runs(
    runs: Sequence[Run], from_run: int | None, to_run: int | None
) -> tuple[Run, Run] | None:
    """The two runs to compare: by default the last two; either end may be given."""
    by_id = {r.id: r for r in runs}
    for given in (from_run, to_run):
        if given is not None and given not in by_id:
            known = ", ".join(str(r.id) for r in runs) or _("none")
            raise ReportError(
                _("no classification run {run}; the store's runs: {known}").format(
                    run=given, known=known
                )
            )
    ids = [r.id for r in runs]
    later = to_run if to_run is not None else (ids[-1] if ids else None)
    earlier_ids = [i for i in ids if later is not None and i < later]
    earlier = from_run if from_run is not None else (earlier_ids[-1] if earlier_ids else None)
    if earlier is None or later is None:
        if from_run is not None or to_run is not None:
            raise ReportError(_("there is no earlier classification run to compare with"))
        return None
    if earlier >= later:
        raise ReportError(
            _("run {earlier} is not earlier than run {later}").format(earlier=earlier, later=later)
        )
    return by_id[earlier], by_id[later]


def migration(
    store: Store,
    labels: Labels,
    key: str,
    contribution: str | None,
    from_run: int | None = None,
    to_run: int | None = None,
    timezone: str = "UTC",
) -> Migration:
    runs = finished_runs(store)
    compared = chosen_runs(runs, from_run, to_run)
    if compared is None:
        return Migration(tuple(runs), None, None, None, labels, timezone=timezone)
    rows = moves_between(store, key, contribution, compared[0].id, compared[1].id)
    tiers = matrix_of(rows, "tier", labels.tier_order)
    levels = matrix_of(rows, "level", labels.level_order)
    return Migration(tuple(runs), compared, tiers, levels, labels, timezone=timezone)


def _state(alias: str, column: str) -> str:
    return f"CASE WHEN t{alias}.id IS NULL THEN s.{column} ELSE t{alias}.from_{column} END"


def _empty(alias: str) -> str:
    """SQL: the customer's first transition after the run starts from nothing (new)."""
    empty = " AND ".join(f"t{alias}.from_{c} IS NULL" for c in ("tier", "level", "strategy"))
    return f"CASE WHEN t{alias}.id IS NOT NULL AND {empty} THEN 1 ELSE 0 END"


def moves_between(
    store: Store, key: str, contribution: str | None, earlier: int, later: int
) -> list[Moves]:
    value = f"c.{quoted_name(contribution)}" if contribution else "NULL"
    small, huge = double_sum_terms(as_double(value, store.dialect), store.dialect)
    first_after = (
        "SELECT customer_id, MIN(id) AS first FROM transitions WHERE run_id > {} GROUP BY"
        " customer_id"
    )
    rows = store.execute(
        f"WITH after_a AS ({first_after.format(':earlier')}),"
        f" after_b AS ({first_after.format(':later')}),"
        f" states AS (SELECT s.customer_id AS customer_id,"
        f" {_state('a', 'tier')} AS from_tier, {_state('a', 'level')} AS from_level,"
        f" {_empty('a')} AS new_before, {_state('b', 'tier')} AS to_tier,"
        f" {_state('b', 'level')} AS to_level, {_empty('b')} AS new_after"
        " FROM current_assignments AS s"
        " LEFT JOIN after_a AS a ON a.customer_id = s.customer_id"
        " LEFT JOIN transitions AS ta ON ta.id = a.first"
        " LEFT JOIN after_b AS b ON b.customer_id = s.customer_id"
        " LEFT JOIN transitions AS tb ON tb.id = b.first)"
        " SELECT from_tier, from_level, new_before, to_tier, to_level, COUNT(*) AS customers,"
        f" SUM({small}) AS contribution, SUM({huge}) AS huge_contribution,"
        f" COUNT({value}) AS known FROM states AS st"
        f" LEFT JOIN customers AS c ON c.{quoted_name(key)} = st.customer_id WHERE new_after = 0"
        " GROUP BY from_tier, from_level, new_before, to_tier, to_level",
        {"earlier": earlier, "later": later},
    )
    return [
        Moves(
            r["from_tier"],
            r["from_level"],
            bool(r["new_before"]),
            r["to_tier"],
            r["to_level"],
            int(r["customers"]),
            DoubleSum.read(r["contribution"], r["huge_contribution"]),
            int(r["known"]),
        )
        for r in rows
    ]


def matrix_of(rows: Sequence[Moves], kind: Kind, ladder: Sequence[str]) -> Matrix:
    source, target = _sides(kind)
    moves: Counter[tuple[Name, Name]] = Counter()
    arrivals: Counter[Name] = Counter()
    for row in rows:
        if row.new:
            arrivals[target(row)] += row.customers
        else:
            moves[source(row), target(row)] += row.customers
    present = {n for pair in moves for n in pair} | set(arrivals)
    order = [n for n in pyramid(ladder, _means(rows, source, target)) if n in present]
    return Matrix(kind, tuple(order), dict(moves), dict(arrivals))


def _sides(kind: Kind) -> tuple[Callable[[Moves], Name], Callable[[Moves], Name]]:
    if kind == "tier":
        return (lambda m: m.from_tier), (lambda m: m.to_tier)
    return (lambda m: m.from_level), (lambda m: m.to_level)


def _means(
    rows: Sequence[Moves], source: Callable[[Moves], Name], target: Callable[[Moves], Name]
) -> dict[Name, float | None]:
    """Mean contribution of the customers in each tier (or level) at either run."""
    sums: dict[Name, DoubleSum] = {}
    known: dict[Name, int] = {}
    for row in rows:
        sides = [target(row)] if row.new else [source(row), target(row)]
        for name in sides:
            sums[name] = sums.get(name, DoubleSum()) + row.contribution
            known[name] = known.get(name, 0) + row.known
    return {name: mean(sums[name].value, known[name]) for name in known}
