"""Reading a rule project in a new process, with the disk cache of validated projects and
without it.

    python benchmarks/project_cache_bench.py [--runs N] [--rules DIR]

Every run is a fresh interpreter. `off` sets GUANXI_CACHE_DIR=off (every process validates,
as before the cache); `kept` uses a cache folder of this benchmark, filled by a warm-up run.
The two alternate, run by run, so that a busy moment of a shared machine falls on both.
Medians of --runs runs each:

  validate_project   the call itself, in a process that has imported the rule-set code
  guanxi validate    the whole command, started as the installed `guanxi` script starts it

each as wall time and CPU time (the process's own; user + system for the command).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cli_run import CLI

# the checkout's own project, wherever the benchmark is started from
RULES = Path(__file__).resolve().parent.parent / "rules"

CALL = (
    "import sys, time; from guanxi.engine.ruleset.load import validate_project;"
    " t, c = time.perf_counter(), time.process_time(); validate_project(sys.argv[1]);"
    " print(time.perf_counter() - t, time.process_time() - c)"
)


def call_seconds(rules: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time of the call `validate_project(RULES)`."""
    done = subprocess.run(
        [sys.executable, "-c", CALL, rules], env=env, check=True, capture_output=True, text=True
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def command_seconds(rules: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time of `guanxi validate RULES`."""
    started, before = time.perf_counter(), _children_cpu()
    subprocess.run(
        [sys.executable, "-c", CLI, "validate", rules], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started, _children_cpu() - before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rules", default=str(RULES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        modes = {
            "off": {**os.environ, "GUANXI_CACHE_DIR": "off"},
            "kept": {**os.environ, "GUANXI_CACHE_DIR": folder},
        }
        for env in modes.values():  # bytecode caches and the cache entry in place
            call_seconds(args.rules, env)
            command_seconds(args.rules, env)
        figures: dict[str, list[list[float]]] = {mode: [[], [], [], []] for mode in modes}
        for _run in range(args.runs):
            for mode, env in modes.items():
                measured = (*call_seconds(args.rules, env), *command_seconds(args.rules, env))
                for column, value in zip(figures[mode], measured, strict=True):
                    column.append(value)
    print(f"medians of {args.runs} fresh processes each, alternated; rules: {args.rules}")
    print(f"{'':6} {'validate_project':>17} {'(CPU)':>8} {'guanxi validate':>16} {'(CPU)':>8}")
    for mode, columns in figures.items():
        call, call_cpu, wall, cpu = (statistics.median(column) for column in columns)
        print(f"{mode:6} {call:16.3f}s {call_cpu:7.3f}s {wall:15.3f}s {cpu:7.3f}s")


if __name__ == "__main__":
    main()
