"""Transition steps: on_enter/on_leave a tier or level, per classification run, exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from guanxi.engine.classify import classify
from guanxi.engine.errors import GuanxiError
from guanxi.engine.plan.followups import new_batch
from guanxi.engine.plan.recurring import PlanReport
from guanxi.engine.plan.transitions import insert_transitions, plan_transitions
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
RUN = 7
# (customer, tier before → now, level before → now, level now if a later run changed it)
MOVES: list[tuple[str, tuple[str | None, str], tuple[str | None, str], str | None]] = [
    ("W1", ("high_value_added", "high_value_added"), ("proactive", "partner"), None),
    ("N1", (None, "high_value_added"), (None, "partner"), None),  # first assignment
    ("S1", ("valuable", "valuable"), ("proactive", "partner"), "proactive"),  # moved on since
    ("L1", ("valuable", "low_value"), ("responsible", "passive"), None),
    ("D1", ("valuable", "dormant"), ("responsible", "basic"), None),  # when: tier <> dormant
    ("V1", ("low_value", "valuable"), ("passive", "responsible"), None),  # entered, not left
]


def record_run(store: Store, ruleset: RuleSet, run_id: int, finished: str) -> None:
    store.execute(
        "INSERT INTO classification_runs (id, ruleset_hash, engine, started_at, finished_at,"
        " customers) VALUES (:id, :h, 'sqlite', :started, :finished, :customers)",
        {"id": run_id, "h": ruleset.hash, "started": NOW.isoformat(), "finished": finished,
         "customers": len(MOVES) + 1},
    )  # fmt: skip


def moved(store: Store, ruleset: RuleSet, run_id: int, customer: str, tiers: tuple[Any, Any],
          levels: tuple[Any, Any], level_now: str | None = None) -> None:  # fmt: skip
    """The customer agrees to marketing (the welcome visit and the retention call are) and
    is of the general strategy (one left to go, unprofitable, gets no retention call)."""
    store.upsert_customers([{"customer_id": customer, "name": "客户" + customer, "rm_id": "RM3",
                             "consent_marketing": True}])  # fmt: skip
    store.execute(
        "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level, to_level,"
        " at) VALUES (:run, :c, :ft, :tt, :fl, :tl, :at)",
        {"run": run_id, "c": customer, "ft": tiers[0], "tt": tiers[1], "fl": levels[0],
         "tl": levels[1], "at": NOW.isoformat()},
    )  # fmt: skip
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, :tier, :level, 'general', FALSE, :run, :h,"
        " :at) ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier,"
        " level = excluded.level",
        {"c": customer, "tier": tiers[1], "level": level_now or levels[1], "run": run_id,
         "h": ruleset.hash, "at": NOW.isoformat()},
    )  # fmt: skip


@pytest.fixture
def moves(store: Store, ruleset: RuleSet) -> Store:
    """Run 7 finished on Friday 27 Nov 2026 at 10:30 in Shanghai, with MOVES; run 6 moved R1
    into partner; run 5, the store's first, was the baseline."""
    record_run(store, ruleset, 5, "2026-11-13T02:30:00+00:00")
    record_run(store, ruleset, RUN, "2026-11-27T02:30:00+00:00")
    record_run(store, ruleset, 6, "2026-11-20T02:30:00+00:00")
    for customer, tiers, levels, level_now in MOVES:
        moved(store, ruleset, RUN, customer, tiers, levels, level_now)
    moved(store, ruleset, 6, "R1", ("high_value_added",) * 2, ("proactive", "partner"))
    return store


def plan(store: Store, ruleset: RuleSet, run_id: int = RUN) -> PlanReport:
    return insert_transitions(store, ruleset, run_id, NOW, new_batch())


def rows(store: Store) -> list[tuple[Any, ...]]:
    found = store.execute(
        "SELECT key, level, kind, channel, owner, occurrence, due_at, status FROM followups"
        " ORDER BY key"
    )
    return [tuple(row.values()) for row in found]


