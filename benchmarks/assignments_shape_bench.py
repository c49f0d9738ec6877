"""SQLite's `assignments` as a rowid table with a text key (before migration m035) against a
table ordered by the key itself (WITHOUT ROWID), side by side in the same run.

    python benchmarks/assignments_shape_bench.py [--customers N] [--lookups N] [--runs N]

Each run, in a fresh store file of 16 KB pages in WAL mode, the shapes taking turns:
  write    a first classification's N assignments, in key order, in one transaction
  commit   its commit
  look up  the assignments of N/25 customers at random, joined through a temporary table
           as the night's write-back finds the previous state of those that changed
Printed: medians of wall and CPU seconds, each run with the 1-minute load average, and the
file's size.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COLUMNS = (
    "customer_id TEXT PRIMARY KEY, tier TEXT, level TEXT, strategy TEXT,"
    " gold INTEGER NOT NULL DEFAULT 0, run_id INTEGER NOT NULL, ruleset_hash TEXT NOT NULL,"
    " assigned_at TEXT NOT NULL, pending_tier TEXT, pending_tier_runs INTEGER NOT NULL DEFAULT 0,"
    " pending_tier_since INTEGER, pending_level TEXT,"
    " pending_level_runs INTEGER NOT NULL DEFAULT 0, pending_level_since INTEGER,"
    " pending_strategy TEXT, pending_strategy_runs INTEGER NOT NULL DEFAULT 0,"
    " pending_strategy_since INTEGER"
)
SHAPES = {"rowid": "", "clustered": " WITHOUT ROWID"}
TIERS = ("dormant", "low_value", "valuable", "high_value_added")
LEVELS = ("basic", "passive", "responsible", "proactive", "partner")


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def timed(work: Callable[[], object]) -> tuple[float, float]:
    started, used = time.perf_counter(), cpu()
    work()
    return time.perf_counter() - started, cpu() - used


def one_run(shape: str, customers: int, lookups: int, folder: Path) -> dict[str, Any]:
    path = folder / f"{shape}.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA page_size = 16384")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(f"CREATE TABLE assignments ({COLUMNS}){SHAPES[shape]}")
    db.execute("CREATE TEMP TABLE scratch (customer_id TEXT, tier TEXT, level TEXT, gold INT)")
    rows = ((f"C{n:09d}", TIERS[n % 4], LEVELS[n % 5], n % 7 == 0) for n in range(customers))
    db.executemany("INSERT INTO scratch VALUES (?, ?, ?, ?)", rows)
    wanted = [(f"C{n:09d}",) for n in random.Random(1).sample(range(customers), lookups)]
    db.execute("CREATE TEMP TABLE changed (customer_id TEXT)")
    db.executemany("INSERT INTO changed VALUES (?)", wanted)
    db.execute("BEGIN")
    write = timed(
        lambda: db.execute(
            "INSERT INTO assignments (customer_id, tier, level, gold, run_id, ruleset_hash,"
            " assigned_at) SELECT customer_id, tier, level, gold, 1, '5228e804f7ff4c4e',"
            " '2026-11-27T18:00:00Z' FROM scratch ORDER BY customer_id"
        )
    )
    commit = timed(lambda: db.execute("COMMIT"))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    look = timed(
        lambda: db.execute(
            "SELECT COUNT(*), SUM(a.gold) FROM changed AS c JOIN assignments AS a"
            " ON a.customer_id = c.customer_id"
        ).fetchall()
    )
    db.close()
    size = path.stat().st_size
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {"write": write, "commit": commit, "look up": look, "size": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--lookups", type=int, default=0, help="default: customers / 25")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lookups = args.lookups or args.customers // 25
    results: dict[str, list[dict[str, Any]]] = {shape: [] for shape in SHAPES}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        for number in range(args.runs):
            order = list(SHAPES) if number % 2 == 0 else list(reversed(SHAPES))
            for shape in order:
                load = os.getloadavg()[0]
                ran = {**one_run(shape, args.customers, lookups, Path(folder)), "load": load}
                print(shape, ran, flush=True)
                results[shape].append(ran)
    print(f"\n{args.customers:,} assignments, {lookups:,} look-ups, medians of {args.runs}\n")
    print("| shape | step | wall s | CPU s | each run: wall, CPU (load) |")
    print("| --- | --- | ---: | ---: | --- |")
    for shape, runs in results.items():
        for step in ("write", "commit", "look up"):
            laps = [(r[step], r["load"]) for r in runs]
            wall = statistics.median(w for (w, _), _ in laps)
            used = statistics.median(c for (_, c), _ in laps)
            each = ", ".join(f"{w:.2f}, {c:.2f} ({lo:.1f})" for (w, c), lo in laps)
            print(f"| {shape} | {step} | {wall:.2f} | {used:.2f} | {each} |")
        print(f"| {shape} | file size | {runs[0]['size'] / 1e6:,.0f} MB | | |")


if __name__ == "__main__":
    main()
