"""A store's first classification is a baseline, not a wave of transitions: its customers
already had their tier and level, so `on_enter:` steps act on customers who move or are new
afterwards, and on the baseline only when they say `initial: true`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.transitions import TransitionPlanner, TransitionReport
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.scenarios.replay import play
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES
from tests.test_classify import write_snapshot

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=1)
NEW_PARTNER = {
    "customer_id": "N1", "name": "湖南岳麓建设集团", "kind": "corporate", "rm_id": "RM001",
    "balance": 90_000_000.0, "loan_balance": 60_000_000.0, "monthly_txn_count": 500,
    "last_txn_date": "2026-11-27", "products_held": 7, "annual_contribution": 3_000_000.0,
    "cost_to_serve": 5_000.0, "expected_years": 20.0,
}  # fmt: skip
WELCOME = "partner_welcome_visit"
# Firms that contribute little: a firm's contribution is ranked among firms, so a lone firm's
# percentile is 0; among nine smaller ones the new partners are in the top 10 %.
SMALL_FIRMS = [
    {"customer_id": f"S{n}", "name": f"小微企业{n}", "kind": "corporate", "balance": 50_000.0,
     "annual_contribution": 500.0, "cost_to_serve": 300.0}
    for n in range(9)
]  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 demo customers, as a bank's existing customers."""
    folder = tmp_path_factory.mktemp("demo")
    write_demo_data(folder, 300, 7, NOW.date(), bad_rows=False)
    return folder / "customers.csv"


def classified(store: Store, ruleset: RuleSet, now: dt.datetime) -> TransitionReport:
    planner = TransitionPlanner(store, ruleset, now)
    classify(store, ruleset, now, after=planner)
    return planner.planned


def welcomed(store: Store) -> list[str]:
    rows = store.execute(
        "SELECT customer_id FROM followups WHERE step_id = :step ORDER BY customer_id",
        {"step": WELCOME},
    )
    return [row["customer_id"] for row in rows]


def partners(store: Store, moved: bool = False) -> list[str]:
    """The customers at level partner; with `moved`, those the last run moved into it."""
    sql = "SELECT customer_id FROM current_assignments WHERE level = 'partner' ORDER BY customer_id"
    if moved:
        sql = (
            "SELECT customer_id FROM transitions WHERE to_level = 'partner'"
            " AND (from_level IS NULL OR from_level <> 'partner')"
            " AND run_id = (SELECT MAX(id) FROM classification_runs) ORDER BY customer_id"
        )
    return [row["customer_id"] for row in store.execute(sql)]


def with_initial_welcome(tmp_path: Path) -> RuleSet:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text("utf-8")
    playbooks.write_text(
        text.replace("on_enter: partner\n", "on_enter: partner\n      initial: true\n")
    )
    return load_ruleset(project)


@pytest.mark.every_store
def test_first_classification_of_the_demo_plans_no_on_enter_step_a_customer_added_afterwards_does(
    store: Store, ruleset: RuleSet, demo: Path
) -> None:
    load_customers(store, ruleset, demo, NOW)
    first = classified(store, ruleset, NOW)
    assert first.baseline and welcomed(store) == []
    assert first.held_back == {WELCOME: len(partners(store))} and partners(store)
    store.upsert_customers([NEW_PARTNER])
    second = classified(store, ruleset, LATER)
    assert not second.baseline and second.held_back == {}
    assert "N1" in welcomed(store) and welcomed(store) == partners(store, moved=True)


@pytest.mark.every_store
def test_the_baseline_plans_no_step_on_a_fall_a_rise_or_a_leaving(
    store: Store, ruleset: RuleSet, demo: Path
) -> None:
    """Every move of the first classification comes from no state, so the steps on a fall, a
    rise or a leaving (retention_call: on_fall) are reported with nothing planned, without a
    query over its transitions (test_transition_triggers plans them on later nights)."""
    load_customers(store, ruleset, demo, NOW)
    first = classified(store, ruleset, NOW)
    [moved_from] = store.execute(
        "SELECT COUNT(*) AS n FROM transitions WHERE from_tier IS NOT NULL"
        " OR from_level IS NOT NULL"
    )
    assert moved_from["n"] == 0
    moving = [s.id for s in ruleset.steps if s.step.on_fall or s.step.on_rise or s.step.on_leave]
    assert "retention_call" in moving
    reported = {plan.step_id: (plan.new, plan.already_planned) for plan in first.steps}
    assert {step: reported[step] for step in moving} == dict.fromkeys(moving, (0, 0))


