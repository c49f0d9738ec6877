"""Checks of the scenario tests business users write in `tests/*.yaml`."""

from __future__ import annotations

import datetime as dt

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.ruleset.models import Scenario, ScenariosFile, Schema
from guanxi.engine.ruleset.project import Known, Project


def check_scenarios(
    project: Project,
    files: list[tuple[str, ScenariosFile]],
    schema: Schema,
    known: Known,
) -> None:
    for file, model in files:
        for index, scenario in enumerate(model.scenarios):
            checker = _ScenarioChecker(project, file, ("scenarios", index), schema)
            checker.check(scenario, known)


class _ScenarioChecker:
    def __init__(
        self, project: Project, file: str, path: tuple[str | int, ...], schema: Schema
    ) -> None:
        self.project, self.file, self.path, self.schema = project, file, path, schema

    def check(self, scenario: Scenario, known: Known) -> None:
        for key in scenario.customer:
            if key not in self.schema.fields:
                self.error(
                    ("customer", key),
                    "unknown-field",
                    f"no customer field '{key}'",
                    did_you_mean(key, self.schema.fields),
                )
        if scenario.today:
            self.date(("today",), scenario.today)
        for index, event in enumerate(scenario.events):
            if event.type not in self.schema.events:
                self.error(
                    ("events", index, "type"),
                    "unknown-event",
                    f"no event type '{event.type}'",
                    did_you_mean(event.type, self.schema.events),
                )
            self.date(("events", index, "at"), event.at)
        self.expectations(scenario, known)

    def expectations(self, scenario: Scenario, known: Known) -> None:
        expect = scenario.expect
        for key, code, names in (
            ("tier", "unknown-tier", known.tiers),
            ("level", "unknown-level", known.levels),
        ):
            value = getattr(expect, key)
            if value and value not in names:
                self.error(("expect", key), code, f"no {key} '{value}'", did_you_mean(value, names))
        wanted: list[tuple[tuple[str | int, ...], str]]
        wanted = [(("followups", i, "step"), f.step) for i, f in enumerate(expect.followups)]
        wanted += [(("no_followups", i), s) for i, s in enumerate(expect.no_followups)]
        for path, step in wanted:
            if known.steps is not None and step not in known.steps:
                self.error(
                    ("expect", *path),
                    "unknown-step",
                    f"no playbook step '{step}'",
                    did_you_mean(step, known.steps),
                )
        for index, followup in enumerate(expect.followups):
            if followup.due:
                self.date(("expect", "followups", index, "due"), followup.due)

    def date(self, path: tuple[str | int, ...], text: str) -> None:
        try:
            dt.datetime.fromisoformat(text)
        except ValueError:
            self.error(
                path,
                "invalid-value",
                f"'{text}' is not a date or time",
                "write 2026-03-31 or 2026-03-31T09:30",
            )

    def error(self, path: tuple[str | int, ...], code: str, message: str, hint: str | None) -> None:
        self.project.error(self.file, (*self.path, *path), code, message, hint=hint)
