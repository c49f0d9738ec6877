"""Checks of the scenario tests business users write in `tests/*.yaml`.

Customers, the day before and event fields are checked as loading them would check them (the
same conversions as `guanxi load`), so `guanxi test` never stops on a value `validate` let
through. A file's `population` (a CSV or JSONL file beside it) is checked row by row.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from guanxi.engine import ingest  # a module: ingest itself imports the rule-set models
from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.dates import (
    counted_day,
    impossible_day,
    written_moment,
    year_needed,
    yearless_day,
)
from guanxi.engine.ruleset.channel_answers import PREFERRED, unknown_channel_answer
from guanxi.engine.ruleset.domains import (
    event_type_hint,
    field_label_hint,
    label_answer,
    label_part_hint,
    labels_of,
    step_label_hint,
)
from guanxi.engine.ruleset.models import (
    ExpectedFollowup,
    Scenario,
    ScenarioEvent,
    ScenariosFile,
    Schema,
)
from guanxi.engine.ruleset.project import Known, Project
from guanxi.engine.timing import TimingError, parse_duration, said_time

POLICIES = (
    "do_not_contact",
    "preferred_channel",
    "channel_consent",
    "marketing_consent",
    "expiry",
    "quiet_hours",
    "frequency_cap",
    "business_days",
    "capacity",
    "cancel_on",
    "unless",
    "undone",
)
"""What a follow-up's `policy` can be: the contact policies, and the step's own cancelling."""

Path_ = tuple[str | int, ...]
UNKNOWN_CODES = {"tier": "unknown-tier", "level": "unknown-level", "strategy": "unknown-strategy"}
NOT_FOUND = {  # an expected name that the rule project does not define
    "tier": N_("no tier '{name}'"),
    "level": N_("no level '{name}'"),
    "strategy": N_("no strategy '{name}'"),
    "policy": N_("no policy '{name}'"),
    "measure": N_("no measure '{name}' in tiers.yaml"),
}


def check_scenarios(
    project: Project,
    files: list[tuple[str, ScenariosFile]],
    schema: Schema,
    known: Known,
    ladders: Mapping[str, tuple[str, ...] | None],
    timezone: str,
) -> None:
    """`ladders`: the tier, level and strategy names, None where their file has errors (its
    names are then not checked, to spare follow-on errors)."""
    checked: set[str] = set()  # populations whose rows were checked: one file, one report
    for file, model in files:
        if model.population:
            check_population(project, file, model.population, schema, timezone, checked)
        for index, scenario in enumerate(model.scenarios):
            checker = _ScenarioChecker(project, file, ("scenarios", index), schema, timezone)
            checker.check(scenario, known, ladders)


def population_file(file: str, population: str) -> str:
    """The population's name in the project: beside the scenario file that names it."""
    return f"{file.rsplit('/', 1)[0]}/{population}" if "/" in file else population


def check_population(
    project: Project,
    file: str,
    population: str,
    schema: Schema,
    timezone: str,
    checked: set[str],
) -> None:
    """The population file exists and every row of it loads; unknown columns are errors
    (a misspelt column would otherwise be ignored and change every rank silently). Its rows
    are checked once, however many scenario files name it (`checked`)."""
    folder = file.rsplit("/", 1)[0] if "/" in file else ""
    named = project.named_file(file, ("population",), folder)
    if named is None or named[0] in checked:
        return
    name, text = named
    checked.add(name)
    path = project.root / name
    try:
        found = ingest.check_customer_file(schema, timezone, path, project.encodings[name])
    except DataError as error:
        message = str(error).replace(str(path), name)
        project.error(file, ("population",), "invalid-value", message)
        return
    shown = project.shown(name)
    lines = text.splitlines()
    header = _cells(lines[0]) if name.endswith(".csv") else []
    columns = {cell: at for cell, at in reversed(header)}
    for column in found.unknown:
        message = _("no customer field '{name}'").format(name=column)
        hint = field_label_hint(column, labels_of(schema.fields)) or did_you_mean(
            column, schema.fields
        )
        at = columns.get(column, 1)
        project.add(Diagnostic(shown, 1, at, "unknown-field", message, hint, length=len(column)))
    names = [cell for cell, _at in header]
    for line, field, _value, reason in found.problems:
        message = f"{field}: {reason}" if field and field not in reason else reason
        written = lines[line - 1] if 0 < line <= len(lines) else ""
        col, length = _value_at(written, field, names)
        project.add(Diagnostic(shown, line, col, "invalid-value", message, length=length))


def _cells(line: str) -> list[tuple[str, int]]:
    """Each cell of a CSV line, stripped, with the column (1-based) its text starts at."""
    cells: list[tuple[str, int]] = []
    at = 1
    for cell in next(csv.reader([line]), []):
        cells.append((cell.strip(), at + len(cell) - len(cell.lstrip())))
        at += len(cell) + 1
    return cells


