"""Checks of playbooks, contact policies, templates and scenarios against the other files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes

from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.i18n import N_, _, current_language
from guanxi.engine.ruleset.channel_answers import (
    PREFERRED as PREFERRED,
)
from guanxi.engine.ruleset.channel_answers import (
    channel_listing,
    channels_of_kind,
    unknown_channel_answer,
)
from guanxi.engine.ruleset.domains import (
    event_domains,
    event_type_hint,
    field_label_hint,
    label_answer,
    label_part_hint,
    labels_of,
)
from guanxi.engine.ruleset.experiments import check_experiment
from guanxi.engine.ruleset.models import (
    Expiry,
    FieldSpec,
    PlaybooksFile,
    PoliciesFile,
    Schema,
    Step,
    TemplatesFile,
)
from guanxi.engine.ruleset.project import Known, Project
from guanxi.engine.ruleset.reading import validate_model
from guanxi.engine.ruleset.ruleset import CompiledStep, Origin
from guanxi.engine.ruleset.template_names import template_choices, template_name_hint
from guanxi.engine.templating import (
    ENVIRONMENT,
    MAX_STEPS,
    MAX_TEXT,
    TemplateLimitError,
    compile_template,
    render,
    template_line,
)
from guanxi.engine.timing import (
    Duration,
    Schedule,
    TimingError,
    parse_duration,
    parse_schedule,
    parse_time_of_day,
    parse_wait,
)

PLAYBOOKS, POLICIES, TEMPLATES = "playbooks.yaml", "policies.yaml", "templates.yaml"
EVERY_LEVEL = "all"  # the playbook key whose steps apply to customers of every level
TEMPLATE_GLOBALS = {"customer", "event", "step", "today", "rm", "bank"}
# by the kind of the step ('message' or 'task'): whole sentences, translated as such
CHANNEL_CARRIES = {
    "message": N_("channel '{channel}' carries tasks, but this step is a message"),
    "task": N_("channel '{channel}' carries messages, but this step is a task"),
}
TEMPLATE_IS = {
    "message": N_("template '{name}' is a task, but this step is a message"),
    "task": N_("template '{name}' is a message, but this step is a task"),
}
NOT_LATE = {
    "message": N_("'{text}' lets no message be late at all: every one would expire when it is due"),
    "task": N_("'{text}' lets no task be late at all: every one would expire when it is due"),
}
HOW_LATE = {
    "message": N_("write how late a message may still happen, e.g. '{example}'"),
    "task": N_("write how late a task may still happen, e.g. '{example}'"),
}


def check_steps(
    project: Project,
    playbooks: PlaybooksFile,
    known: Known,
    schema: Schema,
    fields: Mapping[str, str],
) -> tuple[list[CompiledStep], frozenset[str]]:
    """Every step that reads and checks cleanly, and the ids of all steps written."""
    steps: list[CompiledStep] = []
    ids: set[str] = set()
    for level, items in playbooks.playbooks.items():
        _check_level(project, known, level)
        for index in range(len(items)):
            path = ("playbooks", level, index)
            step = _read_step(project, path, ids)
            compiled = step and _check_step(project, level, step, path, known, schema, fields)
            steps.extend([compiled] if compiled else [])
    return steps, frozenset(ids)


def _check_level(project: Project, known: Known, level: str) -> None:
    if level in known.levels or level == EVERY_LEVEL:
        return
    source = project.sources[PLAYBOOKS]
    message, hint = label_answer([project.names.get("level")], level) or (
        _("no relationship level '{name}'").format(name=level),
        did_you_mean(level, known.levels) or label_part_hint([project.names.get("level")], level),
    )
    project.add(
        source.diagnostic(
            source.position(("playbooks", level), key=True),
            "unknown-level",
            message,
            length=len(level),
            hint=hint,
        )
    )


def _read_step(project: Project, path: tuple[Any, ...], ids: set[str]) -> Step | None:
    source = project.sources[PLAYBOOKS]
    raw = source.value(path)
    step_id = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(step_id, str):
        if step_id in ids:
            project.error(
                PLAYBOOKS,
                (*path, "id"),
                "duplicate-name",
                _("step id '{id}' is used twice").format(id=step_id),
            )
        ids.add(step_id)
    step, problems = validate_model(source, Step, path)
    project.diagnostics.extend(problems)
    return step


def _check_step(
    project: Project,
    level: str,
    step: Step,
    path: tuple[Any, ...],
    known: Known,
    schema: Schema,
    fields: Mapping[str, str],
) -> CompiledStep | None:
    errors_before = _error_count(project)
    _check_trigger(project, step, path, known, schema)
    _check_channel_and_template(project, step, path, known)
    check_experiment(project, step, path, known, schema)
    timing = _check_timing(project, step, path)
    step_fields, domains = dict(fields), dict(project.domains)
    if step.on and step.on in schema.events:
        event = schema.events[step.on]
        step_fields.update({f"event.{k}": v.type for k, v in event.fields.items()})
        domains.update(event_domains(event))
    conditions = {
        key: project.condition(PLAYBOOKS, (*path, key), step_fields, domains=domains)
        for key in ("when", "unless")
        if getattr(step, key)
    }
    when, unless = conditions.get("when"), conditions.get("unless")
    if _error_count(project) > errors_before:
        return None
    origin = Origin(project.shown(PLAYBOOKS), project.sources[PLAYBOOKS].position(path)[0])
    return CompiledStep(level, step, when, unless, *timing, origin)


def _error_count(project: Project) -> int:
    return sum(1 for d in project.diagnostics if d.severity == "error")


TRIGGERS = ("on", "every", "on_enter", "on_leave", "on_fall", "on_rise")
GOLD = "gold"  # on_enter/on_leave: becoming, or ceasing to be, a gold customer
STATE_NOUNS = {
    "tier": N_("a tier"),
    "level": N_("a relationship level"),
    "strategy": N_("a strategy"),
    GOLD: N_("gold (金牌客户)"),
}


def _check_trigger(
    project: Project, step: Step, path: tuple[Any, ...], known: Known, schema: Schema
) -> None:
    triggers = [t for t in TRIGGERS if getattr(step, t)]
    if len(triggers) != 1:
        if triggers:
            message = _("step '{id}' has {count} triggers ({names})").format(
                id=step.id, count=len(triggers), names=", ".join(triggers)
            )
        else:
            message = _("step '{id}' has no trigger").format(id=step.id)
        project.error(
            PLAYBOOKS,
            (*path, "id"),
            "invalid-trigger",
            message,
            hint=_("give exactly one of: on, every, on_enter, on_leave, on_fall, on_rise"),
        )
    _check_cancel_on(project, step, path, schema)
    if step.on and step.on not in schema.events:
        project.error(
            PLAYBOOKS,
            (*path, "on"),
            "unknown-event",
            _("no event type '{name}'").format(name=step.on),
            hint=event_type_hint(schema, step.on),
        )
    if step.initial and not step.on_enter:
        project.error(
            PLAYBOOKS,
            (*path, "initial"),
            "invalid-value",
            _("'initial' is for on_enter steps only"),
            hint=_("'initial: true' lets an on_enter step act on the store's first classification"),
        )
    if step.keep_when_left and not (step.on_enter or step.on_leave):
        project.error(
            PLAYBOOKS,
            (*path, "keep_when_left"),
            "invalid-value",
            _("'keep_when_left' is for on_enter and on_leave steps only"),
            hint=_(
                "'keep_when_left: true' keeps a follow-up of a move that is undone before it"
                " is sent (the customer leaves the state entered, or is back in the state left)"
            ),
        )
    for key in ("on_enter", "on_leave"):
        value = getattr(step, key)
        names = [value] if isinstance(value, str) else list(value or ())
        for index, name in enumerate(names):
            at = (*path, key) if isinstance(value, str) else (*path, key, index)
            _check_state(project, at, name, known)
    for key in ("on_fall", "on_rise"):
        ladder = getattr(step, key)
        if ladder and ladder not in known.ordered:
            _missing_order(project, (*path, key), ladder, known)


def _check_cancel_on(project: Project, step: Step, path: tuple[Any, ...], schema: Schema) -> None:
    for index, event_type in enumerate(step.cancel_on):
        if event_type not in schema.events:
            project.error(
                PLAYBOOKS,
                (*path, "cancel_on", index),
                "unknown-event",
                _("no event type '{name}'").format(name=event_type),
                hint=event_type_hint(schema, event_type),
            )
    _check_cancel_same(project, step, path, schema)


def _check_cancel_same(project: Project, step: Step, path: tuple[Any, ...], schema: Schema) -> None:
    """Each `cancel_same:` field is one of the step's own event and of every cancelling one."""
    events = [e for e in (step.on, *step.cancel_on) if e in schema.events]
    for index, name in enumerate(step.cancel_same):
        lacking = [e for e in events if name not in schema.events[e].fields]
        if not step.on or lacking:
            project.error(
                PLAYBOOKS,
                (*path, "cancel_same", index),
                "unknown-field",
                _(
                    "'cancel_same: {name}' compares a field of the step's event ('on:') with the"
                    " same field of the cancelling event; {events} has no '{name}'"
                ).format(name=name, events=", ".join(lacking) or _("a step without 'on:'")),
                hint=_(
                    "add '{name}' to the event's fields in schema.yaml, or take it out of"
                    " 'cancel_same:'"
                ).format(name=name),
            )


