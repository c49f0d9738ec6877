"""Strategies and gold as on_enter/on_leave states, lists of states, on_fall/on_rise by a
ladder's `order:`, and the cancelling of follow-ups whose move a later run undid."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.plan.followups import new_batch
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.plan.transitions import TransitionPlanner, TransitionReport, insert_transitions
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

pytestmark = pytest.mark.every_store

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
EXTRA_STEPS = """
    - id: growth_wealth_call
      on_enter: growth
      after: 1 business day
      do: task
      channel: rm_task
      template: retention_call
    - id: growth_wealth_note
      on_enter: growth
      keep_when_left: true
      do: task
      channel: rm_task
      template: retention_call
    - id: growth_lost
      on_leave: growth
      do: task
      channel: rm_task
      template: retention_call
    - id: gold_or_partner_gift
      on_enter: [gold, partner]
      do: task
      channel: rm_task
      template: retention_call
    - id: gold_farewell
      on_leave: gold
      do: task
      channel: rm_task
      template: retention_call
    - id: level_rise_note
      on_rise: level
      do: task
      channel: rm_task
      template: retention_call
"""
State = tuple[str | None, str | None, str | None, bool | None]  # tier, level, strategy, gold


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default project with steps on strategies, gold, a list and a rise."""
    folder = tmp_path_factory.mktemp("triggers") / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*"))
    playbooks = folder / "playbooks.yaml"
    playbooks.write_text(playbooks.read_text("utf-8").rstrip("\n") + EXTRA_STEPS, "utf-8")
    return load_ruleset(folder)


def run(store: Store, rules: RuleSet, run_id: int, moves: dict[str, tuple[State, State]]) -> None:
    """Classification run `run_id` (a week apart, none a baseline) moved each customer."""
    finished = (NOW + dt.timedelta(days=7 * run_id)).isoformat()
    store.execute(
        "INSERT INTO classification_runs (id, ruleset_hash, engine, started_at, finished_at,"
        " customers) VALUES (:id, :h, 'sqlite', :at, :at, 9)",
        {"id": run_id, "h": rules.hash, "at": finished},
    )
    for customer, (was, now) in moves.items():
        store.upsert_customers([{"customer_id": customer, "name": customer, "rm_id": "RM3"}])
        values = {"run": run_id, "c": customer, "at": finished, "h": rules.hash}
        values.update({f"f{i}": v for i, v in enumerate(was)})
        values.update({f"t{i}": v for i, v in enumerate(now)})
        store.execute(
            "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, from_level,"
            " to_level, from_strategy, to_strategy, from_gold, to_gold, at) VALUES (:run, :c,"
            " :f0, :t0, :f1, :t1, :f2, :t2, :f3, :t3, :at)",
            values,
        )
        store.execute(
            "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
            " ruleset_hash, assigned_at) VALUES (:c, :t0, :t1, :t2, :t3, :run, :h, :at)"
            " ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier,"
            " level = excluded.level, strategy = excluded.strategy, gold = excluded.gold",
            values,
        )


def plan(store: Store, rules: RuleSet, run_id: int) -> TransitionReport:
    return insert_transitions(
        store, rules, run_id, NOW + dt.timedelta(days=7 * run_id), new_batch()
    )


def planned(store: Store, run_id: int) -> set[tuple[str, str]]:
    found = store.execute(
        "SELECT step_id, customer_id FROM followups WHERE occurrence = :o",
        {"o": f"run-{run_id}"},
    )
    return {(r["step_id"], r["customer_id"]) for r in found}


