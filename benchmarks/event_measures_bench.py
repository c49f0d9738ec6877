"""Event measures benchmark: the SQLite night with and without two 90-day event measures.

    python benchmarks/event_measures_bench.py [--customers N] [--events N] [--runs N]
                                              [--data DIR]

Made once and kept in --data (default /tmp/guanxi-event-measures-bench): the demo customers
(engine/demo_data) in a SQLite store, and --events events for them (a third each complaints,
sales with an amount, and logins, over the 180 days before the benchmark's day, written
straight into the events table with SQL).

Two rule projects: the default one ('without'), and a copy ('with') that adds

    complaints_90d   count: complaint, in_last: 90 days
    sales_90d        sum: sale.amount, in_last: 90 days

and reads both in the tiers (a dormant customer has no complaint in 90 days; sales of
500,000 in 90 days count as a high contribution), so the query cannot leave them out.

Measured for each, median of --runs, each run on a fresh copy of the store:
  first   the first classification (no assignments yet)
  night   the next night, after 5 % of the customers changed (classify_bench's night)
The two projects alternate run by run, so the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import TODAY, demo_csv, load_store
from classify_bench import NIGHT_PERCENT, NOW, change_customers, fresh_copy

from guanxi.engine.classify import classify
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

MEASURES = """measures:
  - name: complaints_90d
    label: 近90天投诉次数
    count: complaint
    in_last: 90 days
  - name: sales_90d
    label: 近90天销售额
    sum: sale.amount
    in_last: 90 days
"""
# where the tiers read them: a dormant customer has no complaint in 90 days, and sales of
# 500,000 in 90 days count as a high contribution for a valuable customer
READ_IN_TIERS = {
    "measures:\n": MEASURES,
    "AND (days_idle >= 180 OR days_idle IS NULL)":
        "AND (days_idle >= 180 OR days_idle IS NULL) AND complaints_90d = 0",
    "AND monthly_txn_count >= 10 AND contribution_pct >= 70%":
        "AND monthly_txn_count >= 10 AND (contribution_pct >= 70% OR sales_90d >= 50万)",
}  # fmt: skip
HISTORY_DAYS = 180
# the demo customers' ids (engine/demo_data): C0000001 …
DEMO_ID = "printf('C%07d', 1 + :draw % :customers)"


def with_event_measures(folder: Path) -> RuleSet:
    """A copy of the default rules that adds and reads the two event measures."""
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.db*"))
    tiers = folder / "tiers.yaml"
    text = tiers.read_text("utf-8")
    for old, new in READ_IN_TIERS.items():
        if old not in text:  # the default tiers changed: the measures would go unread
            raise SystemExit(f"'{old}' is no longer in {tiers}: update READ_IN_TIERS")
        text = text.replace(old, new, 1)
    tiers.write_text(text, "utf-8")
    return load_ruleset(folder)


def add_events(store_path: Path, customers: int, events: int, customer_id: str = DEMO_ID) -> None:
    """`events` events for random customers of the store, in one INSERT … SELECT;
    `customer_id` makes a customer's id from a random :draw (and :customers). The events
    table's indexes are dropped for the insert and made again after it (sorting once is much
    faster than inserting each row into them at random places)."""
    start = dt.datetime.combine(TODAY - dt.timedelta(days=HISTORY_DAYS), dt.time(0))
    store = SQLiteStore(store_path)
    indexes = [row["sql"] for row in store.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
        " AND sql IS NOT NULL"
    )]  # fmt: skip
    for sql in indexes:
        store.execute("DROP INDEX " + sql.split()[2])
    store.execute(
        "INSERT INTO events (id, type, customer_id, at, payload, loaded_at)"
        " WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :events - 1),"
        # drawn once (MATERIALIZED): a flattened subquery would draw random() at each use
        " drawn AS MATERIALIZED (SELECT i, abs(random()) AS a, abs(random()) AS b,"
        "  abs(random()) AS c FROM n),"
        " typed AS MATERIALIZED (SELECT i, CASE a % 3 WHEN 0 THEN 'complaint' WHEN 1 THEN 'sale'"
        f"  ELSE 'login' END AS t, {customer_id.replace(':draw', 'b')} AS customer,"
        "  strftime('%Y-%m-%dT%H:%M:%S+00:00', julianday(:start) + (c % (:days * 86400))"
        "  / 86400.0) AS at, c % 200000 AS amount FROM drawn)"
        # ids in the order of insertion: the primary key's index grows at its end
        " SELECT printf('E%010d', i), t, customer, at, CASE t"
        "  WHEN 'sale' THEN json_object('product', '理财', 'amount', amount)"
        "  WHEN 'complaint' THEN json_object('category', '收费') ELSE '{}' END, at FROM typed",
        {"events": events, "customers": customers, "start": start.isoformat()}
        | {"days": HISTORY_DAYS},
    )
    for sql in indexes:
        store.execute(sql)
    store.close()


def one_night(ruleset: RuleSet, base: Path, work: Path) -> tuple[float, float, float]:
    """Seconds of the first classification and of the night after, on a fresh copy, and the
    1-minute load average when the night ended."""
    fresh_copy(base, work)
    store = SQLiteStore(work)
    try:
        started = time.perf_counter()
        classify(store, ruleset, NOW)
        first = time.perf_counter() - started
        change_customers(work, NIGHT_PERCENT)
        started = time.perf_counter()
        classify(store, ruleset, NOW)
        return first, time.perf_counter() - started, os.getloadavg()[0]
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-event-measures-bench"))
    options = parser.parse_args()
    data: Path = options.data
    data.mkdir(parents=True, exist_ok=True)
    default = load_ruleset(default_rules_path())
    base = data / f"store-{options.customers}-{options.events}.db"
    if not base.exists():
        made = time.perf_counter()
        load_store(default, demo_csv(data, options.customers), base)
        add_events(base, options.customers, options.events)
        print(f"store made in {time.perf_counter() - made:.0f} s", flush=True)
    projects = {
        "without": default,
        "with": with_event_measures(Path(tempfile.mkdtemp()) / "rules"),
    }
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in projects}
    for run in range(options.runs):
        for name, ruleset in projects.items():
            times[name].append(one_night(ruleset, base, data / "work.db"))
            first, night, load = times[name][-1]
            print(f"run {run + 1} {name}: first {first:.1f} s, night {night:.1f} s"
                  f" (load {load:.1f})", flush=True)  # fmt: skip
    print(f"\n{options.customers:,} customers, {options.events:,} events, median of {options.runs}")
    print("| rules | first (s) | night (s) | loads |\n| --- | ---: | ---: | --- |")
    for name, found in times.items():
        first = statistics.median(t[0] for t in found)
        night = statistics.median(t[1] for t in found)
        loads = ", ".join(f"{t[2]:.1f}" for t in found)
        print(f"| {name} two 90-day event measures | {first:.1f} | {night:.1f} | {loads} |")


if __name__ == "__main__":
    main()
