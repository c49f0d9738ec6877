"""The classify phase of the DuckDB snapshot night alone (snapshot._classify: the rules over
the screened snapshot), this tree against another, side by side in the same run.

    python benchmarks/classify_phase_bench.py --before LINKS --snapshot FILE [--runs N]
        [--data DIR]

LINKS is a folder holding `guanxi/` of the other tree; FILE a Parquet snapshot (see
bench_data.py). Each run is a fresh process importing one tree, the trees taking turns: the
snapshot is checked and typed as the night does it (the view `snapshot`, not timed), then the
classification into `result` is timed: wall and CPU seconds (DuckDB's threads included), with
the 1-minute load average at its start. Every run's result is checked the same (a digest of
every customer's row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_data
from bench_data import TODAY

NOW = dt.datetime.combine(TODAY, dt.time(2, 0), tzinfo=dt.timezone(dt.timedelta(hours=8)))
DIGEST = "SELECT COUNT(*), bit_xor(hash(customer_id, gold, tier, level, strategy)) FROM {}"
Run = dict[str, Any]


def child(store_path: str, snapshot: str) -> Run:
    from guanxi.engine.classify import snapshot as night
    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.ruleset import load_ruleset
    from guanxi.engine.ruleset.load import today_in
    from guanxi.engine.ruleset.sizes import parse_memory
    from guanxi.engine.store.sqlite import SQLiteStore

    ruleset = load_ruleset(default_rules_path())
    store = SQLiteStore(store_path)
    duck = night.connect(parse_memory(ruleset.settings.snapshot_memory))
    screen = night.snapshot_screen(store, ruleset, NOW, Path(snapshot))
    source = night._source(duck, screen, Path(snapshot))
    columns = [str(r[0]) for r in duck.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    today = today_in(ruleset, NOW)
    codes = None
    if "codes" in inspect.signature(night._classify).parameters:  # answers as codes
        codes = _codes(duck, ruleset)
    load, started, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    # as each tree's classify_snapshot runs it (a tree before the prepared path has none)
    prepared = "prepared" in inspect.signature(night.compile_classification).parameters
    options: dict[str, Any] = {"prepared": True} if prepared else {}
    if "codes" in inspect.signature(night.compile_classification).parameters:  # coded rules
        options["codes"] = codes.names
    query = night.compile_classification(ruleset, "duckdb", today, source, columns, **options)
    arguments: list[Any] = [query.prepare, query.sql] if prepared else [query.sql]
    arguments += [codes] if codes is not None else []
    arguments += [query.coded] if getattr(query, "coded", False) else []
    night._classify(duck, *arguments)
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    count, digest = duck.execute(DIGEST.format(_named(duck))).fetchone() or (0, 0)
    duck.close()
    store.close()
    return {"seconds": wall, "cpu": used, "load": load, "customers": count, "digest": digest}


def _codes(duck: Any, ruleset: Any) -> Any:
    """The ladders' codes as a night's first run makes them (the rule names in order)."""
    from guanxi.engine.classify.codes import Codes, rule_names
    from guanxi.engine.classify.hold import LADDERS

    codes = Codes({kind: tuple(dict.fromkeys(rule_names(ruleset, kind))) for kind in LADDERS})
    codes.create_types(duck)
    return codes


def _named(duck: Any) -> str:
    """`result` with its answers as names, whether a tree kept them as codes or as text."""
    types = {str(r[0]): str(r[1]) for r in duck.execute("DESCRIBE result").fetchall()}
    if types.get("tier") == "VARCHAR":
        return "result"
    from guanxi.engine.classify.codes import Codes, rule_names
    from guanxi.engine.classify.hold import LADDERS
    from guanxi.engine.defaults import default_rules_path
    from guanxi.engine.ruleset import load_ruleset

    ruleset = load_ruleset(default_rules_path())
    codes = Codes({kind: tuple(dict.fromkeys(rule_names(ruleset, kind))) for kind in LADDERS})
    named = codes.named(["customer_id", "gold", *LADDERS])
    return f"(SELECT {named} FROM result)"


def measured(tree: Path, store: Path, snapshot: Path) -> Run:
    command = [sys.executable, __file__, "--child", str(store), str(snapshot)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} failed:\n{done.stderr}")
    ran: Run = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{snapshot.name} {tree}: {ran['seconds']:.2f} s, cpu {ran['cpu']:.2f} s"
        f" (load {ran['load']:.1f})",
        file=sys.stderr,
    )
    return ran


def run_all(trees: dict[str, Path], data: Path, snapshot: Path, runs: int) -> dict[str, list[Run]]:
    stores = {name: data / f"classify-phase-{name}.db" for name in trees}
    for name, tree in trees.items():
        for old in data.glob(f"{stores[name].name}*"):
            old.unlink()
        bench_data.empty_store(tree, stores[name])
    results: dict[str, list[Run]] = {name: [] for name in trees}
    try:
        for _ in range(runs):
            for name, tree in trees.items():
                results[name].append(measured(tree, stores[name], snapshot))
    finally:
        for path in stores.values():
            for old in data.glob(f"{path.name}*"):
                old.unlink()
    return results


def table(results: dict[str, list[Run]]) -> str:
    lines = [
        "| tree | customers | median s | median CPU s | customers/s | each run: s, CPU s (load) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, runs in results.items():
        wall = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        each = ", ".join(f"{r['seconds']:.2f}, {r['cpu']:.2f} ({r['load']:.1f})" for r in runs)
        n = runs[0]["customers"]
        lines.append(
            f"| {name} | {n:,} | {wall:.2f} | {cpu:.2f} | {n / wall / 1e6:.2f}M | {each} |"
        )
    digests = {(r["customers"], r["digest"]) for runs in results.values() for r in runs}
    lines.append(f"\nresults of every run the same: {len(digests) == 1}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="folder holding the other tree's guanxi/")
    parser.add_argument("--snapshot", type=Path, help="a Parquet snapshot")
    parser.add_argument("--runs", type=int, default=3, help="runs per tree (median)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    after = Path(os.environ.get("PYTHONPATH", str(Path(__file__).parent.parent))).resolve()
    trees = {"before": args.before, "after": after} if args.before else {"after": after}
    results = run_all(trees, args.data, args.snapshot, args.runs)
    print(f"`{' '.join(sys.argv)}` — {dt.date.today()}, {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
