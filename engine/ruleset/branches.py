"""Branch overlays: a branch (分行) adjusts the head office's rules for its own customers.

`branches/长沙分行.yaml` may change, by name, the `when:` of a tier, level or strategy, and the
fields of a playbook step, or switch a step off; and the tasks a day its relationship managers
take (`capacity:`, read by the task pass of the contact policy). The overlays are applied as
the rule set is loaded, as a rewrite of its conditions, so that every back end (SQL, Spark,
the Python predicates, the event matcher) runs them without knowing about branches:

    a rule:  (branch = 'B' AND <B's when>) OR (COALESCE(branch, '') NOT IN ('B', …) AND <head's>)
    a step:  the head office's step AND COALESCE(branch, '') NOT IN ('B', …),
             and B's copy `<id>@B`, with AND branch = 'B'

A customer without a branch gets the head office's rules; a ladder keeps the head office's
order. The head office's step keeps its id, so the follow-ups of other branches' customers
keep their idempotency keys; the copy has an id of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import N_, _
from guanxi.engine.ids import same_id
from guanxi.engine.language import Condition, parse_condition
from guanxi.engine.ruleset.channel_answers import (
    PREFERRED,
    channels_of_kind,
    unknown_channel_answer,
)
from guanxi.engine.ruleset.domains import (
    UNKNOWN_VALUE,
    Domain,
    event_domains,
    event_type_hint,
    ladder_domain,
    step_label_hint,
)
from guanxi.engine.ruleset.followups import (
    CHANNEL_CARRIES,
    TEMPLATE_IS,
    warn_if_at_unread,
    warn_if_day_unread,
)
from guanxi.engine.ruleset.models import BranchFile, PoliciesFile, Schema, Step, StepOverride
from guanxi.engine.ruleset.project import Known, Project
from guanxi.engine.ruleset.ruleset import (
    BranchCapacity,
    BranchRule,
    CompiledRule,
    CompiledStep,
    Ladder,
    Origin,
    RuleSet,
)
from guanxi.engine.timing import (
    TimingError,
    parse_duration,
    parse_schedule,
    parse_time_of_day,
    parse_wait,
)

BRANCH_FIELD = "branch"  # the customer field whose value names the branch
FOLDER = "branches"
LADDER_KEYS = {"tier": "tiers", "level": "levels", "strategy": "strategies"}
LADDER_FILES = {"tier": "tiers.yaml", "level": "levels.yaml", "strategy": "strategies.yaml"}
NO_NEW_RULE = {
    "tier": N_("no tier '{name}' in tiers.yaml: a branch can change a tier, not add one"),
    "level": N_("no level '{name}' in levels.yaml: a branch can change a level, not add one"),
    "strategy": N_(
        "no strategy '{name}' in strategies.yaml: a branch can change a strategy, not add one"
    ),
}


@dataclass(frozen=True)
class Overlay:
    branch: str
    file: str  # its name in the project: branches/<name>.yaml
    model: BranchFile


@dataclass(frozen=True)
class Branched:
    """The rule set's ladders and steps with every branch's overlay applied."""

    ladders: dict[str, Ladder]
    steps: list[CompiledStep]
    step_ids: frozenset[str]  # the ids of the branches' own steps
    branches: dict[str, Origin]  # branch -> its overlay file


def read_overlays(project: Project, schema: Schema | None) -> list[Overlay]:
    """Every readable overlay in branches/, one per branch."""
    folder = project.root / FOLDER
    overlays: list[Overlay] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        name = f"{FOLDER}/{path.name}"
        model = project.read_model(name, BranchFile, required=False)
        if model is None:
            continue
        # the branch as customers' `branch` is read (an id): 长沙分行 typed in full width or
        # with a space after it is the same branch
        overlay = Overlay(same_id(model.branch or Path(path.name).stem), name, model)
        if _acceptable(project, overlay, overlays, schema):
            overlays.append(overlay)
    return overlays


def _acceptable(
    project: Project, overlay: Overlay, before: list[Overlay], schema: Schema | None
) -> bool:
    at = ("branch",) if overlay.model.branch else ()
    twice = next((o for o in before if o.branch == overlay.branch), None)
    if twice is not None:
        message = _("branch '{branch}' already has its overlay in {file}").format(
            branch=overlay.branch, file=project.shown(twice.file)
        )
        _error(project, overlay.file, at, "duplicate-name", message, None)
        return False
    if schema is None:
        return False
    spec = schema.fields.get(BRANCH_FIELD)
    if spec is None or spec.type != "string":
        message = _("branch overlays need a text field '{name}' in schema.yaml").format(
            name=BRANCH_FIELD
        )
        hint = _("declare '{name}: {{type: string, label: 所属网点}}' under fields").format(
            name=BRANCH_FIELD
        )
        _error(project, overlay.file, (), "unknown-field", message, hint)
        return False
    allowed = spec.values
    if allowed is not None and overlay.branch not in map(same_id, allowed):
        message = _("'{branch}' is not one of the branches schema.yaml allows").format(
            branch=overlay.branch
        )
        _error(
            project,
            overlay.file,
            at,
            UNKNOWN_VALUE,
            message,
            did_you_mean(overlay.branch, list(allowed)),
        )
        return False
    return True


def _error(
    project: Project,
    file: str,
    path: Sequence[Any],
    code: str,
    message: str,
    hint: str | None,
    key: bool = False,
) -> None:
    if not path:
        project.add(Diagnostic(project.shown(file), 1, 1, code, message, hint=hint))
        return
    source = project.sources[file]
    value = path[-1] if key else source.value(path)
    length = len(str(value)) if isinstance(value, str | int) else 1
    where = source.position(path, key=key)
    project.add(source.diagnostic(where, code, message, length=length, hint=hint))


# --- tiers, levels and strategies ----------------------------------------------------------


def branch_ladder(
    project: Project, ladder: Ladder, overlays: Sequence[Overlay], fields: Mapping[str, str]
) -> Ladder:
    """The ladder with each branch's own conditions rewritten into its rules."""
    key = LADDER_KEYS[ladder.kind]
    owns: dict[str, list[BranchRule]] = {}
    for overlay in overlays:
        for name in getattr(overlay.model, key):
            if name not in ladder.names:
                message = _(NO_NEW_RULE[ladder.kind]).format(name=name)
                labelled = ladder_domain(ladder.kind, ladder).label_answer(name)
                hint = (labelled[1] if labelled else None) or did_you_mean(name, ladder.names)
                hint = hint or _("add it to {file} for every branch").format(
                    file=LADDER_FILES[ladder.kind]
                )
                _error(project, overlay.file, (key, name), "unknown-tier", message, hint, True)
                continue
            own = _branch_rule(project, overlay, (key, name, "when"), fields)
            if own is not None:
                owns.setdefault(name, []).append(own)
    rules = tuple(_rewritten(project, r, owns.get(r.name, []), fields) for r in ladder.rules)
    return dataclasses.replace(ladder, rules=rules)


