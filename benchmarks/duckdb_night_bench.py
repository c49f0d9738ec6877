"""The DuckDB snapshot night, this tree against another (the path before a change), side by
side in the same run.

    python benchmarks/duckdb_night_bench.py --before LINKS [--size N] [--runs N]
        [--first-runs N] [--erasures N] [--data DIR]

LINKS is a folder holding `guanxi/` of the other tree. Each run is `guanxi classify --input
SNAPSHOT` in a fresh process on one tree, timed from outside as a user waits for it (start-up,
imports and the rule project included; cli_run.py), the trees taking turns:
  first    an N-customer Parquet snapshot (1M demo customers repeated, bench_data.py) into an
           empty store: everything is new
  night    the next night's snapshot (5 % of the customers changed); nights alternate between
           the two snapshots, so each changes as much as a real night
Printed: the median seconds, each run's wall and CPU seconds with the 1-minute load average
at its start, the phases (Stopwatch laps) of the median run, peak RSS, and the bytes DuckDB
spilled (its temporary folder's peak size, sampled).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_data
from bench_data import TODAY, demo_csv, night_parquet, snapshot_parquet
from cli_run import rules_of, timed_cli

NOW = dt.datetime.combine(TODAY, dt.time(2, 0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
HERE = Path(__file__).resolve().parent.parent
SPILL = Path(tempfile.gettempdir(), "guanxi-duckdb")
Run = dict[str, Any]


class _SpillWatch:
    """The peak size of DuckDB's spill folder, sampled every 0.2 s."""

    def __init__(self) -> None:
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            self.peak = max(self.peak, _spilled())

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def _spilled() -> int:
    """The bytes in DuckDB's spill folder now (DuckDB removes files, and the folder, as it
    goes: what vanished while it was counted counts nothing)."""
    total = 0
    for folder, _, names in os.walk(SPILL):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def measured(tree: Path, store: Path, snapshot: Path) -> Run:
    """`guanxi classify --input SNAPSHOT` on `tree`, timed from outside (cli_run.py), with the
    bytes DuckDB spilled meanwhile."""
    arguments = ["classify", "--rules", str(rules_of(tree)), "--store", str(store)]
    arguments += ["--input", str(snapshot), "--now", NOW.isoformat()]
    spilled = _SpillWatch()
    try:
        ran = timed_cli(tree, arguments)
    finally:
        spilled.stop()
    report = ran.pop("report")
    ran.update(customers=report["customers"], changed=report["changed"])
    ran.update(timings=report["timings"], spill_mb=spilled.peak / 2**20)
    print(
        f"{snapshot.name} {tree}: {ran['seconds']:.2f} s, cpu {ran['cpu']:.1f} s,"
        f" {ran['rss_mb']:.0f} MB (load {ran['load']:.1f}) {ran['timings']}",
        file=sys.stderr,
    )
    return ran


def empty_store(tree: Path, path: Path) -> Path:
    """A store with the tree's schema and no customers (the snapshot is read instead)."""
    for old in path.parent.glob(f"{path.name}*"):  # -wal, -shm and the columnar copy
        old.unlink()
    return bench_data.empty_store(tree, path)


def erase_some(store_path: Path, snapshot: Path, count: int) -> None:
    """Erase the first `count` customers of `snapshot` from the store, as `customer erase`
    does (this tree's erasure: the stores of both trees are alike)."""
    if not count:
        return
    import pyarrow.parquet as pq

    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.privacy.erasure import fields_of
    from guanxi.engine.privacy.requests import erase_request
    from guanxi.engine.ruleset import load_ruleset
    from guanxi.engine.store.sqlite import SQLiteStore

    fields = fields_of(load_ruleset(default_rules_path()))
    first = pq.ParquetFile(snapshot).read_row_group(0, columns=[fields.key]).column(0)
    store = SQLiteStore(store_path)
    for customer_id in first.to_pylist()[:count]:
        erase_request(store, fields, str(customer_id), NOW - dt.timedelta(hours=1))
    store.close()


def run_all(
    trees: dict[str, Path], data: Path, size: int, runs: int, first_runs: int, erasures: int = 0
) -> dict[str, list[Run]]:
    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.ruleset import load_ruleset

    ruleset = load_ruleset(default_rules_path())
    base = 1_000_000 if size >= 1_000_000 else size
    csv_path = demo_csv(data, base)
    copies = size // base
    first = snapshot_parquet(ruleset, csv_path, data / f"snapshot-{base}x{copies}.parquet", copies)
    second = night_parquet(first, data / f"{first.stem}-night.parquet", 5.0, TODAY)
    variants = {"": 0, ", erasures": erasures} if erasures else {"": 0}
    runs_on = {f"{name}{v}": (tree, n) for name, tree in trees.items() for v, n in variants.items()}
    stores = {name: data / f"night-{name.replace(', ', '-')}.db" for name in runs_on}
    results: dict[str, list[Run]] = {}
    for number in range(max(first_runs, 1)):
        for name, (tree, _erased) in runs_on.items():
            ran = measured(tree, empty_store(tree, stores[name]), first)
            if number < first_runs:
                results.setdefault(f"first ({name})", []).append(ran)
    for name, (_tree, erased) in runs_on.items():
        erase_some(stores[name], first, erased)
    for night in range(runs):
        for name, (tree, _erased) in runs_on.items():
            snapshot = (second, first)[night % 2]
            results.setdefault(f"night ({name})", []).append(measured(tree, stores[name], snapshot))
    for path in stores.values():
        for old in path.parent.glob(f"{path.name}*"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    return results


def table(results: dict[str, list[Run]]) -> str:
    lines = [
        "| run | median s | each run: s, CPU s (1-min load) | peak RSS MB | spilled MB"
        " | phases of the median run (s) |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        median = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
        each = ", ".join(f"{r['seconds']:.2f}, {r['cpu']:.1f} ({r['load']:.1f})" for r in runs)
        phases = ", ".join(f"{k} {v:.2f}" for k, v in median["timings"].items())
        lines.append(
            f"| {name} | {statistics.median(r['seconds'] for r in runs):.2f} | {each}"
            f" | {max(r['rss_mb'] for r in runs):.0f} | {max(r['spill_mb'] for r in runs):.0f}"
            f" | {phases} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="folder holding the other tree's guanxi/")
    parser.add_argument("--size", type=int, default=10_000_000, help="customers")
    parser.add_argument("--runs", type=int, default=3, help="nights per tree (median)")
    parser.add_argument("--first-runs", type=int, default=1, help="first runs per tree")
    parser.add_argument("--erasures", type=int, default=0, help="also nights after N erased")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    after = Path(os.environ.get("PYTHONPATH", str(HERE))).resolve()
    trees = {"before": args.before, "after": after} if args.before else {"after": after}
    results = run_all(trees, args.data, args.size, args.runs, args.first_runs, args.erasures)
    print(f"`{' '.join(sys.argv)}` — {dt.date.today()}, {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
