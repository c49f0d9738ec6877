"""The SQLite store's own night through `guanxi classify`: DuckDB (auto) beside in-store SQL.

    python benchmarks/store_night_bench.py [--customers N] [--runs N] [--data DIR]

For each run, alternating the engines: a fresh copy of a loaded store (1M demo customers by
default) is classified for the first time (`first`: every customer new, the baseline), then
5 % of its customers change (classify_bench's change) and it is classified again (`night`).
Each classification is `guanxi classify --json` in a fresh process, so that its peak memory
is its own: `--engine sqlite` (inside the store) and without --engine (auto: the store's
customers read into DuckDB). Printed: medians of wall seconds and CPU seconds (user + system
of the process and its threads), peak RSS, the 1-minute load average beside every figure,
and the phases of the median run. First, reading the customers alone (the fields the rules
read, into a DuckDB table), alternated with the plain way (rows fetched, taken apart with
zip, each column converted on its own).
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
import pyarrow as pa
import pyarrow.compute as pc
from bench_data import demo_csv, load_store
from classify_bench import NIGHT_PERCENT, NOW, change_customers, fresh_copy

from guanxi.engine.classify.compile import classified, input_fields
from guanxi.engine.classify.store_source import TYPES, store_snapshot
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

ENGINES = {"sqlite": ["--engine", "sqlite"], "auto": []}


def child(store: str, engine: str) -> dict[str, Any]:
    """One `guanxi classify` in this process; what it reported and cost."""
    from click.testing import CliRunner

    from guanxi.cli.main import cli

    args = ["classify", "--rules", str(default_rules_path()), "--store", store, "--json"]
    args += ["--now", NOW.isoformat(), *ENGINES[engine]]
    started, cpu = time.perf_counter(), _cpu()
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    report = json.loads(result.stdout)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "engine": report["engine"],
        "customers": report["customers"],
        "changed": report["changed"],
        "timings": report["timings"],
        "rss_mb": _peak_mb(),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread's, DuckDB's too
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measured(store: Path, engine: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(store), "--engine", engine]
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{done.stderr}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def read_runs(base: Path, runs: int) -> None:
    """Reading the customers alone, both ways alternated: wall and CPU seconds, medians."""
    ruleset = load_ruleset(default_rules_path())
    store = SQLiteStore(base)
    found: dict[str, list[tuple[float, float, float]]] = {"struct": [], "plain": []}
    try:
        for _ in range(runs):
            for way, read in (("struct", _read_struct), ("plain", _read_plain)):
                load, started, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
                read(store, ruleset)
                found[way].append((time.perf_counter() - started, time.process_time() - cpu, load))
    finally:
        store.close()
    for way, times in found.items():
        each = ", ".join(f"{w:.2f} s / {c:.2f} s CPU (load {lo:.1f})" for w, c, lo in times)
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        print(f"read customers, {way}: median {wall:.2f} s, {cpu:.2f} s CPU; runs: {each}")


def _read_struct(store: SQLiteStore, ruleset: RuleSet) -> None:
    duck = duckdb.connect()
    store_snapshot(duck, store, ruleset, "customers")
    duck.close()


def _read_plain(store: SQLiteStore, ruleset: RuleSet) -> None:
    fields = input_fields(classified(ruleset))
    rows = store.db.conn.execute(f"SELECT {', '.join(fields)} FROM customers").fetchall()
    kinds = [ruleset.schema.fields[f].type for f in fields]
    columns = zip(*rows, strict=True)
    arrays = [_plain_column(c, k) for c, k in zip(columns, kinds, strict=True)]
    duck = duckdb.connect()
    duck.register("read", pa.Table.from_arrays(arrays, names=fields))
    duck.execute("CREATE TABLE customers AS SELECT * FROM read")
    duck.close()


def _plain_column(values: tuple[Any, ...], kind: str) -> pa.Array:
    if kind == "date":
        return pc.cast(pa.array(values, pa.string()), pa.date32())
    if kind == "boolean":
        return pc.not_equal(pa.array(values, pa.int64()), 0)
    return pa.array(values, TYPES[kind])


def run_all(data: Path, customers: int, runs: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    base = data / f"store-{customers}.db"
    if not base.exists():
        load_store(load_ruleset(default_rules_path()), demo_csv(data, customers), base)
    read_runs(base, runs)
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for number in range(runs):
        order = list(ENGINES) if number % 2 == 0 else list(reversed(ENGINES))
        for engine in order:
            work = fresh_copy(base, data / f"work-{engine}.db")
            first = measured(work, engine)
            change_customers(work, NIGHT_PERCENT)
            night = measured(work, engine)
            results.setdefault((engine, "first"), []).append(first)
            results.setdefault((engine, "night"), []).append(night)
            print(f"run {number + 1} {engine}: first {_shown(first)}; night {_shown(night)}")
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
        "| run | engine | customers | changed | seconds | CPU s | peak RSS MB | runs (load) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (_, kind), runs in results.items():
        each = ", ".join(f"{r['seconds']:.2f} ({r['load']:.1f})" for r in runs)
        lines.append(
            f"| {kind} | {runs[0]['engine']} | {_median(runs, 'customers'):,.0f} |"
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
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (median)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=list(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.engine)))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    results = run_all(args.data, args.customers, args.runs)
    print(table(results, "python " + " ".join(sys.argv)))


if __name__ == "__main__":
    main()
