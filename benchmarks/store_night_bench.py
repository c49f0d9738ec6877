"""The SQLite store's own night through `guanxi classify`: DuckDB (auto) beside in-store SQL,
this tree beside another (the path before a change).

    python benchmarks/store_night_bench.py [--before LINKS] [--customers N] [--runs N]
        [--data DIR] [--name NAME] [--engines sqlite,auto]

For each run, alternating the engines and trees: a fresh copy of a loaded store (1M demo
customers by default) is classified for the first time (`first`: every customer new, the
baseline), then 5 % of its customers change (classify_bench's change) and it is classified
again (`night`). Each classification is `guanxi classify --json` in a fresh process, timed
from outside as a user waits for it (start-up, imports and the rule project included):
`--engine sqlite` (inside the store) and without --engine (auto: the store's customers read
into DuckDB), and with --before, auto on that tree (LINKS: a folder holding its guanxi/).
Printed: medians of wall seconds and CPU seconds (user + system of the process, its threads
and the processes it waited for), peak RSS (the largest of those processes), the 1-minute load
average beside every figure, and the phases of the median run. First, reading the customers
alone (the fields the rules read, into a DuckDB table, as the night reads them), each tree in
a fresh process, alternated. The copies are DIR/work-NAME-*.db.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import duckdb
from bench_data import demo_csv, load_store
from classify_bench import NIGHT_PERCENT, NOW, change_customers, fresh_copy
from cli_run import rules_of, timed_cli

from guanxi.engine.classify.store_source import store_snapshot
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

ENGINES = {"sqlite": ["--engine", "sqlite"], "auto": []}
HERE = Path(__file__).resolve().parent.parent


def measured(tree: Path, store: Path, engine: str) -> dict[str, Any]:
    """One `guanxi classify` on `tree`, timed from outside (cli_run.py)."""
    arguments = ["classify", "--rules", str(rules_of(tree)), "--store", str(store)]
    ran = timed_cli(tree, [*arguments, "--now", NOW.isoformat(), *ENGINES[engine]])
    report = ran.pop("report")
    return {**ran, **{key: report[key] for key in ("engine", "customers", "changed", "timings")}}


def _cpu() -> float:
    """CPU seconds of this process (every thread's, DuckDB's too) and of the processes it
    started and waited for (the store's reader)."""
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _in(tree: Path, command: list[str]) -> dict[str, Any]:
    """What `command` printed last, run in a fresh process on `tree`; the load beside it."""
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {command[2:]} failed:\n{done.stderr}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def read_child(store: str) -> dict[str, Any]:
    """Reading the customers alone, in this process, as the night reads them."""
    ruleset = load_ruleset(default_rules_path())
    opened = SQLiteStore(store, migrate=False)
    duck = duckdb.connect()
    started, cpu = time.perf_counter(), _cpu()
    store_snapshot(duck, opened, ruleset, "customers")
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    [(rows,)] = duck.execute("SELECT COUNT(*) FROM customers").fetchall()
    duck.close()
    opened.close()
    return {"seconds": seconds, "cpu": cpu, "rows": rows, "rss_mb": _peak_mb()}


def read_runs(trees: dict[str, Path], base: Path, runs: int) -> None:
    """Reading the customers alone, the trees alternated: wall and CPU seconds, medians."""
    found: dict[str, list[dict[str, Any]]] = {tree: [] for tree in trees}
    for number in range(runs):
        order = list(trees) if number % 2 == 0 else list(reversed(trees))
        for tree in order:
            command = [sys.executable, __file__, "--read-child", str(base)]
            found[tree].append(_in(trees[tree], command))
    for tree, times in found.items():
        each = ", ".join(
            f"{t['seconds']:.2f} s / {t['cpu']:.2f} s CPU (load {t['load']:.1f})" for t in times
        )
        wall, cpu = _median(times, "seconds"), _median(times, "cpu")
        rss = max(t["rss_mb"] for t in times)
        print(
            f"read customers, {tree} ({trees[tree]}): median {wall:.2f} s, {cpu:.2f} s CPU,"
            f" {rss:,.0f} MB, {times[0]['rows']:,} rows; runs: {each}"
        )


def run_all(
    trees: dict[str, Path], data: Path, customers: int, runs: int, name: str, engines: list[str]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    base = data / f"store-{customers}.db"
    if not base.exists():
        load_store(load_ruleset(default_rules_path()), demo_csv(data, customers), base)
    read_runs(trees, base, runs)
    ways = [("after", engine) for engine in engines]
    ways += [("before", "auto")] * ("before" in trees and "auto" in engines)
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for number in range(runs):
        for tree, engine in ways if number % 2 == 0 else list(reversed(ways)):
            way = f"{engine} {tree}"
            work = fresh_copy(base, data / f"work-{name}-{tree}-{engine}.db")
            first = measured(trees[tree], work, engine)
            change_customers(work, NIGHT_PERCENT)
            night = measured(trees[tree], work, engine)
            results.setdefault((way, "first"), []).append(first)
            results.setdefault((way, "night"), []).append(night)
            print(f"run {number + 1} {way}: first {_shown(first)}; night {_shown(night)}")
    return results


def _shown(run: dict[str, Any]) -> str:
    return (
        f"{run['seconds']:.2f} s ({run['cpu']:.2f} s CPU, {run['rss_mb']:,.0f} MB,"
        f" load {run['load']:.2f}, {run['engine']})"
    )


def table(results: dict[tuple[str, str], list[dict[str, Any]]], command: str) -> str:
    lines = [
        f"`{command}` — medians; each run's load average in brackets",
        "",
        "| run | engine, tree | customers | changed | seconds | CPU s | peak MB | runs (load) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (way, kind), runs in sorted(results.items(), key=lambda item: item[0][1]):
        each = ", ".join(f"{r['seconds']:.2f} ({r['load']:.1f})" for r in runs)
        lines.append(
            f"| {kind} | {way} ({runs[0]['engine']}) | {_median(runs, 'customers'):,.0f} |"
            f" {_median(runs, 'changed'):,.0f} | {_median(runs, 'seconds'):.2f} |"
            f" {_median(runs, 'cpu'):.2f} | {max(r['rss_mb'] for r in runs):,.0f} | {each} |"
        )
    for (engine, kind), runs in results.items():
        middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        lines += ["", f"Phases of the median {engine} {kind} (s): {json.dumps(middle['timings'])}"]
    return "\n".join(lines)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="folder holding the other tree's guanxi/")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (median)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--name", default="store-night", help="in the copies' file names")
    parser.add_argument("--engines", default="sqlite,auto", help="of this tree; auto's before")
    parser.add_argument("--read-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child:
        print(json.dumps(read_child(args.read_child)))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    after = Path(os.environ.get("PYTHONPATH", str(HERE))).resolve()
    trees = {"before": args.before, "after": after} if args.before else {"after": after}
    engines = args.engines.split(",")
    results = run_all(trees, args.data, args.customers, args.runs, args.name, engines)
    print(table(results, "python " + " ".join(sys.argv)))


if __name__ == "__main__":
    main()