def _branch_rule(
    project: Project, overlay: Overlay, path: tuple[str, ...], fields: Mapping[str, str]
) -> BranchRule | None:
    condition = project.condition(overlay.file, path, fields)
    if condition is None:
        return None
    line = _line(project, overlay.file, path[:-1])
    return BranchRule(overlay.branch, condition, Origin(project.shown(overlay.file), line))


def _rewritten(
    project: Project, rule: CompiledRule, owns: list[BranchRule], fields: Mapping[str, str]
) -> CompiledRule:
    if not owns:
        return rule
    parts = [f"({BRANCH_FIELD} = {_quoted(o.branch)} AND {_wrapped(o.condition)})" for o in owns]
    head = f"({_elsewhere([o.branch for o in owns])} AND {_wrapped(rule.condition)})"
    text = " OR ".join([*parts, head])
    combined = _parsed(project, text, fields, owns[0].origin)
    return dataclasses.replace(
        rule, condition=combined, branch_rules=tuple(owns), head_condition=rule.condition
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _wrapped(condition: Condition | None) -> str:
    """A condition as a part of a larger one: on lines of its own (a `--` comment ends with
    its line) and in parentheses; TRUE for a catch-all."""
    return f"(\n{condition.compiled_text}\n)" if condition is not None else "TRUE"


def _guarded(guard: str, condition: Condition | None) -> str:
    return f"{guard} AND {_wrapped(condition)}" if condition is not None else guard


def _elsewhere(branches: Sequence[str]) -> str:
    """True for customers of no branch in `branches`, and for those without a branch."""
    names = ", ".join(_quoted(b) for b in branches)
    return f"COALESCE({BRANCH_FIELD}, '') NOT IN ({names})"


def _parsed(
    project: Project, text: str, fields: Mapping[str, str], blame: Origin
) -> Condition | None:
    """The rewritten condition, checked as any condition is; a problem (a limit on size,
    say) is reported at the overlay that caused it."""
    try:
        return parse_condition(text, fields)
    except ConditionError as error:
        project.add(Diagnostic(blame.file, blame.line, 1, error.code, error.message))
        return None


# --- playbook steps ------------------------------------------------------------------------


@dataclass(frozen=True)
class StepContext:
    known: Known
    schema: Schema
    fields: Mapping[str, str]


def branch_steps(
    project: Project,
    steps: list[CompiledStep],
    overlays: Sequence[Overlay],
    context: StepContext,
) -> tuple[list[CompiledStep], frozenset[str]]:
    """The head office's steps kept from the branches that change them, and each branch's
    own versions; the ids of those versions."""
    by_id = {s.id: s for s in steps}
    apart: dict[str, list[tuple[str, Origin]]] = {}
    copies: dict[str, list[CompiledStep]] = {}
    for overlay in overlays:
        for step_id, override in overlay.model.steps.items():
            path = ("steps", step_id)
            head = by_id.get(step_id)
            if head is None:
                _unknown_step(project, overlay, step_id, context.known, by_id)
                continue
            origin = Origin(project.shown(overlay.file), _line(project, overlay.file, path))
            apart.setdefault(step_id, []).append((overlay.branch, origin))
            if override.enabled:
                copy = _step_copy(project, overlay, head, override, context)
                copies.setdefault(step_id, []).extend([copy] if copy else [])
    result: list[CompiledStep] = []
    for step in steps:
        result.append(_kept_from(project, step, apart.get(step.id, []), context))
        result.extend(copies.get(step.id, []))
    own_ids = frozenset(c.id for versions in copies.values() for c in versions)
    return result, own_ids


def _line(project: Project, file: str, path: tuple[Any, ...]) -> int:
    """The line of the name at `path`: where a rule or step of the overlay starts."""
    return project.sources[file].position(path, key=True)[0]


def _unknown_step(
    project: Project,
    overlay: Overlay,
    step_id: str,
    known: Known,
    by_id: Mapping[str, CompiledStep],
) -> None:
    if known.steps is not None and step_id in known.steps:
        return  # written, but with an error of its own in playbooks.yaml
    message = _("no step '{id}' in playbooks.yaml: a branch can change a step, not add one").format(
        id=step_id
    )
    hint = (
        step_label_hint(step_id, {i: s.step.label for i, s in by_id.items()})
        or did_you_mean(step_id, list(by_id))
        or _("add the step to playbooks.yaml")
    )
    _error(project, overlay.file, ("steps", step_id), "unknown-step", message, hint, True)


def _kept_from(
    project: Project, step: CompiledStep, apart: list[tuple[str, Origin]], context: StepContext
) -> CompiledStep:
    """The head office's step, for customers of no branch in `apart`."""
    if not apart:
        return step
    text = _guarded(_elsewhere([b for b, _o in apart]), step.when)
    when = _parsed(project, text, _fields_of(step.step, context)[0], apart[0][1])
    return dataclasses.replace(step, when=when, branches_apart=tuple(apart))


def _fields_of(step: Step, context: StepContext) -> tuple[dict[str, str], dict[str, Domain]]:
    """The names a step's conditions may use (the customer's, its event's) and their values."""
    fields: dict[str, str] = dict(context.fields)
    domains: dict[str, Domain] = {}
    if step.on and step.on in context.schema.events:
        event = context.schema.events[step.on]
        fields.update({f"event.{k}": v.type for k, v in event.fields.items()})
        domains.update(event_domains(event))
    return fields, domains


def _step_copy(
    project: Project,
    overlay: Overlay,
    head: CompiledStep,
    override: StepOverride,
    context: StepContext,
) -> CompiledStep | None:
    """The branch's own version of `head`, checked where the overlay writes each change."""
    path = ("steps", head.id)
    changed = override.model_fields_set - {"enabled"}
    changes = {key: getattr(override, key) for key in changed}
    if "cancel_on" in changes and changes["cancel_on"] is None:
        changes["cancel_on"] = ()  # `cancel_on:` left empty: cancelled by no event
    step = head.step.model_copy(update={**changes, "id": f"{head.id}@{overlay.branch}"})
    errors_before = _errors(project)
    fields, event_values = _fields_of(step, context)
    domains = {**project.domains, **event_values}
    conditions = {
        key: project.condition(overlay.file, (*path, key), fields, domains=domains)
        if key in changed
        else getattr(head, key)
        for key in ("when", "unless")
    }
    timing = _timing(project, overlay.file, path, head, step, changed)
    _check_channel(project, overlay.file, path, step, context.known, changed)
    _check_events(project, overlay.file, path, override, context.schema)
    if _errors(project) > errors_before:
        return None
    text = _guarded(f"{BRANCH_FIELD} = {_quoted(overlay.branch)}", conditions["when"])
    origin = Origin(project.shown(overlay.file), _line(project, overlay.file, path))
    when = _parsed(project, text, fields, origin)
    return dataclasses.replace(
        head,
        step=step,
        when=when,
        unless=conditions["unless"],
        after=timing["after"],
        expires=timing["expires"],
        at=timing["at"],
        schedule=timing["schedule"],
        origin=origin,
        branch=overlay.branch,
    )


def _errors(project: Project) -> int:
    return sum(1 for d in project.diagnostics if d.severity == "error")


def _timing(
    project: Project,
    file: str,
    path: tuple[Any, ...],
    head: CompiledStep,
    step: Step,
    changed: set[str],
) -> dict[str, Any]:
    """after, expires, at and the schedule of the branch's `step`: the head office's unless
    the overlay changes them."""
    parsers: dict[str, Callable[[Any], Any]] = {
        "after": parse_wait,
        "expires": parse_duration,
        "at": parse_time_of_day,
    }
    timing: dict[str, Any] = {}
    for key, parse in parsers.items():
        value = getattr(step, key)
        timing[key] = getattr(head, key)
        if key in changed:
            timing[key] = _timed(project, file, (*path, key), value, parse) if value else None
    timing["schedule"] = head.schedule
    if step.every and changed & {"day", "at"}:
        try:
            timing["schedule"] = parse_schedule(step.every, step.day, step.at)
        except TimingError as error:
            key = "day" if "day" in changed else "at"
            _error(project, file, (*path, key), "invalid-value", str(error), error.hint)
            return timing
    if "day" in changed:
        warn_if_day_unread(project, file, path, step, timing["schedule"])
    if "at" in changed:
        warn_if_at_unread(project, file, path, timing["at"], timing["schedule"])
    return timing


def _timed(
    project: Project, file: str, path: tuple[Any, ...], value: str, parse: Callable[[Any], Any]
) -> Any:
    try:
        return parse(value)
    except TimingError as error:
        code = "invalid-time" if parse is parse_time_of_day else "invalid-duration"
        _error(project, file, path, code, str(error), error.hint)
        return None


def _check_channel(
    project: Project,
    file: str,
    path: tuple[Any, ...],
    step: Any,
    known: Known,
    changed: set[str],
) -> None:
    if "channel" in changed and known.channels is not None:
        channels = (*known.channels, PREFERRED)
        if step.channel not in channels:
            fitting = channels_of_kind(known.channels, step.do)
            message, hint = unknown_channel_answer(project, step.channel, fitting, step.do)
            _error(project, file, (*path, "channel"), "unknown-channel", message, hint)
        elif known.channels.get(step.channel, step.do) != step.do:
            message = _(CHANNEL_CARRIES[step.do]).format(channel=step.channel)
            _error(project, file, (*path, "channel"), "invalid-value", message, None)
    if "template" in changed and known.templates is not None:
        at = (*path, "template")
        if step.template not in known.templates:
            message = _("no template '{name}'").format(name=step.template)
            hint = did_you_mean(step.template, known.templates)
            _error(project, file, at, "unknown-template", message, hint)
        elif known.templates[step.template] != step.do:
            message = _(TEMPLATE_IS[step.do]).format(name=step.template)
            _error(project, file, at, "invalid-value", message, None)


def _check_events(
    project: Project, file: str, path: tuple[Any, ...], override: StepOverride, schema: Schema
) -> None:
    for index, event_type in enumerate(override.cancel_on or ()):
        if event_type not in schema.events:
            message = _("no event type '{name}'").format(name=event_type)
            hint = event_type_hint(schema, event_type)
            _error(project, file, (*path, "cancel_on", index), "unknown-event", message, hint)


# --- relationship-manager capacity ---------------------------------------------------------


def branch_capacities(
    project: Project, overlays: Sequence[Overlay], policies: PoliciesFile | None
) -> dict[str, BranchCapacity]:
    """Each branch's own tasks a day per relationship manager; the head office's capacity
    (policies.yaml) names the field of the customer's manager, so a branch needs it."""
    capacities: dict[str, BranchCapacity] = {}
    for overlay in overlays:
        own = overlay.model.capacity
        if own is None:
            continue
        if policies is None or policies.capacity is None:
            message = _(
                "policies.yaml has no capacity: a branch can change the tasks a day of the"
                " relationship managers, not add a limit"
            )
            hint = _(
                "add 'capacity: {owner_field: rm_id, tasks_per_day: 25}' to policies.yaml"
                " (owner_field: the field naming the customer's relationship manager)"
            )
            _error(project, overlay.file, ("capacity",), "no-capacity", message, hint, True)
            continue
        origin = Origin(project.shown(overlay.file), _line(project, overlay.file, ("capacity",)))
        capacities[overlay.branch] = BranchCapacity(own.tasks_per_day, origin)
    return capacities


# --- the whole rule set --------------------------------------------------------------------


def apply_overlays(
    project: Project,
    overlays: Sequence[Overlay],
    ladders: Mapping[str, tuple[Ladder | None, Mapping[str, str]]],
    steps: list[CompiledStep],
    context: tuple[Known, Schema, Mapping[str, str]],
) -> Branched:
    """Every overlay applied: `ladders` maps 'tier', 'level', 'strategy' to the ladder and the
    fields its conditions may use; `context` is what the steps are checked against."""
    rewritten: dict[str, Ladder] = {}
    for kind, (ladder, fields) in ladders.items():
        if ladder is not None:
            rewritten[kind] = branch_ladder(project, ladder, overlays, fields)
        else:
            _no_ladder(project, kind, overlays)
    known, schema, fields = context
    branched_steps, own_ids = branch_steps(
        project, steps, overlays, StepContext(known, schema, fields)
    )
    branches = {o.branch: _branch_origin(project, o) for o in overlays}
    return Branched(rewritten, branched_steps, own_ids, branches)


def _branch_origin(project: Project, overlay: Overlay) -> Origin:
    """Where the overlay names its branch: its `branch:`, else the file's first line (the
    file's name is the branch)."""
    line = project.sources[overlay.file].position(("branch",))[0] if overlay.model.branch else 1
    return Origin(project.shown(overlay.file), line)


def _no_ladder(project: Project, kind: str, overlays: Sequence[Overlay]) -> None:
    key = LADDER_KEYS[kind]
    for overlay in overlays:
        if getattr(overlay.model, key):
            message = _("the project has no {file} for the overlay to change").format(
                file=LADDER_FILES[kind]
            )
            _error(project, overlay.file, (key,), "unknown-key", message, None, True)


# --- what a branch changes -----------------------------------------------------------------


def branch_view(ruleset: RuleSet, branch: str) -> dict[str, Any]:
    """What differs from the head office's rules for the customers of `branch`: its own
    conditions, its own versions of steps and the steps it switched off, with their places."""
    rules = [
        {
            "kind": ladder.kind,
            "name": rule.name,
            "when": own.condition.compiled_text,
            "head_office": head.compiled_text if head else None,
            "origin": str(own.origin),
        }
        for ladder in (ruleset.tiers, ruleset.levels, ruleset.strategies)
        if ladder is not None
        for rule in ladder.rules
        for own, head in ((o, rule.head_condition) for o in rule.branch_rules)
        if own.branch == branch
    ]
    own_steps = [s for s in ruleset.steps if s.branch == branch]
    replaced = {s.id.removesuffix(f"@{branch}") for s in own_steps}
    off = [
        {"step": s.id, "origin": str(origin)}
        for s in ruleset.steps
        for name, origin in s.branches_apart
        if name == branch and s.id not in replaced
    ]
    return {
        "branch": branch,
        "file": str(ruleset.branches[branch]),
        "rules": rules,
        "steps": [
            {"step": s.id, "instead_of": s.id.removesuffix(f"@{branch}"), "origin": str(s.origin)}
            for s in own_steps
        ],
        "switched_off": off,
        "capacity": _capacity_view(ruleset, branch),
    }


def _capacity_view(ruleset: RuleSet, branch: str) -> dict[str, Any] | None:
    """The branch's own tasks a day per relationship manager, beside the head office's."""
    own = ruleset.capacities.get(branch)
    if own is None:
        return None
    return {
        "tasks_per_day": own.tasks_per_day,
        "head_office": ruleset.tasks_per_day(None),
        "origin": str(own.origin),
    }
