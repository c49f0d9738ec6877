"""Experiments: holdout membership is stable and its share as declared, held-out follow-ups are
planned but never sent and count against no cap, variants split by weight."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.adapters.registry import load_adapter
from guanxi.engine.demo_outcomes import TRUE_RATES, write_experiment_history
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.experiments import VARIANT_SALT, member
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.report.experiments import Arm, experiments, uplift
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import bucket_sql

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
DECEMBER = (dt.datetime(2026, 11, 28, tzinfo=dt.UTC), dt.datetime(2026, 12, 28, tzinfo=dt.UTC))
CUSTOMERS = 2000
RULES = Path(__file__).parent.parent / "rules"


@settings(max_examples=6, deadline=None)
@given(
    name=st.text("abcdefghij_", min_size=1, max_size=12),
    share=st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]),
)
def test_a_holdout_keeps_its_share_within_a_point_on_100k_customers(
    name: str, share: float
) -> None:
    held = sum(member(name, f"C{n:07d}", share) for n in range(100_000))
    assert abs(held / 100_000 - share) <= 0.01


@pytest.mark.every_store
def test_the_store_draws_the_same_members_as_python(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([{"customer_id": f"C{n:05d}"} for n in range(500)])
    drawn = bucket_sql("CAST(:name AS TEXT) || ':' || customer_id", store.dialect)
    rows = store.execute(f"SELECT customer_id FROM customers WHERE {drawn} < 0.3", {"name": "news"})
    expected = {f"C{n:05d}" for n in range(500) if member("news", f"C{n:05d}", 0.3)}
    assert {row["customer_id"] for row in rows} == expected
    assert 100 < len(expected) < 200


def _customers(store: Store, ruleset: RuleSet) -> None:
    """Proactive customers reachable by app (product news), half of them growth customers
    (wealth-service variants)."""
    store.upsert_customers(
        {
            "customer_id": f"C{n:05d}",
            "name": f"客户{n}",
            "kind": "personal",
            "rm_id": "RM1",
            "consent_marketing": True,
            "consent_app": True,
            "preferred_channel": "app",
            "do_not_contact": False,
        }
        for n in range(CUSTOMERS)
    )
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) SELECT customer_id, 'valuable', 'proactive',"
        " CASE WHEN substr(customer_id, 6, 1) IN ('0', '2', '4', '6', '8') THEN 'growth' END,"
        " FALSE, 1, :h, :at FROM customers",
        {"h": ruleset.hash, "at": NOW.isoformat()},
    )


def _followups(store: Store, step: str) -> list[dict[str, Any]]:
    return store.execute(
        "SELECT customer_id, status, arm, variant, template, experiment, policy FROM followups"
        " WHERE step_id = :step ORDER BY customer_id",
        {"step": step},
    )


@pytest.mark.every_store
def test_held_out_follow_ups_are_planned_stable_and_never_sent(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    _customers(store, ruleset)
    plan_recurring(store, ruleset, *DECEMBER, NOW, only=["proactive_product_news"])
    news = _followups(store, "proactive_product_news")
    held = [f for f in news if f["arm"] == "held_out"]
    assert len(news) == CUSTOMERS
    assert {f["customer_id"] for f in held} == {
        f["customer_id"] for f in news if member("proactive_product_news", f["customer_id"], 0.1)
    }
    assert 0.08 < len(held) / CUSTOMERS < 0.12
    assert {(f["status"], f["policy"]) for f in held} == {("held_out", "holdout")}
    assert {f["experiment"] for f in news} == {"proactive_product_news"}
    # planning again (another daemon, a restart) changes nobody's group
    plan_recurring(store, ruleset, *DECEMBER, NOW, only=["proactive_product_news"])
    assert _followups(store, "proactive_product_news") == news

    with load_adapter("outbox", path=tmp_path / "outbox.jsonl") as outbox:
        at = dt.datetime(2026, 12, 5, 2, 1, tzinfo=dt.UTC)
        dispatch_once(store, ruleset, {"app": outbox}, at, limit=5000)
    sent = store.execute(
        "SELECT f.arm, count(*) AS n FROM deliveries d JOIN followups f ON f.id = d.followup_id"
        " WHERE d.outcome = 'sent' GROUP BY f.arm"
    )
    assert {row["arm"]: row["n"] for row in sent} == {"treated": CUSTOMERS - len(held)}


@pytest.mark.every_store
def test_held_out_follow_ups_count_against_no_cap(store: Store, ruleset: RuleSet) -> None:
    """The monthly cap of 4 messages: a customer held out of one step still gets four others."""
    _customers(store, ruleset)
    plan_recurring(store, ruleset, *DECEMBER, NOW, only=["proactive_product_news"])
    held = store.execute("SELECT count(*) AS n FROM followup_decisions WHERE policy = 'holdout'")[
        0
    ]["n"]
    capped = store.execute("SELECT count(*) AS n FROM followups WHERE policy = 'caps'")[0]["n"]
    assert held > 0 and capped == 0


@pytest.mark.every_store
def test_variants_split_the_treated_by_weight_and_send_their_template(
    store: Store, ruleset: RuleSet
) -> None:
    _customers(store, ruleset)
    plan_recurring(store, ruleset, *DECEMBER, NOW, only=["growth_wealth_service"])
    growth = _followups(store, "growth_wealth_service")
    assert len(growth) == CUSTOMERS // 2
    assert {f["arm"] for f in growth} == {"treated"}  # no holdout on this step
    assert all(f["template"] == f["variant"] for f in growth)
    story = sum(f["variant"] == "growth_wealth_story" for f in growth)
    assert 0.44 < story / len(growth) < 0.56
    assert {f["customer_id"] for f in growth if f["variant"] == "growth_wealth_story"} == {
        f["customer_id"]
        for f in growth
        if not member("growth_wealth_service", f["customer_id"], 0.5, VARIANT_SALT)
    }


@pytest.mark.every_store
@pytest.mark.parametrize("step", sorted(TRUE_RATES))
def test_the_report_counts_exactly_what_the_synthetic_world_drew(
    store: Store, ruleset: RuleSet, step: str
) -> None:
    """One step at a time: two steps whose goal is the same event would each count the
    other's sales (as they would in a bank)."""
    _customers(store, ruleset)
    now = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
    drawn = write_experiment_history(store, ruleset, now, 7, rates={step: TRUE_RATES[step]})
    (found,) = experiments(store, ruleset, now).steps

    counted = {arm.name: (arm.size, arm.successes) for arm in (found.control, *dict(found.arms))}
    expected = {group: (0, 0) for group in TRUE_RATES[step]}
    for (_, group, succeeded), n in drawn.items():
        size, successes = expected[group]
        expected[group] = (size + n, successes + n * succeeded)
    assert counted == expected
    assert all(size > 300 for size, _ in expected.values())