def statuses(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    found = store.execute("SELECT step_id, customer_id, status, policy, reason FROM followups")
    return {(r["step_id"], r["customer_id"]): (r["status"], r["policy"], r["reason"])
            for r in found}  # fmt: skip


GROWTH_VALUABLE: State = ("valuable", "responsible", "growth", False)
GENERAL_LOW: State = ("low_value", "passive", "general", False)
GOLD_PARTNER: State = ("high_value_added", "partner", "gold_package", True)
PROACTIVE: State = ("high_value_added", "proactive", "growth", False)
NOTHING: State = (None, None, None, None)


def test_strategies_gold_and_lists_plan_their_steps(store: Store, rules: RuleSet) -> None:
    run(store, rules, 1, {"A": (NOTHING, GENERAL_LOW)})
    run(store, rules, 2, {
        "A": (GENERAL_LOW, GROWTH_VALUABLE),  # enters growth
        "B": (GROWTH_VALUABLE, GENERAL_LOW),  # leaves growth
        "G": (PROACTIVE, ("high_value_added", "proactive", "growth", True)),  # becomes gold
        "H": (("high_value_added", "proactive", "growth", True), PROACTIVE),  # no longer gold
        "N": (NOTHING, GOLD_PARTNER),  # new: gold and partner at once, one gift
    })  # fmt: skip
    plan(store, rules, 2)
    assert planned(store, 2) == {
        ("growth_wealth_call", "A"), ("growth_wealth_note", "A"), ("level_rise_note", "A"),
        ("growth_lost", "B"), ("retention_call", "B"),  # B fell from valuable to low value
        ("gold_or_partner_gift", "G"),
        ("gold_farewell", "H"),
        ("gold_or_partner_gift", "N"), ("partner_welcome_visit", "N"),
    }  # fmt: skip


def test_falls_and_rises_follow_the_order_and_a_first_state_is_neither(
    store: Store, rules: RuleSet
) -> None:
    run(store, rules, 1, {"X": (NOTHING, GENERAL_LOW)})
    run(store, rules, 2, {
        "F": (PROACTIVE, GROWTH_VALUABLE),  # tier and level down: a fall, not a rise
        "R": (GENERAL_LOW, GROWTH_VALUABLE),  # up both
        "D": (GROWTH_VALUABLE, ("dormant", "basic", "unprofitable", False)),  # when: not dormant
        "N": (NOTHING, GOLD_PARTNER),  # first state: neither
        "S": (GENERAL_LOW, ("low_value", "passive", "unprofitable", False)),  # strategy only
    })  # fmt: skip
    plan(store, rules, 2)
    moves = {s for s in planned(store, 2) if s[0] in ("retention_call", "level_rise_note")}
    assert moves == {("retention_call", "F"), ("level_rise_note", "R")}


def test_a_later_run_cancels_what_its_moves_undid(store: Store, rules: RuleSet) -> None:
    run(store, rules, 1, {"X": (NOTHING, GENERAL_LOW)})
    run(store, rules, 2, {
        "W": (PROACTIVE, ("high_value_added", "partner", "growth", False)),  # enters partner
        "S": (PROACTIVE, ("high_value_added", "partner", "growth", False)),  # … and is visited
        "M": (PROACTIVE, GOLD_PARTNER),  # enters gold and partner: one gift
        "A": (GENERAL_LOW, GROWTH_VALUABLE),  # enters growth
        "B": (GROWTH_VALUABLE, GENERAL_LOW),  # leaves growth
    })  # fmt: skip
    plan(store, rules, 2)
    store.execute(
        "UPDATE followups SET status = 'sent' WHERE customer_id = 'S'"
        " AND step_id = 'partner_welcome_visit'"
    )
    run(store, rules, 3, {
        "W": (("high_value_added", "partner", "growth", False), PROACTIVE),
        "S": (("high_value_added", "partner", "growth", False), PROACTIVE),
        "M": (GOLD_PARTNER, ("high_value_added", "proactive", "gold_package", True)),  # gold
        "A": (GROWTH_VALUABLE, GENERAL_LOW),
        "B": (GENERAL_LOW, GROWTH_VALUABLE),
    })  # fmt: skip
    report = plan(store, rules, 3)
    found = statuses(store)
    left = "the customer left {} before it was sent"
    assert found[("partner_welcome_visit", "W")] == (
        "cancelled", "undone", left.format("partner (伙伴型)"))  # fmt: skip
    assert found[("partner_welcome_visit", "S")][0] == "sent"  # too late to cancel
    assert found[("partner_welcome_visit", "M")][0] == "cancelled"
    assert found[("gold_or_partner_gift", "M")][0] == "pending"  # still gold
    assert found[("growth_wealth_call", "A")] == (
        "cancelled", "undone", left.format("growth (成长型客户:财富管理)"))  # fmt: skip
    assert found[("growth_wealth_note", "A")][0] == "pending"  # keep_when_left: true
    assert found[("growth_lost", "B")] == (
        "cancelled", "undone",
        "the customer is back in growth (成长型客户:财富管理) before it was sent",
    )  # fmt: skip
    assert found[("gold_or_partner_gift", "W")][0] == "cancelled"  # neither gold nor partner
    assert report.cancelled == 6
    decisions = store.execute(
        "SELECT f.step_id, f.customer_id, d.status, d.policy FROM followup_decisions d"
        " JOIN followups f ON f.id = d.followup_id ORDER BY d.id"
    )
    assert {(d["step_id"], d["customer_id"], d["status"], d["policy"]) for d in decisions} == {
        ("partner_welcome_visit", "W", "cancelled", "undone"),
        ("partner_welcome_visit", "M", "cancelled", "undone"),
        ("growth_wealth_call", "A", "cancelled", "undone"),
        ("growth_lost", "B", "cancelled", "undone"),
        ("gold_or_partner_gift", "W", "cancelled", "undone"),
        ("gold_or_partner_gift", "S", "cancelled", "undone"),
    }
    plan(store, rules, 3)  # planning the run again cancels nothing more
    assert len(store.execute("SELECT id FROM followup_decisions")) == 6


def test_a_classification_records_becoming_gold_as_a_move(store: Store, rules: RuleSet) -> None:
    """Gold is no ladder and does not hold: the run that makes G gold records the move (and
    P19's, pushed out), `on_enter: [gold, partner]` and `on_leave: gold` plan for them
    (their levels are still held)."""
    people = [(f"P{i:02}", 100.0 * i) for i in range(1, 21)] + [("G", 50.0)]
    store.upsert_customers(
        [{"customer_id": c, "name": c, "rm_id": "RM9", "balance": 1_000.0,
          "annual_contribution": contribution, "cost_to_serve": 100.0, "products_held": 1,
          "last_txn_date": "2026-11-20"} for c, contribution in people]
    )  # fmt: skip
    classify(store, rules, NOW)
    store.upsert_customers([{"customer_id": "G", "annual_contribution": 90_000.0}])
    planner = TransitionPlanner(store, rules, NOW + dt.timedelta(days=1))
    second = classify(store, rules, NOW + dt.timedelta(days=1), after=planner)
    moves = store.execute(
        "SELECT customer_id, from_gold, to_gold FROM transitions WHERE run_id = :run"
        " ORDER BY customer_id",
        {"run": second.run_id},
    )
    assert [(m["customer_id"], bool(m["from_gold"]), bool(m["to_gold"])) for m in moves] == [
        ("G", False, True),
        ("P19", True, False),  # the top two of 21 are gold: G pushed P19 out
    ]
    assert planned(store, second.run_id) == {
        ("gold_or_partner_gift", "G"),
        ("gold_farewell", "P19"),
    }


def test_a_simulation_cancels_the_visits_its_rules_undo(tmp_path: Path, ruleset: RuleSet) -> None:
    """An analyst tries rules without partners on a live store: the welcome visit pending for
    the store's new partner is cancelled once the simulated nights confirm the move."""
    db = tmp_path / "guanxi.db"
    live = SQLiteStore(db)
    live.prepare(ruleset.schema)
    people = [(f"P{i:02}", 100.0 * i) for i in range(1, 21)] + [("W", 50.0)]
    live.upsert_customers(
        [{"customer_id": c, "name": c, "rm_id": "RM9", "balance": 1_000.0,
          "annual_contribution": contribution, "cost_to_serve": 100.0, "products_held": 1,
          "last_txn_date": "2026-11-20"} for c, contribution in people]
    )  # fmt: skip
    monday = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
    classify(live, ruleset, monday - dt.timedelta(days=2))  # the baseline
    # gold and valuable (large deposits, frequent transactions), so a partner; and agreeing to
    # marketing, which the welcome visit is
    rise = {"annual_contribution": 90_000.0, "balance": 500_000.0, "monthly_txn_count": 20,
            "consent_marketing": True}  # fmt: skip
    live.upsert_customers([{"customer_id": "W", **rise}])
    for night in (1, 0):  # the hold: two nights confirm the move
        now = monday - dt.timedelta(days=night)
        classify(live, ruleset, now, after=TransitionPlanner(live, ruleset, now))
    visits = "SELECT status FROM followups WHERE step_id = 'partner_welcome_visit'"
    assert [r["status"] for r in live.execute(visits)] == ["pending"]  # due Wed 2 Dec 10:00
    live.close()
    candidate = tmp_path / "candidate"
    shutil.copytree(RULES, candidate, ignore=shutil.ignore_patterns("__pycache__", "*.db*"))
    levels = candidate / "levels.yaml"
    partner = "(tier = 'high_value_added' OR (gold AND tier = 'valuable')) AND value_ratio >= 10"
    assert partner in levels.read_text("utf-8")
    levels.write_text(levels.read_text("utf-8").replace(partner, "FALSE"), "utf-8")
    args = ["simulate", "--rules", str(candidate), "--store", str(db), "--start", "2026-12-01"]
    result = CliRunner().invoke(cli, [*args, "--days", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rules"]["counts"]["cancelled_undone"] == 1


TIERS = ("dormant", "low_value", "valuable", "high_value_added")  # tiers.yaml's order
LEVELS = ("basic", "passive", "responsible", "proactive", "partner")  # levels.yaml's order
maybe_tier, maybe_level = st.sampled_from((None, *TIERS)), st.sampled_from((None, *LEVELS))
a_move = st.tuples(maybe_tier, st.sampled_from(TIERS), maybe_level, st.sampled_from(LEVELS))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=st.lists(a_move, min_size=1, max_size=8))
def test_falls_and_rises_are_the_moves_down_and_up_the_order(
    store: Store, rules: RuleSet, moves: list[tuple[Any, str, Any, str]]
) -> None:
    """On either store: a retention call for each fall of the tier but into dormant, a note
    for each rise of the level; nothing for a first tier or level. The customers are of the
    general strategy: one left to go (unprofitable) gets no retention call."""
    for table in ("followup_decisions", "followups", "transitions", "assignments",
                  "classification_runs"):  # fmt: skip
        store.execute(f"DELETE FROM {table}")
    run(store, rules, 1, {"X": (NOTHING, GENERAL_LOW)})
    run(store, rules, 2, {
        f"C{i}": ((tier_was, level_was, "general", False), (tier, level, "general", False))
        for i, (tier_was, tier, level_was, level) in enumerate(moves)
    })  # fmt: skip
    plan(store, rules, 2)
    rank = {name: i for order in (TIERS, LEVELS) for i, name in enumerate(order)}
    fell = {f"C{i}" for i, (was, now, _w, _n) in enumerate(moves)
            if was is not None and rank[now] < rank[was] and now != "dormant"}  # fmt: skip
    rose = {f"C{i}" for i, (_w, _n, was, now) in enumerate(moves)
            if was is not None and rank[now] > rank[was]}  # fmt: skip
    found = planned(store, 2)
    assert {c for step, c in found if step == "retention_call"} == fell
    assert {c for step, c in found if step == "level_rise_note"} == rose


def test_customers_a_run_moves_into_a_level_get_its_occurrences_planned_before(
    store: Store, rules: RuleSet
) -> None:
    """The quarter's check-in call of 15 January was planned on 6 December for the proactive
    customers of then (A); B, who becomes proactive on the 12th, and C, new that night, get it
    too, with the key planning gives it; a customer who did not move gets nothing new, and
    planning the window again nothing twice. The store's first run (a baseline) plans none."""
    step, quarter = "proactive_check_in_call", "2027-Q1"
    consent = [{"customer_id": c, "consent_marketing": True} for c in "ABCE"]
    run(store, rules, 1, {"A": (NOTHING, PROACTIVE), "B": (NOTHING, GENERAL_LOW),
                          "E": (NOTHING, GENERAL_LOW)})  # fmt: skip
    store.upsert_customers(consent)
    first = plan(store, rules, 1)
    assert first.baseline and [s for s in first.steps if s.step_id == step] == []
    zone = rules.calendar.zone
    window = (dt.datetime(2026, 12, 6, tzinfo=zone), dt.datetime(2027, 1, 31, tzinfo=zone))
    planning = plan_recurring(store, rules, *window, window[0])
    assert [(s.step_id, s.new) for s in planning.steps if s.step_id == step] == [(step, 1)]
    run(store, rules, 2, {"B": (GENERAL_LOW, PROACTIVE), "C": (NOTHING, PROACTIVE)})
    store.upsert_customers(consent)
    second = plan(store, rules, 2)
    [moved] = [s for s in second.steps if s.step_id == step]
    assert (moved.occurrences, moved.new, moved.already_planned) == ([quarter], 2, 1)
    found = store.execute(
        "SELECT customer_id, key, status FROM followups WHERE step_id = :s", {"s": step}
    )
    assert sorted((r["customer_id"], r["key"], r["status"]) for r in found) == [
        (c, f"{step}:{c}:{quarter}", "pending") for c in "ABC"
    ]
    again = plan_recurring(store, rules, *window, window[0])
    assert sum(s.new for s in again.steps) == 0