def test_entering_partner_and_leaving_valuable_plan_their_steps(
    moves: Store, ruleset: RuleSet
) -> None:
    report = plan(moves, ruleset)
    assert rows(moves) == [
        # Fri 10:30 + 1 business day at 10:00: Mon 30 Nov; + 2: Tue 1 Dec (02:00 UTC)
        ("partner_welcome_visit:N1:run-7", "partner", "task", "rm_task", "RM3", "run-7",
         "2026-12-01T02:00:00Z", "pending"),
        ("partner_welcome_visit:W1:run-7", "partner", "task", "rm_task", "RM3", "run-7",
         "2026-12-01T02:00:00Z", "pending"),
        ("retention_call:L1:run-7", "passive", "task", "rm_task", "RM3", "run-7",
         "2026-11-30T02:00:00Z", "pending"),
    ]  # fmt: skip
    assert [(s.step_id, s.occurrences, s.new) for s in report.steps] == [
        ("partner_welcome_visit", ["run-7"], 2),
        ("retention_call", ["run-7"], 1),
    ]


def test_planning_the_same_run_again_plans_nothing_new(moves: Store, ruleset: RuleSet) -> None:
    plan(moves, ruleset)
    before = rows(moves)
    again = plan(moves, ruleset)
    assert rows(moves) == before
    assert [(s.new, s.already_planned) for s in again.steps] == [(0, 2), (0, 1)]


def test_another_run_plans_only_its_own_transitions(moves: Store, ruleset: RuleSet) -> None:
    plan(moves, ruleset, run_id=6)
    assert [row[0] for row in rows(moves)] == ["partner_welcome_visit:R1:run-6"]


def test_an_unknown_run_is_an_error(store: Store, ruleset: RuleSet) -> None:
    with pytest.raises(GuanxiError, match="there is no classification run 99"):
        plan(store, ruleset, run_id=99)


def test_classification_runs_feed_transition_steps(store: Store, ruleset: RuleSet) -> None:
    """The largest customer is gold, so a partner from the first run on: the store's
    baseline, which welcomes no one; V later drops out of 'valuable' when its deposits go,
    once a second run confirms it (the default rules hold 2 runs)."""
    people = [("V", 600_000.0, 1_000.0), ("A", 1_000.0, 100.0), ("B", 1_000.0, 200.0),
              ("C", 1_000.0, 300.0), ("G", 1_000.0, 90_000.0)]  # fmt: skip
    store.upsert_customers(
        [{"customer_id": c, "name": c, "rm_id": "RM9", "balance": balance,
          "monthly_txn_count": 20,
          "annual_contribution": contribution, "cost_to_serve": 100.0, "products_held": 1,
          "last_txn_date": "2026-11-20"} for c, balance, contribution in people]
    )  # fmt: skip
    first = classify(store, ruleset, NOW)
    assert rows_after(store, ruleset, first.run_id) == []
    store.upsert_customers([{"customer_id": "V", "balance": 1_000.0}])
    second = classify(store, ruleset, NOW + dt.timedelta(days=1))
    assert rows_after(store, ruleset, second.run_id) == []
    third = classify(store, ruleset, NOW + dt.timedelta(days=2))
    assert [row[0] for row in rows_after(store, ruleset, third.run_id)] == [
        "retention_call:V:run-3"
    ]


def rows_after(store: Store, ruleset: RuleSet, run_id: int) -> list[tuple[Any, ...]]:
    plan(store, ruleset, run_id)
    return rows(store)


def test_plan_transitions_applies_the_contact_policy_to_its_batch(
    moves: Store, ruleset: RuleSet
) -> None:
    report = plan_transitions(moves, ruleset, RUN, NOW)
    assert report.policy is not None
    planned = moves.execute("SELECT key, planned_due_at, batch FROM followups ORDER BY key")
    assert [(r["key"], r["planned_due_at"], r["batch"]) for r in planned] == [
        ("partner_welcome_visit:N1:run-7", "2026-12-01T02:00:00Z", report.batch),
        ("partner_welcome_visit:W1:run-7", "2026-12-01T02:00:00Z", report.batch),
        ("retention_call:L1:run-7", "2026-11-30T02:00:00Z", report.batch),
    ]
    assert sum(sum(s.outcomes.values()) for s in report.steps) == 3
