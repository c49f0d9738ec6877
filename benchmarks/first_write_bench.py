"""The SQLite store's first night (every customer new), this tree against another (the path
before a change), side by side in the same run.

    python benchmarks/first_write_bench.py --before LINKS [--customers N] [--runs N]
        [--data DIR] [--work DIR]

LINKS is a folder holding `guanxi/` of the other tree. Each run copies the loaded store
(N demo customers, bench_data.py) into --work and classifies it for the first time with
`guanxi classify` (engine chosen by size: DuckDB over the store's own customers), as
store_night_bench.py does, in a fresh process importing one tree, the trees taking turns.
Printed: medians of wall and CPU seconds (user + system, every thread), each run with the
1-minute load average at its start, peak RSS and the phases of the median run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import demo_csv, load_store
from classify_bench import fresh_copy

HERE = Path(__file__).resolve().parent
Run = dict[str, Any]


def measured(tree: Path, store: Path) -> Run:
    """One first night on `store` in a process importing `tree` (store_night_bench's child)."""
    load = os.getloadavg()[0]
    command = [sys.executable, str(HERE / "store_night_bench.py"), "--child", str(store)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [*command, "--engine", "auto"], capture_output=True, text=True, check=False, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tree} failed:\n{done.stderr}")
    ran = {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}
    print(f"{tree}: {ran['seconds']:.2f} s, {ran['cpu']:.2f} s CPU (load {load:.1f})")
    return ran


def run_all(trees: dict[str, Path], base: Path, work: Path, runs: int) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {}
    for number in range(runs):
        order = list(trees) if number % 2 == 0 else list(reversed(trees))
        for name in order:
            store = fresh_copy(base, work / f"first-{name}.db")
            results.setdefault(name, []).append(measured(trees[name], store))
    return results


def table(results: dict[str, list[Run]]) -> str:
    lines = [
        "| tree | customers | median s | median CPU s | peak RSS MB | runs s / CPU s (load) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        each = ", ".join(f"{r['seconds']:.2f} / {r['cpu']:.2f} ({r['load']:.1f})" for r in runs)
        lines.append(
            f"| {name} | {runs[0]['customers']:,} | {_median(runs, 'seconds'):.2f} |"
            f" {_median(runs, 'cpu'):.2f} | {max(r['rss_mb'] for r in runs):,.0f} | {each} |"
        )
    for name, runs in results.items():
        middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        phases = ", ".join(f"{k} {v:.2f}" for k, v in middle["timings"].items())
        lines += ["", f"Phases of the median {name} run (s): {phases}"]
    return "\n".join(lines)


def _median(runs: list[Run], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other tree's folder")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per tree (median)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--work", type=Path, help="where the copies go (default: --data)")
    args = parser.parse_args()
    base = args.data / f"store-{args.customers}.db"
    if not base.exists():
        from guanxi.engine.defaults import default_rules_path
        from guanxi.engine.ruleset import load_ruleset

        load_store(load_ruleset(default_rules_path()), demo_csv(args.data, args.customers), base)
    work = args.work or args.data
    work.mkdir(parents=True, exist_ok=True)
    after = Path(os.environ.get("PYTHONPATH", str(HERE.parent))).resolve()
    results = run_all({"before": args.before, "after": after}, base, work, args.runs)
    print(f"\n`{' '.join(sys.argv)}` — {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
