"""The change of a customer field between classification runs, as tiers.yaml writes it,
checked against the schema.

change: balance        a number field of the customer
since: 30 days         the value the latest run at least 30 days ago saw (days or weeks);
                       `since: last run`: the latest run of an earlier day
as: percent            (now - then) / |then|: -0.3 is a 30 % fall; `as: difference`
                       (the default) is now - then
"""

from __future__ import annotations

from typing import Any

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.models import Measure, Schema
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import CHANGE_KINDS, FieldChange
from guanxi.engine.timing import TimingError, parse_duration

LAST_RUN = "last run"
DAYS_IN = {"days": 1, "weeks": 7}
NUMBERS = ("integer", "number")
CHANGE_KEYS = ("since", "as_")  # `as:` is a Python keyword: the model calls it as_
FILE = "tiers.yaml"


def field_change(
    project: Project, schema: Schema, path: tuple[Any, ...], measure: Measure
) -> FieldChange | None:
    """The change measure written at `path`, or None with a diagnostic for each problem."""
    field = _field(project, schema, path, str(measure.change))
    since, days = _since(project, path, measure)
    kind = _kind(project, path, measure)
    if field is None or not since or kind is None:
        return None
    return FieldChange(field, days, kind)


def _field(project: Project, schema: Schema, path: tuple[Any, ...], name: str) -> str | None:
    at = (*path, "change")
    numbers = [n for n, f in schema.fields.items() if f.type in NUMBERS]
    if name not in schema.fields:
        hint = did_you_mean(name, schema.fields) or _("number fields: {names}").format(
            names=", ".join(numbers)
        )
        project.error(
            FILE,
            at,
            "unknown-field",
            _("no customer field '{name}'").format(name=name),
            hint=hint,
        )
        return None
    if schema.fields[name].type not in NUMBERS:
        project.error(
            FILE,
            at,
            "type-mismatch",
            _("'change:' needs a number field, and {name} is {kind}").format(
                name=name, kind=schema.fields[name].type
            ),
            hint=_("number fields: {names}").format(names=", ".join(numbers)),
        )
        return None
    return name


def _since(project: Project, path: tuple[Any, ...], measure: Measure) -> tuple[bool, int | None]:
    """Whether `since:` is right, and its days (None: since the last run)."""
    example = _("e.g. 'since: 30 days', 'since: 4 weeks' or 'since: last run'")
    if measure.since is None:
        project.error(
            FILE,
            path,
            "missing-key",
            _(
                "measure '{name}' compares a field with an earlier run: say which with 'since:'"
            ).format(name=measure.name),
            hint=example,
        )
        return False, None
    written = " ".join(str(measure.since).lower().split())
    if written == LAST_RUN:
        return True, None
    try:
        duration = parse_duration(written)
    except TimingError as error:
        project.error(FILE, (*path, "since"), "invalid-duration", str(error), hint=example)
        return False, None
    if duration.unit not in DAYS_IN or duration.amount < 1:
        project.error(
            FILE,
            (*path, "since"),
            "invalid-duration",
            _("a change is measured over days or weeks, not '{since}'").format(since=measure.since),
            hint=example,
        )
        return False, None
    return True, duration.amount * DAYS_IN[duration.unit]


def _kind(project: Project, path: tuple[Any, ...], measure: Measure) -> str | None:
    kind = measure.as_ or "difference"
    if kind not in CHANGE_KINDS:
        project.error(
            FILE,
            (*path, "as"),
            "invalid-value",
            _(
                "'as:' is 'difference' (now minus then) or 'percent' (-0.3: fell 30 %), not"
                " '{kind}'"
            ).format(kind=kind),
            hint=did_you_mean(kind, CHANGE_KINDS),
        )
        return None
    return kind


def no_change_keys(project: Project, path: tuple[Any, ...], measure: Measure) -> None:
    """`since:` and `as:` belong to `change:`."""
    for key in CHANGE_KEYS:
        if getattr(measure, key) is not None:
            shown = key.rstrip("_")
            project.error(
                FILE,
                (*path, shown),
                "unknown-key",
                _("'{key}:' goes with 'change:', which measure '{name}' does not have").format(
                    key=shown, name=measure.name
                ),
                hint=_("remove '{key}:', or measure a field's change with 'change: FIELD'").format(
                    key=shown
                ),
            )
