"""The demo pipeline: demo data → store → classification → follow-ups, in one folder.

Follow-ups come from the events (calls after sales, complaint call-backs) and the recurring
steps of the coming month. The three months before hold the experiments' history (a holdout
and an A/B test with known effects, demo_outcomes), so the experiments report has results.

The demo's classification is its store's first, a baseline: its
`on_enter` steps act only with `initial: true` (none in the default rules welcomes anyone).

It runs what operations run every day, on reproducible demo customers, so a new user sees the
whole product from one command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from guanxi.engine.classify import RunReport, classify
from guanxi.engine.demo_data import DemoSummary, write_demo_data
from guanxi.engine.demo_outcomes import write_experiment_history
from guanxi.engine.ingest import LoadReport, load_customers, load_events
from guanxi.engine.plan.events import EventPlanReport, plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.report.experiments import Experiments, experiments
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row
from guanxi.engine.store.sqlite import SQLiteStore


@dataclass
class DemoReport:
    folder: Path
    data: DemoSummary
    customers: LoadReport
    classification: RunReport
    events: LoadReport
    planned: EventPlanReport
    followups: list[Row]  # all follow-ups by step, kind, channel and status
    workload: list[Row]  # upcoming tasks per relationship manager per day (busiest first)
    example: str | None  # a gold partner with follow-ups: a good first `guanxi explain`
    experiments: Experiments  # the months before: holdout and A/B results (demo_outcomes)


def run_demo(
    folder: Path, ruleset: RuleSet, customers: int, seed: int, now: dt.datetime
) -> DemoReport:
    """Write demo data into `folder`, load it into `folder`/guanxi.db and plan follow-ups."""
    today = now.astimezone(ruleset.calendar.zone).date()
    data = write_demo_data(folder, customers, seed, today)
    store = SQLiteStore(folder / "guanxi.db")
    try:
        loaded = load_customers(store, ruleset, folder / "customers.csv", now)
        classification = classify(store, ruleset, now, after=TransitionPlanner(store, ruleset, now))
        events = load_events(store, ruleset, folder / "events.jsonl", now)
        planned = plan_new_events(store, ruleset, now)
        write_experiment_history(store, ruleset, now, seed)
        plan_recurring(store, ruleset, now, _month_later(now), now)
        return DemoReport(
            folder,
            data,
            loaded,
            classification,
            events,
            planned,
            _followups(store),
            _workload(store, ruleset, now),
            _example(store),
            experiments(store, ruleset, now),
        )
    finally:
        store.close()


def _month_later(now: dt.datetime) -> dt.datetime:
    month = now.month % 12 + 1
    return now.replace(year=now.year + (now.month == 12), month=month, day=min(now.day, 28))


def _example(store: SQLiteStore) -> str | None:
    """A gold partner, with follow-ups and high value added where there is one: the bank's
    best kind of customer shows every decision (tier, gold, level, strategy) at work."""
    rows = store.execute(
        "SELECT a.customer_id FROM current_assignments a WHERE a.level = 'partner' AND a.gold"
        " ORDER BY EXISTS (SELECT 1 FROM followups f WHERE f.customer_id = a.customer_id) DESC,"
        " a.tier = 'high_value_added' DESC, a.customer_id LIMIT 1"
    )
    return str(rows[0]["customer_id"]) if rows else None


def _followups(store: SQLiteStore) -> list[Row]:
    return store.execute(
        "SELECT step_id, kind, channel, status, count(*) AS followups FROM followups"
        " GROUP BY step_id, kind, channel, status ORDER BY step_id, status, channel"
    )


def _workload(store: SQLiteStore, ruleset: RuleSet, now: dt.datetime) -> list[Row]:
    offset = now.astimezone(ruleset.calendar.zone).utcoffset() or dt.timedelta()
    hours = offset.total_seconds() / 3600
    return store.execute(
        "SELECT owner, date(due_at, :shift) AS day, count(*) AS tasks FROM followups"
        " WHERE kind = 'task' AND status = 'pending' AND due_at >= :now GROUP BY owner, day"
        " ORDER BY tasks DESC, owner, day LIMIT 10",
        {"shift": f"{hours:+.0f} hours", "now": iso(now)},
    )
