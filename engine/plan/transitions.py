"""Moves (`on_enter:`, `on_leave:`, `on_fall:`, `on_rise:`), planned set-based after a run.

A classification run records a transition for every customer whose tier, level, strategy or
gold changed (a customer's first assignment counts, from nothing). For the run:

    on_enter: X   the run moved the customer into X: to = X and from is not X
    on_leave: X   the run moved the customer out of X: from = X and to is not X
    on_fall: tier the run moved the customer down the tiers' `order:` (both ends known)
    on_rise: tier the run moved the customer up it (`level` for the levels' order)

X names a tier, a level, a strategy, or `gold` (becoming gold), or is a list of them (any
one); the rule set's check makes every name mean one of them. As with recurring steps, the
customer's current level must be the step's playbook level (any level for `all`), `when:`
must hold (with the customer's fields, tier, level, strategy, gold and the measures, on the
run's local date), and `unless:` true inserts the row as cancelled. The occurrence is the run
(`step:customer:run-<id>`), so planning the same run twice plans nothing new; the due time
counts from the moment the run finished. One INSERT … SELECT per step, then the contact
policy over the batch.

A run also undoes earlier moves: a pending follow-up of an `on_enter:` step is cancelled
(policy `undone`, the reason naming the state left) when the run moves the customer out of
its state (for a list: into none of them), one of an `on_leave:` step when the run moves
the customer back in; unless the step says `keep_when_left: true`. One UPDATE per step and
state over the run's transitions. The dispatcher does not check again at send time: an
assignment changes only in a run, and the run cancels in its own transaction, so no pending
follow-up outlives the state it was planned for. (One already claimed when the run commits
is being sent; as with `cancel_on:`, it is not taken back.) A step of a level's playbook, of
any trigger, is checked at send time against the customer's current level (dispatch/recheck).

A store's first classification is a baseline, not a wave of transitions: every customer
enters a first tier and level, but they were customers long before, so a partner of years is
not welcomed as a new one. On that run (no earlier run classified anyone) `on_enter:` steps
plan nothing unless they say `initial: true`; the report counts what they held back. There is
nothing to leave on a baseline, so `on_leave:` steps find no one, as on any first assignment.
Afterwards a customer new to the store enters their first tier and level as a transition,
unless a load marked them as established (`load customers --existing`, a branch going live
later: ingest/established.py): the run that first classifies them is a baseline for them
alone, held back and counted in the run's transaction (`held_back`), and unmarks them.

`TransitionPlanner` counts what a baseline held back once the run has committed, when its
report is read. On its first run a store has just written every customer's assignment and
transition in the run's transaction: ten million rows, gigabytes of SQLite WAL not yet
committed. Each page a query then reads is looked up in the WAL's index, one hash table per
4,096 frames of it, so reading the run's rows there costs the rows times the WAL's size
(3.1 s at 10M customers, 24.9 s at 30M); once committed and checkpointed the same count reads
the file, in time linear in the rows. A store without customers (one fed only snapshot files)
is counted on its assignments and the run's transitions alone, so that the same customers give
the same count on every engine; a step whose `when:` reads a customer's field, which only the
snapshot held, is counted 0 there.

A run and the planning of its transitions commit together: `TransitionPlanner` is passed to
the classification engines as `after`, so the planning runs inside the run's transaction. A
process killed between the two would otherwise leave transitions whose follow-ups nothing
ever plans (the next run sees no change for those customers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
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
    count_assigned,
    count_planned,
    insert_planned,
    occurrence,
    planned_until,
    step_occurrences,
)
from guanxi.engine.ruleset import CompiledStep, RuleSet
from guanxi.engine.ruleset.followups import GOLD
from guanxi.engine.store.base import ESTABLISHED, Store

UNDONE = "undone"  # the policy of a follow-up cancelled because its move was undone


@dataclass
class TransitionReport(PlanReport):
    """A transition planning call; on a baseline run, also what its `on_enter:` steps held
    back: step id -> follow-ups not planned."""

    baseline: bool = False
    held_back: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0  # earlier follow-ups whose move this run undid

    @property
    def not_planned(self) -> int:
        return sum(self.held_back.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "baseline": self.baseline,
            "held_back": self.held_back,
            "cancelled": self.cancelled,
        }


class TransitionPlanner:
    """A classification run's `after`: plans the run's `on_enter:`/`on_leave:` steps inside
    the run's transaction; `planned` is what it planned, with what a baseline held back
    counted when first read (after the run has committed: see above)."""

    def __init__(self, store: Store, ruleset: RuleSet, now: dt.datetime) -> None:
        self.store, self.ruleset, self.now = store, ruleset, now
        self._planned: TransitionReport | None = None
        self._uncounted: int | None = None  # the baseline run whose held back are not counted

    def __call__(self, run_id: int) -> None:
        self._planned = plan_transitions(
            self.store, self.ruleset, run_id, self.now, count_held_back=False
        )
        self._uncounted = run_id if self._planned.baseline else None

    @property
    def planned(self) -> TransitionReport:
        if self._planned is None:
            raise RuntimeError("the planner has not run: no classification run was written")
        if self._uncounted is not None:
            self._planned.held_back = held_back(self.store, self.ruleset, self._uncounted, self.now)
            self._uncounted = None
        return self._planned


def plan_transitions(
    store: Store,
    ruleset: RuleSet,
    run_id: int,
    now: dt.datetime,
    count_held_back: bool = True,
) -> TransitionReport:
    """Plan the `on_enter:`/`on_leave:` steps for the transitions of classification run
    `run_id`, then apply the contact policy to the new follow-ups, in one transaction: no
    dispatcher sees a follow-up the policy has not decided."""
    with tuned(store), store.transaction():
        report = insert_transitions(store, ruleset, run_id, now, new_batch(), count_held_back)
        apply_policy(store, ruleset, report, now)
        return report


def insert_transitions(
    store: Store,
    ruleset: RuleSet,
    run_id: int,
    now: dt.datetime,
    batch: str,
    count_held_back: bool = True,
) -> TransitionReport:
    """The planning alone: the new rows of `batch` stay as planned (pending or cancelled).
    On a baseline, with `count_held_back`, also what its `on_enter:` steps held back."""
    started, finished = _run_times(store, run_id)
    today = started.astimezone(ruleset.calendar.zone).date()
    label = f"run-{run_id}"
    report = TransitionReport(batch, baseline=is_baseline(store, run_id))
    marked = _any_established(store)
    established = marked and not report.baseline
    with tuned(store), store.transaction():
        for step in ruleset.steps:
            if step.step.on_enter or step.step.on_leave or step.step.on_fall or step.step.on_rise:
                if report.baseline and not step.step.on_enter:
                    # a baseline's every move comes from no state: none leaves, falls or rises
                    report.steps.append(StepPlan(step.id, step.level, [label], 0, 0))
                    continue
                if report.baseline and not step.step.initial:
                    continue  # held back: see held_back
                planned = occurrence(ruleset, step, label, finished, today)
                scope = _scope(ruleset, step, run_id, store.dialect)
                if established and step.step.on_enter and not step.step.initial:
                    held = _established(scope, among=True)
                    report.held_back[step.id] = count_planned(store, ruleset, planned, held, now)
                    scope = _established(scope, among=False)
                before, new = insert_planned(store, ruleset, planned, batch, now, scope)
                report.steps.append(StepPlan(step.id, step.level, [label], new, before))
        if not report.baseline:
            report.steps += _recurring_for_movers(store, ruleset, run_id, now, batch)
        if report.baseline and count_held_back:
            report.held_back = held_back(store, ruleset, run_id, now)
        report.cancelled = cancel_undone(store, ruleset, run_id, now)
        if marked:
            _unmark_classified(store)
    return report


def _recurring_for_movers(
    store: Store, ruleset: RuleSet, run_id: int, now: dt.datetime, batch: str
) -> list[StepPlan]:
    """The `every:` steps' occurrences planned before this run (up to each step's
    `planned_until`) and not yet due, for the customers the run moved: one who became
    proactive on the 20th gets the news of the 5th, planned on the 1st for the proactive
    of then, as if it had been planned today; a leaver's is cancelled at send time. Keys as
    `plan_recurring` makes them: planning the window again plans nothing twice. A baseline
    plans none this way (every customer moves on it: that would be a wave, not a move)."""
    moved = Scope(
        join="JOIN transitions AS t ON t.customer_id = a.customer_id AND t.run_id = :tr_run",
        params={"tr_run": run_id},
    )
    plans = []
    for step in ruleset.steps:
        schedule = step.schedule
        until = None if schedule is None else planned_until(store, step.id)
        if schedule is None or until is None or until <= now:
            continue
        plan = StepPlan(step.id, step.level)
        for planned in step_occurrences(ruleset, step, schedule, now, until):
            if planned.due > now:  # one due already is not sent late to a newcomer
                plan.add(planned, *insert_planned(store, ruleset, planned, batch, now, moved))
        plans.append(plan)
    return plans


def _any_established(store: Store) -> bool:
    [row] = store.execute(f"SELECT EXISTS (SELECT 1 FROM {ESTABLISHED}) AS found")
    return bool(row["found"])


def _established(scope: Scope, among: bool) -> Scope:
    """`scope` among (or but for) the customers loaded as established (ingest/established.py):
    none of them was classified before this run, so each of their moves is a first one."""
    marked = f"t.customer_id {'IN' if among else 'NOT IN'} (SELECT customer_id FROM {ESTABLISHED})"
    return replace(scope, where=f"{scope.where} AND {marked}")


def _unmark_classified(store: Store) -> None:
    """A customer loaded as established is so until a run first classifies them."""
    store.execute(
        f"DELETE FROM {ESTABLISHED} WHERE EXISTS (SELECT 1 FROM assignments AS a"
        f" WHERE a.customer_id = {ESTABLISHED}.customer_id)"
    )


def held_back(store: Store, ruleset: RuleSet, run_id: int, now: dt.datetime) -> dict[str, int]:
    """For baseline run `run_id`: step id -> the follow-ups each `on_enter:` step without
    `initial: true` would have planned (`count_planned`)."""
    started, finished = _run_times(store, run_id)
    today = started.astimezone(ruleset.calendar.zone).date()
    label = f"run-{run_id}"
    steps = [s for s in ruleset.steps if s.step.on_enter and not s.step.initial]
    counted = {
        step.id: (
            occurrence(ruleset, step, label, finished, today),
            _scope(ruleset, step, run_id, store.dialect),
        )
        for step in steps
    }
    if counted and not _any_customer(store):  # fed only snapshots: count the assignments
        return {
            step: count_assigned(store, ruleset, planned, scope, now) or 0
            for step, (planned, scope) in counted.items()
        }
    return {
        step: count_planned(store, ruleset, planned, scope, now)
        for step, (planned, scope) in counted.items()
    }


def _any_customer(store: Store) -> bool:
    [row] = store.execute("SELECT EXISTS (SELECT 1 FROM customers) AS found")
    return bool(row["found"])


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
    """The customers the run moved into (on_enter) or out of (on_leave) one of the step's
    states, or down (on_fall) or up (on_rise) its ladder."""
    params: dict[str, Any] = {"tr_run": run_id}
    s = step.step
    if s.on_fall or s.on_rise:
        moves = [_climb(ruleset, str(s.on_fall or s.on_rise), bool(s.on_rise), params)]
    else:
        entering = bool(s.entering)
        states = [
            _state(ruleset, step, n, i, dialect, params)
            for i, n in enumerate(s.entering or s.leaving)
        ]
        moves = [_entered(x, dialect) if entering else _left(x, dialect) for x in states]
    return Scope(
        join="JOIN transitions AS t ON t.customer_id = a.customer_id AND t.run_id = :tr_run",
        where=f"({' OR '.join(moves)})",
        params=params,
    )


@dataclass(frozen=True)
class State:
    """A state named by on_enter/on_leave as SQL over a transition `t`: its column suffix
    ('tier', 'level', 'strategy', 'gold') and the value the column holds in it."""

    name: str
    column: str
    value: str


def _state(
    ruleset: RuleSet,
    step: CompiledStep,
    name: str,
    index: int,
    dialect: str,
    params: dict[str, Any],
) -> State:
    kind = _kind(ruleset, name)
    if kind is None:
        message = _("step '{step}': '{target}' is no tier, level or strategy, nor gold")
        raise GuanxiError(message.format(step=step.id, target=name))
    if kind == GOLD:
        return State(name, GOLD, "1" if dialect == "sqlite" else "TRUE")
    params[f"tr_s{index}"] = name
    return State(name, kind, f":tr_s{index}")


def _kind(ruleset: RuleSet, name: str) -> str | None:
    """Which ladder `name` belongs to, or 'gold' (the rule set's check made it unambiguous)."""
    for kind, ladder in (("tier", ruleset.tiers), ("level", ruleset.levels),
                         ("strategy", ruleset.strategies)):  # fmt: skip
        if ladder is not None and name in ladder.names:
            return kind
    return GOLD if name == GOLD and ruleset.gold is not None else None


def _entered(state: State, dialect: str) -> str:
    was = differs(f"t.from_{state.column}", state.value, dialect)
    return f"(t.to_{state.column} = {state.value} AND {was})"


def _left(state: State, dialect: str) -> str:
    now = differs(f"t.to_{state.column}", state.value, dialect)
    return f"(t.from_{state.column} = {state.value} AND {now})"


def _climb(ruleset: RuleSet, kind: str, up: bool, params: dict[str, Any]) -> str:
    """Moved up (or down) the ladder's `order:`; from no state or to none is neither."""
    ladder = ruleset.tiers if kind == "tier" else ruleset.levels
    if ladder.order is None:
        file = "tiers.yaml" if kind == "tier" else "levels.yaml"
        raise GuanxiError(_("{file} has no 'order:' to tell a fall from a rise").format(file=file))
    params.update({f"tr_o{i}": name for i, name in enumerate(ladder.order)})
    whens = " ".join(f"WHEN :tr_o{i} THEN {i}" for i in range(len(ladder.order)))
    before, after = (f"CASE t.{side}_{kind} {whens} END" for side in ("from", "to"))
    return f"({after} {'>' if up else '<'} {before})"


def cancel_undone(store: Store, ruleset: RuleSet, run_id: int, now: dt.datetime) -> int:
    """Cancel the pending follow-ups whose move run `run_id` undid: an `on_enter:` step's
    when the customer left its states (and is in none of them now), an `on_leave:` step's
    when the customer is back in one; unless the step says `keep_when_left: true`. Only
    follow-ups planned by earlier runs; one statement per step and state. How many."""
    cancelled = 0
    for step in ruleset.steps:
        s = step.step
        if not (s.entering or s.leaving) or s.keep_when_left:
            continue
        params: dict[str, Any] = {}
        states = [
            _state(ruleset, step, n, i, store.dialect, params)
            for i, n in enumerate(s.entering or s.leaving)
        ]
        for state in states:
            cancelled += _cancel(store, ruleset, step, states, state, run_id, now, params)
    return cancelled


def _cancel(
    store: Store,
    ruleset: RuleSet,
    step: CompiledStep,
    states: list[State],
    state: State,
    run_id: int,
    now: dt.datetime,
    params: dict[str, Any],
) -> int:
    d = store.dialect
    if step.step.entering:
        elsewhere = " OR ".join(f"t.to_{x.column} = {x.value}" for x in states)
        undone = f"{_left(state, d)} AND NOT COALESCE({elsewhere}, FALSE)"
        reason = _("the customer left {state} before it was sent")
    else:
        undone = _entered(state, d)
        reason = _("the customer is back in {state} before it was sent")
    values = {
        **params,
        "tr_run": run_id,
        "tr_step": step.id,
        "tr_label": f"run-{run_id}",
        "tr_at": now.astimezone(dt.UTC).isoformat(),
        "tr_reason": reason.format(state=_shown(ruleset, state)),
    }
    moot = (
        f"WHERE f.step_id = :tr_step AND f.status = 'pending' AND f.occurrence <> :tr_label"
        " AND f.customer_id IN (SELECT t.customer_id FROM transitions AS t"
        f" WHERE t.run_id = :tr_run AND {undone})"
    )
    store.execute(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        f" SELECT f.id, :tr_at, 'cancelled', '{UNDONE}', :tr_reason FROM followups AS f {moot}"
        " ORDER BY f.id",
        values,
    )
    count = store.execute(f"SELECT COUNT(*) AS n FROM followups AS f {moot}", values)
    store.execute(
        f"UPDATE followups SET status = 'cancelled', policy = '{UNDONE}', reason = :tr_reason,"
        f" updated_at = :tr_at WHERE id IN (SELECT f.id FROM followups AS f {moot})",
        values,
    )
    return int(count[0]["n"])


def _shown(ruleset: RuleSet, state: State) -> str:
    """The state as the reason names it: 'partner (伙伴型)'."""
    ladders = {"tier": ruleset.tiers, "level": ruleset.levels, "strategy": ruleset.strategies}
    if state.column != GOLD:
        ladder = ladders[state.column]
        return ladder.shown(state.name) if ladder else state.name
    label = ruleset.gold.label if ruleset.gold else None
    return f"{state.name} ({label})" if label else state.name
