"""Event path benchmark: a JSON Lines file of events becomes follow-ups, on SQLite.

    python benchmarks/events_bench.py [--customers N] [--events N] [--runs N] [--slice N]
                                      [--chunks N,N] [--data DIR] [--only TEXT,TEXT]

Made once and kept in --data (default /tmp/guanxi-events-bench): the demo customers
(engine/demo_data) loaded with engine/ingest and classified with engine/classify under the
default rule project; an events file of --events events for them (below); and a copy of the
store with that file already loaded. Every measured run starts from a fresh copy of a store.

The events file: the demo's payloads and business hours, over the 30 days before the
benchmark's day, in time order, with more sales and complaints than the demo has (the demo
is mostly logins, which no step listens to): sale 35 %, complaint 20 %, complaint_resolved
8 %, feedback 10 %, login 20 %, product_maturity 5 %, balance_drop 2 %.

Scenarios, median of --runs:
  file → follow-ups   load_events on the file, then plan_new_events: events/s over both
  plan only           plan_new_events on a store that already holds the events
  plan, Python match  the same, the event steps matched by the Python predicates instead of
                      durable_rules (what durable_rules costs)
  plan, chunk N       plan only with another chunk size (--chunks)
  streaming           the file read in slices of --slice lines, each slice loaded and planned
                      before the next is read (a feed that arrives while it is planned)

--only keeps the scenarios whose name contains one of the texts (`file,plan only`). The
1-minute load average is taken after each run; the table shows the median run's. CPU s is
this process's CPU time over the run (less sensitive than wall time to a shared machine).
To compare with another checkout, run this file once with PYTHONPATH pointing at each,
alternating (benchmarks/events_compare.py).

Latency, p99 over events, two definitions:
  chunk      an event's chunk: from the start of the chunk's query to the end of its
             follow-ups' commit and contact policy pass, attributed to every event in it
             (the planner's own latency; loading is not counted)
  from file  streaming only: from the start of reading the event's slice from the file to
             the end of its chunk's policy pass (loading, waiting and planning)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guanxi.engine.classify import classify
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo_data import (
    COMMENTS,
    COMPLAINT,
    LOGIN_CHANNEL,
    MATURING,
    SALE_PERSONAL,
    SEVERITY,
    write_demo_data,
)
from guanxi.engine.events import matcher as matcher_module
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.plan import events as planner_module
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.ruleset import CompiledStep
from guanxi.engine.store.sqlite import SQLiteStore

TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
DAYS = 30
MIX = {
    "sale": 35,
    "complaint": 20,
    "complaint_resolved": 8,
    "feedback": 10,
    "login": 20,
    "product_maturity": 5,
    "balance_drop": 2,
}


# --- data, made once -----------------------------------------------------------------


def bench_rules(data: Path) -> RuleSet:
    """The default rule project (without its scenario tests), in the data folder."""
    folder = data / "rules"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.db*", "tests"))
    return load_ruleset(folder)


def base_store(data: Path, ruleset: RuleSet, customers: int) -> Path:
    """Demo customers loaded and classified."""
    path = data / f"store-{customers}.db"
    if path.exists():
        return path
    csv = data / f"demo-{customers}" / "customers.csv"
    if not csv.exists():
        write_demo_data(csv.parent, customers, 1, TODAY)
    building = path.with_suffix(".building")
    store = SQLiteStore(building)
    load_customers(store, ruleset, csv, NOW)
    classify(store, ruleset, NOW)
    _close(store)
    building.rename(path)
    return path


def events_file(data: Path, customers: int, count: int) -> Path:
    path = data / f"events-{customers}-{count}.jsonl"
    if not path.exists():
        building = path.with_suffix(".building")
        with building.open("w", encoding="utf-8") as out:
            for line in _events(customers, count):
                out.write(line + "\n")
        building.rename(path)
    return path


def _events(customers: int, count: int) -> Iterator[str]:
    rng = random.Random(7)
    kinds, weights = list(MIX), list(MIX.values())
    start = dt.datetime.combine(TODAY - dt.timedelta(days=DAYS), dt.time(8))
    offsets = sorted(rng.randrange(DAYS * 24 * 3600) for _ in range(count))
    for number, offset in enumerate(offsets, 1):
        moment = start + dt.timedelta(seconds=offset)
        kind = rng.choices(kinds, weights)[0]
        yield json.dumps(
            {
                "id": f"B{number:08d}",
                "type": kind,
                "customer_id": f"C{rng.randint(1, customers):07d}",
                "at": moment.isoformat() + "+08:00",
                **_payload(kind, rng),
            },
            ensure_ascii=False,
        )


def _payload(kind: str, rng: random.Random) -> dict[str, Any]:
    amount = round(10_000 * rng.lognormvariate(0, 1), -2)
    return {
        "sale": lambda: {"product": SALE_PERSONAL(rng), "amount": amount},
        "complaint": lambda: {"category": COMPLAINT(rng), "severity": SEVERITY(rng)},
        "complaint_resolved": lambda: {"category": COMPLAINT(rng)},
        "feedback": lambda: {"score": (s := rng.randint(1, 5)), "comment": COMMENTS[s][0]},
        "login": lambda: {"channel": LOGIN_CHANNEL(rng)},
        "product_maturity": lambda: {"product": MATURING(rng), "amount": amount},
        "balance_drop": lambda: {"amount": amount},
    }[kind]()


def loaded_store(data: Path, ruleset: RuleSet, base: Path, events: Path) -> Path:
    """The base store with the events file loaded (nothing planned)."""
    path = data / f"{events.stem}.db"
    if not path.exists():
        building = path.with_suffix(".building")
        shutil.copyfile(base, building)
        store = SQLiteStore(building)
        load_events(store, ruleset, events, NOW)
        _close(store)
        building.rename(path)
    return path


def slices(data: Path, events: Path, size: int) -> list[Path]:
    """The events file cut into files of `size` lines, for the streaming scenario."""
    folder = data / f"{events.stem}-slices-{size}"
    if not folder.exists():
        building = folder.with_suffix(".building")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        lines = events.read_text(encoding="utf-8").splitlines(keepends=True)
        for number, first in enumerate(range(0, len(lines), size)):
            part = building / f"{number:05d}.jsonl"
            part.write_text("".join(lines[first : first + size]), encoding="utf-8")
        building.rename(folder)
    return sorted(folder.glob("*.jsonl"))


def _close(store: SQLiteStore) -> None:
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def fresh(source: Path, work: Path) -> SQLiteStore:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, work)
    return SQLiteStore(work)


# --- measuring -----------------------------------------------------------------------


@dataclass
class Result:
    events: int = 0  # events in the file (or planned, for the plan-only scenarios)
    followups: int = 0
    load: float = 0.0
    plan: float = 0.0
    latencies: list[float] = field(default_factory=list)  # chunk latency, one per event
    from_file: list[float] = field(default_factory=list)  # streaming: one per event
    load_average: float = 0.0  # the machine's 1-minute load average after the run
    cpu: float = 0.0  # CPU seconds of this process while loading and planning (or planning)

    @property
    def seconds(self) -> float:
        return self.load + self.plan


@contextmanager
def chunk_clock(latencies: list[float], chunk: int | None = None) -> Iterator[None]:
    """Time every chunk the planner plans (from the end of the previous one, so the query
    that fetched it counts), and attribute the time to each of its events."""
    original_plan, original_size = planner_module._Planner.plan_chunk, planner_module.CHUNK
    last = [time.perf_counter()]

    def timed(planner: Any, events: list[Any]) -> None:
        original_plan(planner, events)
        now = time.perf_counter()
        latencies.extend([now - last[0]] * len(events))
        last[0] = now

    planner_module._Planner.plan_chunk = timed  # type: ignore[method-assign]
    planner_module.CHUNK = chunk or original_size
    try:
        yield
    finally:
        planner_module._Planner.plan_chunk = original_plan  # type: ignore[method-assign]
        planner_module.CHUNK = original_size


@contextmanager
def python_matching() -> Iterator[None]:
    """Event steps matched by the Python predicates (the classification's oracle)."""
    original = matcher_module.EventMatcher.match

    def match(
        self: Any, event: Mapping[str, Any], profile: Mapping[str, Any], today: Any = None
    ) -> list[CompiledStep]:
        kind = event.get("type")
        if kind not in self.event_types:
            return []
        record = self.record(event, profile)
        return [
            step
            for name, step in sorted(self.steps.items())
            if step.step.on == kind
            and step.level in (matcher_module.EVERY_LEVEL, record.get("level"))
            and (step.when is None or step.when.evaluate(record, today))
        ]

    matcher_module.EventMatcher.match = match  # type: ignore[method-assign]
    try:
        yield
    finally:
        matcher_module.EventMatcher.match = original  # type: ignore[method-assign]


def file_to_followups(ruleset: RuleSet, base: Path, events: Path, work: Path) -> Result:
    store, result = fresh(base, work), Result()
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        loaded = load_events(store, ruleset, events, NOW)
        result.load = time.perf_counter() - started
        result.events = loaded.read
        with chunk_clock(result.latencies):
            started = time.perf_counter()
            result.followups = plan_new_events(store, ruleset, NOW).planned
            result.plan = time.perf_counter() - started
        result.cpu = time.process_time() - cpu
        return result
    finally:
        store.close()


def plan_only(
    ruleset: RuleSet, loaded: Path, work: Path, chunk: int | None = None, python: bool = False
) -> Result:
    store, result = fresh(loaded, work), Result()
    try:
        with chunk_clock(result.latencies, chunk), python_matching() if python else _nothing():
            cpu, started = time.process_time(), time.perf_counter()
            report = plan_new_events(store, ruleset, NOW)
            result.plan = time.perf_counter() - started
            result.cpu = time.process_time() - cpu
        result.events, result.followups = report.events, report.planned
        return result
    finally:
        store.close()


def streaming(ruleset: RuleSet, base: Path, parts: list[Path], work: Path) -> Result:
    store, result = fresh(base, work), Result()
    cpu = time.process_time()
    try:
        for part in parts:
            read = time.perf_counter()
            result.events += load_events(store, ruleset, part, NOW).read
            loaded = time.perf_counter()
            result.load += loaded - read
            planned = len(result.latencies)
            with chunk_clock(result.latencies):
                result.followups += plan_new_events(store, ruleset, NOW).planned
            done = time.perf_counter()
            result.plan += done - loaded
            result.from_file += [done - read] * (len(result.latencies) - planned)
        result.cpu = time.process_time() - cpu
        return result
    finally:
        store.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# --- running and reporting -------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, list[Result]]:
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    ruleset = bench_rules(data)
    started = time.perf_counter()
    base = base_store(data, ruleset, args.customers)
    events = events_file(data, args.customers, args.events)
    loaded = loaded_store(data, ruleset, base, events)
    parts = slices(data, events, args.slice)
    print(f"data ready in {time.perf_counter() - started:.1f} s: {data}", file=sys.stderr)
    work = data / "work.db"
    scenarios: dict[str, Callable[[], Result]] = {
        "file → follow-ups": lambda: file_to_followups(ruleset, base, events, work),
        "plan only": lambda: plan_only(ruleset, loaded, work),
        "plan, Python match": lambda: plan_only(ruleset, loaded, work, python=True),
        **{
            f"plan, chunk {n:,}": (lambda n=n: plan_only(ruleset, loaded, work, chunk=n))
            for n in args.chunks
        },
        f"streaming, slices of {args.slice:,}": lambda: streaming(ruleset, base, parts, work),
    }
    if args.only:
        scenarios = {n: s for n, s in scenarios.items() if any(t in n for t in args.only)}
    results: dict[str, list[Result]] = {name: [] for name in scenarios}
    for run in range(args.runs):
        for name, scenario in scenarios.items():
            result = scenario()
            result.load_average = os.getloadavg()[0]
            results[name].append(result)
            print(
                f"run {run + 1} {name}: {result.events:,} events, {result.followups:,}"
                f" follow-ups, load {result.load:.2f} s, plan {result.plan:.2f} s,"
                f" CPU {result.cpu:.2f} s,"
                f" load average {result.load_average:.2f}",
                file=sys.stderr,
            )
    return results


def table(results: dict[str, list[Result]]) -> str:
    lines = [
        "| scenario | events | follow-ups | load s | plan s | total s (median) | events/s"
        " | CPU s | events per CPU s | p99 chunk latency | p99 from file | runs (s)"
        " | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, runs in results.items():
        ordered = sorted(runs, key=lambda r: r.seconds)
        median = ordered[len(ordered) // 2]
        seconds = statistics.median(r.seconds for r in runs)
        each = ", ".join(f"{r.seconds:.2f}" for r in runs)
        from_file = f"{p99(median.from_file) * 1000:,.0f} ms" if median.from_file else "-"
        lines.append(
            f"| {name} | {median.events:,} | {median.followups:,} | {median.load:.2f}"
            f" | {median.plan:.2f} | {seconds:.2f} | {median.events / seconds:,.0f}"
            f" | {median.cpu:.2f} | {median.events / median.cpu:,.0f}"
            f" | {p99(median.latencies) * 1000:,.0f} ms | {from_file} | {each}"
            f" | {median.load_average:.2f} |"
        )
    return "\n".join(lines)


def figures(results: dict[str, list[Result]]) -> dict[str, list[dict[str, float]]]:
    """Every run's figures, for a comparison across checkouts (events_compare.py)."""
    return {
        name: [
            {
                "events": r.events,
                "followups": r.followups,
                "seconds": r.seconds,
                "events_per_second": r.events / r.seconds,
                "cpu_seconds": r.cpu,
                "events_per_cpu_second": r.events / r.cpu,
                "p99_chunk_ms": p99(r.latencies) * 1000,
                "load_average": r.load_average,
            }
            for r in runs
        ]
        for name, runs in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=240_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--slice", type=int, default=10_000)
    parser.add_argument(
        "--chunks", type=lambda t: [int(n) for n in t.split(",") if n], default=[1_000]
    )
    parser.add_argument("--data", default="/tmp/guanxi-events-bench")
    parser.add_argument("--only", type=lambda t: [n for n in t.split(",") if n], default=[])
    parser.add_argument("--json", help="also write every run's figures to this file")
    args = parser.parse_args()
    results = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures(results), indent=1), encoding="utf-8")
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print(table(results))


if __name__ == "__main__":
    main()
