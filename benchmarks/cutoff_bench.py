"""The DuckDB classification query alone: percentiles and gold ranked over every customer
(the window path) against cut-off values (engine/classify/cutoffs.py), side by side.

    python benchmarks/cutoff_bench.py [--customers N] [--runs N] [--data DIR] [--threads N]

The default rules over a Parquet snapshot of N customers (the 1M demo customers repeated,
see bench_data.snapshot_parquet), the query's result written to a temporary table as the
nightly run does. The two paths alternate within each round; each figure is the median of
the rounds (wall clock, and the CPU time of all DuckDB's threads, which a shared machine's
load disturbs less), with the 1-minute load average of each round. Both results are
checked equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import TODAY, demo_csv, snapshot_parquet

from guanxi.engine.classify import compile_classification
from guanxi.engine.classify.snapshot import connect
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import load_ruleset

BASE = 1_000_000  # the demo file the snapshot repeats
PATHS = {"window": False, "cut-off": True}
DIFFERENCES = (
    "SELECT * FROM result_window AS a JOIN result_cut_off AS b USING (customer_id)"
    " WHERE (a.gold, a.tier, a.level, a.strategy) IS DISTINCT FROM"
    " (b.gold, b.tier, b.level, b.strategy) LIMIT 5"
)


def snapshot(data: Path, customers: int) -> Path:
    ruleset = load_ruleset(default_rules_path())
    base = min(customers, BASE)
    copies = max(1, customers // base)
    csv_path = demo_csv(data, base)
    return snapshot_parquet(ruleset, csv_path, data / f"snapshot-{base}x{copies}.parquet", copies)


def queries(path: Path, columns: list[str]) -> dict[str, str]:
    ruleset = load_ruleset(default_rules_path())
    source = f"read_parquet('{path}')"
    return {
        name: compile_classification(ruleset, "duckdb", TODAY, source, columns, cut_offs=cut).sql
        for name, cut in PATHS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its own)")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    path = snapshot(args.data, args.customers)
    duck = connect("3GB")
    if args.threads:
        duck.execute(f"SET threads = {args.threads}")
    columns = [
        r[0] for r in duck.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    ]
    (n,) = duck.execute(f"SELECT COUNT(*) FROM read_parquet('{path}')").fetchone() or (0,)
    sql = queries(path, columns)
    seconds: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sql}
    for _ in range(args.runs):
        for name, text in sql.items():
            duck.execute(f"DROP TABLE IF EXISTS result_{name.replace('-', '_')}")
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            duck.execute(f"CREATE TEMP TABLE result_{name.replace('-', '_')} AS {text}")
            wall = time.perf_counter() - started
            seconds[name].append((wall, time.process_time() - cpu, load))
    (differ,) = duck.execute(
        "SELECT COUNT(*) FROM ((SELECT * FROM result_window EXCEPT ALL"
        " SELECT * FROM result_cut_off) UNION ALL (SELECT * FROM result_cut_off EXCEPT ALL"
        " SELECT * FROM result_window))"
    ).fetchone() or (0,)
    print(f"DuckDB classify query, {n:,} customers ({path.name}), median of {args.runs}")
    for name, runs in seconds.items():
        median = statistics.median(s for s, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        loads = ", ".join(f"{load:.2f}" for _, _, load in runs)
        print(
            f"  {name:8} {median:7.3f} s  {n / median / 1e6:6.2f}M customers/s"
            f"  (CPU {cpu:.3f} s)  runs {', '.join(f'{s:.3f}' for s, _, _ in runs)}"
            f"  load {loads}"
        )
    print(f"  rows differing between the paths: {differ}")
    if differ:
        print(duck.execute(DIFFERENCES).fetchall())


if __name__ == "__main__":
    main()