@pytest.mark.every_store
def test_an_initial_on_enter_step_fires_on_the_baseline(
    store: Store, demo: Path, tmp_path: Path
) -> None:
    ruleset = with_initial_welcome(tmp_path)
    load_customers(store, ruleset, demo, NOW)
    first = classified(store, ruleset, NOW)
    assert first.baseline and first.held_back == {}
    assert welcomed(store) == partners(store) != []


@pytest.mark.every_store
def test_a_run_over_an_empty_store_makes_no_baseline(
    store: Store, ruleset: RuleSet, demo: Path
) -> None:
    """The daemon's night before the data came classified no one: the next run is the first."""
    assert classified(store, ruleset, NOW).baseline
    load_customers(store, ruleset, demo, NOW)
    second = classified(store, ruleset, LATER)
    assert second.baseline and welcomed(store) == [] and second.held_back[WELCOME] > 0


@pytest.mark.every_store
@pytest.mark.parametrize("from_file", [True, False])
def test_the_snapshot_engine_treats_the_first_classification_as_a_baseline(
    store: Store, ruleset: RuleSet, tmp_path: Path, from_file: bool
) -> None:
    """The night's snapshot (or, without a file, the store's customers) is classified on
    DuckDB; its customers are in the store too."""
    nights = [
        [*SMALL_FIRMS, NEW_PARTNER],
        [*SMALL_FIRMS, NEW_PARTNER, {**NEW_PARTNER, "customer_id": "N2"}],
    ]
    planned = []
    for night, (rows, now) in enumerate(zip(nights, (NOW, LATER), strict=True)):
        store.upsert_customers(rows)
        planner = TransitionPlanner(store, ruleset, now)
        path = tmp_path / f"{night}.parquet"
        snapshot = write_snapshot(path, rows, ruleset) if from_file else None
        classify_snapshot(store, ruleset, now, snapshot, after=planner)
        planned.append(planner.planned)
    assert [(p.baseline, p.held_back) for p in planned] == [(True, {WELCOME: 1}), (False, {})]
    assert welcomed(store) == ["N2"]


@pytest.mark.every_store
def test_a_store_fed_only_a_snapshot_counts_what_its_baseline_held_back(
    store: Store, ruleset: RuleSet, demo: Path
) -> None:
    """The same customers, held back the same: the snapshot night on DuckDB of a store that
    keeps no customers counts the partners it did not welcome, as the store's engine does
    (test_first_classification_of_the_demo_...)."""
    planner = TransitionPlanner(store, ruleset, NOW)
    classify_snapshot(store, ruleset, NOW, demo, after=planner)
    assert planner.planned.baseline and welcomed(store) == []
    assert planner.planned.held_back == {WELCOME: len(partners(store))} and partners(store)


def test_initial_must_be_true_or_false_and_only_on_an_on_enter_step(tmp_path: Path) -> None:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text("utf-8")
    text = text.replace("on_enter: partner\n", "on_enter: partner\n      initial: sometimes\n")
    text = text.replace("label: 客户挽留电话\n", "label: 客户挽留电话\n      initial: true\n")
    playbooks.write_text(text, "utf-8")
    result = CliRunner().invoke(cli, ["validate", str(project)])
    assert result.exit_code == 1
    lines = [line.replace(str(project), "<p>") for line in result.stderr.splitlines()]
    at = text.splitlines().index("      initial: sometimes") + 1
    assert lines[0] == (
        f"<p>/playbooks.yaml:{at}:16: error[wrong-type]: expected true or false"
        " in 'playbooks.partner[0].initial'"
    )
    assert any(
        "error[invalid-value]: 'initial' is for on_enter steps only" in line for line in lines
    )
    assert "  hint: 'initial: true' lets an on_enter step act on the store's first" in "\n".join(
        lines
    )


def store_with_demo(tmp_path: Path, ruleset: RuleSet, demo: Path) -> Path:
    path = tmp_path / "guanxi.db"
    store = SQLiteStore(path)
    try:
        store.prepare(ruleset.schema)
        load_customers(store, ruleset, demo, NOW)
    finally:
        store.close()
    return path


