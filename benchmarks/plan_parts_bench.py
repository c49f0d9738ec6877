"""Where the recurring planner's main statement spends its time, part by part, on SQLite.

    python benchmarks/plan_parts_bench.py [--customers N] [--data DIR] [--runs N]

On plan_bench's store (built there the first time, in --data), the month's INSERT … SELECT of
plan_recurring taken apart, each part in a transaction rolled back on one copy of the store,
medians of --runs, wall and CPU seconds:

  choosing   the customers and their fields (customers joined with their assignment)
  + channel  … and the channel chosen for each (the consent ledger read for it)
  + records  … and the service and marketing consent records in force
  + values   … and every column of the row (the consent verdicts, the key)
  write …    the rows, computed beforehand into a plain table (untimed), inserted into
             `followups` with every index, without one secondary index, without any, and with
             the four unconditional ones partial (`WHERE status = 'pending'`): what indexing
             only the rows that stay pending would save when writing (not what the readers
             of those indexes would lose); and with the refused rows (not pending) in a
             narrow table of their own, indexed by key alone, the pending ones in `followups`
             with every index: what keeping refusals apart would save when writing
  decisions  the consent verdicts written while inserting, kept in `followup_decisions`:
             through the occurrence's index (as before) and by the insert's id range from the
             table (as now), alternated run by run (`--only decisions`: this part alone)

and the status mix of the month's rows (the consent verdicts decided while inserting).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plan_bench import NOW, STEP, base_store, bench_rules, december, occurrence, remove_store

from guanxi.engine.classify.run import tuned
from guanxi.engine.plan.followups import COLUMNS
from guanxi.engine.plan.recurring import Scope, _Selection, occurrences, period_label
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore

SECONDARY = (
    "followups_due",
    "followups_customer",
    "followups_batch",
    "followups_occurrence",
    "followups_queue",
)
UNCONDITIONAL = SECONDARY[:4]  # followups_queue is already partial (pending only)
# what a refused follow-up needs to be explained: whose, which step and occurrence, why
NARROW_COLUMNS = (
    "key", "customer_id", "step_id", "occurrence", "due_at", "status", "policy", "reason",
    "batch", "created_at",
)  # fmt: skip


def selection(ruleset: RuleSet) -> _Selection:
    """The SQL plan_recurring runs for the month's one occurrence of the bench's step."""
    step = next(s for s in ruleset.steps if s.id == STEP)
    assert step.schedule is not None
    zone = ruleset.calendar.zone
    [moment] = occurrences(step.id, step.schedule, zone, *december(ruleset))
    local = moment.astimezone(zone)
    label = period_label(step.schedule.period, local)
    planned = occurrence(ruleset, step, label, moment, local.date())
    return _Selection(ruleset, planned, "sqlite", Scope(), consent=True)


class Parts:
    """Each part timed in its own transaction, rolled back, on one copy of the store."""

    def __init__(self, store: SQLiteStore, query: _Selection, runs: int) -> None:
        self.store, self.query, self.runs = store, query, runs
        self.db = store.db.conn
        self.params = query.params("bench", NOW)
        self.rows = f"SELECT {query.values()} FROM {query.source}"
        self.named = f"WITH r ({', '.join(COLUMNS)}) AS ({self.rows}) SELECT * FROM r"

    def timed(
        self, sql: str | tuple[str, ...], prepare: Callable[[], None] = lambda: None
    ) -> tuple[float, float]:
        """Median wall and CPU seconds of `sql` (one statement or several) after `prepare`,
        both rolled back."""
        walls, cpus = [], []
        for _ in range(self.runs):
            with tuned(self.store):
                self.db.execute("BEGIN")
                prepare()
                wall, cpu = time.perf_counter(), time.process_time()
                for statement in (sql,) if isinstance(sql, str) else sql:
                    self.db.execute(statement, self.params).fetchall()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                self.db.execute("ROLLBACK")
        return statistics.median(walls), statistics.median(cpus)

    def source(self) -> dict[str, tuple[float, float]]:
        query, fence = self.query, "LIMIT -1 OFFSET 0"
        chosen = f"(SELECT x.*, {query.channel()} AS _guanxi_channel FROM ({query.profiles()})"
        chosen += f" AS x WHERE TRUE {fence}) AS x"
        records = f"(SELECT x.*, {query.in_force()} FROM {chosen} {fence}) AS x"
        read = "coalesce(length(x._guanxi_service), 0) + coalesce(length(x._guanxi_marketing), 0)"
        return {
            "choosing": self.timed(
                "SELECT sum(length(x.customer_id) + length(x.level))"
                f" FROM ({query.profiles()}) AS x"
            ),
            "+ channel": self.timed(f"SELECT sum(length(x._guanxi_channel)) FROM {chosen}"),
            "+ records": self.timed(f"SELECT sum({read}) FROM {records}"),
            "+ values": self.timed(f"SELECT count(*) FROM ({self.rows} {fence})"),
        }

    def writes(self) -> dict[str, tuple[float, float]]:
        insert = f"INSERT INTO followups ({', '.join(COLUMNS)}) SELECT * FROM planned_rows"
        insert += " WHERE TRUE ON CONFLICT (key) DO NOTHING"
        found = {"write, every index": self.timed(insert, self._rows())}
        for name in SECONDARY:
            found[f"write, without {name}"] = self.timed(insert, self._rows(drop=[name]))
        found["write, no secondary index"] = self.timed(insert, self._rows(drop=SECONDARY))
        partial = self._rows(drop=UNCONDITIONAL, create=self._partial())
        found["write, the four unconditional ones partial"] = self.timed(insert, partial)
        found["write, refused rows narrow and apart"] = self.timed(self._apart(), self._narrow())
        return found

    def decisions(self) -> dict[str, tuple[float, float]]:
        """The suppressed rows' decisions, read through the occurrence's index or by id."""
        insert = "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        insert += " SELECT id, :now, status, policy, reason FROM followups WHERE "
        same = "step_id = :step AND occurrence = :occurrence AND batch = :batch"
        ways = {
            "decisions, through the occurrence's index": f"{same} AND status = 'suppressed'",
            "decisions, by id range": "id > 0 AND +"
            + same.replace(" AND ", " AND +")
            + " AND +status = 'suppressed'",
        }
        runs, self.runs = self.runs, 1
        columns = ", ".join(COLUMNS)
        rows = self._rows()

        def prepare() -> None:
            rows()
            self.db.execute(f"INSERT INTO followups ({columns}) SELECT * FROM planned_rows")

        found: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(runs):
            for name, where in ways.items():
                found[name].append(self.timed(f"{insert}{where} ORDER BY id", prepare))
        self.runs = runs
        return {
            name: (statistics.median(w for w, _ in each), statistics.median(c for _, c in each))
            for name, each in found.items()
        }

    def _apart(self) -> tuple[str, ...]:
        """The pending rows into `followups`, the refused ones into NARROW."""
        columns = ", ".join(NARROW_COLUMNS)
        pending = f"INSERT INTO followups ({', '.join(COLUMNS)}) SELECT * FROM planned_rows"
        return (
            f"{pending} WHERE status = 'pending' ON CONFLICT (key) DO NOTHING",
            f"INSERT INTO refused_rows ({columns}) SELECT {columns} FROM planned_rows"
            " WHERE status <> 'pending' ON CONFLICT (key) DO NOTHING",
        )

    def _narrow(self) -> Callable[[], None]:
        rows = self._rows()

        def prepare() -> None:
            rows()
            columns = ", ".join(f"{name} TEXT" for name in NARROW_COLUMNS[1:])
            self.db.execute(
                "CREATE TABLE refused_rows (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
                f" {columns})"
            )

        return prepare

    def _rows(self, drop: Any = (), create: Any = ()) -> Callable[[], None]:
        def prepare() -> None:
            self.db.execute(f"CREATE TABLE planned_rows AS {self.named}", self.params)
            for name in drop:
                self.db.execute(f"DROP INDEX {name}")
            for sql in create:
                self.db.execute(sql)

        return prepare

    def _partial(self) -> list[str]:
        listed = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'followups'"
        indexes = dict(self.db.execute(listed).fetchall())
        return [f"{indexes[name]} WHERE status = 'pending'" for name in UNCONDITIONAL]

    def statuses(self) -> dict[str, int]:
        with tuned(self.store):
            self.db.execute("BEGIN")
            rows = self.db.execute(
                f"SELECT status, coalesce(policy, '') AS policy, count(*) FROM ({self.named})"
                " GROUP BY 1, 2 ORDER BY 1, 2",
                self.params,
            ).fetchall()
            self.db.execute("ROLLBACK")
        return {f"{status} {policy}".strip(): n for status, policy, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data", default="/tmp/guanxi-plan-bench")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["decisions"], help="time this part alone")
    args = parser.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    ruleset = bench_rules(data)
    base = base_store(data, ruleset, args.customers)
    work = data / "parts.db"
    shutil.copyfile(base, work)
    store = SQLiteStore(work)
    store.db.conn.isolation_level = None  # the transactions are this script's
    try:
        parts = Parts(store, selection(ruleset), args.runs)
        print("| part | wall s | CPU s |\n|---|---:|---:|")
        if args.only == "decisions":
            for name, (wall, cpu) in parts.decisions().items():
                print(f"| {name} | {wall:.2f} | {cpu:.2f} | load {os.getloadavg()[0]:.1f}")
            return
        mix = parts.statuses()
        every = {**parts.source(), **parts.writes(), **parts.decisions()}
        for name, (wall, cpu) in every.items():
            print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
        total = sum(mix.values())
        print("\n| status of the month's rows | rows | share |\n|---|---:|---:|")
        for name, count in mix.items():
            print(f"| {name} | {count:,} | {count / total:.0%} |")
    finally:
        store.close()
        remove_store(work)


if __name__ == "__main__":
    main()
