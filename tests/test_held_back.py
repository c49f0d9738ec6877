"""What a baseline holds back is counted once the run has committed (`TransitionPlanner`), and
not read at all in a store without customers: the same counts as counting inside the run's
transaction, on each engine, whichever of the classified customers the store keeps."""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.transitions import TransitionPlanner, plan_transitions
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
CUSTOMERS = 120
WELCOME = "partner_welcome_visit"
Engine = Callable[[Store, RuleSet, Path, Callable[[int], object]], object]
ENGINES: dict[str, Engine] = {
    "in the store": lambda store, ruleset, _, after: classify(store, ruleset, NOW, after=after),
    "snapshot file": lambda store, ruleset, snapshot, after: classify_snapshot(
        store, ruleset, NOW, snapshot, after=after
    ),
    "store on DuckDB": lambda store, ruleset, _, after: classify_snapshot(
        store, ruleset, NOW, None, after=after
    ),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo_data(folder, CUSTOMERS, 11, NOW.date(), bad_rows=False)
    return folder / "customers.csv"


def kept(demo: Path, share: float, seed: int, folder: Path) -> Path:
    """A share of the demo customers, picked by `seed`, as a CSV file of their own."""
    with demo.open(encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(source))
    picked = random.Random(seed).sample(rows, round(len(rows) * share))
    path = folder / "kept.csv"
    with path.open("w", encoding="utf-8", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    return path


def counted_inside_the_run(store: Store, ruleset: RuleSet, engine: str, snapshot: Path) -> object:
    """What the baseline held back, planned and counted inside the run's transaction (as the
    planner did before)."""
    counted: list[object] = []

    def after(run_id: int) -> None:
        counted.append(plan_transitions(store, ruleset, run_id, NOW).held_back)

    ENGINES[engine](store, ruleset, snapshot, after)
    return counted[0]


def counted_after_the_run(store: Store, ruleset: RuleSet, engine: str, snapshot: Path) -> object:
    planner = TransitionPlanner(store, ruleset, NOW)
    ENGINES[engine](store, ruleset, snapshot, planner)
    return planner.planned.held_back


def entered_partner(store: Store) -> int:
    """The store's customers the run moved into level partner: what the welcome would plan
    (in a store without customers, fed only a snapshot: its classified customers)."""
    [kept] = store.execute("SELECT COUNT(*) AS n FROM customers")
    customers = "customers AS c JOIN " if kept["n"] else ""
    on = " ON a.customer_id = c.customer_id" if kept["n"] else ""
    [row] = store.execute(
        f"SELECT COUNT(*) AS n FROM {customers}current_assignments AS a{on}"
        " JOIN transitions AS t ON t.customer_id = a.customer_id WHERE a.level = 'partner'"
        " AND t.to_level = 'partner' AND t.from_level IS NULL"
    )
    return int(row["n"])


@pytest.mark.parametrize("engine", list(ENGINES))
@settings(max_examples=6, deadline=None)
@given(share=st.sampled_from([0.0, 0.3, 1.0]), seed=st.integers(0, 1_000))
def test_held_back_after_the_run_equals_the_count_inside_it(
    ruleset: RuleSet, demo: Path, engine: str, share: float, seed: int
) -> None:
    counts: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        customers = kept(demo, share, seed, Path(folder))
        for way, count in (("inside", counted_inside_the_run), ("after", counted_after_the_run)):
            store = SQLiteStore(Path(folder, f"{way}.db"))
            try:
                store.prepare(ruleset.schema)
                load_customers(store, ruleset, customers, NOW)
                counts[way] = count(store, ruleset, engine, demo)
                counts[f"entered ({way})"] = {WELCOME: entered_partner(store)}
            finally:
                store.close()
    assert counts["after"] == counts["inside"] == counts["entered (after)"]
    assert counts["entered (inside)"] == counts["entered (after)"]


def test_a_store_without_customers_counts_what_its_snapshot_baseline_held_back(
    ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    """A store fed only snapshot files keeps no customers: its baseline counts what it held
    back on its assignments, as many as the store holding the same customers counts; the next
    night plans nothing (the steps join the store's customers)."""
    loaded = SQLiteStore(tmp_path / "loaded.db")
    try:
        loaded.prepare(ruleset.schema)
        load_customers(loaded, ruleset, demo, NOW)
        in_the_store = TransitionPlanner(loaded, ruleset, NOW)
        classify(loaded, ruleset, NOW, after=in_the_store)
        held_back = in_the_store.planned.held_back
    finally:
        loaded.close()
    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        store.prepare(ruleset.schema)
        planner = TransitionPlanner(store, ruleset, NOW)
        report = classify_snapshot(store, ruleset, NOW, demo, after=planner)
        assert report.customers == CUSTOMERS and planner.planned.baseline
        assert planner.planned.held_back == held_back == {WELCOME: entered_partner(store)}
        assert planner.planned.held_back[WELCOME] > 0
        later = TransitionPlanner(store, ruleset, NOW + dt.timedelta(days=1))
        classify_snapshot(store, ruleset, NOW + dt.timedelta(days=1), demo, after=later)
        assert not later.planned.baseline and later.planned.new == 0
    finally:
        store.close()


def test_the_planner_counts_what_was_held_back_once(
    ruleset: RuleSet, demo: Path, tmp_path: Path
) -> None:
    """Read twice, the report is counted once: a customer removed after the first read does
    not change it."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        store.prepare(ruleset.schema)
        load_customers(store, ruleset, demo, NOW)
        planner = TransitionPlanner(store, ruleset, NOW)
        classify(store, ruleset, NOW, after=planner)
        first = dict(planner.planned.held_back)
        assert first == {WELCOME: entered_partner(store)} and first[WELCOME] > 0
        store.execute("DELETE FROM customers")
        assert planner.planned.held_back == first
    finally:
        store.close()
