"""The event path benchmark on two checkouts, alternating runs in one session.

    python benchmarks/events_compare.py BEFORE AFTER [--rounds N] [events_bench options]

BEFORE and AFTER are PYTHONPATHs under which `guanxi` is each checkout (a tree mapping
guanxi.engine onto it). Each round runs benchmarks/events_bench.py once (--runs 1) for
BEFORE, then once for AFTER, so both see the same moments of a shared machine; the table
gives the median of the rounds for each (events per wall second and per CPU second of the
benchmark's process), with the 1-minute load average of each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).with_name("events_bench.py")


def run(pythonpath: str, options: list[str]) -> dict[str, list[dict[str, float]]]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "figures.json"
        env = {**os.environ, "PYTHONPATH": pythonpath}
        command = [sys.executable, str(BENCH), "--runs", "1", "--json", str(out), *options]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        figures: dict[str, list[dict[str, float]]] = json.loads(out.read_text())
        return figures


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    args, options = parser.parse_known_args()
    sides = {"before": args.before, "after": args.after}
    collected: dict[str, dict[str, list[dict[str, float]]]] = {side: {} for side in sides}
    for number in range(args.rounds):
        for side, path in sides.items():
            for name, runs in run(path, options).items():
                collected[side].setdefault(name, []).extend(runs)
                figures = ", ".join(
                    f"{r['events_per_second']:,.0f}/s, {r['events_per_cpu_second']:,.0f}/CPU s"
                    for r in runs
                )
                load = ", ".join(f"{r['load_average']:.2f}" for r in runs)
                print(f"round {number + 1} {side} {name}: {figures} (load {load})", file=sys.stderr)
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print(
        "| scenario | side | events/s (median) | events per CPU s (median)"
        " | p99 chunk latency (median) | runs (events/s) | load average |"
    )
    print("|---|---|---:|---:|---:|---|---|")
    for name in collected["after"]:
        for side in sides:
            runs = collected[side].get(name, [])
            if not runs:
                continue
            each = ", ".join(f"{r['events_per_second']:,.0f}" for r in runs)
            loads = ", ".join(f"{r['load_average']:.2f}" for r in runs)
            print(
                f"| {name} | {side} | {median_of(runs, 'events_per_second'):,.0f}"
                f" | {median_of(runs, 'events_per_cpu_second'):,.0f}"
                f" | {median_of(runs, 'p99_chunk_ms'):,.0f} ms | {each} | {loads} |"
            )


if __name__ == "__main__":
    main()