def state_kinds(name: str, known: Known) -> list[str]:
    """What `name` in on_enter/on_leave can mean: 'tier', 'level', 'strategy', 'gold'."""
    found = [
        kind
        for kind, names in (
            ("tier", known.tiers),
            ("level", known.levels),
            ("strategy", known.strategies),
        )
        if name in names
    ]
    return [*found, GOLD] if name == GOLD and known.gold else found


def _check_state(project: Project, at: tuple[Any, ...], name: str, known: Known) -> None:
    """One name of on_enter/on_leave: exactly one tier, level, strategy, or gold."""
    kinds = state_kinds(name, known)
    if len(kinds) > 1:
        project.error(
            PLAYBOOKS,
            at,
            "ambiguous-name",
            _("'{name}' names more than one state ({kinds}): the step cannot tell which").format(
                name=name, kinds=", ".join(_(STATE_NOUNS[k]) for k in kinds)
            ),
            hint=_("rename one of them in its file so that every name means one thing"),
        )
    elif not kinds:
        names = [*known.tiers, *known.levels, *known.strategies, *([GOLD] if known.gold else [])]
        domains = [project.names.get(k) for k in ("tier", "level", "strategy")]
        message, hint = label_answer(domains, name) or (
            _("'{name}' is no tier, level or strategy, nor gold").format(name=name),
            did_you_mean(name, names) or label_part_hint(domains, name),
        )
        project.error(PLAYBOOKS, at, "unknown-tier", message, hint=hint)


