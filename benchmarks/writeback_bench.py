"""The snapshot night's write-back: today's tree against another (the path before a change),
side by side in the same run.

    python benchmarks/writeback_bench.py --before LINKS [--quick] [--runs N] [--first-runs N]
        [--data DIR]

LINKS is a folder holding `guanxi/` (engine, adapters, cli, rules) of the other tree, e.g. an
export of the commit before the change. Each run is a fresh process importing one tree (peak
memory and bytes written are that run's own), the trees taking turns:
  first    the 10M-customer Parquet snapshot into an empty store (everything is new)
  night    the next night's snapshot (5 % of the customers changed); nights alternate between
           two snapshots, as in classify_bench.py
  fold     (this tree only) folding the changes kept apart into `assignments`, which happens
           when they reach a quarter of the customers (engine/store/assignments.py)
  read     a reader over every customer (tiers × levels, as simulate and the report count
           them): the table before, the view after, with the changes kept apart and folded
Printed: the median seconds, each run with the 1-minute load average at its start, the
phases (Stopwatch laps) of the median run, peak RSS and the bytes the process wrote to disk.
--quick divides every size by ten. Data are generated once into --data and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_data
from bench_data import TODAY, demo_csv, load_store, night_parquet, snapshot_parquet

NOW = dt.datetime.combine(TODAY, dt.time(2, 0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
HERE = Path(__file__).resolve().parent.parent
Run = dict[str, Any]


# --- one measured run, in a child process importing one tree -----------------------------


def child(scenario: str, store_path: str, argument: str) -> Run:
    from guanxi.engine.store.sqlite import SQLiteStore

    store = SQLiteStore(store_path)
    started = time.perf_counter()
    try:
        if scenario == "read":
            table = argument or "assignments"
            rows = store.execute(f"SELECT tier, level, COUNT(*) AS n FROM {table} GROUP BY 1, 2")
            return {"seconds": time.perf_counter() - started, "cells": len(rows), **_process()}
        if scenario == "fold":
            from guanxi.engine.store.assignments import fold

            with store.transaction():
                folded = fold(store)
            return {"seconds": time.perf_counter() - started, "changed": folded, **_process()}
        from guanxi.engine.classify.snapshot import classify_snapshot
        from guanxi.engine.defaults import default_rules_path
        from guanxi.engine.ruleset import load_ruleset

        report = classify_snapshot(store, load_ruleset(default_rules_path()), NOW, Path(argument))
    finally:
        store.close()
    return {
        "seconds": time.perf_counter() - started,
        "customers": report.customers,
        "changed": report.changed,
        "timings": dict(report.timings),
        **_process(),
    }


def _process() -> dict[str, float]:
    """Peak resident MB and MB written to disk by this process so far."""
    status = Path("/proc/self/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    io = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {"rss_mb": peak / 1024, "written_mb": int(io["write_bytes"]) / 2**20}


def measured(tree: Path, scenario: str, store: Path, argument: object = "") -> Run:
    """One run of `scenario` on `store` in a process importing `tree`; `argument`: the
    snapshot, or the table a reader reads."""
    load = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", scenario, str(store), str(argument)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{scenario} failed:\n{done.stderr}")
    ran = {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}
    print(f"{scenario} {tree}: {ran['seconds']:.2f} s (load {load:.1f})", file=sys.stderr)
    return ran


# --- the side-by-side runs ------------------------------------------------------------------


def fresh_copy(source: Path, target: Path) -> Path:
    for old in target.parent.glob(f"{target.name}*"):  # -wal, -shm and the columnar copy
        old.unlink()
    shutil.copyfile(source, target)
    return target


def empty_store(tree: Path, data: Path, name: str) -> Path:
    """A store with the tree's schema and no customers (the snapshot is read instead)."""
    path = data / f"empty-{name}.db"
    return path if path.exists() else bench_data.empty_store(tree, path)


def run_all(
    trees: dict[str, Path], data: Path, quick: bool, runs: int, first_runs: int
) -> dict[str, list[Run]]:
    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.ruleset import load_ruleset

    ruleset = load_ruleset(default_rules_path())
    size = 100_000 if quick else 1_000_000
    csv_path = demo_csv(data, size)
    base = data / f"store-{size}.db"
    if not base.exists():
        load_store(ruleset, csv_path, base)
    first = snapshot_parquet(ruleset, csv_path, data / f"snapshot-{size}x10.parquet", 10)
    second = night_parquet(first, data / f"{first.stem}-night.parquet", 5.0, TODAY)
    stores = {name: data / f"writeback-{name}.db" for name in trees}
    results: dict[str, list[Run]] = {}
    for _ in range(first_runs):
        for name, tree in trees.items():
            store = fresh_copy(empty_store(tree, data, name), stores[name])
            results.setdefault(f"first ({name})", []).append(measured(tree, "first", store, first))
    for night in range(runs):
        for name, tree in trees.items():
            snapshot = (second, first)[night % 2]
            ran = measured(tree, "night", stores[name], snapshot)
            results.setdefault(f"night ({name})", []).append(ran)
    results.update(reads(trees, stores, runs, "kept apart"))
    results["fold (after)"] = [measured(trees["after"], "fold", stores["after"])]
    results.update(reads(trees, stores, runs, "folded"))
    return results


def reads(
    trees: dict[str, Path], stores: dict[str, Path], runs: int, when: str
) -> dict[str, list[Run]]:
    """The whole-table reader on each tree's store: the table before, the view after."""
    found: dict[str, list[Run]] = {}
    for _ in range(runs):
        for name, tree in trees.items():
            view = "current_assignments" if name == "after" else "assignments"
            ran = measured(tree, "read", stores[name], view)
            found.setdefault(f"read, {when} ({name})", []).append(ran)
    return found


def table(results: dict[str, list[Run]]) -> str:
    lines = [
        "| run | median s | each run s (1-min load) | peak RSS MB | written MB | phases of the"
        " median run |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        median = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
        each = ", ".join(f"{r['seconds']:.2f} ({r['load']:.1f})" for r in runs)
        phases = ", ".join(f"{k} {v:.2f}" for k, v in median.get("timings", {}).items())
        lines.append(
            f"| {name} | {statistics.median(r['seconds'] for r in runs):.2f} | {each}"
            f" | {median['rss_mb']:.0f} | {median['written_mb']:.0f} | {phases} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="folder holding the other tree's guanxi/")
    parser.add_argument("--quick", action="store_true", help="sizes divided by ten")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--first-runs", type=int, help="first runs (default: --runs)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.before is None:
        parser.error("--before is required")
    args.data.mkdir(parents=True, exist_ok=True)
    after = Path(os.environ.get("PYTHONPATH", str(HERE))).resolve()
    trees = {"before": args.before, "after": after}
    first_runs = args.runs if args.first_runs is None else args.first_runs
    results = run_all(trees, args.data, args.quick, args.runs, first_runs)
    print(f"`{' '.join(sys.argv)}` — {dt.date.today()}, {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