def guanxi_classify(db: Path, *options: str) -> Any:
    args = ["classify", "--rules", str(RULES), "--store", str(db), "--now", NOW.isoformat()]
    result = CliRunner().invoke(cli, [*args, *options])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_classify_says_how_many_on_enter_follow_ups_the_baseline_did_not_plan(
    tmp_path: Path, ruleset: RuleSet, demo: Path
) -> None:
    db = store_with_demo(tmp_path, ruleset, demo)
    shown = " ".join(guanxi_classify(db).split())
    store = SQLiteStore(db)
    try:
        count = len(partners(store))
    finally:
        store.close()
    assert "follow-ups planned from the transitions: 0" in shown
    assert "first classification of this store: a baseline" in shown
    assert "Customers were already in these tiers and levels, so none of them entered one" in shown
    assert f"{count} on_enter follow-ups not planned ({WELCOME} {count})" in shown
    moves = json.loads(guanxi_classify(db, "--json"))["followups_from_transitions"]
    assert (moves["baseline"], moves["held_back"]) == (False, {})


def test_classify_json_gives_the_follow_ups_the_baseline_did_not_plan(
    tmp_path: Path, ruleset: RuleSet, demo: Path
) -> None:
    db = store_with_demo(tmp_path, ruleset, demo)
    moves = json.loads(guanxi_classify(db, "--json"))["followups_from_transitions"]
    assert moves["baseline"] is True and moves["new"] == 0
    assert list(moves["held_back"]) == [WELCOME] and moves["held_back"][WELCOME] > 0


def test_a_baseline_scenario_welcomes_no_one_and_a_new_customer_is_welcomed(
    ruleset: RuleSet,
) -> None:
    scenario = next(
        s for f in ruleset.scenarios for s in f.scenarios if s.customer["customer_id"] == "T205"
    )
    population = RULES / "tests" / "population.csv"
    new = play(ruleset, scenario, population)
    first = play(ruleset, scenario.model_copy(update={"baseline": True}), population)
    assert WELCOME in [p.step for p in new.followups]
    assert WELCOME not in [p.step for p in first.followups] and first.level == "partner"


def test_a_baseline_scenario_cannot_have_a_day_before(tmp_path: Path) -> None:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    tests = project / "tests" / "moves_and_schedules.yaml"
    text = tests.read_text("utf-8")
    tests.write_text(text.replace("    before: {balance: 600000}\n", "    baseline: true\n"
                                  "    before: {balance: 600000}\n", 1), "utf-8")  # fmt: skip
    result = CliRunner().invoke(cli, ["validate", str(project)])
    assert result.exit_code == 1
    assert (
        "error[invalid-value]: a first classification has no day before: 'before:' cannot be"
        " given" in result.stderr
    )


