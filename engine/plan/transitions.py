"""Tier and level changes (`on_enter:` / `on_leave:`), planned set-based after a classification.

A classification run records a transition for every customer whose tier, level or strategy
changed (a customer's first assignment counts, from nothing). For the run:

    on_enter: X   the run moved the customer into X: to = X and from is not X
    on_leave: X   the run moved the customer out of X: from = X and to is not X

X names a tier or a level (a name that is both matches either). As with recurring steps, the
customer's current level must be the step's playbook level (any level for `all`), `when:`
must hold (with the customer's fields, tier, level, strategy, gold and the measures, on the
run's local date), and `unless:` true inserts the row as cancelled. The occurrence is the run
(`step:customer:run-<id>`), so planning the same run twice plans nothing new; the due time
counts from the moment the run finished. One INSERT … SELECT per step, then the contact
policy over the batch.

A store's first classification is a baseline, not a wave of transitions: every customer
enters a first tier and level, but they were customers long before, so a partner of years is
not welcomed as a new one. On that run (no earlier run classified anyone) `on_enter:` steps
plan nothing unless they say `initial: true`; the report counts what they held back. There is
nothing to leave on a baseline, so `on_leave:` steps find no one, as on any first assignment.
Afterwards a customer new to the store enters their first tier and level as a transition.

A run and the planning of its transitions commit together: `TransitionPlanner` is passed to
the classification engines as `after`, so the planning runs inside the run's transaction. A
process killed between the two would otherwise leave transitions whose follow-ups nothing
ever plans (the next run sees no change for those customers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.classify.apply import differs
from guanxi.engine.classify.run import tuned
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import new_batch
from guanxi.engine.plan.recurring import (
    PlanReport,
    Scope,
    StepPlan,
    apply_policy,
    count_planned,
    insert_planned,
    occurrence,
)
from guanxi.engine.ruleset import CompiledStep, RuleSet
from guanxi.engine.store.base import Store


@dataclass
class TransitionReport(PlanReport):
    """A transition planning call; on a baseline run, also what its `on_enter:` steps held
    back: step id -> follow-ups not planned."""

    baseline: bool = False
    held_back: dict[str, int] = field(default_factory=dict)

    @property
    def not_planned(self) -> int:
        return sum(self.held_back.values())

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "baseline": self.baseline, "held_back": self.held_back}


class TransitionPlanner:
    """A classification run's `after`: plans the run's `on_enter:`/`on_leave:` steps inside
    the run's transaction; `planned` is what it planned."""

    def __init__(self, store: Store, ruleset: RuleSet, now: dt.datetime) -> None:
        self.store, self.ruleset, self.now = store, ruleset, now
        self._planned: TransitionReport | None = None

    def __call__(self, run_id: int) -> None:
        self._planned = plan_transitions(self.store, self.ruleset, run_id, self.now)

    @property
    def planned(self) -> TransitionReport:
        if self._planned is None:
            raise RuntimeError("the planner has not run: no classification run was written")
        return self._planned


def plan_transitions(
    store: Store, ruleset: RuleSet, run_id: int, now: dt.datetime
) -> TransitionReport:
    """Plan the `on_enter:`/`on_leave:` steps for the transitions of classification run
    `run_id`, then apply the contact policy to the new follow-ups, in one transaction: no
    dispatcher sees a follow-up the policy has not decided."""
    with tuned(store), store.transaction():
        report = insert_transitions(store, ruleset, run_id, now, new_batch())
        apply_policy(store, ruleset, report, now)
        return report


def insert_transitions(
    store: Store, ruleset: RuleSet, run_id: int, now: dt.datetime, batch: str
) -> TransitionReport:
    """The planning alone: the new rows of `batch` stay as planned (pending or cancelled)."""
    started, finished = _run_times(store, run_id)
    today = started.astimezone(ruleset.calendar.zone).date()
    label = f"run-{run_id}"
    report = TransitionReport(batch, baseline=is_baseline(store, run_id))
    with tuned(store), store.transaction():
        for step in ruleset.steps:
            if step.step.on_enter or step.step.on_leave:
                planned = occurrence(ruleset, step, label, finished, today)
                scope = _scope(ruleset, step, run_id, store.dialect)
                if report.baseline and step.step.on_enter and not step.step.initial:
                    report.held_back[step.id] = count_planned(store, ruleset, planned, scope, now)
                    continue
                before, new = insert_planned(store, ruleset, planned, batch, now, scope)
                report.steps.append(StepPlan(step.id, step.level, [label], new, before))
    return report


def is_baseline(store: Store, run_id: int) -> bool:
    """Whether run `run_id` is the store's first to classify anyone. A run over an empty
    store (the daemon's night before the data came) makes no baseline."""
    rows = store.execute(
        "SELECT COUNT(*) AS n FROM classification_runs WHERE id < :run AND customers > 0",
        {"run": run_id},
    )
    return int(rows[0]["n"]) == 0


def _run_times(store: Store, run_id: int) -> tuple[dt.datetime, dt.datetime]:
    """When the run started (its `today`) and finished (when its steps start counting)."""
    rows = store.execute(
        "SELECT started_at, finished_at FROM classification_runs WHERE id = :id", {"id": run_id}
    )
    if not rows:
        raise GuanxiError(_("there is no classification run {run}").format(run=run_id))
    started = dt.datetime.fromisoformat(rows[0]["started_at"])
    finished = rows[0]["finished_at"]
    return started, dt.datetime.fromisoformat(finished) if finished else started


def _scope(ruleset: RuleSet, step: CompiledStep, run_id: int, dialect: str) -> Scope:
    """The customers the run moved into (on_enter) or out of (on_leave) the step's target."""
    entering = step.step.on_enter is not None
    target = str(step.step.on_enter if entering else step.step.on_leave)
    ladders = [k for k, ladder in (("tier", ruleset.tiers), ("level", ruleset.levels))
               if target in ladder.names]  # fmt: skip
    if not ladders:
        raise GuanxiError(
            _("step '{step}': '{target}' is neither a tier nor a level").format(
                step=step.id, target=target
            )
        )
    into, out_of = ("to", "from") if entering else ("from", "to")
    moves = [
        f"(t.{into}_{kind} = :target AND {differs(f't.{out_of}_{kind}', ':target', dialect)})"
        for kind in ladders
    ]
    return Scope(
        join="JOIN transitions AS t ON t.customer_id = a.customer_id AND t.run_id = :run",
        where=f"({' OR '.join(moves)})",
        params={"run": run_id, "target": target},
    )
