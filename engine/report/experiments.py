"""What the experiments show: per step with a goal, the goal's rate in each arm (variant or
held out), the uplift over the control with 95 % confidence intervals, whether the groups are
large enough to detect the declared minimum effect, and the cost of one extra success.

Counted are the follow-ups whose goal window has closed by `now` (planned due time + `within`),
every one of them whatever the policy did to it (intention to treat: a treated customer whose
message was suppressed still counts as treated, as the held out whose would have been). The
statistics are statsmodels': Newcomb's interval for the difference of two proportions, the
log-adjusted one for their ratio, and the normal-approximation power of a two-sided test.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from guanxi.engine.clock import local_time
from guanxi.engine.i18n import _
from guanxi.engine.plan.experiments import HELD_OUT, TREATED
from guanxi.engine.plan.followups import iso
from guanxi.engine.report.model import Column, Table
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Goal
from guanxi.engine.ruleset.ruleset import CompiledStep
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import epoch_seconds
from guanxi.engine.timing import parse_duration

CONFIDENCE = 0.95
POWER = 0.8  # the chance of detecting the minimum effect if it is there
SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}


@dataclass(frozen=True)
class Arm:
    name: str  # a variant's template, 'treated', or 'held_out'
    size: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.size if self.size else None


@dataclass(frozen=True)
class Uplift:
    """An arm against the control: absolute (points) and relative, each with its interval."""

    absolute: float
    absolute_low: float
    absolute_high: float
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    needed: int | None  # customers per group to detect the minimum effect; None: none declared
    enough: bool | None
    cost_per_success: float | None  # follow-ups per extra success; None: no extra success


def uplift(treated: Arm, control: Arm, minimum_effect: float | None = None) -> Uplift | None:
    """The uplift of `treated` over `control`; None when either group is empty."""
    if not treated.size or not control.size:
        return None
    from statsmodels.stats.proportion import confint_proportions_2indep  # slow to import

    counts = (treated.successes, treated.size, control.successes, control.size)
    low, high = confint_proportions_2indep(*counts, compare="diff", method="newcomb")
    absolute = treated.successes / treated.size - control.successes / control.size
    relative = relative_low = relative_high = None
    if control.successes and treated.successes:
        relative = (treated.successes / treated.size) / (control.successes / control.size) - 1
    if control.successes and treated.successes and not _all_succeeded(treated, control):
        ratio = confint_proportions_2indep(*counts, compare="ratio", method="log-adjusted")
        relative_low, relative_high = float(ratio[0]) - 1, float(ratio[1]) - 1
    needed = _needed(control, treated, minimum_effect)
    enough = None if needed is None else min(treated.size, control.size) >= needed
    extra = absolute * treated.size
    cost = treated.size / extra if extra > 0 else None
    return Uplift(
        absolute, float(low), float(high), relative, relative_low, relative_high,
        needed, enough, cost,
    )  # fmt: skip


def _all_succeeded(*arms: Arm) -> bool:
    """Every customer of every arm succeeded: the log ratio's variance is 0, and its interval
    would claim a certainty of one point that no sample gives."""
    return all(arm.successes == arm.size for arm in arms)


def _needed(control: Arm, treated: Arm, minimum_effect: float | None) -> int | None:
    """Customers per group a two-sided test at 5 % needs to detect `minimum_effect` (points
    over the control's rate) with 80 % power."""
    if minimum_effect is None or control.rate is None:
        return None
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    base = min(max(control.rate, 0.001), 0.998)
    effect = abs(float(proportion_effectsize(min(base + minimum_effect, 0.999), base)))
    n = NormalIndPower().solve_power(effect, alpha=1 - CONFIDENCE, power=POWER, ratio=1.0)
    return math.ceil(float(n))


@dataclass(frozen=True)
class StepResult:
    step: str
    label: str
    kind: str  # task or message: what one follow-up costs
    goal: str
    control: Arm
    arms: tuple[tuple[Arm, Uplift | None], ...]
    pending: int  # follow-ups whose goal window is still open


@dataclass(frozen=True)
class Experiments:
    steps: tuple[StepResult, ...]
    as_of: str
    shown_as_of: str = ""  # in the project's zone, named: 2026-12-07 02:02 (Asia/Shanghai)
    name: str = "experiments"

    @property
    def title(self) -> str:
        return _("Experiments: what the follow-ups achieve")

    def notes(self) -> list[str]:
        notes = [
            _(
                "as of {time}: follow-ups whose goal window has closed; uplift = the goal's rate"
                " against the control (held out, else the first variant), 95% intervals"
            ).format(time=self.shown_as_of or self.as_of)
        ]
        if not self.steps:
            notes.append(_("no step with a goal and a holdout or variants has results yet"))
        return notes

    def tables(self) -> list[Table]:
        columns = (
            Column("step", _("step")),
            Column("group", _("group")),
            Column("customers", _("customers"), "count"),
            Column("rate", _("goal rate"), "share"),
            Column("uplift", _("uplift"), "share"),
            Column("interval", _("95% interval")),
            Column("enough", _("sample large enough")),
        )
        rows = tuple((r[0], r[2], r[3], r[5], r[6], _interval(r[7], r[8]), r[10])
                     for r in self._rows())  # fmt: skip
        return [Table("experiments", "", columns, rows), self._detail()]

    def _detail(self) -> Table:
        """Every figure, for the CSV file: goal, successes, the relative uplift, the cost."""
        columns = (
            Column("step", _("step")),
            Column("goal", _("goal")),
            Column("group", _("group")),
            Column("customers", _("customers"), "count"),
            Column("successes", _("successes"), "count"),
            Column("rate", _("goal rate"), "share"),
            Column("uplift", _("uplift"), "share"),
            Column("uplift_low", _("95% low"), "share"),
            Column("uplift_high", _("95% high"), "share"),
            Column("relative", _("relative uplift"), "share"),
            Column("enough", _("sample large enough")),
            Column("cost", _("follow-ups per extra success"), "number"),
        )
        return Table("experiments_detail", _("every figure"), columns, tuple(self._rows()), True)

    def compared(self) -> list[tuple[str, str, Uplift]]:
        """(step label, group, uplift) of every group compared with a control: the chart."""
        return [(r.label, _arm_name(a.name), lift) for r in self.steps for a, lift in r.arms
                if lift is not None]  # fmt: skip

    def _rows(self) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for result in self.steps:
            head = (result.label, result.goal)
            control = result.control
            rows.append((*head, _arm_name(control.name), control.size, control.successes,
                         control.rate, None, None, None, None, None, None))  # fmt: skip
            for arm, lift in result.arms:
                shown = _lift_cells(lift)
                rows.append((*head, _arm_name(arm.name), arm.size, arm.successes, arm.rate,
                             *shown))  # fmt: skip
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "steps": [
                {
                    "step": r.step,
                    "goal": r.goal,
                    "kind": r.kind,
                    "pending": r.pending,
                    "control": r.control.__dict__,
                    "arms": [
                        {**arm.__dict__, "uplift": lift.__dict__ if lift else None}
                        for arm, lift in r.arms
                    ],
                }
                for r in self.steps
            ],
        }


