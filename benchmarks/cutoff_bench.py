"""The classification query alone: percentiles and gold ranked over every customer (the
window path) against cut-off values (engine/classify/cutoffs.py), side by side; on DuckDB also
the cut-offs found first into small tables, then the customers read once (prepared, as the
snapshot engine runs it).

    python benchmarks/cutoff_bench.py [--engine duckdb|sqlite] [--customers N] [--runs N]
                                      [--data DIR] [--threads N]

DuckDB: the default rules over a Parquet snapshot of N customers (the 1M demo customers
repeated, see bench_data.snapshot_parquet). SQLite: the default rules over a store loaded
with N demo customers (at most 1M), the query run in the store with the nightly run's
settings (run.tuned). Either way the query's result is written to a temporary table as the
nightly run does. The paths alternate within each round; each figure is the median of
the rounds (wall clock, and the CPU time of this process, DuckDB's threads included, which a
shared machine's load disturbs less), with the 1-minute load average of each round. The
results are checked equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from collections.abc import Callable
from typing import Any

from bench_data import TODAY, demo_csv, load_store, snapshot_parquet

from guanxi.engine.classify import compile_classification
from guanxi.engine.classify.run import tuned
from guanxi.engine.classify.snapshot import connect
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

BASE = 1_000_000  # the demo file the snapshot repeats
PATHS = {"window": False, "cut-off": True}
PREPARED = "prepared"  # DuckDB: the cut-offs found first, then one pass over the customers


def differing(other: str) -> str:
    """Rows of the window path's result and `other`'s that the other lacks (a row per
    customer, so EXCEPT, SQLite having no EXCEPT ALL, loses nothing)."""
    return (
        f"SELECT COUNT(*) FROM (SELECT * FROM (SELECT * FROM result_window EXCEPT"
        f" SELECT * FROM {other}) UNION ALL SELECT * FROM (SELECT * FROM {other}"
        " EXCEPT SELECT * FROM result_window))"
    )


def differences(other: str) -> str:
    return (
        f"SELECT * FROM result_window AS a JOIN {other} AS b USING (customer_id)"
        " WHERE (a.gold, a.tier, a.level, a.strategy) IS DISTINCT FROM"
        " (b.gold, b.tier, b.level, b.strategy) LIMIT 5"
    )


def snapshot(data: Path, customers: int) -> Path:
    ruleset = load_ruleset(default_rules_path())
    base = min(customers, BASE)
    copies = max(1, customers // base)
    csv_path = demo_csv(data, base)
    return snapshot_parquet(ruleset, csv_path, data / f"snapshot-{base}x{copies}.parquet", copies)


Statements = tuple[tuple[str, ...], str]  # run first, then the query


def queries(path: Path, columns: list[str]) -> dict[str, Statements]:
    ruleset = load_ruleset(default_rules_path())
    source = f"read_parquet('{path}')"
    found = {
        name: compile_classification(ruleset, "duckdb", TODAY, source, columns, cut_offs=cut)
        for name, cut in PATHS.items()
    }
    found[PREPARED] = compile_classification(
        ruleset, "duckdb", TODAY, source, columns, prepared=True
    )
    return {name: (query.prepare, query.sql) for name, query in found.items()}


Execute = Callable[[str], Any]
Run = tuple[float, float, float]  # wall seconds, CPU seconds, 1-minute load average


def table(name: str) -> str:
    return f"result_{name.replace('-', '_')}"


def timed(execute: Execute, sql: dict[str, Statements], runs: int) -> dict[str, list[Run]]:
    """Each path's result into result_<path>, the paths alternating within each round."""
    seconds: dict[str, list[Run]] = {name: [] for name in sql}
    for _ in range(runs):
        for name, (prepare, text) in sql.items():
            execute(f"DROP TABLE IF EXISTS {table(name)}")
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            for statement in prepare:
                execute(statement)
            execute(f"CREATE TEMP TABLE {table(name)} AS {text}")
            wall = time.perf_counter() - started
            seconds[name].append((wall, time.process_time() - cpu, load))
    return seconds


def duckdb_bench(args: argparse.Namespace) -> None:
    path = snapshot(args.data, args.customers)
    duck = connect("3GB")
    if args.threads:
        duck.execute(f"SET threads = {args.threads}")
    columns = [
        r[0] for r in duck.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    ]
    (n,) = duck.execute(f"SELECT COUNT(*) FROM read_parquet('{path}')").fetchone() or (0,)
    # the snapshot engine's setting (snapshot._classify): each join's build side as written
    duck.execute("SET disabled_optimizers = 'build_side_probe_side'")
    seconds = timed(duck.execute, queries(path, columns), args.runs)
    report(f"DuckDB classify query, {n:,} customers ({path.name})", n, args.runs, seconds)
    for other in ("cut-off", PREPARED):
        (differ,) = duck.execute(differing(table(other))).fetchone() or (0,)
        print(f"  rows differing between the window and {other} paths: {differ}")
        if differ:
            print(duck.execute(differences(table(other))).fetchall())


def sqlite_bench(args: argparse.Namespace) -> None:
    """The query in a SQLite store of the demo customers (loaded once into --data)."""
    ruleset = load_ruleset(default_rules_path())
    customers = min(args.customers, BASE)
    path = args.data / f"store-{customers}.db"
    if not path.exists():
        load_store(ruleset, demo_csv(args.data, customers), path)
    store = SQLiteStore(path)
    sql = {
        name: ((), compile_classification(ruleset, "sqlite", TODAY, "customers", cut_offs=cut).sql)
        for name, cut in PATHS.items()
    }
    (n,) = store.execute("SELECT COUNT(*) AS n FROM customers")[0].values()
    with tuned(store):
        seconds = timed(store.execute, sql, args.runs)
        (differ,) = store.execute(differing(table("cut-off")))[0].values()
        shown = store.execute(differences(table("cut-off"))) if differ else []
    store.close()
    report(f"SQLite in-store classify query, {n:,} customers ({path.name})", n, args.runs, seconds)
    print(f"  rows differing between the paths: {differ}")
    if differ:
        print([tuple(r.values()) for r in shown])


def report(title: str, n: int, runs: int, seconds: dict[str, list[Run]]) -> None:
    print(f"{title}, median of {runs}")
    for name, measured in seconds.items():
        median = statistics.median(s for s, _, _ in measured)
        cpu = statistics.median(c for _, c, _ in measured)
        loads = ", ".join(f"{load:.2f}" for _, _, load in measured)
        print(
            f"  {name:8} {median:7.3f} s  {n / median / 1e6:6.2f}M customers/s"
            f"  (CPU {cpu:.3f} s)  runs {', '.join(f'{s:.3f}' for s, _, _ in measured)}"
            f"  load {loads}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("duckdb", "sqlite"), default="duckdb")
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its own)")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    (sqlite_bench if args.engine == "sqlite" else duckdb_bench)(args)


if __name__ == "__main__":
    main()
