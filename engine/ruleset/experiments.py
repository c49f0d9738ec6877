"""Checks of a step's experiment: its holdout, template variants and goal (see plan/experiments
and report/experiments for what they do)."""

from __future__ import annotations

from typing import Any

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.domains import event_type_hint
from guanxi.engine.ruleset.models import Goal, Schema, Step
from guanxi.engine.ruleset.project import Known, Project
from guanxi.engine.timing import TimingError, parse_duration

PLAYBOOKS = "playbooks.yaml"


def check_experiment(
    project: Project, step: Step, path: tuple[Any, ...], known: Known, schema: Schema
) -> None:
    if step.goal is not None:
        _check_goal(project, step.goal, (*path, "goal"), known, schema)
        if step.holdout is None and len(step.variants) < 2:
            project.warn(
                PLAYBOOKS,
                (*path, "goal"),
                "goal-without-comparison",
                _("step '{id}' has a goal but nothing to compare it with").format(id=step.id),
                hint=_("add 'holdout: 10%' or two or more 'variants:' to measure the step"),
            )
    if len(step.variants) == 1:
        project.warn(
            PLAYBOOKS,
            (*path, "variants"),
            "single-variant",
            _("step '{id}' has one variant: there is nothing to compare").format(id=step.id),
            hint=_("list two or more templates, or write the one as 'template:'"),
        )


def _check_goal(
    project: Project, goal: Goal, at: tuple[Any, ...], known: Known, schema: Schema
) -> None:
    given = [key for key in ("event", "tier", "level") if getattr(goal, key)]
    if len(given) != 1:
        project.error(
            PLAYBOOKS,
            at,
            "invalid-goal",
            _("a goal names exactly one of: event, tier, level"),
            hint=_("e.g. 'goal: {event: sale, within: 30 days}'"),
        )
        return
    key = given[0]
    name = getattr(goal, key)
    names = {"event": tuple(schema.events), "tier": known.tiers, "level": known.levels}[key]
    if name not in names:
        message = {
            "event": _("no event type '{name}'"),
            "tier": _("no tier '{name}'"),
            "level": _("no relationship level '{name}'"),
        }[key]
        code = {"event": "unknown-event", "tier": "unknown-tier", "level": "unknown-level"}[key]
        hint = event_type_hint(schema, name) if key == "event" else did_you_mean(name, names)
        project.error(PLAYBOOKS, (*at, key), code, message.format(name=name), hint=hint)
    try:
        window = parse_duration(goal.within)
    except TimingError as error:
        project.error(PLAYBOOKS, (*at, "within"), "invalid-duration", str(error), hint=error.hint)
        return
    if window.unit == "business_days":
        project.error(
            PLAYBOOKS,
            (*at, "within"),
            "invalid-duration",
            _("a goal's window is counted in days or weeks, not business days"),
            hint=_("e.g. 'within: 30 days'"),
        )