def _missing_order(project: Project, at: tuple[Any, ...], ladder: str, known: Known) -> None:
    file = "tiers.yaml" if ladder == "tier" else "levels.yaml"
    project.error(
        PLAYBOOKS,
        at,
        "missing-order",
        _("{file} has no 'order:' to tell a fall from a rise").format(file=file),
        hint=_(
            "add to {file} an 'order:' that lists its names from the lowest to the highest:"
            " order: [{names}]"
        ).format(file=file, names=", ".join(known.lowest_first.get(ladder, ()))),
    )


def _check_channel_and_template(
    project: Project, step: Step, path: tuple[Any, ...], known: Known
) -> None:
    if known.channels is not None:
        channels = (*known.channels, PREFERRED)
        if step.channel not in channels:
            fitting = channels_of_kind(known.channels, step.do)
            at = (*path, "channel")
            _unknown_channel(project, PLAYBOOKS, at, step.channel, fitting, step.do)
        elif known.channels.get(step.channel, step.do) != step.do:
            project.error(
                PLAYBOOKS,
                (*path, "channel"),
                "invalid-value",
                _(CHANNEL_CARRIES[step.do]).format(channel=step.channel),
            )
    _check_template_name(project, (*path, "template"), step.template, step.do, known)
    for index, variant in enumerate(step.variants):
        at = (*path, "variants", index, "template")
        _check_template_name(project, at, variant.template, step.do, known)


