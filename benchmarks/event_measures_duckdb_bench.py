"""Event measures on DuckDB: the 10M-customer snapshot night with and without two 90-day
event measures over 50M events.

    python benchmarks/event_measures_duckdb_bench.py [--copies N] [--events N] [--runs N]
                                                     [--data DIR]

Made once and kept in --data (default /tmp/guanxi-event-measures-duckdb): the 10M-customer
Parquet snapshot of classify_bench (the 1M demo customers, --copies times with fresh ids) and
its next night (5 % changed), and a SQLite store holding only --events events for those
customers (a third each complaints, sales with an amount and logins, over 180 days).

The two rule projects of event_measures_bench: the default one ('without') and the one that
adds and reads `complaints_90d` and `sales_90d` ('with'). Each has its own copy of the store
(the one made becomes the second's: a new run makes it again);
measured on it: the first run (every customer new), then nights alternating between the two
snapshots, as classify_bench's DuckDB night, the two projects taking turns run by run. The
machine is shared, so each figure is printed with the load average of the minute before it.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import TODAY, demo_csv, night_parquet, snapshot_parquet
from classify_bench import NIGHT_PERCENT, NOW, fresh_copy
from event_measures_bench import add_events, with_event_measures

from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

# the snapshot's ids (bench_data.snapshot_parquet): a random copy of a random demo customer
SNAPSHOT_ID = (
    "printf('C%09d', (:draw / :demo % (:customers / :demo)) * 10000000 + 1 + :draw % :demo)"
)


def events_store(ruleset: RuleSet, path: Path, demo: int, copies: int, events: int) -> Path:
    """A store with the schema and `events` events of the snapshot's customers (made once):
    copy k of the `demo` customers has ids k × 10⁷ + the demo number."""
    if not path.exists():
        store = SQLiteStore(path)
        store.prepare(ruleset.schema)
        store.close()
        add_events(path, demo * copies, events, SNAPSHOT_ID.replace(":demo", str(demo)))
    return path


def measured(ruleset: RuleSet, store_path: Path, snapshot: Path) -> tuple[float, float, int]:
    """Seconds of one snapshot run, the 1-minute load average when it ended, customers
    changed."""
    gc.collect()
    store = SQLiteStore(store_path)
    try:
        started = time.perf_counter()
        report = classify_snapshot(store, ruleset, NOW, snapshot)
        return time.perf_counter() - started, os.getloadavg()[0], report.changed
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the 1M demo file")
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--runs", type=int, default=3, help="nights per project (median)")
    parser.add_argument("--demo", type=int, default=1_000_000, help="customers of the demo file")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-event-measures-duckdb"))
    options = parser.parse_args()
    data: Path = options.data
    data.mkdir(parents=True, exist_ok=True)
    default = load_ruleset(default_rules_path())
    demo = options.demo
    customers = demo * options.copies
    made = time.perf_counter()
    csv_path = demo_csv(data, demo)
    first = snapshot_parquet(default, csv_path, data / f"snapshot-{demo}x{options.copies}.parquet",
                             options.copies)  # fmt: skip
    second = night_parquet(first, data / f"{first.stem}-night.parquet", NIGHT_PERCENT, TODAY)
    base = data / f"events-{customers}-{options.events}.db"
    events_store(default, base, demo, options.copies, options.events)
    print(f"data ready in {time.perf_counter() - made:.0f} s; store"
          f" {base.stat().st_size / 1e9:.1f} GB", flush=True)  # fmt: skip
    projects = {
        "without": default,
        "with": with_event_measures(Path(tempfile.mkdtemp()) / "rules"),
    }
    # the made store becomes the second project's: two copies of it on disk, not three
    stores = {"without": fresh_copy(base, data / "work-without.db"), "with": data / "work-with.db"}
    for old in data.glob("work-with.db*"):
        old.unlink()
    base.rename(stores["with"])
    firsts = {name: measured(ruleset, stores[name], first) for name, ruleset in projects.items()}
    for name, (seconds, load, changed) in firsts.items():
        print(f"first {name}: {seconds:.1f} s (load {load:.1f}, {changed:,} new)", flush=True)
    nights: dict[str, list[tuple[float, float, int]]] = {name: [] for name in projects}
    for run in range(options.runs):
        snapshot = (second, first)[run % 2]
        for name, ruleset in projects.items():
            nights[name].append(measured(ruleset, stores[name], snapshot))
            seconds, load, changed = nights[name][-1]
            print(f"night {run + 1} {name}: {seconds:.1f} s (load {load:.1f},"
                  f" {changed:,} changed)", flush=True)  # fmt: skip
    print(f"\n{customers:,} customers, {options.events:,} events, DuckDB engine, nights:"
          f" median of {options.runs}; load = 1-minute load average (2 cores)")  # fmt: skip
    print("| rules | first (s) | load | night (s) | loads | each night (s) |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for name, found in nights.items():
        median = statistics.median(t[0] for t in found)
        loads = ", ".join(f"{t[1]:.1f}" for t in found)
        each = ", ".join(f"{t[0]:.1f}" for t in found)
        seconds, load, _changed = firsts[name]
        print(f"| {name} two 90-day event measures | {seconds:.1f} | {load:.1f} | {median:.1f}"
              f" | {loads} | {each} |")  # fmt: skip


if __name__ == "__main__":
    main()
