"""Run every scenario of a rule project and collect pass, fail or error for each."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from guanxi.engine.errors import GuanxiError
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Scenario
from guanxi.engine.ruleset.ruleset import ScenarioFile
from guanxi.engine.scenarios.compare import Difference, describe, differences
from guanxi.engine.scenarios.replay import Outcome, play

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's verdict: where it is written, its differences or the error that kept
    it from running, and what the pipeline decided."""

    file: str
    line: int
    name: str
    status: Status
    differences: tuple[Difference, ...] = ()
    error: str | None = None
    outcome: Outcome | None = None
    seconds: float = 0.0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "name": self.name,
            "status": self.status,
            "differences": [d.to_dict() for d in self.differences],
            "error": self.error,
            "actual": _actual(self.outcome),
            "seconds": round(self.seconds, 3),
        }


def _actual(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {
        "tier": outcome.tier,
        "level": outcome.level,
        "strategy": outcome.strategy,
        "gold": outcome.gold,
        "followups": [describe(p) for p in outcome.followups],
        "measures": dict(outcome.measures),
    }


@dataclass
class SuiteResult:
    results: list[ScenarioResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return all(r.status == "passed" for r in self.results)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def outcomes(self) -> list[Outcome]:
        return [r.outcome for r in self.results if r.outcome is not None]


def run_scenarios(ruleset: RuleSet, only: str | None = None) -> SuiteResult:
    """Every scenario of every file in file order; with `only`, those whose name contains it."""
    suite = SuiteResult()
    for scenario_file in ruleset.scenarios:
        for index, scenario in enumerate(scenario_file.scenarios):
            if only is None or only in scenario.name:
                suite.results.append(run_scenario(ruleset, scenario_file, index, scenario))
    return suite


def run_scenario(
    ruleset: RuleSet, scenario_file: ScenarioFile, index: int, scenario: Scenario
) -> ScenarioResult:
    lines = scenario_file.lines
    line = lines[index] if index < len(lines) else 0
    population = ruleset.root / scenario_file.population if scenario_file.population else None
    started = time.perf_counter()  # a duration for the report, never a date
    base = ScenarioResult(scenario_file.file, line, scenario.name, "error")
    try:
        outcome = play(ruleset, scenario, population, scenario_file.population_encoding)
    except GuanxiError as error:
        return replace(base, error=str(error), seconds=time.perf_counter() - started)
    found = differences(scenario.expect, outcome, ruleset.calendar.zone)
    return replace(
        base,
        status="failed" if found else "passed",
        differences=tuple(found),
        outcome=outcome,
        seconds=time.perf_counter() - started,
    )