def _check_template_name(
    project: Project, at: tuple[Any, ...], name: str, kind: str, known: Known
) -> None:
    if known.templates is None:
        return
    if name not in known.templates:
        project.error(
            PLAYBOOKS,
            at,
            "unknown-template",
            _("no template '{name}'").format(name=name),
            hint=did_you_mean(name, known.templates) or template_name_hint(name, kind, known),
            expected=template_choices(name, kind, known),
        )
    elif known.templates[name] != kind:
        project.error(PLAYBOOKS, at, "invalid-value", _(TEMPLATE_IS[kind]).format(name=name))


def _check_timing(
    project: Project, step: Step, path: tuple[Any, ...]
) -> tuple[Any, Any, dt.time | None, Any]:
    after = _timed(project, PLAYBOOKS, (*path, "after"), step.after, parse_wait)
    expires = _timed(project, PLAYBOOKS, (*path, "expires"), step.expires, parse_duration)
    at = _timed(project, PLAYBOOKS, (*path, "at"), step.at, parse_time_of_day)
    schedule = None
    if step.every:
        try:
            schedule = parse_schedule(step.every, step.day, step.at)
        except TimingError as error:
            key = _faulty_schedule_key(step)
            code = "invalid-cron" if key == "every" else "invalid-value"
            if key != "at":  # a bad `at:` has its own diagnostic above
                project.error(PLAYBOOKS, (*path, key), code, str(error), hint=error.hint)
    warn_if_day_unread(project, PLAYBOOKS, path, step, schedule)
    warn_if_at_unread(project, PLAYBOOKS, path, at, schedule)
    return after, expires, at, schedule


def warn_if_at_unread(
    project: Project,
    file: str,
    path: tuple[Any, ...],
    at: dt.time | None,
    schedule: Schedule | None,
) -> None:
    """`at:` beside a cron expression of another time: the expression's time is the one
    kept, so the step would run at a time its `at:` does not say."""
    if at is None or schedule is None or schedule.period != "cron":
        return
    minute, hour, *days = schedule.cron.split()
    if (minute, hour) == (str(at.minute), str(at.hour)):
        return
    if minute.isdigit() and hour.isdigit():
        cron = " ".join((str(at.minute), str(at.hour), *days))
        hint = _("to send at {at}, write every: \"{cron}\" and remove 'at:'")
    else:
        cron, hint = (
            "",
            _(
                "remove 'at:', or write the time in the cron expression: its first field is the"
                " minute, its second the hour"
            ),
        )
    message = _("'at: {at}' is not read: a cron expression says its time itself")
    at_text = f"{at:%H:%M}"
    project.warn(
        file,
        (*path, "at"),
        "unread-at",
        message.format(at=at_text),
        hint=hint.format(at=at_text, cron=cron),
    )


def warn_if_day_unread(
    project: Project, file: str, path: tuple[Any, ...], step: Step, schedule: Schedule | None
) -> None:
    """`day:` with a cadence that has no day to choose, or on a step that follows an event:
    the step runs as if it were not there. Warned in `file`, the playbooks or the branch
    overlay that wrote it."""
    if step.day is None or (step.every is not None and schedule is None):
        return  # no day, or a schedule that could not be read (an error of its own)
    period = schedule.period if schedule is not None else None
    if period not in (None, "day", "cron"):
        return
    if period == "cron":
        message = _("'day: {day}' is not read: a cron expression says its days itself")
        hint = _(
            "remove 'day:', or write the day in the cron expression: its third field is the"
            " day of the month, its fifth the day of the week"
        )
    else:
        message = (
            _("'day: {day}' is not read: a step with 'every: day' runs every day")
            if period
            else _("'day: {day}' is not read: only an 'every:' step has a day")
        )
        hint = _(
            "remove 'day:', or write 'every: week' (day: monday … sunday, or 1 … 7) or"
            " 'every: month' (day: 1 … 28)"
        )
    project.warn(file, (*path, "day"), "unread-day", message.format(day=step.day), hint=hint)


