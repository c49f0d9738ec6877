"""The same pipeline on the SQLite store and on the PostgreSQL store, timed step by step.

    python benchmarks/store_bench.py [--customers N] [--data DIR] [--postgres URL]

For each store, from empty (PostgreSQL: a new schema of the database, dropped afterwards):
  load             load_customers of the demo customers' CSV (engine/ingest, the store's upsert)
  classify first   every customer is new: all assignments and transitions written
  classify night   after 5 % of the customers changed their balance (few change tier)
  classify same    nothing changed
  plan month       plan_recurring of one monthly message for every level (plan_bench's
                   rules), consent decided while inserting, then the contact policy
  plan again       the same month once more: nothing new
One run each; the data (demo CSV) are made once and kept in --data.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_data import postgres_schema
from plan_bench import NOW, bench_rules, december

from guanxi.engine.classify import classify
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

STEPS = ("load", "classify first", "classify night", "classify same", "plan month", "plan again")


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def pipeline(store: Store, ruleset: RuleSet, csv: Path, customers: int) -> dict[str, str]:
    seconds: dict[str, str] = {}

    def step(name: str, work: Callable[[], Any], count: Callable[[Any], int]) -> None:
        took, result = timed(work)
        seconds[name] = f"{took:.2f} s ({count(result):,})"
        print(f"  {name}: {seconds[name]}", file=sys.stderr)

    step("load", lambda: load_customers(store, ruleset, csv, NOW), lambda r: r.loaded)
    step("classify first", lambda: classify(store, ruleset, NOW), lambda r: r.changed)
    store.execute(
        "UPDATE customers SET balance = coalesce(balance, 0) * 3 + 1 WHERE customer_id IN"
        " (SELECT customer_id FROM customers ORDER BY customer_id LIMIT :n)",
        {"n": customers // 20},
    )
    step("classify night", lambda: classify(store, ruleset, NOW), lambda r: r.changed)
    step("classify same", lambda: classify(store, ruleset, NOW), lambda r: r.changed)
    start, end = december(ruleset)
    step("plan month", lambda: plan_recurring(store, ruleset, start, end, NOW), lambda r: r.new)
    step("plan again", lambda: plan_recurring(store, ruleset, start, end, NOW), lambda r: r.new)
    return seconds


@contextmanager
def postgres_store(url: str) -> Iterator[Store]:
    with postgres_schema(url) as schema_url:
        store = PostgresStore(schema_url)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def sqlite_store(path: Path) -> Iterator[Store]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(path)
    try:
        yield store
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-store-bench"))
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    ruleset = bench_rules(args.data)
    csv = args.data / f"demo-{args.customers}" / "customers.csv"
    if not csv.exists():
        write_demo_data(csv.parent, args.customers, 1, NOW.date())
    results = {}
    print("sqlite", file=sys.stderr)
    with sqlite_store(args.data / "bench.db") as store:
        results["SQLite"] = pipeline(store, ruleset, csv, args.customers)
    print("postgresql", file=sys.stderr)
    with postgres_store(args.postgres) as store:
        results["PostgreSQL"] = pipeline(store, ruleset, csv, args.customers)
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print("| step | " + " | ".join(results) + " |")
    print("| --- |" + " --- |" * len(results))
    for name in STEPS:
        print(f"| {name} | " + " | ".join(r[name] for r in results.values()) + " |")


if __name__ == "__main__":
    main()