def _interval(low: float | None, high: float | None) -> str | None:
    return None if low is None or high is None else f"{100 * low:+.1f} … {100 * high:+.1f}"


def _arm_name(name: str) -> str:
    """The control and the treated group in the reader's language; a variant by its template."""
    words = {HELD_OUT: _("held out"), TREATED: _("treated")}
    return words.get(name, name)


def _lift_cells(lift: Uplift | None) -> tuple[Any, ...]:
    if lift is None:
        return (None,) * 6  # as many cells as a compared group's
    enough = None if lift.enough is None else (_("yes") if lift.enough else _("no"))
    return (lift.absolute, lift.absolute_low, lift.absolute_high, lift.relative, enough,
            lift.cost_per_success)  # fmt: skip


def experiments(store: Store, ruleset: RuleSet, now: dt.datetime) -> Experiments:
    results = []
    for step in ruleset.steps:
        if step.step.goal is not None:
            result = _step_result(store, step, step.step.goal, now)
            results.extend([result] if result else [])
    zone = ruleset.calendar.zone
    return Experiments(tuple(results), iso(now), f"{local_time(now, zone)} ({zone.key})")


def _step_result(
    store: Store, step: CompiledStep, goal: Goal, now: dt.datetime
) -> StepResult | None:
    duration = parse_duration(goal.within)
    seconds = duration.amount * SECONDS.get(duration.unit, 86400)
    params = {"step": step.id, "seconds": seconds, "now": epoch_seconds_value(now)}
    due = epoch_seconds("f.planned_due_at", store.dialect)
    success = _success_sql(goal, store.dialect, params)
    rows = store.execute(
        f"SELECT CASE WHEN f.arm = '{HELD_OUT}' THEN f.arm ELSE coalesce(f.variant, f.arm) END"
        f" AS arm, count(*) AS n, sum(CASE WHEN {due} + :seconds > :now THEN 1 ELSE 0 END)"
        f" AS open, sum(CASE WHEN {due} + :seconds <= :now AND {success} THEN 1 ELSE 0 END)"
        " AS successes FROM followups AS f WHERE f.step_id = :step AND f.arm IS NOT NULL"
        " GROUP BY 1",
        params,
    )
    arms = {
        r["arm"]: Arm(r["arm"], int(r["n"]) - int(r["open"]), int(r["successes"])) for r in rows
    }
    if not arms:
        return None
    order = [HELD_OUT, TREATED, *(v.template for v in step.step.variants)]
    ordered = [arms[name] for name in dict.fromkeys(order) if name in arms]
    control, treated = ordered[0], ordered[1:]
    compared = tuple((arm, uplift(arm, control, goal.minimum_effect)) for arm in treated)
    pending = sum(int(r["open"]) for r in rows)
    label = step.step.label or step.id
    return StepResult(step.id, label, step.step.do, _goal_text(goal), control, compared, pending)


def _success_sql(goal: Goal, dialect: str, params: dict[str, Any]) -> str:
    due = epoch_seconds("f.planned_due_at", dialect)
    if goal.event:
        params["event"] = goal.event
        return (
            "EXISTS (SELECT 1 FROM events AS e WHERE e.customer_id = f.customer_id"
            " AND e.type = :event AND e.at >= substr(f.planned_due_at, 1, 19)"
            f" AND {epoch_seconds('e.at', dialect)} < {due} + :seconds)"
        )
    column, target = ("to_tier", goal.tier) if goal.tier else ("to_level", goal.level)
    params["target"] = target
    current = "tier" if goal.tier else "level"
    at_end = (
        f"(SELECT t.{column} FROM transitions AS t WHERE t.customer_id = f.customer_id"
        f" AND {epoch_seconds('t.at', dialect)} <= {due} + :seconds"
        " ORDER BY t.at DESC, t.id DESC LIMIT 1)"
    )
    assigned = (
        f"(SELECT a.{current} FROM current_assignments AS a WHERE a.customer_id = f.customer_id)"
    )
    return f"coalesce({at_end}, {assigned}) = :target"


def epoch_seconds_value(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _goal_text(goal: Goal) -> str:
    if goal.event:
        return _("{event} within {window}").format(event=goal.event, window=goal.within)
    target = goal.tier or goal.level
    return _("{state} after {window}").format(state=target, window=goal.within)
