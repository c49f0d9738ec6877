"""Recurring planning benchmark: one monthly step for every classified customer, on SQLite.

    python benchmarks/plan_bench.py [--customers N] [--runs N] [--sample N] [--data DIR]
                                    [--scenarios NAME,…] [--statements N]

The store is built once and kept in --data (default /tmp/guanxi-plan-bench): the demo
customers (engine/demo_data), loaded with engine/ingest and classified with engine/classify,
under a rule project that is the default one with a single playbook step, a monthly message
for every level. Every measured run starts from a fresh copy of that store. Median of --runs,
wall clock and (rows named CPU) the process's CPU seconds:

  plan_recurring   the whole month as the scheduler plans it: insert and contact policy in one
                   transaction (the goal's figure)
  again            plan_recurring over the same month once more (after an untimed first call)
  set-based        insert_recurring: one INSERT … SELECT … ON CONFLICT DO NOTHING for the
                   whole population (what plan_recurring does before the policy)
  + policy         the contact policy over the same batch (apply_policy), timed on its own
  same again       planning the same month once more: nothing new
  executemany      the same rows built in Python from one SELECT, then one executemany
  per customer     Followup objects and insert_followups (one INSERT per customer) on a
                   --sample of the customers, extrapolated to the whole population

--statements N prints plan_recurring's N costliest SQL statements (wall and CPU seconds), then
the time spent outside them (the commit, which checkpoints the WAL, and Python).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from guanxi.engine.classify import classify
from guanxi.engine.classify.run import tuned
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.followups import COLUMNS, Followup, insert_followups, iso, new_batch
from guanxi.engine.plan.recurring import (
    PlanReport,
    apply_policy,
    count_outcomes,
    insert_recurring,
    occurrence,
    plan_recurring,
)
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
STEP = "monthly_news"
PLAYBOOKS = f"""playbooks:
  all:
    - id: {STEP}
      label: 每月资讯
      every: month
      day: 5
      at: "10:00"
      do: message
      channel: preferred
      template: product_news
      priority: 20
"""


def bench_rules(data: Path) -> RuleSet:
    """The default rules with one monthly step for every level (and no scenario tests)."""
    folder = data / "rules"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(default_rules_path(), folder, ignore=shutil.ignore_patterns("*.db*", "tests"))
    (folder / "playbooks.yaml").write_text(PLAYBOOKS, encoding="utf-8")
    return load_ruleset(folder)


def base_store(data: Path, ruleset: RuleSet, customers: int) -> Path:
    """Demo customers loaded and classified, made once."""
    path = data / f"store-{customers}.db"
    if path.exists():
        return path
    csv = data / f"demo-{customers}" / "customers.csv"
    if not csv.exists():
        write_demo_data(csv.parent, customers, 1, TODAY)
    building = path.with_suffix(".building")
    store = SQLiteStore(building)
    load_customers(store, ruleset, csv, NOW)
    classify(store, ruleset, NOW)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    building.rename(path)
    return path


def fresh(base: Path, work: Path) -> SQLiteStore:
    remove_store(work)
    shutil.copyfile(base, work)
    return SQLiteStore(work)


def remove_store(path: Path) -> None:
    """The SQLite store at `path` gone, with its write-ahead log and shared memory."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def december(ruleset: RuleSet) -> tuple[dt.datetime, dt.datetime]:
    zone = ruleset.calendar.zone
    return dt.datetime(2026, 11, 28, tzinfo=zone), dt.datetime(2026, 12, 28, tzinfo=zone)


CPU: dict[str, float] = {}  # the last timed work's CPU seconds, by name (see `timed`)


def timed(work: Callable[[], Any], name: str = "") -> tuple[float, Any]:
    """Wall-clock seconds of `work` and its result; its CPU seconds go into CPU[name]: on a
    shared machine they tell what the wall clock of a quiet one would."""
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    CPU[name] = time.process_time() - cpu
    return time.perf_counter() - started, result


# --- the scenarios: each returns {name: (seconds, follow-ups)} -------------------------


def whole(ruleset: RuleSet, base: Path, work: Path, statements: int = 0) -> dict[str, Any]:
    """plan_recurring: the planning and the policy in one transaction; with `statements`,
    the costliest statements of it on stderr."""
    store = fresh(base, work)
    try:
        costs = per_statement(store) if statements else {}
        seconds, report = timed(lambda: plan_recurring(store, ruleset, *december(ruleset), NOW))
        print_costliest(costs, statements, (seconds, CPU[""]))
        return {
            "plan_recurring": (seconds, report.new),
            "plan_recurring CPU": (CPU[""], report.new),
            "outcomes": report.steps[0].outcomes,
        }
    finally:
        store.close()


