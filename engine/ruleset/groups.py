"""Roll-up measures over a customer's corporate group (集团): `group_sum:`, `group_max:` and
`group_count:` in tiers.yaml `measures:`, over the customers with the same `group_by` field
(group_id unless tiers.yaml says otherwise)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.models import Measure
from guanxi.engine.ruleset.project import Project
from guanxi.engine.ruleset.ruleset import Rollup

GROUP_TYPES = ("string", "integer")  # what names a group: a code or a number


def rollup_keys(measure: Measure) -> list[str]:
    """The roll-up keys the measure gives (one, for a roll-up measure)."""
    given = {
        "group_sum": measure.group_sum,
        "group_max": measure.group_max,
        "group_count": measure.group_count,
    }
    return [key for key, value in given.items() if value is not None]


def check_group_by(project: Project, group_by: str, schema_fields: Mapping[str, str]) -> bool:
    """`group_by` names a text or whole-number field of schema.yaml (checked when a measure
    rolls up: at `group_by:` when tiers.yaml writes it, else at `measures:`)."""
    if group_by in schema_fields and schema_fields[group_by] in GROUP_TYPES:
        return True
    written = project.sources["tiers.yaml"].value(("group_by",)) is not None
    at: tuple[str | int, ...] = ("group_by",) if written else ("measures",)
    if group_by not in schema_fields:
        hint = did_you_mean(group_by, schema_fields)
        project.error(
            "tiers.yaml",
            at,
            "unknown-field",
            _("no customer field '{name}' names the customer's group").format(name=group_by),
            hint=hint or _("add a group_id field to schema.yaml, or name it with 'group_by:'"),
        )
        return False
    project.error(
        "tiers.yaml",
        at,
        "type-mismatch",
        _("'{name}' is a {kind} field: it cannot name a group").format(
            name=group_by, kind=schema_fields[group_by]
        ),
        hint=_("name the group with a text or whole-number field, such as group_id"),
    )
    return False


def read_rollup(
    project: Project,
    path: tuple[str | int, ...],
    measure: Measure,
    group_by: str | None,
    known: Mapping[str, str],
    unrollable: Collection[str],
) -> Rollup | None:
    """The measure's roll-up, or None after a diagnostic (`known`: the fields and the
    measures before it, by type; `unrollable`: the percentile and group measures among them,
    which explain could not work out over a group; `group_by`: None when it names no group
    field)."""
    key = rollup_keys(measure)[0]
    if measure.within:
        project.error(
            "tiers.yaml",
            (*path, "within"),
            "unknown-key",
            _("'within:' goes with 'percentile_of:', not with '{key}:'").format(key=key),
            hint=_("take 'within:' out: a group measure counts the customer's own group"),
        )
    source = None if key == "group_count" else str(getattr(measure, key))
    if source is not None and source not in known:
        project.error(
            "tiers.yaml",
            (*path, key),
            "unknown-field",
            _("no field or measure '{name}'").format(name=source),
            hint=did_you_mean(source, known),
        )
        return None
    if source is not None and source in unrollable:
        project.error(
            "tiers.yaml",
            (*path, key),
            "type-mismatch",
            _("'{name}' is a percentile or a group measure: it cannot be rolled up").format(
                name=source
            ),
            hint=_("roll up a number field of schema.yaml or an 'expr:' measure"),
        )
        return None
    if source is not None and known[source] not in ("integer", "number"):
        message = _("'{name}' is not a number: a group adds up or compares numbers")
        project.error("tiers.yaml", (*path, key), "type-mismatch", message.format(name=source))
        return None
    return Rollup(key.removeprefix("group_"), source, group_by) if group_by else None