def _value_at(line: str, field: str | None, header: list[str]) -> tuple[int, int]:
    """Where `field`'s value stands on a population row: its cell under the CSV `header`,
    or its key on a JSON line; the line's start for a problem of the whole row."""
    if field is None:
        return 1, 1
    if not header:
        at = line.find(f'"{field}"')
        return (at + 1, len(field) + 2) if at >= 0 else (1, 1)
    cells = _cells(line)
    index = header.index(field) if field in header else len(cells)
    if index >= len(cells):
        return 1, 1
    cell, at = cells[index]
    return at, max(len(cell), 1)


class _ScenarioChecker:
    def __init__(
        self, project: Project, file: str, path: Path_, schema: Schema, timezone: str
    ) -> None:
        self.project, self.file, self.path, self.schema = project, file, path, schema
        self.timezone = timezone
        self.today: dt.date | None = None  # what 明天 counts from, once `today:` is read

    def check(
        self, scenario: Scenario, known: Known, ladders: Mapping[str, tuple[str, ...] | None]
    ) -> None:
        self.today = _day_of(scenario.today) if scenario.today else None
        self.customer("customer", scenario.customer)
        self.values(scenario.customer, ("customer",), scenario.customer)
        if scenario.before is not None:
            self.customer("before", scenario.before)
            self.values({**scenario.customer, **scenario.before}, ("before",), scenario.before)
            if scenario.baseline:
                message = _("a first classification has no day before: 'before:' cannot be given")
                hint = _("remove 'baseline: true', or 'before:'")
                self.error(("baseline",), "invalid-value", message, hint)
        if scenario.baseline and scenario.runs is not None:
            message = _("a first classification takes effect at once: 'runs:' cannot go with it")
            hint = _("remove 'runs:', or 'baseline: true'")
            self.error(("runs",), "invalid-value", message, hint)
        if scenario.today:
            self.date(("today",), scenario.today)
        elif not scenario.events:
            self.error(
                (),
                "missing-key",
                _("a scenario without events needs 'today'"),
                _('add today: "2026-03-31" (the day the scenario starts)'),
                key=True,
            )
        for index, event in enumerate(scenario.events):
            self.event(index, event)
        changed: dict[str, Any] = {**scenario.customer}
        for index, change in enumerate(scenario.later):
            at: Path_ = ("later", index, "customer")
            self.customer(at, change.customer)
            changed.update(change.customer)
            self.values(changed, at, change.customer)
            self.date(("later", index, "at"), change.at)
        if isinstance(scenario.recurring, str):
            self.duration(("recurring",), scenario.recurring)
        self.expectations(scenario, known, ladders)

    def customer(self, key: str | Path_, given: Mapping[str, Any]) -> None:
        for name in given:
            if name not in self.schema.fields:
                self.error(
                    (*((key,) if isinstance(key, str) else key), name),
                    "unknown-field",
                    _("no customer field '{name}'").format(name=name),
                    field_label_hint(name, labels_of(self.schema.fields))
                    or did_you_mean(name, self.schema.fields),
                    key=True,
                    length=len(name),
                )

    def values(self, record: Mapping[str, Any], at: Path_, shown: Mapping[str, Any]) -> None:
        """Problems loading `record` would find, reported at the fields of `shown`."""
        _record, problems = ingest.check_customer(self.schema, self.timezone, record)
        for field, value, reason in problems:
            if value is None and field not in record:
                message = _("the customer needs '{field}' (it is required in schema.yaml)").format(
                    field=field
                )
                self.error(at, "missing-key", message, None, key=True)
            elif field in shown:
                hint = self.day_hint(str(field), value)
                self.error((*at, str(field)), "invalid-value", f"{field}: {reason}", hint)

    def day_hint(self, field: str, value: Any) -> str | None:
        """For a customer's day said as staff say it (`3月5日`, `明天`), the date to write;
        the load's reason lists the forms it reads."""
        spec = self.schema.fields.get(field)
        if spec is None or spec.type not in ("date", "datetime") or not isinstance(value, str):
            return None
        yearless = yearless_day(value)
        return year_needed(yearless) if yearless else self.counted_hint((field,), value)

    def event(self, index: int, event: ScenarioEvent) -> None:
        at: Path_ = ("events", index)
        spec = self.schema.events.get(event.type)
        if spec is None:
            self.error(
                (*at, "type"),
                "unknown-event",
                _("no event type '{name}'").format(name=event.type),
                event_type_hint(self.schema, event.type),
            )
        self.date((*at, "at"), event.at)
        if spec is None:
            return
        for name in event.fields:
            if name not in spec.fields:
                self.error(
                    (*at, "fields", name),
                    "unknown-field",
                    _("no field '{name}' in '{event}' events").format(name=name, event=event.type),
                    did_you_mean(name, spec.fields),
                )
        self.event_values(at, event)

    def event_values(self, at: Path_, event: ScenarioEvent) -> None:
        record = {"id": "-", "customer_id": "-", "type": event.type, "at": "2000-01-01T00:00"}
        _record, problems = ingest.check_event_record(
            self.schema, self.timezone, {**record, **event.fields}
        )
        for field, _value, reason in problems:
            if field in event.fields:
                self.error((*at, "fields", str(field)), "invalid-value", f"{field}: {reason}", None)

    def expectations(
        self, scenario: Scenario, known: Known, ladders: Mapping[str, tuple[str, ...] | None]
    ) -> None:
        expect = scenario.expect
        for key, names in ladders.items():
            value = getattr(expect, key)
            if value and names is not None and value not in names:
                domains = [self.project.names.get(key)]
                message, hint = label_answer(domains, value) or (
                    _(NOT_FOUND[key]).format(name=value),
                    did_you_mean(value, names) or label_part_hint(domains, value),
                )
                self.error(("expect", key), UNKNOWN_CODES[key], message, hint)
        for key in ("followups", "suppressed"):
            for index, followup in enumerate(getattr(expect, key)):
                self.followup(("expect", key, index), followup, known)
        for index, step in enumerate(expect.no_followups):
            self.step(("expect", "no_followups", index), step, known)
        for name in expect.measures:
            at = ("expect", "measures", name)
            self.named(at, name, known.measures, "unknown-field", "measure", key=True)

    def followup(self, at: Path_, followup: ExpectedFollowup, known: Known) -> None:
        self.step((*at, "step"), followup.step, known)
        if followup.due:
            self.date((*at, "due"), followup.due)
        channels = None if known.channels is None else (*known.channels, PREFERRED)
        channel = followup.channel
        if channel is not None and channels is not None and channel not in channels:
            message, hint = unknown_channel_answer(self.project, channel, channels)
            expected = ", ".join(channels)
            self.error((*at, "channel"), "unknown-channel", message, hint, expected=expected)
        self.named((*at, "policy"), followup.policy, POLICIES, "invalid-value", "policy")

    def step(self, at: Path_, step: str, known: Known) -> None:
        if known.steps is not None and step not in known.steps:
            self.error(
                at,
                "unknown-step",
                _("no playbook step '{name}'").format(name=step),
                step_label_hint(step, known.step_labels) or did_you_mean(step, known.steps),
            )

    def named(
        self,
        at: Path_,
        value: str | None,
        names: Iterable[str] | None,
        code: str,
        what: str,
        key: bool = False,
    ) -> None:
        options = list(names) if names is not None else None
        if value is None or options is None or value in options:
            return
        hint = did_you_mean(value, options)
        message = _(NOT_FOUND[what]).format(name=value)
        self.error(at, code, message, hint, expected=", ".join(options), key=key)

    def date(self, path: Path_, text: str) -> None:
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            iso = written_moment(text)
            yearless = yearless_day(text)
            hint = _("write {text}").format(text=iso) if iso else None
            hint = hint or (year_needed(yearless) if yearless else impossible_day(text))
            hint = hint or self.counted_hint(path, text)
            self.error(
                path,
                "invalid-value",
                _("'{text}' is not a date or time").format(text=text),
                hint or _("write 2026-03-31 or 2026-03-31T09:30"),
            )

    def counted_hint(self, path: Path_, text: str) -> str | None:
        """For `明天` or `后天10点`: the date (and time) it names, counted from `today:`."""
        counted = counted_day(text)
        if counted is None:
            return None
        if self.today is None or path == ("today",):
            return _("write the day itself, as 2026-03-31: a scenario's days are dates")
        days, said = counted
        day = (self.today + dt.timedelta(days=days)).isoformat()
        time = _time_of_day(said)
        write = day if not said else f"{day}T{time or 'HH:MM'}"
        message = _("write {text}: a scenario's days are dates ({today} is its today)")
        return message.format(text=write, today=self.today.isoformat())

    def duration(self, path: Path_, text: str) -> None:
        try:
            parse_duration(text)
        except TimingError as error:
            hint = error.hint or _("write true (31 days) or a duration such as '92 days'")
            self.error(path, "invalid-duration", str(error), hint)

    def error(self, path: Path_, code: str, message: str, hint: str | None, **extra: Any) -> None:
        key = extra.pop("key", False)
        full = (*self.path, *path)
        if key:
            source = self.project.sources[self.file]
            at = source.block_position(full) if path else source.position(full)
            self.project.add(source.diagnostic(at, code, message, hint=hint, **extra))
            return
        self.project.error(self.file, full, code, message, hint=hint, **extra)


def _day_of(text: str) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None  # answered where `today:` is checked


def _time_of_day(said: str) -> str | None:
    """`10:00`, `10点`, `上午10点半` as HH:MM; None for anything else."""
    spoken = said_time(said)
    if spoken is not None:
        return spoken.strftime("%H:%M")
    try:
        return dt.time.fromisoformat(said.removeprefix("T")).strftime("%H:%M")
    except ValueError:
        return None