def per_statement(store: SQLiteStore) -> dict[str, list[float]]:
    """Wall and CPU seconds of every statement the store runs from now on, by its text."""
    costs: dict[str, list[float]] = {}
    execute = store.execute

    def measured(sql: str, parameters: Any = None) -> list[dict[str, Any]]:
        started, cpu = time.perf_counter(), time.process_time()
        rows = execute(sql, parameters)
        cost = costs.setdefault(" ".join(sql.split()), [0.0, 0.0])
        cost[0] += time.perf_counter() - started
        cost[1] += time.process_time() - cpu
        return rows

    store.execute = measured  # type: ignore[method-assign]
    return costs


def print_costliest(
    costs: dict[str, list[float]], count: int, whole: tuple[float, float] = (0.0, 0.0)
) -> None:
    """The `count` costliest statements; then what the `whole` call (wall, CPU) spent outside
    every statement: the commit (with its checkpoint of the WAL) and Python."""
    ranked = sorted(costs.items(), key=lambda item: -item[1][1])[:count]
    for sql, (wall, cpu) in ranked:
        print(f"  {wall:7.2f} s, CPU {cpu:6.2f} s  {sql[:150]}", file=sys.stderr)
    if count and whole[0]:
        wall = whole[0] - sum(w for w, _ in costs.values())
        cpu = whole[1] - sum(c for _, c in costs.values())
        print(f"  {wall:7.2f} s, CPU {cpu:6.2f} s  (the commit and Python)", file=sys.stderr)


def again(ruleset: RuleSet, base: Path, work: Path) -> dict[str, Any]:
    """plan_recurring once more over the same month: nothing new (timed: the second call)."""
    store = fresh(base, work)
    try:
        plan_recurring(store, ruleset, *december(ruleset), NOW)
        seconds, report = timed(lambda: plan_recurring(store, ruleset, *december(ruleset), NOW))
        return {
            "plan_recurring again": (seconds, report.new),
            "plan_recurring again CPU": (CPU[""], report.new),
        }
    finally:
        store.close()


def set_based(ruleset: RuleSet, base: Path, work: Path) -> dict[str, tuple[float, int]]:
    """As plan_recurring does it: consent decided while inserting, then the policy pass."""
    store = fresh(base, work)
    try:
        seconds, report = timed(
            lambda: insert_recurring(
                store, ruleset, *december(ruleset), NOW, new_batch(), consent=True
            )
        )
        results = {"set-based": (seconds, report.new), "set-based CPU": (CPU[""], report.new)}
        results.update(_policy(store, ruleset, report))
        again, repeat = timed(
            lambda: insert_recurring(
                store, ruleset, *december(ruleset), NOW, new_batch(), consent=True
            )
        )
        results["same again"] = (again, repeat.new)
        return results
    finally:
        store.close()


def _policy(store: SQLiteStore, ruleset: RuleSet, report: PlanReport) -> dict[str, Any]:
    try:
        with tuned(store):  # as plan_recurring runs it
            seconds, _ = timed(lambda: apply_policy(store, ruleset, report, NOW))
    except NotImplementedError:
        return {}
    count_outcomes(store, report)
    return {
        "+ policy": (seconds, report.new),
        "+ policy CPU": (CPU[""], report.new),
        "outcomes": report.steps[0].outcomes,
    }


def eligible_sql(ruleset: RuleSet) -> str:
    owner = ruleset.policies.capacity.owner_field if ruleset.policies and (
        ruleset.policies.capacity) else None  # fmt: skip
    return (
        f"SELECT c.customer_id, a.level, {f'c.{owner}' if owner else 'NULL'} FROM customers c"
        " JOIN assignments a ON a.customer_id = c.customer_id WHERE a.level IS NOT NULL"
    )


def executemany(ruleset: RuleSet, base: Path, work: Path) -> dict[str, tuple[float, int]]:
    """The same rows built in Python, inserted with one executemany."""
    store = fresh(base, work)
    try:
        seconds, count = timed(lambda: _executemany(store, ruleset))
        return {"executemany": (seconds, count)}
    finally:
        store.close()


