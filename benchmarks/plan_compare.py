"""plan_bench's plan_recurring for two source trees, alternated run by run.

    python benchmarks/plan_compare.py --before PYTHONPATH --after PYTHONPATH
                                      [--before-data DIR] [--after-data DIR] [--runs N]
                                      [--customers N]

Each tree plans on its own store (--*-data, given to plan_bench as --data): build the
"before" one with the before tree, copy it for the "after" one and open it once with the
after tree, so that its migrations run on the old store, not timed. The trees take turns,
one run each, so that both meet the same load; the table gives the medians of wall-clock
and CPU seconds and, beside each run, the 1-minute load average.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).with_name("plan_bench.py")
RUN = re.compile(r"^run \d+ \(load ([\d.]+)\): (\{[^}]*\})", re.MULTILINE)


def one_run(path: str, data: str, customers: int) -> tuple[float, float, float]:
    """(wall, CPU, load) of one plan_recurring run of the tree on `path`."""
    command = [sys.executable, str(BENCH), "--data", data, "--runs", "1"]
    command += ["--customers", str(customers)]
    command += ["--scenarios", "plan_recurring"]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": path},
                          capture_output=True, text=True, check=True)  # fmt: skip
    found = RUN.search(done.stderr)
    if found is None:
        raise SystemExit(f"no run in plan_bench's output:\n{done.stderr}")
    figures = ast.literal_eval(found.group(2))
    wall, cpu = figures["plan_recurring"][0], figures["plan_recurring CPU"][0]
    return wall, cpu, float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="PYTHONPATH of the tree before")
    parser.add_argument("--after", required=True, help="PYTHONPATH of the tree after")
    parser.add_argument("--before-data", default="/tmp/plan-bench-before")
    parser.add_argument("--after-data", default="/tmp/plan-bench-after")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--customers", type=int, default=1_000_000, help="of plan_bench's store")
    args = parser.parse_args()
    trees = {"before": (args.before, args.before_data), "after": (args.after, args.after_data)}
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    for number in range(args.runs):
        for name, (path, data) in trees.items():
            runs[name].append(one_run(path, data, args.customers))
            wall, cpu, load = runs[name][-1]
            print(f"{name} {number + 1}: {wall:.2f} s, CPU {cpu:.2f} s (load {load:.2f})",
                  file=sys.stderr)  # fmt: skip
    print("| tree | wall s (median) | CPU s (median) | runs: wall / CPU (load) |")
    print("|---|---:|---:|---|")
    for name, found in runs.items():
        each = ", ".join(f"{w:.1f} / {c:.1f} ({load:.1f})" for w, c, load in found)
        wall = statistics.median(w for w, _, _ in found)
        cpu = statistics.median(c for _, c, _ in found)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {each} |")


if __name__ == "__main__":
    main()
