"""The default rule project holds (`hold: 2 runs` in tiers.yaml): a customer near a percentile
line, who moves when *other* customers change, keeps their tier and gets no step until two
nightly runs in a row confirm the change. Scenarios show the customer once a change is
confirmed, or on its first night with `runs: 1`."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.hold import holds
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Scenario
from guanxi.engine.scenarios.replay import play
from guanxi.engine.store import Store
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
CUT = [f"C{i:03d}" for i in range(90, 100)]  # the ten largest contributors


def customer(number: int) -> dict[str, Any]:
    """Contribution alone ranks the customers; no balance, product or idleness line is near."""
    return {
        "customer_id": f"C{number:03d}",
        "name": f"客户{number}",
        "rm_id": "RM001",
        "balance": 300_000.0,  # large, and busy: valuable once its contribution ranks high
        "monthly_txn_count": 20,
        "products_held": 1,
        "annual_contribution": 1_000.0 * (number + 1),
        "cost_to_serve": 1_000.0,
        "last_txn_date": "2026-10-30",
        "consent_marketing": True,
    }


def night(store: Store, ruleset: RuleSet, number: int) -> None:
    now = NOW + dt.timedelta(days=number)
    classify(store, ruleset, now, after=TransitionPlanner(store, ruleset, now))


def assignments(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.execute("SELECT customer_id, tier, level, strategy FROM current_assignments")
    return {row["customer_id"]: (row["tier"], row["level"], row["strategy"]) for row in rows}


def others_with_steps(store: Store) -> list[str]:
    rows = store.execute("SELECT DISTINCT customer_id FROM followups ORDER BY customer_id")
    return [row["customer_id"] for row in rows if row["customer_id"] not in CUT]


@pytest.mark.every_store
def test_cutting_some_customers_contribution_does_not_move_other_customers_the_next_night(
    store: Store, ruleset: RuleSet
) -> None:
    customers = [customer(n) for n in range(100)]
    store.upsert_customers(customers)
    night(store, ruleset, 0)  # the baseline
    night(store, ruleset, 1)
    before = assignments(store)
    store.upsert_customers([{**row, "annual_contribution": 100.0} for row in customers[90:]])
    night(store, ruleset, 2)
    after = assignments(store)
    others = [key for key in before if key not in CUT]
    assert {k: after[k] for k in others} == {k: before[k] for k in others}
    assert others_with_steps(store) == []
    # without the hold they would have moved: up past 70 % into valuable, into gold (partner)
    waiting = store.execute(
        "SELECT customer_id, pending_tier, pending_level FROM current_assignments"
        " WHERE pending_tier IS NOT NULL OR pending_level IS NOT NULL"
    )
    moved = {row["customer_id"]: (row["pending_tier"], row["pending_level"]) for row in waiting}
    rising = {f"C{n:03d}": ("valuable", "proactive") for n in range(60, 70)}
    gold = {f"C{n:03d}": (None, "partner") for n in range(85, 90)}
    assert {key: moved[key] for key in moved if key not in CUT} == rising | gold


def test_the_default_rules_hold_every_ladder_two_runs(ruleset: RuleSet) -> None:
    assert holds(ruleset) == {"tier": 2, "level": 2, "strategy": 2}


def retention(ruleset: RuleSet) -> Scenario:
    return next(
        s
        for f in ruleset.scenarios
        for s in f.scenarios
        if s.customer["customer_id"] == "T201" and s.runs is None
    )


def test_a_scenario_under_a_hold_shows_the_customer_once_the_change_is_confirmed(
    ruleset: RuleSet,
) -> None:
    population = RULES / "tests" / "population.csv"
    confirmed = play(ruleset, retention(ruleset), population)
    held = play(ruleset, retention(ruleset).model_copy(update={"runs": 1}), population)
    assert confirmed.tier == "low_value"
    assert [p.step for p in confirmed.followups] == ["retention_call"]
    assert (held.tier, held.level, held.followups) == ("valuable", "responsible", ())


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("    runs: 0\n", ":13:11: error[wrong-type]: expected a number of at least 1"),
        (
            "    runs: 2\n    baseline: true\n",
            "error[invalid-value]: a first classification takes effect at once: 'runs:'"
            " cannot go with it",
        ),
    ],
)
def test_a_scenario_s_runs_below_one_or_with_a_baseline_is_an_error(
    tmp_path: Path, given: str, message: str
) -> None:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    tests = project / "tests" / "tiers_and_levels.yaml"
    text = tests.read_text("utf-8")
    tests.write_text(text.replace("    expect:\n", given + "    expect:\n", 1), "utf-8")
    result = CliRunner().invoke(cli, ["validate", str(project)])
    assert result.exit_code == 1
    assert message in result.stderr