def _faulty_schedule_key(step: Step) -> str:
    """Which of `every:`, `day:` and `at:` a schedule that cannot be read is wrong in."""
    every = str(step.every)
    for key, day in (("every", None), ("day", step.day)):
        try:
            parse_schedule(every, day)
        except TimingError:
            return key
    return "at"


def _timed(project: Project, file: str, path: tuple[Any, ...], value: Any, parse: Any) -> Any:
    """`parse(value)`, or None with a diagnostic at `path` when the value is malformed."""
    if value is None:
        return None
    try:
        return parse(value)
    except TimingError as error:
        code = "invalid-time" if parse is parse_time_of_day else "invalid-duration"
        project.error(file, path, code, str(error), hint=error.hint)
        return None


def check_policies(project: Project, policies: PoliciesFile, schema: Schema) -> None:
    fields = schema.fields
    references: list[tuple[tuple[Any, ...], str | None]] = [
        (("preferred", "field"), policies.preferred.field if policies.preferred else None),
        (("consent", "marketing_field"), policies.consent.marketing_field),
        (("consent", "do_not_contact_field"), policies.consent.do_not_contact_field),
        (("capacity", "owner_field"), policies.capacity.owner_field if policies.capacity else None),
    ]
    for name, channel in policies.channels.items():
        references.append((("channels", name, "consent_field"), channel.consent_field))
        references.append((("channels", name, "address_field"), channel.address_field))
    for path, field_name in references:
        if field_name and field_name not in fields:
            project.error(
                POLICIES,
                path,
                "unknown-field",
                _("no customer field '{name}'").format(name=field_name),
                hint=did_you_mean(field_name, fields)
                or field_label_hint(field_name, labels_of(fields)),
            )
    _check_policy_channels(project, policies)
    _check_policy_times(project, policies)


def _check_policy_channels(project: Project, policies: PoliciesFile) -> None:
    channels = tuple(policies.channels)
    fallback = policies.preferred.fallback if policies.preferred else ()
    messages = tuple(n for n, c in policies.channels.items() if c.kind == "message")
    for index, name in enumerate(fallback):
        if name not in channels:
            where = ("preferred", "fallback", index)
            _unknown_channel(project, POLICIES, where, name, messages, "message")
    for index, cap in enumerate(policies.caps):
        if cap.channel != "all" and cap.channel not in channels:
            at = ("caps", index, "channel")
            _unknown_channel(project, POLICIES, at, cap.channel, (*channels, "all"))


def _unknown_channel(
    project: Project,
    file: str,
    path: tuple[Any, ...],
    name: str,
    channels: Sequence[str],
    kind: str | None = None,
) -> None:
    message, hint = unknown_channel_answer(project, name, channels, kind)
    expected = channel_listing(project, channels)
    project.error(file, path, "unknown-channel", message, hint=hint, expected=expected)