def test_a_simulation_of_a_store_never_classified_takes_its_first_night_as_a_baseline(
    tmp_path: Path, ruleset: RuleSet, demo: Path
) -> None:
    db = store_with_demo(tmp_path, ruleset, demo)
    args = ["simulate", "--rules", str(RULES), "--store", str(db), "--start", "2026-11-29"]
    result = CliRunner().invoke(cli, [*args, "--days", "2", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["rules"]["counts"]
    assert counts["classifications"] == 2 and counts["held_back_on_baseline"] > 0


def branches(demo: Path, folder: Path) -> tuple[Path, Path]:
    """The demo's customers as two branches going live one after the other: A, then B."""
    header, *lines = demo.read_text("utf-8").splitlines(keepends=True)
    a, b = folder / "branch_a.csv", folder / "branch_b.csv"
    a.write_text(header + "".join(lines[::2]), "utf-8")
    b.write_text(header + "".join(lines[1::2]), "utf-8")
    return a, b


def ids_of(path: Path) -> set[str]:
    return {line.split(",", 1)[0] for line in path.read_text("utf-8").splitlines()[1:]}


def classified_on(
    engine: str, store: Store, ruleset: RuleSet, now: dt.datetime
) -> TransitionReport:
    planner = TransitionPlanner(store, ruleset, now)
    if engine == "snapshot":
        classify_snapshot(store, ruleset, now, None, after=planner)
    else:
        classify(store, ruleset, now, after=planner)
    return planner.planned


@pytest.mark.every_store
@pytest.mark.parametrize("engine", ["store", "snapshot"])
def test_a_branch_loaded_as_existing_after_the_first_classification_is_not_welcomed(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path, engine: str
) -> None:
    """Going live branch by branch: B's customers, loaded as established after A's baseline,
    get a baseline of their own; a customer added afterwards is welcomed as before."""
    a, b = branches(demo, tmp_path)
    load_customers(store, ruleset, a, NOW)
    assert classified_on(engine, store, ruleset, NOW).baseline
    load_customers(store, ruleset, b, NOW, established=True)
    second = classified_on(engine, store, ruleset, LATER)
    b_partners = set(partners(store, moved=True)) & ids_of(b)
    assert not second.baseline and b_partners
    assert second.held_back == {WELCOME: len(b_partners)}
    assert not set(welcomed(store)) & ids_of(b)
    store.upsert_customers([NEW_PARTNER])
    third = classified_on(engine, store, ruleset, LATER + dt.timedelta(days=1))
    assert third.held_back == {} and welcomed(store) == ["N1"]


@pytest.mark.every_store
def test_a_branch_loaded_after_the_first_classification_without_existing_is_welcomed(
    store: Store, ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    a, b = branches(demo, tmp_path)
    load_customers(store, ruleset, a, NOW)
    classified(store, ruleset, NOW)
    load_customers(store, ruleset, b, NOW)
    second = classified(store, ruleset, LATER)
    assert second.held_back == {} and welcomed(store) == partners(store, moved=True) != []
    assert set(welcomed(store)) <= ids_of(b)


@pytest.mark.every_store
def test_existing_marks_only_customers_not_classified_yet_and_initial_steps_still_fire(
    store: Store, demo: Path, tmp_path: Path
) -> None:
    """A customer of A's file loaded again with --existing was classified already: their
    later moves are moves. A step with initial: true welcomes B's customers too."""
    ruleset = with_initial_welcome(tmp_path)
    a, b = branches(demo, tmp_path)
    load_customers(store, ruleset, a, NOW)
    classified(store, ruleset, NOW)
    load_customers(store, ruleset, a, NOW, established=True)
    assert store.execute("SELECT customer_id FROM established_customers") == []
    load_customers(store, ruleset, b, NOW, established=True)
    second = classified(store, ruleset, LATER)
    assert second.held_back == {} and set(welcomed(store)) & ids_of(b)
    assert store.execute("SELECT customer_id FROM established_customers") == []


def test_guanxi_load_customers_existing_and_classify_say_what_the_branch_held_back(
    tmp_path: Path, ruleset: RuleSet, demo: Path
) -> None:
    a, b = branches(demo, tmp_path)
    db = tmp_path / "guanxi.db"
    for file, existing, now in ((a, [], NOW), (b, ["--existing"], LATER)):
        load = ["load", "customers", str(file), "--rules", str(RULES), "--store", str(db)]
        assert CliRunner().invoke(cli, [*load, *existing]).exit_code == 0
        classify = ["classify", "--rules", str(RULES), "--store", str(db), "--now", now.isoformat()]
        result = CliRunner().invoke(cli, classify)
        assert result.exit_code == 0, result.output
    store = SQLiteStore(db)
    try:
        count = len(partners(store, moved=True))
    finally:
        store.close()
    shown = " ".join(result.stdout.split())
    assert count > 0 and "follow-ups planned from the transitions: 0" in shown
    assert (
        "first classification of customers loaded as established (load customers --existing):"
        f" a baseline for them; {count} on_enter follow-ups not planned ({WELCOME} {count})."
    ) in shown
    help_text = " ".join(CliRunner().invoke(cli, ["load", "customers", "--help"]).stdout.split())
    assert "--existing" in help_text


def test_a_simulation_counts_what_established_customers_first_classification_held_back(
    tmp_path: Path, ruleset: RuleSet, demo: Path
) -> None:
    a, b = branches(demo, tmp_path)
    db = tmp_path / "guanxi.db"
    store = SQLiteStore(db)
    try:
        load_customers(store, ruleset, a, NOW)
        classified(store, ruleset, NOW)
        load_customers(store, ruleset, b, NOW, established=True)
    finally:
        store.close()
    args = ["simulate", "--rules", str(RULES), "--store", str(db), "--start", "2026-11-29"]
    result = CliRunner().invoke(cli, [*args, "--days", "1", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["rules"]["counts"]
    assert counts["held_back_on_baseline"] == 0 and counts["held_back_established"] > 0
