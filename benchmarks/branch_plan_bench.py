"""A head office step planned where a branch has its own version, for two source trees.

    python benchmarks/branch_plan_bench.py --before PYTHONPATH --after PYTHONPATH
                                           [--customers N] [--runs N] [--data DIR]

The default rules, with `branches/长沙分行.yaml` giving that branch its own version of the
monthly product news; N proactive customers (SQLite), a tenth of them of 长沙分行. One run
plans December of the head office's step (`plan_recurring`, the insert and the contact
policy) on a fresh copy of the store. The trees take turns, one run each, so that both meet
the same load; the table gives the median wall-clock seconds and, beside each run, the
1-minute load average. `--build` and `--one` (used by the driver) build a tree's store and
time one run of the tree on the PYTHONPATH.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEWS = "proactive_product_news"
BRANCH = "长沙分行"
PLANNED = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
DECEMBER = (PLANNED, dt.datetime(2027, 1, 1, 2, 0, tzinfo=dt.UTC))


def build(data: Path, customers: int) -> None:
    """The rules and the store of the runs, in `data` (built once)."""
    from guanxi.engine.ruleset import load_ruleset
    from guanxi.engine.store.sqlite import SQLiteStore

    if (data / "store.db").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    rules = data / "rules"
    shutil.copytree(Path(__file__).parents[1] / "rules", rules)
    shutil.rmtree(rules / "tests")
    (rules / "branches").mkdir()
    (rules / "branches" / f"{BRANCH}.yaml").write_text(f"steps:\n  {NEWS}:\n    priority: 60\n")
    ruleset = load_ruleset(rules)
    store = SQLiteStore(data / "store.db")
    store.prepare(ruleset.schema)
    rows = [
        {"customer_id": f"C{n:07d}", "name": f"客户{n}", "phone": f"138{n:08d}",
         "consent_marketing": True, "consent_sms": True, "preferred_channel": "sms",
         "rm_id": "RM7", "branch": BRANCH if n % 10 == 0 else "北京分行"}
        for n in range(customers)
    ]  # fmt: skip
    store.upsert_customers(rows)
    store.db.conn.executemany(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (?, 'valuable', 'proactive', NULL, 0, 1, ?, ?)",
        [(row["customer_id"], ruleset.hash, PLANNED.isoformat()) for row in rows],
    )
    store.db.conn.commit()
    store.close()


def one(data: Path) -> float:
    """Seconds of one plan_recurring of December's head office news on a copy."""
    from guanxi.engine.plan.recurring import plan_recurring
    from guanxi.engine.ruleset import load_ruleset
    from guanxi.engine.store.sqlite import SQLiteStore

    copy = data / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copy(data / "store.db", copy)
    ruleset = load_ruleset(data / "rules")
    store = SQLiteStore(copy)
    started = time.perf_counter()
    plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS])
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def run(path: str, data: Path) -> tuple[float, float]:
    command = [sys.executable, __file__, "--one", "--data", str(data)]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": path},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return float(done.stdout.strip()), os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before")
    parser.add_argument("--after")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", default="/tmp/guanxi-branch-plan-bench")
    parser.add_argument("--one", action="store_true")
    parser.add_argument("--build", action="store_true")
    args = parser.parse_args()
    data = Path(args.data)
    if args.build:
        build(data, args.customers)
        return
    if args.one:
        print(one(data))
        return
    trees = {"before": args.before, "after": args.after}
    for name, path in trees.items():  # each tree builds its own store, with its migrations
        command = [sys.executable, __file__, "--build", "--data", str(data / name)]
        command += ["--customers", str(args.customers)]
        subprocess.run(command, env={**os.environ, "PYTHONPATH": path}, check=True)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for number in range(args.runs):
        for name, path in trees.items():
            runs[name].append(run(path, data / name))
            seconds, load = runs[name][-1]
            print(f"{name} {number + 1}: {seconds:.2f} s (load {load:.2f})", file=sys.stderr)
    print("| tree | wall s (median) | runs (load) |")
    print("|---|---:|---|")
    for name, found in runs.items():
        median = statistics.median(seconds for seconds, _load in found)
        shown = ", ".join(f"{seconds:.2f} ({load:.1f})" for seconds, load in found)
        print(f"| {name} | {median:.2f} | {shown} |")


if __name__ == "__main__":
    main()
