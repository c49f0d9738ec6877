"""A whole simulation: copy the store, stage the events, run the rules (and the baseline),
measure, compare; the copies go with the scratch folder unless they are kept."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guanxi.engine.classify.store_source import engine_for
from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import SimulationError
from guanxi.engine.i18n import _
from guanxi.engine.report.labels import Labels, labels_of
from guanxi.engine.report.model import Section
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.compare import (
    Comparison,
    DifferenceSection,
    SampleSection,
    Side,
    compare,
)
from guanxi.engine.simulate.copy import copy_store, duplicate
from guanxi.engine.simulate.feed import Feed, stage
from guanxi.engine.simulate.results import RunResult, RunSection, measure, tiers_and_levels
from guanxi.engine.simulate.run import Window, run
from guanxi.engine.simulate.snapshot import write_snapshot
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

MAX_DAYS = 366
COPIES = {"rules": "simulation.db", "baseline": "baseline.db"}
Progress = Callable[[str, int, int], None]
"""Called with (run label, hours done, hours in all)."""


@dataclass(frozen=True)
class Request:
    """What to simulate: `days` days from local midnight of `first`, with the events of the
    file `events` and, with `synthetic_seed`, sales and complaints drawn from the history."""

    first: dt.date
    days: int
    events: Path | None = None
    synthetic_seed: int | None = None
    events_encoding: str = UTF8  # of a CSV file of events: UTF8 or GB18030
    sample: int = 10  # affected customers explained
    keep: Path | None = None  # keep the copies in this folder
    engine: str = "auto"  # "duckdb" over a snapshot, "sqlite" inside the copy, or by size


@dataclass
class Simulation:
    live: Path
    runs: list[RunResult]
    comparison: Comparison | None = None
    sections: list[Section] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        first = self.runs[0]
        return {
            "store": str(self.live),
            "start": first.window.start.isoformat(),
            "end": first.window.end.isoformat(),
            "days": first.window.days,
            **{section.name: section.to_dict() for section in self.sections},
        }


def simulate(
    live: Path,
    ruleset: RuleSet,
    request: Request,
    baseline: RuleSet | None = None,
    progress: Progress | None = None,
) -> Simulation:
    """Simulate `request` under `ruleset` on a copy of the SQLite store `live` (and, with
    `baseline`, under that rule set on a second copy of the same data), never writing to
    `live`; see the package docstring."""
    window = _window(ruleset, request)
    rule_sets = {"rules": ruleset} | ({"baseline": baseline} if baseline is not None else {})
    with _folder(request.keep) as folder, contextlib.ExitStack() as stack:
        stores = _copies(stack, live, folder, list(rule_sets))
        feed = _feed(stack, folder, ruleset, window, request, stores["rules"])
        snapshot = _snapshot(folder, ruleset, request, stores["rules"])
        results = {
            label: _run(label, stores[label], rules, window, feed, snapshot, progress)
            for label, rules in rule_sets.items()
        }
        for label, result in results.items():
            result.kept = folder / COPIES[label] if request.keep else None
        simulation = Simulation(live, list(results.values()))
        simulation.sections = [RunSection(result) for result in results.values()]
        if baseline is not None:
            sides = [Side(results[label], stores[label]) for label in rule_sets]
            _compare(simulation, sides, request.sample, labels_of(ruleset))
        return simulation


def _copies(
    stack: contextlib.ExitStack, live: Path, folder: Path, labels: list[str]
) -> dict[str, Store]:
    """A copy of `live` for each run (the baseline's a copy of the first: the same data)."""
    first = folder / COPIES["rules"]
    copy_store(live, first)
    for label in labels[1:]:
        duplicate(first, folder / COPIES[label])
    return {label: _open(stack, folder / COPIES[label]) for label in labels}


def _compare(simulation: Simulation, sides: list[Side], sample: int, labels: Labels) -> None:
    rules, baseline = sides
    simulation.comparison = compare(rules, baseline, sample)
    simulation.sections += [
        DifferenceSection(simulation.comparison, labels),
        SampleSection(simulation.comparison),
    ]


def _window(ruleset: RuleSet, request: Request) -> Window:
    if not 1 <= request.days <= MAX_DAYS:
        raise SimulationError(
            _("simulate from 1 to {limit} days, not {days}").format(
                limit=MAX_DAYS, days=request.days
            )
        )
    return Window(request.first, request.days, ruleset.calendar.zone)


@contextlib.contextmanager
def _folder(keep: Path | None) -> Iterator[Path]:
    """The scratch folder: `keep` (which must hold no earlier copy), else a temporary one."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="guanxi-simulate-") as scratch:
            yield Path(scratch)
        return
    keep.mkdir(parents=True, exist_ok=True)
    if any(keep.iterdir()):
        raise SimulationError(
            _("{folder} is not empty; keep the copies in a new folder").format(folder=keep)
        )
    try:
        yield keep
    except BaseException:  # failed or interrupted: the same command must run again
        _empty(keep)
        raise


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _open(stack: contextlib.ExitStack, path: Path) -> Store:
    store = SQLiteStore(path)
    store.execute("PRAGMA synchronous = OFF")  # a scratch copy: no need to survive a power cut
    stack.callback(store.close)
    return store


def _feed(
    stack: contextlib.ExitStack,
    folder: Path,
    ruleset: RuleSet,
    window: Window,
    request: Request,
    history: Store,
) -> Feed | None:
    if request.events is None and request.synthetic_seed is None:
        return None
    staging = _open(stack, folder / "events.db")
    synthetic = None if request.synthetic_seed is None else (history, request.synthetic_seed)
    events = (request.events, request.events_encoding) if request.events else None
    return stage(staging, ruleset, window.start, window.days, events, synthetic)


def _snapshot(folder: Path, ruleset: RuleSet, request: Request, store: Store) -> Path | None:
    """The customers' snapshot when the nights classify on DuckDB (`engine` "auto": as
    `guanxi classify` chooses, store_source.engine_for)."""
    if request.engine == "sqlite" or not isinstance(store, SQLiteStore):
        return None
    if request.engine == "auto" and engine_for(store) == "sqlite":
        return None
    store.prepare(ruleset.schema)
    return write_snapshot(store, ruleset, folder / "customers.parquet")


def _run(
    label: str,
    store: Store,
    ruleset: RuleSet,
    window: Window,
    feed: Feed | None,
    snapshot: Path | None,
    progress: Progress | None,
) -> RunResult:
    started = time.perf_counter()
    store.prepare(ruleset.schema)
    before = tiers_and_levels(store)
    ran = run(store, ruleset, window, feed, snapshot, _labelled(label, progress))
    result = measure(label, store, ruleset, window, before, ran, time.perf_counter() - started)
    result.feed = feed
    return result


def _labelled(label: str, progress: Progress | None) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress(label, done, total)
