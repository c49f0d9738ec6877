"""How long the `guanxi` command takes to start, old registration against new.

    python benchmarks/start_bench.py [--runs N] [--rules DIR] [--no-cold] [--cpu]

Each command runs in a fresh interpreter, as the installed `guanxi` script runs it
(`from guanxi.cli.main import main; main()`, without the pyenv/venv wrapper around it):

  new    commands imported on first use (guanxi.cli.lazy)
  old    every command module imported before the command runs, as `cli/main.py` did when it
         registered them all at import time

warm: Python's bytecode caches in place (every start after the first). cold: no bytecode at
all (a fresh PYTHONPYCACHEPREFIX each run: the first start after installing or upgrading).
Median of --runs runs each, wall time (or CPU time with --cpu). Then the slowest imports of
`guanxi validate` (python -X importtime).
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

NEW = "from guanxi.cli.main import main; main()"
OLD = (
    "import click; from guanxi.cli.main import cli, main; ctx = click.Context(cli);"
    " [cli.get_command(ctx, name) for name in cli.list_commands(ctx)]; main()"
)


def commands(rules: str) -> dict[str, list[str]]:
    return {
        "guanxi --version": ["--version"],
        "guanxi --help": ["--help"],
        f"guanxi validate {rules}": ["validate", rules],
    }


def seconds(code: str, args: list[str], cold: bool, cpu: bool) -> float:
    """Wall time, or with --cpu the CPU time (user + system) the run used: on a machine
    shared with other work, CPU time varies less than wall time."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as fresh:
        if cold:
            env["PYTHONPYCACHEPREFIX"] = fresh
        started, before = time.perf_counter(), _children_cpu()
        subprocess.run(
            [sys.executable, "-c", code, *args], env=env, check=True, capture_output=True
        )
        return _children_cpu() - before if cpu else time.perf_counter() - started


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(code: str, args: list[str], cold: bool, runs: int, cpu: bool) -> float:
    seconds(code, args, cold=False, cpu=cpu)  # the caches written, whatever ran before
    return statistics.median(seconds(code, args, cold, cpu) for _ in range(runs))


def slowest_imports(args: list[str], shown: int = 12) -> list[tuple[int, str]]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", NEW, *args], capture_output=True, text=True
    )
    found = []
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                found.append((int(cumulative), name.strip()))
    return sorted(found, reverse=True)[:shown]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rules", default=str(Path(__file__).parent.parent / "rules"))
    parser.add_argument("--no-cold", action="store_true", help="Only the warm starts.")
    parser.add_argument("--cpu", action="store_true", help="CPU time, not wall time.")
    options = parser.parse_args()
    kinds = ["warm"] if options.no_cold else ["warm", "cold"]
    what = "CPU seconds (user + system)" if options.cpu else "seconds"
    print(f"median of {options.runs} runs, {what}; load average {os.getloadavg()[0]:.1f}")
    print(f"| command | {' | '.join(f'old {k} | new {k}' for k in kinds)} |")
    print(f"| --- |{' ---: |' * 2 * len(kinds)}")
    for title, args in commands(options.rules).items():
        cells = []
        for kind in kinds:
            for code in (OLD, NEW):
                took = median(code, args, kind == "cold", options.runs, options.cpu)
                cells.append(f"{took:.2f}")
        print(f"| `{title}` | {' | '.join(cells)} |", flush=True)
    print(f"\nslowest imports of guanxi validate (cumulative ms), {sys.version.split()[0]}:")
    for micros, name in slowest_imports(["validate", options.rules]):
        print(f"  {micros / 1000:7.0f}  {name}")
    print(f"\n{' '.join(['python', *sys.argv])}")


if __name__ == "__main__":
    main()