def _check_policy_times(project: Project, policies: PoliciesFile) -> None:
    for index, cap in enumerate(policies.caps):
        window = _timed(project, POLICIES, ("caps", index, "per"), cap.per, parse_duration)
        if window is not None and window.amount == 0:  # counts nothing: never holds
            project.error(
                POLICIES,
                ("caps", index, "per"),
                "invalid-duration",
                _("a cap per {text} counts no earlier message: it would never hold").format(
                    text=cap.per
                ),
                hint=_("give the window the cap counts over, e.g. per: 7 days"),
            )
    if policies.quiet_hours:
        start, end = (
            _timed(project, POLICIES, ("quiet_hours", key), value, parse_time_of_day)
            for key, value in (
                ("start", policies.quiet_hours.start),
                ("end", policies.quiet_hours.end),
            )
        )
        if start is not None and start == end:  # quiet from 21:00 to 21:00: never quiet
            project.error(
                POLICIES,
                ("quiet_hours", "end"),
                "invalid-time",
                _(
                    "quiet hours that end when they start ({time}) never hold: messages would go"
                    " out at any hour"
                ).format(time=f"{start:%H:%M}"),
                hint=_(
                    "give the hours no message goes out, e.g. start: '21:00', end: '08:30';"
                    " for none, leave quiet_hours out"
                ),
            )
        elif start is not None and end is not None and _quiet_all_day(start, end):
            _warn_quiet_by_day(project, start, end)


WORKING_DAY = (dt.time(9), dt.time(18))  # when a bank's customers expect its messages


def _quiet_all_day(start: dt.time, end: dt.time) -> bool:
    """Quiet hours that hold from WORKING_DAY's start to its end: 08:30 to 21:00."""
    first, last = WORKING_DAY
    if start <= end:
        return start <= first and last <= end
    return first >= start or last <= end  # quiet across midnight: 06:00 to 20:00 is not


def _warn_quiet_by_day(project: Project, start: dt.time, end: dt.time) -> None:
    project.warn(
        POLICIES,
        ("quiet_hours", "start"),
        "quiet-hours-by-day",
        _(
            "quiet hours from {start} to {end} hold all through the working day: messages"
            " would go out only between {end} and {start}, at night"
        ).format(start=f"{start:%H:%M}", end=f"{end:%H:%M}"),
        hint=_("are start and end swapped? write start: '{end}', end: '{start}'").format(
            start=f"{start:%H:%M}", end=f"{end:%H:%M}"
        ),
    )


def default_expiry(project: Project, policies: PoliciesFile | None) -> dict[str, Duration]:
    """The bound on lateness of each kind of step without `expires:`: policies.yaml's
    `expires:`, else the built-in defaults. A malformed or zero bound is a diagnostic."""
    given = policies.expires if policies else Expiry()
    bounds: dict[str, Duration] = {}
    for kind in ("message", "task"):
        path, text = ("expires", kind), getattr(given, kind)
        bound = _timed(project, POLICIES, path, text, parse_duration)
        if bound is not None and bound.amount == 0:
            project.error(
                POLICIES,
                path,
                "invalid-duration",
                _(NOT_LATE[kind]).format(text=text),
                hint=_(HOW_LATE[kind]).format(example=getattr(Expiry(), kind)),
            )
        elif bound is not None:
            bounds[kind] = bound
    return bounds


def bounded(steps: list[CompiledStep], bounds: Mapping[str, Duration]) -> list[CompiledStep]:
    """Every step with a bound on lateness: its own `expires:`, else its kind's default."""
    return [
        s if s.expires else dataclasses.replace(s, expires=bounds.get(s.step.do)) for s in steps
    ]


def check_templates(
    project: Project, templates: TemplatesFile, schema: Schema, used: set[str] | None
) -> None:
    """Syntax, variables and limits of every template; with `used`, warn of templates no step
    uses."""
    known = {*schema.fields, *TEMPLATE_GLOBALS}
    event_fields = {f for e in schema.events.values() for f in e.fields}
    samples = _samples(schema)
    labels = _field_labels(schema)
    for name, template in templates.templates.items():
        for part in ("subject", "body"):
            text = getattr(template, part)
            if text and _check_template(project, (name, part), text, known, event_fields, labels):
                _check_limits(project, ("templates", name, part), text, samples)
            if text:
                _check_placeholders(project, ("templates", name, part), text)
                _check_braces(project, ("templates", name, part), text, known)
        if used is not None and name not in used:
            project.warn(
                TEMPLATES,
                ("templates", name),
                "unused-template",
                _("no playbook step uses the template '{name}'").format(name=name),
            )
            _retarget_last_to_key(project, name)


