"""The DuckDB snapshot screen ("check rows" of the night) alone, this tree against another
(the path before a change), side by side in the same run.

    python benchmarks/screen_bench.py --before LINKS [--snapshot FILE] [--runs N]

LINKS is a folder holding `guanxi/` of the other tree. Each run is a fresh process importing
one tree, the trees taking turns. Measured: the screen (the doubtful rows found, checked and
quarantined into an empty SQLite store) and then one full read of the `snapshot` view it
leaves for the classification. Printed: the median, and each run's wall and CPU seconds with
the 1-minute load average at its start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
SNAPSHOT = Path("/tmp/guanxi-bench/snapshot-1000000x10.parquet")
Run = dict[str, Any]


def child(snapshot: str) -> Run:
    from guanxi.engine.classify import snapshot as night
    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.ruleset import load_ruleset
    from guanxi.engine.store.sqlite import SQLiteStore

    ruleset = load_ruleset(default_rules_path())
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder, "screen.db"))
        store.prepare(ruleset.schema)
        duck = night.connect("3GB")
        laps = []
        for step in ("screen", "read"):
            started, cpu = time.perf_counter(), time.process_time()
            if step == "screen":
                screen = night.snapshot_screen(store, ruleset, NOW, Path(snapshot))
                source = night._source(duck, screen, Path(snapshot))
            else:
                rows = duck.execute(f"SELECT COUNT(*), MAX(COLUMNS(*)) FROM {source}")
                customers = rows.fetchall()[0][0]
            laps.append((time.perf_counter() - started, time.process_time() - cpu))
        store.close()
    return {"laps": laps, "customers": customers, "rejected": screen.rejected}


def measured(tree: Path, snapshot: Path) -> Run:
    load = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", str(snapshot)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} failed:\n{done.stderr}")
    ran = {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}
    print(f"{tree}: {ran} (load {load:.1f})", file=sys.stderr)
    return ran


def table(results: dict[str, list[Run]]) -> str:
    lines = [
        "| tree | customers, rejected (every run) | step | median s | median CPU s"
        " | each run: s, CPU s (1-min load) |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        counts = "; ".join(sorted({f"{r['customers']}, {r['rejected']}" for r in runs}))
        for number, step in enumerate(("screen", "read snapshot")):
            laps = [(r["laps"][number], r["load"]) for r in runs]
            each = ", ".join(f"{w:.2f}, {c:.1f} ({load:.1f})" for (w, c), load in laps)
            wall = statistics.median(w for (w, _), _ in laps)
            cpu = statistics.median(c for (_, c), _ in laps)
            lines.append(f"| {name} | {counts} | {step} | {wall:.2f} | {cpu:.1f} | {each} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="folder holding the other tree's guanxi/")
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    after = Path(os.environ.get("PYTHONPATH", str(Path(__file__).parent.parent))).resolve()
    trees = {"before": args.before, "after": after} if args.before else {"after": after}
    results: dict[str, list[Run]] = {}
    for _ in range(args.runs):
        for name, tree in trees.items():
            results.setdefault(name, []).append(measured(tree, args.snapshot))
    print(f"`{' '.join(sys.argv)}` — {dt.date.today()}, {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
