"""Values as the lists show them: times in the project's zone, steps with their labels,
customers with their names."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet
    from guanxi.engine.store import Store

NAME_FIELD = "name"  # the customer field shown beside an id, when the schema has one
MINUTES = "%Y-%m-%d %H:%M"


def local(moment: str | dt.datetime | None, ruleset: RuleSet) -> dt.datetime | None:
    """A stored time (ISO, UTC) in the project's zone."""
    return in_zone(moment, ruleset.calendar.zone)


def in_zone(moment: str | dt.datetime | None, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """A stored time (ISO, UTC) in `zone`."""
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone)


def local_minutes(moment: str | dt.datetime | None, ruleset: RuleSet) -> str:
    """For a table: `2026-12-04 09:30`, the zone named once in the table's title."""
    return zone_minutes(moment, ruleset.calendar.zone)


def zone_minutes(moment: str | dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    """`2026-12-04 09:30` in `zone`."""
    shown = in_zone(moment, zone)
    return shown.strftime(MINUTES) if shown else ""


def local_iso(moment: str | dt.datetime | None, ruleset: RuleSet) -> str:
    """For a file: `2026-12-04T09:30:00+08:00`."""
    shown = local(moment, ruleset)
    return shown.isoformat() if shown else ""


def step_labels(ruleset: RuleSet) -> dict[str, str]:
    return {s.id: s.step.label or "" for s in ruleset.steps}


def names(store: Store, ruleset: RuleSet, ids: Iterable[str]) -> dict[str, str]:
    from guanxi.engine.plan.listing import customer_names

    field = NAME_FIELD if NAME_FIELD in ruleset.schema.fields else None
    return customer_names(store, ruleset.schema.key, field, ids)


def beside(key: str, known: dict[str, str]) -> str:
    """An id and, after it, its name or label when there is one: `C0000042 张三`."""
    name = known.get(key)
    return f"{key} {name}" if name and name != key else key


def csv_row(
    row: Mapping[str, Any],
    columns: Sequence[str],
    times: Sequence[str],
    named: tuple[dict[str, str], dict[str, str]],
    ruleset: RuleSet,
) -> list[Any]:
    """A list row for `--csv`: raw values, the `times` columns as ISO in the project's zone
    (`2026-12-04T09:30:00+08:00`), and the customer's name and the step's label (`named`:
    names by customer id, labels by step id)."""
    known, labels = named
    values = {
        **row,
        **{k: local_iso(row.get(k), ruleset) for k in times},
        "customer_name": known.get(row["customer_id"]),
        "step_label": labels.get(row["step_id"]),
    }
    return [values.get(column) for column in columns]