def _covers(true_effect: float, seed: int, n: int = 4000) -> bool:
    rng = random.Random(seed)
    base = 0.05
    control = Arm("held_out", n, sum(rng.random() < base for _ in range(n)))
    treated = Arm("treated", n, sum(rng.random() < base + true_effect for _ in range(n)))
    lift = uplift(treated, control)
    assert lift is not None
    return lift.absolute_low <= true_effect <= lift.absolute_high


@pytest.mark.parametrize("true_effect", [0.02, 0.0])
def test_the_uplift_interval_covers_the_true_effect_in_93_of_100_seeds(
    true_effect: float,
) -> None:
    assert sum(_covers(true_effect, seed) for seed in range(100)) >= 93


def test_the_sample_check_says_when_groups_are_too_small() -> None:
    small = uplift(Arm("treated", 300, 21), Arm("held_out", 300, 12), minimum_effect=0.02)
    large = uplift(Arm("treated", 9000, 630), Arm("held_out", 9000, 360), minimum_effect=0.02)
    assert small is not None and large is not None
    assert small.needed == large.needed is not None and 1000 < small.needed < 5000
    assert (small.enough, large.enough) == (False, True)
    assert large.cost_per_success == pytest.approx(9000 / 270)


BAD_STEPS = """
    - id: bad_news
      every: month
      day: 5
      do: message
      channel: app
      template: product_news
      holdout: 150%
    - id: bad_goal
      every: month
      day: 6
      do: message
      channel: app
      template: product_news
      variants:
        - {template: product_newz}
        - {template: post_sale_check}
      goal: {event: sael, tier: valuable, within: 3 business days}
    - id: lonely_goal
      every: month
      day: 7
      do: message
      channel: app
      template: product_news
      goal: {tier: valueable, within: 30 days}
"""


def test_bad_experiments_are_reported_at_their_line_with_a_fix(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db*"))
    playbooks = folder / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8") + BAD_STEPS
    playbooks.write_text(text, encoding="utf-8")
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    found = {(d.line, d.code, d.severity) for d in validate_project(folder).diagnostics}
    assert found == {
        (line_of("holdout: 150%"), "invalid-value", "error"),
        (line_of("product_newz"), "unknown-template", "error"),
        (line_of("{template: post_sale_check}"), "invalid-value", "error"),
        (line_of("event: sael"), "invalid-goal", "error"),
        (line_of("tier: valueable"), "unknown-tier", "error"),
        (line_of("tier: valueable"), "goal-without-comparison", "warning"),
    }
    by_line = {d.line: d for d in validate_project(folder).diagnostics}
    assert by_line[line_of("holdout: 150%")].message == "'150%' is not a share"
    assert by_line[line_of("holdout: 150%")].hint == "write a share between 0% and 100%, e.g. '10%'"
    assert by_line[line_of("product_newz")].hint == "did you mean 'product_news'?"
