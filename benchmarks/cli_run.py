"""A `guanxi` command as a user runs it, timed from outside: a fresh process (start-up,
imports and the rule project included) on a given tree; its CPU seconds with those of the
processes it waited for (the store's readers), as wait4 reports them, and its own peak RSS."""

from __future__ import annotations

import compileall
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# the `guanxi` command under PYTHONPATH, then its own peak RSS (VmHWM) as stderr's last line:
# wait4's ru_maxrss would count the benchmark's memory too (a child's peak includes the
# image it was forked from, before exec)
CLI = """import sys
try:
    from guanxi.cli.main import main
    main()
finally:
    status = open("/proc/self/status").read().splitlines()
    sys.stderr.write("\\n" + next(line for line in status if line.startswith("VmHWM")) + "\\n")
"""
HERE = Path(__file__).resolve().parent.parent


@functools.cache
def compiled(tree: Path) -> None:
    """The tree's bytecode written, as pip writes it when it installs a package: where
    PYTHONDONTWRITEBYTECODE is set (as on some shared machines), every run would otherwise
    compile the modules from source again (0.3 s of CPU a `guanxi classify`), which no
    installed guanxi does."""
    package = tree / "guanxi"
    folders = [p.resolve() for p in package.iterdir() if p.is_dir()] if package.is_dir() else []
    for folder in folders or [HERE / name for name in ("engine", "cli", "adapters")]:
        compileall.compile_dir(folder, quiet=1)


def timed_cli(tree: Path, arguments: list[str]) -> dict[str, Any]:
    """`guanxi ARGUMENTS --json` on `tree` (a folder holding guanxi/, or this checkout), its
    bytecode compiled: its JSON report, and `seconds`, `cpu`, `rss_mb` and `load` (the
    1-minute load average at its start)."""
    compiled(tree)
    command = [sys.executable, "-c", CLI, *arguments, "--json"]
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said = err.read().decode()
        if process.returncode != 0:
            raise RuntimeError(f"{tree} {arguments} failed:\n{said}")
        report = json.loads(out.read())
    return {
        "report": report,
        "seconds": seconds,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": int(said.strip().splitlines()[-1].split()[1]) / 1024,
        "load": load,
    }


def rules_of(tree: Path) -> Path:
    """The tree's default rule project (a link tree's guanxi/rules, else this checkout's)."""
    linked = tree / "guanxi" / "rules"
    return linked if linked.is_dir() else HERE / "rules"