def _retarget_last_to_key(project: Project, name: str) -> None:
    last = project.diagnostics.pop()
    line, col = project.sources[TEMPLATES].position(("templates", name), key=True)
    project.add(
        Diagnostic(
            last.file, line, col, last.code, last.message, severity=last.severity, length=len(name)
        )
    )


def _check_template(
    project: Project,
    where: tuple[str, str],
    text: str,
    known: set[str],
    event_fields: set[str],
    labels: Mapping[str, str],
) -> bool:
    """Check the syntax and variables of one template; whether it has no error."""
    errors = len(project.diagnostics)
    path = ("templates", *where)
    try:
        tree = ENVIRONMENT.parse(text)
        undeclared = jinja2.meta.find_undeclared_variables(tree)  # an unknown filter raises
    except jinja2.TemplateSyntaxError as error:
        project.error(
            TEMPLATES,
            path,
            "template-syntax",
            _template_problem(error.message or _("bad template")),
            hint=_("on line {line} of the template").format(line=error.lineno),
        )
        return False
    for variable in sorted(undeclared - known):
        _template_error(
            project,
            path,
            text,
            variable,
            _("unknown variable '{name}'").format(name=variable),
            _label_hint(variable, labels)
            or _named_in_chinese(variable, labels)
            or did_you_mean(variable, known),
        )
    for node in tree.find_all(nodes.Getattr):
        is_event = isinstance(node.node, nodes.Name) and node.node.name == "event"
        if is_event and node.attr not in event_fields:
            _template_error(
                project,
                path,
                text,
                node.attr,
                _("no event field '{name}'").format(name=node.attr),
                did_you_mean(node.attr, event_fields),
            )
    return len(project.diagnostics) == errors


# Text left to be written later, which the customer or the manager would read as it stands:
# ellipses (……, ..., 。。。), XX and ×× for a name or figure, editors' notes.
PLACEHOLDER = re.compile(r"…+|\.{3,}|。{3,}|X{2,}|×{2,}|TODO|TBD|FIXME|待补充|待填写|待完善")


def _check_placeholders(project: Project, path: tuple[str, ...], text: str) -> None:
    """Warn at each placeholder left in a template's text."""
    source = project.sources[TEMPLATES]
    for found in PLACEHOLDER.finditer(text):
        at = source.expression_position(path, found.start())
        message = _("'{text}' is placeholder text: it would be sent as it stands").format(
            text=found.group()
        )
        hint = _("write what the customer or the manager should read in its place")
        length = len(found.group())
        project.add(
            source.diagnostic(
                at, "template-placeholder", message, length=length, hint=hint, severity="warning"
            )
        )


def _field_labels(schema: Schema) -> dict[str, str]:
    """Each customer field's labels (客户名称, customer name), to the field's name."""
    found = {spec.label: name for name, spec in schema.fields.items() if spec.label}
    found.update({s.label_en: n for n, s in schema.fields.items() if s.label_en})
    return found


def _label_hint(variable: str, labels: Mapping[str, str]) -> str | None:
    name = labels.get(variable)
    if name is None:
        return None
    message = _("'{label}' is the label of the field '{name}': write {text}")
    return message.format(label=variable, name=name, text="{{ " + name + " }}")


def _named_in_chinese(variable: str, labels: Mapping[str, str]) -> str | None:
    """`{{ 姓名 }}`: a variable is a field's name, in English letters; the fields whose
    Chinese labels are nearest (客户名称 for 姓名), else the first few."""
    if variable.isascii():
        return None
    chinese = [label for label in labels if not label.isascii()]
    near = difflib.get_close_matches(variable, chinese, n=3, cutoff=0.3) or chinese[:3]
    fields = ", ".join(f"{{{{ {labels[label]} }}}} ({label})" for label in near)
    message = _(
        "a variable is a field's name as schema.yaml writes it, in English letters: {fields}"
    )
    return message.format(fields=fields)


