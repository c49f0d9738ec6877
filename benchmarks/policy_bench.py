"""Contact policy over one monthly batch: how long `apply_policies` takes on SQLite.

    python benchmarks/policy_bench.py [--customers 1000000] [--data DIR] [--resolved]

The store holds N customers (every one agreed to marketing, as the monthly step's `when:`
asks; channel consents vary, 2 % do not want contact), last month's sent SMS for everyone, an
event message in the same week for 5 % of them and a second for 2.5 % (those need the exact
cap check; the second outranks the batch's message and overfills an SMS cap), and the
batch: one `preferred` (or, with --resolved, already resolved) message per customer on the
5th at 10:00, 1 % of them at 22:00 (quiet hours), plus quarterly review tasks for 2,000
relationship managers, 30 each on one day, above their capacity of 25. The store is built
once per size and copied for each run; the time is `apply_policies` alone (wall clock and
this process's CPU), with each pass timed too (the commit comes after the last pass).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from guanxi.engine.plan import policy
from guanxi.engine.plan.followups import COLUMNS, iso
from guanxi.engine.plan.policy import preferred_channel_sql
from guanxi.engine.plan.policy_verdicts import Batch
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
OWNERS = 2_000


def build(path: Path, customers: int, resolved: bool) -> None:
    """A store with customers, earlier follow-ups and the batch 'monthly' (made once)."""
    ruleset = load_ruleset(RULES)
    store = SQLiteStore(path)
    store.prepare(ruleset.schema)
    store.close()
    connection = sqlite3.connect(path)
    with connection:
        _customers(connection, customers)
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO followups ({', '.join(COLUMNS)}) VALUES ({marks})"
        connection.executemany(sql, _earlier(customers))
        connection.executemany(sql, _batch(customers))
        if resolved:  # as a planner resolving `preferred` while inserting would have left it
            _resolve(connection, ruleset)
    connection.close()


def _resolve(connection: sqlite3.Connection, ruleset: RuleSet) -> None:
    assert ruleset.policies is not None
    resolved = preferred_channel_sql(ruleset.policies, "f.kind", "c", "f.customer_id", "f.due_at")
    connection.execute(
        f"UPDATE followups AS f SET channel = coalesce((SELECT {resolved} FROM customers c"
        " WHERE c.customer_id = f.customer_id), f.channel) WHERE f.channel = 'preferred'",
        {"now": iso(NOW)},
    )


def _customers(connection: sqlite3.Connection, count: int) -> None:
    draw = random.Random(7)
    rows = (
        (f"C{i:08d}", f"客户{i}", f"RM{i % OWNERS:04d}", draw.choice(["sms", "email", "app"]),
         True, draw.random() < 0.8, draw.random() < 0.5, draw.random() < 0.6,
         draw.random() < 0.02)
        for i in range(count)
    )  # fmt: skip
    connection.executemany(
        "INSERT INTO customers (customer_id, name, rm_id, preferred_channel, consent_marketing,"
        " consent_sms, consent_email, consent_app, do_not_contact)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _row(customer: int, step: str, occurrence: str, **fields: Any) -> tuple[Any, ...]:
    values = {
        "key": f"{step}:C{customer:08d}:{occurrence}", "customer_id": f"C{customer:08d}",
        "step_id": step, "level": "proactive", "kind": "message", "channel": "sms",
        "template": "product_news", "priority": 20, "mandatory": 0, "purpose": "marketing",
        "owner": f"RM{customer % OWNERS:04d}", "occurrence": occurrence, "event_id": None,
        "payload": "{}", "expires_at": None, "status": "pending", "policy": None,
        "reason": None, "batch": "monthly", "ruleset_hash": "bench",
        "created_at": "2026-11-28T02:00:00Z", "updated_at": "2026-11-28T02:00:00Z",
    }  # fmt: skip
    values.update(fields)
    values.setdefault("planned_due_at", values["due_at"])
    return tuple(values[c] for c in COLUMNS)


def _earlier(customers: int) -> Iterator[tuple[Any, ...]]:
    for i in range(customers):
        yield _row(i, "news", "2026-11", due_at="2026-11-08T02:00:00Z", status="sent", batch="b0")
        if i % 20 == 0:
            due = "2026-12-03T06:00:00Z"
            yield _row(i, "tips", "e1", due_at=due, batch="events", purpose="service")
        if i % 40 == 0:
            due = "2026-12-06T06:00:00Z"
            yield _row(i, "tips", "e2", due_at=due, batch="events", purpose="service", priority=40)


def _batch(customers: int) -> Iterator[tuple[Any, ...]]:
    for i in range(customers):
        due = "2026-12-05T14:00:00Z" if i % 100 == 0 else "2026-12-05T02:00:00Z"
        yield _row(i, "news", "2026-12", due_at=due, channel="preferred")
    for i in range(OWNERS * 30):
        due = "2027-01-11T02:00:00Z"
        fields = {"kind": "task", "channel": "rm_task", "priority": 75, "purpose": "service"}
        yield _row(i % customers, "review", f"2027-Q1-{i}", due_at=due, **fields)


def timed(name: str, decide: Callable[[Batch], Any], times: dict[str, float]) -> Any:
    def run(batch: Batch) -> Any:
        start = time.perf_counter()
        counts = decide(batch)
        times[name] = time.perf_counter() - start
        return counts

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/guanxi-bench"))
    parser.add_argument("--resolved", action="store_true", help="channels resolved at planning")
    arguments = parser.parse_args()
    kind = "resolved" if arguments.resolved else "preferred"
    source = arguments.data / f"policy-{arguments.customers}-{kind}.db"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        build(source, arguments.customers, arguments.resolved)
        print(f"built {source} in {time.perf_counter() - started:.1f} s")
    work = source.with_suffix(".run.db")
    shutil.copyfile(source, work)
    times: dict[str, float] = {}
    policy.PASSES = tuple(timed(p.__name__, p, times) for p in policy.PASSES)
    store = SQLiteStore(work)
    ruleset = load_ruleset(RULES)
    started, cpu = time.perf_counter(), time.process_time()
    report = policy.apply_policies(store, ruleset, "monthly", NOW)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    print(f"apply_policies: {report.planned:,} follow-ups in {total:.2f} s ({cpu:.2f} s CPU)")
    print("  passes: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items()))
    print(f"  suppressed {report.suppressed}\n  deferred {report.deferred}")


if __name__ == "__main__":
    main()