def _executemany(store: SQLiteStore, ruleset: RuleSet) -> int:
    step = next(s for s in ruleset.steps if s.id == STEP)
    planned = occurrence(ruleset, step, "2026-12", dt.datetime(2026, 12, 5, 2, tzinfo=dt.UTC),
                         dt.date(2026, 12, 5))  # fmt: skip
    s, batch, now = step.step, new_batch(), iso(NOW)
    rows = [
        (f"{s.id}:{customer}:2026-12", customer, s.id, level, s.do, s.channel, s.template,
         s.priority, int(s.mandatory), s.purpose, owner, "2026-12", None, "{}",
         iso(planned.due), iso(planned.due), None, "pending", None, None, batch, ruleset.hash,
         now, now)
        for customer, level, owner in store.db.execute(eligible_sql(ruleset))
    ]  # fmt: skip
    marks = ", ".join("?" for _ in COLUMNS)
    with store.db.atomic():
        store.db.conn.executemany(
            f"INSERT INTO followups ({', '.join(COLUMNS)}) VALUES ({marks})"
            " ON CONFLICT (key) DO NOTHING",
            rows,
        )
    return len(rows)


def per_customer(
    ruleset: RuleSet, base: Path, work: Path, sample: int
) -> dict[str, tuple[float, int]]:
    """Followup objects inserted one by one (insert_followups), on a sample; extrapolated."""
    store = fresh(base, work)
    try:
        total = store.execute("SELECT COUNT(*) AS n FROM assignments WHERE level IS NOT NULL")
        population = int(total[0]["n"])
        seconds, count = timed(lambda: _per_customer(store, ruleset, sample))
        return {"per customer": (seconds * population / count, population)}
    finally:
        store.close()


def _per_customer(store: SQLiteStore, ruleset: RuleSet, sample: int) -> int:
    step = next(s for s in ruleset.steps if s.id == STEP)
    moment = dt.datetime(2026, 12, 5, 2, tzinfo=dt.UTC)
    s = step.step
    followups = []
    for customer, level, owner in store.db.execute(f"{eligible_sql(ruleset)} LIMIT {sample}"):
        planned = occurrence(ruleset, step, "2026-12", moment, dt.date(2026, 12, 5))
        followups.append(
            Followup(
                customer_id=customer, step_id=s.id, level=level, kind=s.do, channel=s.channel,
                template=s.template, priority=s.priority, mandatory=s.mandatory,
                purpose=s.purpose, owner=owner, occurrence="2026-12", due_at=planned.due,
                expires_at=planned.expires, ruleset_hash=ruleset.hash,
            )
        )  # fmt: skip
    return insert_followups(store, followups, new_batch(), NOW)


# --- running and reporting ------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, list[tuple[float, int]]]:
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    ruleset = bench_rules(data)
    started = time.perf_counter()
    base = base_store(data, ruleset, args.customers)
    print(f"store ready in {time.perf_counter() - started:.1f} s: {base}", file=sys.stderr)
    work = data / "work.db"
    results: dict[str, list[tuple[float, int]]] = {}
    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "plan_recurring": lambda: whole(ruleset, base, work, args.statements),
        "again": lambda: again(ruleset, base, work),
        "set-based": lambda: set_based(ruleset, base, work),
        "executemany": lambda: executemany(ruleset, base, work),
        "per-customer": lambda: per_customer(ruleset, base, work, args.sample),
    }
    chosen = args.scenarios.split(",") if args.scenarios else list(scenarios)
    for run in range(args.runs):
        found: dict[str, Any] = {}
        for name in chosen:
            found.update(scenarios[name]())
        outcomes = found.pop("outcomes", None)
        load = os.getloadavg()[0]
        print(f"run {run + 1} (load {load:.2f}): {found} {outcomes or ''}", file=sys.stderr)
        found["load average (1 min)"] = (load, 0)
        for name, value in found.items():
            results.setdefault(name, []).append(value)
    return results


def table(results: dict[str, list[tuple[float, int]]]) -> str:
    lines = [
        "| scenario | follow-ups | seconds (median) | follow-ups/s | runs (s) |",
        "|---|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        median = statistics.median(s for s, _ in runs)
        count = runs[0][1]
        rate = f"{count / median:,.0f}" if count else "-"
        each = ", ".join(f"{s:.2f}" for s, _ in runs)
        lines.append(f"| {name} | {count:,} | {median:.2f} | {rate} | {each} |")
    if "set-based" in results and "+ policy" in results:
        pairs = zip(results["set-based"], results["+ policy"], strict=True)
        total = [plan[0] + policy[0] for plan, policy in pairs]
        lines.append(f"| set-based with policy | | {statistics.median(total):.2f} | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample", type=int, default=50_000)
    parser.add_argument("--data", default="/tmp/guanxi-plan-bench")
    parser.add_argument(
        "--statements", type=int, default=0, help="print plan_recurring's N costliest statements"
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated: plan_recurring, again, set-based, executemany, per-customer",
    )
    args = parser.parse_args()
    results = measure(args)
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print(table(results))


if __name__ == "__main__":
    main()
