"""Measures over a customer's events, as tiers.yaml writes them, checked against the schema.

count: complaint          how many complaint events      (0 when none)
sum: sale.amount          the sum of a number field       (0 when none)
max: / min: sale.amount   the largest / smallest value    (NULL when none)
days_since: sale          days since the newest event     (NULL when none)
in_last: 90 days          the window: today and the 89 days before (days or weeks);
                          required but for days_since, where it limits the events seen
"""

from __future__ import annotations

from typing import Any

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.language import Condition
from guanxi.engine.ruleset.domains import event_type_hint
from guanxi.engine.ruleset.models import Measure, Schema
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import EventMeasure
from guanxi.engine.timing import TimingError, parse_duration

MEASURE_KINDS = ("expr", "percentile_of", "count", "sum", "max", "min", "days_since", "change")
OF_A_FIELD = ("sum", "max", "min")  # these read a field: 'sale.amount'
DAYS_IN = {"days": 1, "weeks": 7}
NUMBERS = ("integer", "number")
FILTERED = ("string", *NUMBERS)  # the event fields a `where:` may test
FILE = "tiers.yaml"


def event_measure(
    project: Project, schema: Schema, path: tuple[Any, ...], measure: Measure, aggregate: str
) -> EventMeasure | None:
    """The event measure written at `path`, or None with a diagnostic for each problem."""
    written = str(getattr(measure, aggregate))
    at = (*path, aggregate)
    event_type, _dot, field = written.partition(".")
    event_type, field = event_type.strip(), field.strip()
    if event_type not in schema.events:
        project.error(
            FILE,
            at,
            "unknown-event",
            _("no event type '{type}' in schema.yaml").format(type=event_type),
            hint=event_type_hint(schema, event_type),
        )
        return None
    read, checked = _field(project, schema, at, aggregate, event_type, field)
    timed, days = _window(project, path, measure, aggregate)
    filtered, where = _where(project, schema, path, measure, event_type)
    if not (read and timed and filtered):
        return None
    return EventMeasure(aggregate, event_type, checked, days, where)


def _where(
    project: Project, schema: Schema, path: tuple[Any, ...], measure: Measure, kind: str
) -> tuple[bool, Condition | None]:
    """Whether the `where:` is right, and the condition (None: every event counts)."""
    if measure.where is None:
        return True, None
    fields = {n: f.type for n, f in schema.events[kind].fields.items()}
    condition = project.condition(FILE, (*path, "where"), fields, domains={}, customer=False)
    if condition is None:
        return False, None
    other = sorted(n for n in condition.fields if fields[n] not in FILTERED)
    if other:
        project.error(
            FILE,
            (*path, "where"),
            "type-mismatch",
            _("'where:' tests text and number fields of the event; {names} is not one").format(
                names=", ".join(f"{kind}.{n}" for n in other)
            ),
        )
        return False, None
    return True, condition


def _field(
    project: Project, schema: Schema, at: tuple[Any, ...], aggregate: str, kind: str, field: str
) -> tuple[bool, str | None]:
    """Whether the field is right, and the event field an aggregate reads (None for count and
    days_since)."""
    fields = schema.events[kind].fields
    if aggregate not in OF_A_FIELD:
        if field:
            project.error(
                FILE,
                at,
                "invalid-value",
                _("'{aggregate}:' takes an event type alone, not a field").format(
                    aggregate=aggregate
                ),
                hint=_("write '{aggregate}: {type}'").format(aggregate=aggregate, type=kind),
            )
            return False, None
        return True, None
    if field not in fields:
        message = (
            _("event type '{type}' has no field '{field}'").format(type=kind, field=field)
            if field
            else _("'{aggregate}:' needs an event field: event type, a dot, field").format(
                aggregate=aggregate
            )
        )
        hint = did_you_mean(field, fields) if field else None
        names = ", ".join(f"{kind}.{n}" for n, f in fields.items() if f.type in NUMBERS)
        hint = hint or (_("number fields: {names}").format(names=names) if names else None)
        project.error(FILE, at, "unknown-field", message, hint=hint)
        return False, None
    if fields[field].type not in NUMBERS:
        project.error(
            FILE,
            at,
            "type-mismatch",
            _("'{aggregate}:' needs a number, and {type}.{field} is {kind}").format(
                aggregate=aggregate, type=kind, field=field, kind=fields[field].type
            ),
        )
        return False, None
    return True, field


def _window(
    project: Project, path: tuple[Any, ...], measure: Measure, aggregate: str
) -> tuple[bool, int | None]:
    """Whether the window is right, and its days (None: no window, for days_since only)."""
    if measure.in_last is None:
        if aggregate == "days_since":
            return True, None
        project.error(
            FILE,
            path,
            "missing-key",
            _("measure '{name}' reads events: say over how many days with 'in_last:'").format(
                name=measure.name
            ),
            hint=_("e.g. 'in_last: 90 days' (today and the 89 days before)"),
        )
        return False, None
    try:
        duration = parse_duration(measure.in_last)
    except TimingError as error:
        project.error(FILE, (*path, "in_last"), "invalid-duration", str(error), hint=error.hint)
        return False, None
    if duration.unit not in DAYS_IN or duration.amount < 1:
        project.error(
            FILE,
            (*path, "in_last"),
            "invalid-duration",
            _("a window of events is a number of days or weeks, not '{window}'").format(
                window=measure.in_last
            ),
            hint=_("e.g. 'in_last: 90 days' or 'in_last: 4 weeks'"),
        )
        return False, None
    return True, duration.amount * DAYS_IN[duration.unit]
