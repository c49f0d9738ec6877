"""The whole pipeline on SQLite and on PostgreSQL gives the same results, row for row.

Demo customers and their events go through load, classification, transitions, event
planning, recurring planning, the contact policy and dispatch on each store; every
assignment, transition, follow-up (status, channel, times, policy, reason), decision and
delivery, and the report on them, must agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path
from typing import Any

from guanxi.adapters.registry import load_adapter
from guanxi.engine.classify import classify
from guanxi.engine.daemon.delivery import channels_of
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.plan.transitions import plan_transitions
from guanxi.engine.report import ReportRequest, build_report
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store, open_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
MONTH_LATER = dt.datetime(2026, 12, 28, 2, 0, tzinfo=dt.UTC)


def pipeline(store: Store, ruleset: RuleSet, data: Path) -> dict[str, Any]:
    """Run every step; what the store then holds, in a form both stores give alike."""
    load_customers(store, ruleset, data / "customers.csv", NOW)
    run = classify(store, ruleset, NOW)
    plan_transitions(store, ruleset, run.run_id, NOW)
    load_events(store, ruleset, data / "events.jsonl", NOW)
    plan_new_events(store, ruleset, NOW)
    plan_recurring(store, ruleset, NOW, MONTH_LATER, NOW)
    later = classify(store, ruleset, NOW + dt.timedelta(days=40))  # some customers move
    plan_transitions(store, ruleset, later.run_id, NOW + dt.timedelta(days=40))
    deliver_due(store, ruleset, NOW + dt.timedelta(days=2))
    return {
        "assignments": {
            r["customer_id"]: (r["tier"], r["level"], r["strategy"], bool(r["gold"]))
            for r in store.execute("SELECT * FROM current_assignments")
        },
        "transitions": Counter(
            tuple(r.values())
            for r in store.execute(
                "SELECT run_id, customer_id, from_tier, to_tier, from_level, to_level,"
                " from_strategy, to_strategy, at FROM transitions"
            )
        ),
        "followups": {
            r["key"]: tuple(r.values())
            for r in store.execute(
                "SELECT key, customer_id, level, kind, channel, owner, planned_due_at, due_at,"
                " expires_at, status, policy, reason, payload FROM followups"
            )
        },
        "decisions": Counter(
            tuple(r.values())
            for r in store.execute(
                "SELECT f.key, d.at, d.status, d.policy, d.reason FROM followup_decisions d"
                " JOIN followups f ON f.id = d.followup_id"
            )
        ),
        "events": {
            r["id"]: r["planned_at"] for r in store.execute("SELECT id, planned_at FROM events")
        },
        "quarantined": store.execute("SELECT count(*) AS n FROM quarantine")[0]["n"],
        "deliveries": Counter(
            tuple(r.values())
            for r in store.execute("SELECT key, attempt, at, adapter, outcome FROM deliveries")
        ),
        "report": rounded(build_report(store, ruleset, ReportRequest()).to_dict()),
    }


def rounded(value: Any) -> Any:
    """`value` with every float to 9 significant digits: the stores add up in their own order."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def deliver_due(store: Store, ruleset: RuleSet, now: dt.datetime) -> None:
    """Dispatch everything due at `now` to a recording adapter, pass after pass."""
    recording = load_adapter("recording", clock=lambda: now)
    adapters = dict.fromkeys(channels_of(store, ruleset), recording)
    while dispatch_once(store, ruleset, adapters, now, rng=random.Random(1)).claimed:
        pass


def test_the_pipeline_gives_the_same_rows_on_both_stores(
    tmp_path: Path, postgres_url: str, ruleset: RuleSet
) -> None:
    data = tmp_path / "data"
    write_demo_data(data, 300, 7, NOW.date())
    results = {}
    for kind, location in (("sqlite", str(tmp_path / "guanxi.db")), ("pg", postgres_url)):
        store = open_store(location)
        try:
            results[kind] = pipeline(store, ruleset, data)
        finally:
            store.close()
    sqlite, pg = results["sqlite"], results["pg"]
    assert len(sqlite["assignments"]) > 250 and sum(sqlite["transitions"].values()) > 250
    statuses = Counter(row[9] for row in sqlite["followups"].values())
    assert statuses["pending"] > 0 and statuses["suppressed"] > 0, statuses  # the policy had work
    assert statuses["sent"] > 0  # and dispatch
    for part in sqlite:
        assert sqlite[part] == pg[part], part