# A variable in single or full-width braces ({ name }, ｛｛ name ｝｝): sent as it stands.
LOOKS_LIKE_VARIABLE = re.compile(
    r"(?<![{])[{｛]{1,2}\s*(?P<name>[A-Za-z_]\w*)(?:\.\w+)?\s*[}｝]{1,2}(?![}])"
)


def _check_braces(project: Project, path: tuple[str, ...], text: str, known: set[str]) -> None:
    """An error at each variable written in braces the template does not read as its own:
    single ones, or the full-width ones of a Chinese input method."""
    source = project.sources[TEMPLATES]
    for found in LOOKS_LIKE_VARIABLE.finditer(text):
        written = found.group()
        if found.group("name") not in known or written.startswith("{{"):
            continue
        inside = written.strip("{}｛｝ ")
        message = _("'{text}' would be sent as it stands: a variable is written in {braces}")
        message = message.format(text=written, braces="{{ }}")
        hint = _("write {text}").format(text="{{ " + inside + " }}")
        at = source.expression_position(path, found.start())
        project.add(
            source.diagnostic(at, "template-variable", message, length=len(written), hint=hint)
        )


def _template_problem(problem: str) -> str:
    """The template reader's own English words ('unexpected '}''), as they are in English and
    after a sentence in the user's language in any other."""
    if current_language() == "en":
        return problem
    return _("the template cannot be read: {problem}").format(problem=problem)


def _template_error(
    project: Project, path: tuple[str, ...], text: str, name: str, message: str, hint: str | None
) -> None:
    """Point at the variable itself inside the template text."""
    source = project.sources[TEMPLATES]
    match = re.search(rf"\b{re.escape(name)}\b", text)
    at = source.expression_position(path, match.start() if match else 0)
    project.add(source.diagnostic(at, "template-variable", message, length=len(name), hint=hint))


_SAMPLE_DAY = dt.date(2026, 1, 5)
_SAMPLES: dict[str, Any] = {
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "date": _SAMPLE_DAY,
    "datetime": dt.datetime.combine(_SAMPLE_DAY, dt.time(9)),
}


def _samples(schema: Schema) -> dict[str, Any]:
    """Values like a customer's and an event's, to render every template once while checking."""
    customer = {name: _sample(spec) for name, spec in schema.fields.items()}
    event = {n: _sample(spec) for e in schema.events.values() for n, spec in e.fields.items()}
    step = {"id": "step", "kind": "message", "channel": "sms"}
    return {**customer, "customer": customer, "event": event, "step": step, "today": _SAMPLE_DAY}


def _sample(spec: FieldSpec) -> Any:
    if spec.values:
        return next(iter(spec.values))
    return _SAMPLES.get(spec.type, spec.label)  # a text field: its label, a realistic text


def _check_limits(
    project: Project, path: tuple[str, ...], text: str, samples: Mapping[str, Any]
) -> None:
    """Render the template with the sample values under the limits that hold when sending,
    so a template that is too long or never ends is found before any message is due."""
    try:
        render(compile_template(text), samples)
    except TemplateLimitError as error:
        _limit_error(project, path, text, template_line(error), str(error))
    except Exception:
        pass  # made-up values may fail where real ones would not: not a finding


def _limit_error(
    project: Project, path: tuple[str, ...], text: str, line: int, message: str
) -> None:
    """Point at the line of the template on which the limit was reached."""
    lines = text.split("\n")
    line = min(line, len(lines))
    start = sum(len(earlier) + 1 for earlier in lines[: line - 1])
    indent = len(lines[line - 1]) - len(lines[line - 1].lstrip())
    source = project.sources[TEMPLATES]
    at = source.expression_position(path, start + indent)
    hint = _(
        "a message may hold at most {characters} characters and take at most {steps}"
        " steps (loop turns, calls, look-ups); make the loop or the number smaller"
    ).format(characters=f"{MAX_TEXT:,}", steps=f"{MAX_STEPS:,}")
    length = len(lines[line - 1].strip()) or 1
    project.add(source.diagnostic(at, "template-limit", message, length=length, hint=hint))
