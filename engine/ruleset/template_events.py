"""A template may read an event field only where the event always has it: a follow-up whose
event lacks the field cannot be rendered, so it fails at the moment of sending and goes to
the dead letters. Warned at the `event.<field>` in the template (`template-event-field`)
for each step that uses the template, when

    the field is not `required: true` for the step's event in schema.yaml (may be missing)
    the step's event declares no such field
    the step follows no event at all (every:, on_enter:, on_fall: …): there is no event

A read given a default (`{{ event.product | default('') }}`), or a field tested with
`is defined` in the template, is safe and not warned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import jinja2
from jinja2 import nodes

from guanxi.engine.i18n import _
from guanxi.engine.ruleset.followups import TEMPLATES, TRIGGERS
from guanxi.engine.ruleset.models import EventSpec, Schema, TemplatesFile
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import CompiledStep
from guanxi.engine.templating import ENVIRONMENT

DEFAULTS = ("default", "d")  # the filters that give a missing value a default


@dataclass(frozen=True)
class Read:
    """An event field a template part reads without a default, and the step that sends it."""

    template: str
    part: str  # subject or body
    field: str
    step: CompiledStep


def check_template_events(
    project: Project, templates: TemplatesFile, schema: Schema, steps: Iterable[CompiledStep]
) -> None:
    """Warn at each event field a template reads that some step's event may lack."""
    declared = {f for e in schema.events.values() for f in e.fields}
    reads = [r for r in _reads(templates, steps) if r.field in declared]  # else an error
    for key in dict.fromkeys((r.template, r.part, r.field, _event(r.step)) for r in reads):
        sending = [r.step for r in reads if (r.template, r.part, r.field, _event(r.step)) == key]
        template, part, field, event = key
        spec = schema.events.get(event) if event else None
        if event is not None and spec is None:
            continue  # an unknown event type: an error of its own
        if spec is not None and field in spec.fields and spec.fields[field].required:
            continue
        _warn(project, (template, part, field), event, spec, sending)


def _event(step: CompiledStep) -> str | None:
    return step.step.on or None


def _reads(templates: TemplatesFile, steps: Iterable[CompiledStep]) -> Iterator[Read]:
    """Each unguarded event field read, once per template part and step using it."""
    unguarded = {name: _unguarded_by_part(t) for name, t in templates.templates.items()}
    seen: set[tuple[str, str]] = set()
    for step in steps:
        for name in dict.fromkeys((step.step.template, *(v.template for v in step.step.variants))):
            if name not in unguarded or (name, step.id) in seen:
                continue  # an unknown template is an error of its own; branches repeat steps
            seen.add((name, step.id))
            for part, fields in unguarded[name].items():
                yield from (Read(name, part, field, step) for field in fields)


def _unguarded_by_part(template: object) -> dict[str, list[str]]:
    found = {}
    for part in ("subject", "body"):
        text = getattr(template, part, None)
        if text:
            found[part] = unguarded_event_fields(text)
    return found


def unguarded_event_fields(text: str) -> list[str]:
    """The event fields `text` reads without a default, in the order first read; none for a
    template that cannot be read (an error of its own)."""
    try:
        tree = ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError:
        return []
    guarded = {id(f.node) for f in tree.find_all(nodes.Filter) if f.name in DEFAULTS}
    tested = {
        _field(t.node) for t in tree.find_all(nodes.Test) if t.name in ("defined", "undefined")
    }
    reads = [n for n in tree.find_all(nodes.Getattr) if _field(n) is not None]
    fields = [_field(n) for n in reads if id(n) not in guarded and _field(n) not in tested]
    return [f for f in dict.fromkeys(fields) if f is not None]


def _field(node: nodes.Node) -> str | None:
    """`product` for `event.product`, else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.attr if node.node.name == "event" else None
    return None


def _warn(
    project: Project,
    where: tuple[str, str, str],
    event: str | None,
    spec: EventSpec | None,
    steps: list[CompiledStep],
) -> None:
    template, part, field = where
    named = _steps(steps)
    if event is None or spec is None:
        trigger = next((t for t in TRIGGERS if getattr(steps[0].step, t)), "every")
        message = _(
            "{steps} follows no event ({trigger}:), so event.{field} is never there: every"
            " follow-up would fail to send and go to the dead letters"
        ).format(steps=named, trigger=trigger, field=field)
        hint = _("read event fields only in the templates of steps with on: EVENT")
    elif field not in spec.fields:
        message = _(
            "a '{event}' event has no field '{field}' in schema.yaml: the follow-ups of"
            " {steps} would fail to send and go to the dead letters"
        ).format(event=event, field=field, steps=named)
        hint = _(
            "declare {field} under {event} in schema.yaml, or write {default} for a default"
        ).format(field=field, event=event, default=_default(field))
    else:
        message = _(
            "a '{event}' event may lack event.{field} (schema.yaml does not require it):"
            " a follow-up of {steps} would then fail to send (dead letter)"
        ).format(event=event, field=field, steps=named)
        hint = _(
            "write {default} for a default, or mark {field} 'required: true' under {event} in"
            " schema.yaml if every {event} event has it"
        ).format(default=_default(field), field=field, event=event)
    _add(project, ("templates", template, part), field, message, hint)


def _steps(steps: list[CompiledStep]) -> str:
    """ "step 'a'", or "step 'a' and 2 more"."""
    ids = list(dict.fromkeys(s.id for s in steps))
    if len(ids) == 1:
        return _("step '{id}'").format(id=ids[0])
    return _("step '{id}' and {count} more").format(id=ids[0], count=len(ids) - 1)


def _default(field: str) -> str:
    return f"{{{{ event.{field} | default('') }}}}"


def _add(project: Project, path: tuple[str, str, str], field: str, message: str, hint: str) -> None:
    """The warning at the first `event.<field>` of the template's text without a default."""
    source = project.sources[TEMPLATES]
    text = str(source.value(path))
    reads = list(re.finditer(rf"\bevent\s*\.\s*{re.escape(field)}\b", text))
    bare = [m for m in reads if not re.match(r"\s*\|\s*(default|d)\b", text[m.end() :])]
    found = next(iter(bare or reads), None)
    at = source.expression_position(path, found.start() if found else 0)
    length = len(found.group()) if found else 1
    project.add(
        source.diagnostic(
            at, "template-event-field", message, length=length, hint=hint, severity="warning"
        )
    )
