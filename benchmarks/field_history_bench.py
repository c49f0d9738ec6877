"""Field history benchmark: the SQLite night with and without a change measure.

    python benchmarks/field_history_bench.py [--customers N] [--runs N] [--data DIR]

The demo customers (engine/demo_data) in a SQLite store, made once in --data (default
/tmp/guanxi-field-history-bench). Two rule projects: the default one ('without'), and a copy
('with') that adds

    balance_change_30d   change: balance, since: 30 days, as: percent

and reads it in the tiers (a valuable customer's balance has not fallen 90 % in 30 days), so
the query cannot leave it out.

Measured for each, median of --runs, each run on a fresh copy of the store:
  first   the first classification, 31 days before the benchmark's day (every balance kept)
  night   the benchmark's day, after 5 % of the balances changed (only those are kept)
The two projects alternate run by run, so the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import demo_csv, load_store
from classify_bench import NIGHT_PERCENT, NOW, fresh_copy

from guanxi.engine.classify import classify
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

MEASURE = """measures:
  - name: balance_change_30d
    label: 近30天余额变化
    change: balance
    since: 30 days
    as: percent
"""
VALUABLE = "AND monthly_txn_count >= 10 AND contribution_pct >= 70%\n"


def with_change_measure(folder: Path) -> RuleSet:
    """A copy of the default rules that adds and reads the change measure."""
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.db*"))
    tiers = folder / "tiers.yaml"
    text = tiers.read_text("utf-8").replace("measures:\n", MEASURE, 1)
    kept = VALUABLE.removesuffix("\n") + " AND COALESCE(balance_change_30d, 0) > -0.9\n"
    tiers.write_text(text.replace(VALUABLE, kept), "utf-8")
    return load_ruleset(folder)


def change_balances(path: Path, percent: float) -> None:
    """`percent` % of the store's customers see their balance halved."""
    store = SQLiteStore(path)
    step = round(100 / percent)
    store.execute(f"UPDATE customers SET balance = balance / 2 WHERE rowid % {step} = 0")
    store.close()


def one_night(ruleset: RuleSet, base: Path, work: Path) -> tuple[float, float, int]:
    """Seconds of the first classification and of the night after; rows of history kept."""
    fresh_copy(base, work)
    store = SQLiteStore(work)
    try:
        started = time.perf_counter()
        classify(store, ruleset, NOW - dt.timedelta(days=31))
        first = time.perf_counter() - started
        change_balances(work, NIGHT_PERCENT)
        started = time.perf_counter()
        classify(store, ruleset, NOW)
        night = time.perf_counter() - started
        kept = int(store.execute("SELECT COUNT(*) AS n FROM field_history")[0]["n"])
        return first, night, kept
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-field-history-bench"))
    options = parser.parse_args()
    data: Path = options.data
    data.mkdir(parents=True, exist_ok=True)
    default = load_ruleset(default_rules_path())
    base = data / f"store-{options.customers}.db"
    if not base.exists():
        load_store(default, demo_csv(data, options.customers), base)
    projects = {
        "without": default,
        "with": with_change_measure(Path(tempfile.mkdtemp()) / "rules"),
    }
    times: dict[str, list[tuple[float, float, int]]] = {name: [] for name in projects}
    for run in range(options.runs):
        for name, ruleset in projects.items():
            times[name].append(one_night(ruleset, base, data / "work.db"))
            first, night, kept = times[name][-1]
            print(f"run {run + 1} {name}: first {first:.1f} s, night {night:.1f} s, {kept:,} kept")
    print(f"\n{options.customers:,} customers, median of {options.runs}")
    print("| rules | first (s) | night (s) | history rows |\n| --- | ---: | ---: | ---: |")
    for name, found in times.items():
        first = statistics.median(t[0] for t in found)
        night = statistics.median(t[1] for t in found)
        print(f"| {name} a 30-day change measure | {first:.1f} | {night:.1f} | {found[-1][2]:,} |")


if __name__ == "__main__":
    main()
