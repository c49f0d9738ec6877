"""What a proposal is checked with before it is kept: the rule project validates, its
scenario tests pass, and a simulation shows what it changes against the live release."""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guanxi.engine.releases.files import Files, materialise, read_files
from guanxi.engine.ruleset import RuleSet, Validation, load_ruleset, validate_project
from guanxi.engine.scenarios import SuiteResult, run_scenarios
from guanxi.engine.simulate import Request, Simulation, simulate
from guanxi.engine.store.base import is_postgresql

SAMPLE_MOVES = 20  # the largest moves of tier, level and strategy a summary lists


@dataclass(frozen=True)
class Candidate:
    """A rule project checked for proposal: its files, its validation and its scenarios
    (None when it did not validate)."""

    folder: Path
    files: Files
    validation: Validation
    suite: SuiteResult | None

    @property
    def ruleset(self) -> RuleSet | None:
        return self.validation.ruleset

    def checks(self) -> dict[str, Any]:
        """What the release keeps of its checks."""
        warnings = [d for d in self.validation.diagnostics if d.severity == "warning"]
        suite = self.suite or SuiteResult()
        return {
            "warnings": [d.headline() for d in warnings],
            "scenarios": {s: suite.count(s) for s in ("passed", "failed", "error")},
        }


@contextlib.contextmanager
def checked(folder: Path) -> Iterator[Candidate]:
    """The rule project at `folder` read once, written to a scratch folder, validated there
    (the diagnostics name `folder`) and its scenarios run: what is checked is exactly what
    the release keeps, whatever happens to the folder meanwhile. The scratch folder, the
    rule set's root, lasts as long as the context."""
    files = read_files(folder)
    with tempfile.TemporaryDirectory(prefix="guanxi-release-") as scratch:
        snapshot = materialise(files, Path(scratch), "proposed")
        validation = validate_project(snapshot, shown=folder)
        suite = run_scenarios(validation.ruleset) if validation.ruleset is not None else None
        yield Candidate(folder, files, validation, suite)


def simulation_summary(
    store: str, ruleset: RuleSet, baseline: Files | None, first: dt.date, days: int
) -> dict[str, Any]:
    """Simulate `days` days from `first` on a copy of the SQLite store `store` under
    `ruleset` and under the `baseline` release's files (when one is live); the summary kept
    with the release. `{"skipped": why}` where no simulation can run (a PostgreSQL store)."""
    if is_postgresql(store):
        return {"skipped": "postgresql"}
    with tempfile.TemporaryDirectory(prefix="guanxi-release-") as scratch:
        other = None
        if baseline is not None:
            other = load_ruleset(materialise(baseline, Path(scratch), "baseline"))
        ran = simulate(Path(store), ruleset, Request(first, days, sample=0), other)
    return summary(ran)


def summary(simulation: Simulation) -> dict[str, Any]:
    """Deliveries under the rules (and the baseline), the customers simulated and those
    classified or served differently, and per step who gains or loses it and how many more
    follow-ups it has."""
    rules = simulation.runs[0]
    found: dict[str, Any] = {
        "start": rules.window.first.isoformat(),
        "days": rules.window.days,
        "deliveries": len(rules.deliveries),
    }
    comparison = simulation.comparison
    if comparison is None:
        return found
    moves = sorted(comparison.moves.items(), key=lambda item: -item[1])[:SAMPLE_MOVES]
    ours, theirs = (Counter(d.step_id for d in r.deliveries) for r in (rules, comparison.baseline))
    return found | {
        "baseline_deliveries": len(comparison.baseline.deliveries),
        "customers": comparison.customers,
        "classified_differently": len(comparison.classified_differently),
        "delivered_differently": len(comparison.delivered_differently),
        "steps": [
            {
                "step": s.step_id,
                "gained": len(s.gained),
                "lost": len(s.lost),
                "changed": len(s.changed),
                "added": ours[s.step_id] - theirs[s.step_id],
            }
            for s in comparison.steps
            if s.gained or s.lost or s.changed
        ],
        "moves": [
            {"what": what, "from": _plain(old), "to": _plain(new), "customers": n}
            for (what, old, new), n in moves
        ],
    }


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
