"""Simulation benchmark: `guanxi simulate` over 100k demo customers for 30 days.

    python benchmarks/simulate_bench.py [--customers N] [--days N] [--runs N] [--baseline]
                                        [--engine auto|duckdb|sqlite] [--data DIR]

The live store is made once in --data (default /tmp/guanxi-simulate-bench): the demo
(engine/demo.run_demo: customers, half a year of events, classified, the coming month
planned), then one daemon tick at the demo's time delivering to an outbox, so that it is the
store of a running daemon, not of a demo that never delivered anything (the first simulated
hour would deliver half a year of overdue follow-ups at once). Each measured run is the whole
`simulate()` from the day after, with synthetic events (seed 1): the copy, the snapshot, the
nights, the ticks and the measuring. With --baseline, the default rules run as the baseline of
the same rules with gold at the top 10 %. Wall and CPU seconds, median of --runs, with the
machine's load average (the machine is shared), and the phases of the last run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import dispatch_settings
from guanxi.engine.daemon.delivery import build_adapters
from guanxi.engine.daemon.tick import tick
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo import run_demo
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.simulate import Request, Simulation, simulate
from guanxi.engine.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FIRST = dt.date(2026, 11, 29)


def live_store(data: Path, ruleset: RuleSet, customers: int) -> Path:
    """The demo store after one daemon tick (made once)."""
    folder = data / f"live-{customers}"
    path = folder / "guanxi.db"
    if path.exists():
        return path
    shutil.rmtree(folder, ignore_errors=True)
    run_demo(folder, ruleset, customers, 1, NOW)
    store = SQLiteStore(path)
    adapters = build_adapters(ruleset, store, folder, None, FixedClock(NOW))
    try:
        tick(store, ruleset, adapters, NOW, random.Random(0), settings=dispatch_settings(ruleset))
    finally:
        adapters.close()
        store.close()
    return path


def gold_at_ten(data: Path) -> RuleSet:
    folder = data / "gold-10"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.db*", "tests"))
    tiers = folder / "tiers.yaml"
    tiers.write_text(tiers.read_text("utf-8").replace("top_percent: 5", "top_percent: 10"), "utf-8")
    return load_ruleset(folder)


def measure(
    live: Path, ruleset: RuleSet, request: Request, baseline: RuleSet | None
) -> tuple[float, float, float, Simulation]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    simulation = simulate(live, ruleset, request, baseline)
    return time.perf_counter() - wall, time.process_time() - cpu, load, simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--engine", choices=["auto", "duckdb", "sqlite"], default="auto")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-simulate-bench"))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    defaults = load_ruleset(default_rules_path())
    made = time.perf_counter()
    live = live_store(args.data, defaults, args.customers)
    print(f"live store {live} ({time.perf_counter() - made:.0f} s to reach)")
    ruleset, baseline = (gold_at_ten(args.data), defaults) if args.baseline else (defaults, None)
    request = Request(FIRST, args.days, synthetic_seed=1, engine=args.engine)
    runs = []
    for n in range(1, args.runs + 1):
        wall, cpu, load, simulation = measure(live, ruleset, request, baseline)
        runs.append((wall, cpu))
        print(f"run {n}: {wall:6.1f} s wall  {cpu:6.1f} s CPU  (load average {load:.1f})")
    print(
        f"median of {args.runs}: {statistics.median(w for w, _ in runs):.1f} s wall,"
        f" {statistics.median(c for _, c in runs):.1f} s CPU"
        f" — {args.customers:,} customers, {args.days} days"
        + (", with a baseline" if baseline else "")
    )
    for result in simulation.runs:
        counts = result.counts
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(counts.seconds.items()))
        print(
            f"  {result.label}: {len(result.deliveries):,} delivered, {counts.events_fed:,} events,"
            f" {counts.classifications} nights, {counts.ticks} ticks; {phases}"
        )
    print(
        "python benchmarks/simulate_bench.py"
        f" --customers {args.customers} --days {args.days} --runs {args.runs}"
        + (" --baseline" if args.baseline else "")
        + (f" --engine {args.engine}" if args.engine != "auto" else "")
    )


if __name__ == "__main__":
    main()
