"""The difference a rule change makes: a run under the rules against one under the baseline,
from two copies of the same data with the same events.

    steps      per step, the customers who gain it (delivered under the rules, not under the
               baseline), lose it, or get it on other days or another number of times
    volumes    deliveries per day, channel and kind, where the two differ
    workload   each manager's tasks under both, where they differ on some day (per day too)
    moves      tiers, levels, strategies and gold flags that differ at the end, from → to
    sample     some affected customers, with explain's reasons under both rule sets and what
               became of each follow-up that differs

A customer is affected when their deliveries (which follow-ups, on which days) or their tier,
level, strategy or gold flag at the end differ; nobody else is.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.classify.explain import KINDS, Decision, Explanation, explain
from guanxi.engine.i18n import N_, _
from guanxi.engine.i18n.terms import status_word
from guanxi.engine.report.labels import Labels
from guanxi.engine.report.model import Column, Table
from guanxi.engine.report.workload import ManagerLoad
from guanxi.engine.simulate.results import RunResult
from guanxi.engine.simulate.run import Delivery
from guanxi.engine.store.base import Store

Assignment = tuple[str | None, str | None, str | None, bool]  # tier, level, strategy, gold
WHAT = ("tier", "level", "strategy", "gold")
NOTHING_CHANGES = N_("nothing changes: the same customers get the same follow-ups on the same days")
_RULES_GOLD = N_("gold under the rules: {reason}")
_BASELINE_GOLD = N_("gold under the baseline: {reason}")
Deliveries = dict[str, list[tuple[dt.date, str]]]  # customer -> (day, key), sorted


def against() -> tuple[Column, ...]:
    """A count under the rules against the baseline, headed in the current language."""
    return (
        Column("rules", _("rules"), "count"),
        Column("baseline", _("baseline"), "count"),
        Column("delta", _("delta"), "count"),
    )


@dataclass(frozen=True)
class Side:
    """One of the two runs, with the store it ran on (open while comparing)."""

    result: RunResult
    store: Store

    def assignments(self) -> dict[str, Assignment]:
        rows = self.store.execute(
            "SELECT customer_id, tier, level, strategy, gold FROM current_assignments"
        )
        return {
            r["customer_id"]: (r["tier"], r["level"], r["strategy"], bool(r["gold"])) for r in rows
        }

    def explain(self, customer_id: str) -> Explanation:
        """As of the last night (the assignment at the end), else of the start."""
        now = self.result.last_night or self.result.window.start
        return explain(self.store, self.result.ruleset, customer_id, now)

    def followup(self, key: str) -> dict[str, Any] | None:
        rows = self.store.execute(
            "SELECT status, due_at, policy, reason FROM followups WHERE key = :key", {"key": key}
        )
        return rows[0] if rows else None


@dataclass(frozen=True)
class StepChange:
    step_id: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    changed: tuple[str, ...]  # both, but on other days or another number of times


@dataclass(frozen=True)
class Affected:
    """One customer the change affects, with explain-style reasons."""

    customer_id: str
    rules: Assignment | None
    baseline: Assignment | None
    reasons: tuple[str, ...]


@dataclass
class Comparison:
    rules: RunResult
    baseline: RunResult
    steps: list[StepChange]
    moves: Counter[tuple[str, Any, Any]]  # (what, baseline value, rules value) -> customers
    classified_differently: list[str]
    delivered_differently: list[str]
    customers: int = 0  # classified under either rule set: what the shares are of
    sample: list[Affected] = field(default_factory=list)

    @property
    def affected(self) -> list[str]:
        return sorted(set(self.classified_differently) | set(self.delivered_differently))


def compare(rules: Side, baseline: Side, sample: int = 10) -> Comparison:
    """Compare the two runs; explain `sample` of the affected customers."""
    ours, theirs = rules.assignments(), baseline.assignments()
    classified, moves = classification_changes(ours, theirs)
    deliveries = rules.result.deliveries, baseline.result.deliveries
    comparison = Comparison(
        rules.result,
        baseline.result,
        step_changes(*deliveries),
        moves,
        classified,
        delivered_differently(*deliveries),
        len(ours.keys() | theirs.keys()),
    )
    comparison.sample = [
        _affected(customer, rules, baseline, ours, theirs)
        for customer in spread(comparison.affected, sample)
    ]
    return comparison


def classification_changes(
    ours: dict[str, Assignment], theirs: dict[str, Assignment]
) -> tuple[list[str], Counter[tuple[str, Any, Any]]]:
    """The customers whose assignments differ, and the moves: (what, baseline, rules) → how
    many customers."""
    moves: Counter[tuple[str, Any, Any]] = Counter()
    changed = []
    for customer in sorted(set(ours) | set(theirs)):
        now, before = ours.get(customer), theirs.get(customer)
        if now == before:
            continue
        changed.append(customer)
        for n, what in enumerate(WHAT):
            old, new = (before[n] if before else None), (now[n] if now else None)
            if old != new:
                moves[what, old, new] += 1
    return changed, moves


def delivered_differently(ours: list[Delivery], theirs: list[Delivery]) -> list[str]:
    """The customers whose deliveries (which follow-ups, on which days) differ."""
    differ = _by_customer(ours).items() ^ _by_customer(theirs).items()
    return sorted({customer for customer, _ in differ})


def step_changes(ours: list[Delivery], theirs: list[Delivery]) -> list[StepChange]:
    """Per step, who gains it, loses it, or gets it on other days or another number of times."""
    mine, others = _by_step(ours), _by_step(theirs)
    changes = []
    for step in sorted(set(mine) | set(others)):
        a, b = mine.get(step, {}), others.get(step, {})
        gained = tuple(sorted(set(a) - set(b)))
        lost = tuple(sorted(set(b) - set(a)))
        changed = tuple(sorted(c for c in set(a) & set(b) if a[c] != b[c]))
        if gained or lost or changed:
            changes.append(StepChange(step, gained, lost, changed))
    return changes


def spread(items: list[str], count: int) -> list[str]:
    """`count` items spread evenly over the sorted list (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[n * len(items) // count] for n in range(count)]


def _by_step(deliveries: Iterable[Delivery]) -> dict[str, Deliveries]:
    found: dict[str, Deliveries] = defaultdict(lambda: defaultdict(list))
    for d in deliveries:
        found[d.step_id][d.customer_id].append((d.day, d.key))
    return {step: {c: sorted(v) for c, v in by.items()} for step, by in found.items()}


def _by_customer(deliveries: Iterable[Delivery]) -> dict[str, tuple[tuple[dt.date, str], ...]]:
    found: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    for d in deliveries:
        found[d.customer_id].append((d.day, d.key))
    return {customer: tuple(sorted(days)) for customer, days in found.items()}


# --- explaining one affected customer ----------------------------------------------------------


def _affected(
    customer: str,
    rules: Side,
    baseline: Side,
    ours: dict[str, Assignment],
    theirs: dict[str, Assignment],
) -> Affected:
    reasons: list[str] = []
    if ours.get(customer) != theirs.get(customer):
        reasons += _classification_reasons(rules.explain(customer), baseline.explain(customer))
    reasons += _followup_reasons(customer, rules, baseline)
    return Affected(customer, ours.get(customer), theirs.get(customer), tuple(reasons))


def _classification_reasons(ours: Explanation, theirs: Explanation) -> list[str]:
    """Why the tier, level, strategy or gold differ: the rule each rule set matched, and the
    facts that failed the rules' choice under the baseline."""
    lines = []
    if ours.gold != theirs.gold:
        for said, explained in ((_RULES_GOLD, ours), (_BASELINE_GOLD, theirs)):
            gold = next((s for s in explained.standings if s.name == "gold"), None)
            if gold is not None:
                lines.append(_(said).format(reason=gold.reason))
    for kind in KINDS:
        mine, other = ours.decision(kind), theirs.decision(kind)
        if mine.result == other.result:
            continue
        said = _("{kind} {result} under the rules: {rule}")
        lines.append(said.format(kind=kind, result=mine.result, rule=_matched(mine)))
        said = _("{kind} {result} under the baseline: {rule}")
        lines.append(said.format(kind=kind, result=other.result, rule=_matched(other)))
        failed = next((t for t in other.tried if t.rule == mine.result and t.failed), None)
        if failed is not None:
            facts = "; ".join(str(fact) for fact in failed.failed)
            said = _("  under the baseline {rule} ({origin}) fails: {facts}")
            lines.append(said.format(rule=failed.rule, origin=failed.origin, facts=facts))
    return lines


def _matched(decision: Decision) -> str:
    rule = next((t for t in decision.tried if t.matched), None)
    if rule is None:
        return _("no rule matched")
    return f"{rule.origin} {rule.rule}: {rule.condition or _('(everyone left)')}"


def _followup_reasons(customer: str, rules: Side, baseline: Side) -> list[str]:
    """What became of each of the customer's follow-ups delivered in one run and not (or on
    another day) in the other."""
    ours = {d.key: d for d in rules.result.deliveries if d.customer_id == customer}
    theirs = {d.key: d for d in baseline.result.deliveries if d.customer_id == customer}
    lines = []
    for key in sorted(set(ours) | set(theirs)):
        mine, other = ours.get(key), theirs.get(key)
        if mine is not None and other is not None and mine.day == other.day:
            continue
        step = next(d.step_id for d in (mine, other) if d is not None)
        here = _what_became(mine, rules, key)
        there = _what_became(other, baseline, key)
        said = _("{step} ({key}): {here} under the rules; {there} under the baseline")
        lines.append(said.format(step=step, key=key, here=here, there=there))
    return lines


def _what_became(delivered: Delivery | None, side: Side, key: str) -> str:
    if delivered is not None:
        return _("delivered {day}").format(day=delivered.day)
    row = side.followup(key)
    if row is None:
        return _("not planned")
    zone = side.result.window.zone
    due = dt.datetime.fromisoformat(row["due_at"]).astimezone(zone)
    why = f" ({row['policy']}: {row['reason']})" if row["policy"] else ""
    status = status_word(row["status"])
    return _("{status}, due {due}").format(status=status, due=f"{due:%Y-%m-%d %H:%M}") + why


# --- as tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DifferenceSection:
    comparison: Comparison
    labels: Labels
    name: str = "difference"

    @property
    def title(self) -> str:
        return _("What the rules change against the baseline")

    def notes(self) -> list[str]:
        c = self.comparison
        if not c.affected:
            return [
                _("nothing changes: the same customers get the same follow-ups on the same days")
            ]
        said = _(
            "{affected} customers affected: {classified} with another tier, level, strategy or"
            " gold flag at the end, {delivered} with other deliveries; nobody else changes"
        )
        return [
            said.format(
                affected=f"{len(c.affected):,}",
                classified=f"{len(c.classified_differently):,}",
                delivered=f"{len(c.delivered_differently):,}",
            )
        ]

    def tables(self) -> list[Table]:
        return [
            self.steps(),
            self.customers(),
            self.channels(),
            self.volumes(),
            self.workload(),
            self.workload_by_day(),
            self.moves(),
        ]

    def steps(self) -> Table:
        columns = (
            Column("step", _("step")),
            Column("gained", _("customers who gain it"), "count"),
            Column("lost", _("customers who lose it"), "count"),
            Column("changed", _("on other days or another number of times"), "count"),
        )
        rows = tuple(
            (self.labels.step(s.step_id), len(s.gained), len(s.lost), len(s.changed))
            for s in self.comparison.steps
        )
        return Table("difference_steps", _("customers who gain or lose each step"), columns, rows)

    def customers(self) -> Table:
        columns = (
            Column("step", _("step")),
            Column("customer_id", _("customer")),
            Column("change", _("change")),
        )
        rows = tuple(
            (s.step_id, customer, change)
            for s in self.comparison.steps
            for change, customers in (
                ("gained", s.gained),
                ("lost", s.lost),
                ("changed", s.changed),
            )
            for customer in customers
        )
        return Table("difference_customers", _("by customer"), columns, rows, detail=True)

    def channels(self) -> Table:
        ours, theirs = _totals(self.comparison.rules), _totals(self.comparison.baseline)
        columns = (Column("channel", _("channel")), Column("kind", _("kind")), *against())
        rows = tuple(
            (channel, kind, ours[channel, kind], theirs[channel, kind],
             ours[channel, kind] - theirs[channel, kind])
            for channel, kind in sorted(set(ours) | set(theirs))
        )  # fmt: skip
        return Table("difference_channels", _("deliveries per channel"), columns, rows)

    def volumes(self) -> Table:
        ours, theirs = self.comparison.rules.volumes(), self.comparison.baseline.volumes()
        columns = (
            Column("day", _("day")),
            Column("channel", _("channel")),
            Column("kind", _("kind")),
            *against(),
        )
        rows = tuple(
            (day.isoformat(), channel, kind, ours[key], theirs[key], ours[key] - theirs[key])
            for key in sorted(set(ours) | set(theirs))
            for day, channel, kind in [key]
            if ours[key] != theirs[key]
        )
        title = _("deliveries per day and channel, where they differ")
        return Table("difference_volumes", title, columns, rows)

    def workload(self) -> Table:
        ours = _loads(self.comparison.rules)
        theirs = _loads(self.comparison.baseline)
        columns = (
            Column("owner", _("manager")),
            Column("tasks_rules", _("tasks (rules)"), "count"),
            Column("tasks_baseline", _("tasks (baseline)"), "count"),
            Column("delta", _("delta"), "count"),
            Column("busiest_rules", _("max a day (rules)"), "count"),
            Column("busiest_baseline", _("max a day (baseline)"), "count"),
            Column("over_rules", _("days over capacity (rules)"), "count"),
            Column("over_baseline", _("days over capacity (baseline)"), "count"),
        )
        rows = []
        for owner in _owners_differing(self.comparison):
            a, b = _numbers(ours.get(owner)), _numbers(theirs.get(owner))
            rows.append((owner, a[0], b[0], a[0] - b[0], a[1], b[1], a[2], b[2]))
        title = _("tasks per manager, where they differ")
        return Table("difference_workload", title, columns, tuple(rows))

    def workload_by_day(self) -> Table:
        """Each manager's tasks on each day where the two runs differ: a change that only
        moves a manager's calls to other days leaves their totals alone, not their days."""
        ours, theirs = _per_day(self.comparison.rules), _per_day(self.comparison.baseline)
        columns = (Column("owner", _("manager")), Column("day", _("day")), *against())
        rows = tuple(
            (owner, day.isoformat(), ours[key], theirs[key], ours[key] - theirs[key])
            for key in sorted(set(ours) | set(theirs))
            for owner, day in [key]
            if ours[key] != theirs[key]
        )
        title = _("tasks per manager per day, where they differ")
        return Table("difference_workload_by_day", title, columns, rows, detail=True)

    def moves(self) -> Table:
        columns = (
            Column("what", _("what")),
            Column("baseline", _("under the baseline")),
            Column("rules", _("under the rules")),
            Column("customers", _("customers"), "count"),
        )
        rows = tuple(
            (what, _shown(old), _shown(new), n)
            for (what, old, new), n in sorted(
                self.comparison.moves.items(), key=lambda item: (WHAT.index(item[0][0]), -item[1])
            )
        )
        title = _("tier, level, strategy and gold at the end, where they differ")
        return Table("difference_moves", title, columns, rows)

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "affected": len(c.affected),
            "classified_differently": c.classified_differently,
            "delivered_differently": c.delivered_differently,
            **{t.name.removeprefix("difference_"): t.records() for t in self.tables()},
        }


@dataclass(frozen=True)
class SampleSection:
    """A few affected customers with explain's reasons, as lines to read."""

    comparison: Comparison
    name: str = "sample"

    @property
    def title(self) -> str:
        return _("Some affected customers, and why")

    def notes(self) -> list[str]:
        lines = []
        for affected in self.comparison.sample:
            lines.append(
                f"{affected.customer_id}: {_assignment(affected.rules)} under the rules,"
                f" {_assignment(affected.baseline)} under the baseline"
            )
            lines += [f"  {reason}" for reason in affected.reasons]
        return lines

    def tables(self) -> list[Table]:
        columns = (
            Column("customer_id", _("customer")),
            Column("rules", _("under the rules")),
            Column("baseline", _("under the baseline")),
            Column("reasons", _("reasons")),
        )
        rows = tuple(
            (a.customer_id, _assignment(a.rules), _assignment(a.baseline), " | ".join(a.reasons))
            for a in self.comparison.sample
        )
        return [Table("difference_sample", "", columns, rows, detail=True)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": [
                {
                    "customer_id": a.customer_id,
                    "rules": _assignment_dict(a.rules),
                    "baseline": _assignment_dict(a.baseline),
                    "reasons": list(a.reasons),
                }
                for a in self.comparison.sample
            ]
        }


def _totals(result: RunResult) -> Counter[tuple[str, str]]:
    return Counter((d.channel, d.kind) for d in result.deliveries)


def _loads(result: RunResult) -> dict[str, ManagerLoad]:
    return {m.owner: m for m in result.workload().managers()}


def _per_day(result: RunResult) -> Counter[tuple[str, dt.date]]:
    return Counter(result.workload().per_day)


def _owners_differing(comparison: Comparison) -> list[str]:
    """The managers whose tasks differ on some day (in number, or in the days they fall on)."""
    ours, theirs = _per_day(comparison.rules), _per_day(comparison.baseline)
    return sorted(
        {owner for owner, day in set(ours) | set(theirs) if ours[owner, day] != theirs[owner, day]}
    )


def _numbers(load: ManagerLoad | None) -> tuple[int, int, int]:
    return (load.tasks, load.busiest, load.over_capacity) if load else (0, 0, 0)


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _assignment(assignment: Assignment | None) -> str:
    if assignment is None:
        return _("not classified")
    tier, level, strategy, gold = assignment
    return f"{tier} · {level} · {strategy}" + (f" · {_('gold')}" if gold else "")


def _assignment_dict(assignment: Assignment | None) -> dict[str, Any] | None:
    return None if assignment is None else dict(zip(WHAT, assignment, strict=True))
