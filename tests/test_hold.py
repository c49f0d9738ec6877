"""A ladder's `hold: N runs`: a new answer takes effect only once N runs in a row give it, the
same on every engine; a customer hovering around a line neither flaps nor gets the steps on
entering and leaving again and again."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.explain import explain
from guanxi.engine.classify.hold import LADDERS, PENDING_TYPES, STATE, held_changes, holds
from guanxi.engine.classify.mirror import mirror_path
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.errors import RuleSetInvalid
from guanxi.engine.i18n import language
from guanxi.engine.plan.transitions import plan_transitions
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES, unheld_rules
from tests.test_classify import write_snapshot

NOW = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
LINE = 200_000.0  # tiers.yaml: valuable needs total_assets >= 20万 (and more, below)
ABOVE, BELOW = LINE * 1.01, LINE * 0.99


def held_rules(folder: Path, runs: int = 2) -> Path:
    """The default rule project with `hold: <runs> runs` on tiers and levels."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    for name in ("tiers.yaml", "levels.yaml"):
        path = folder / name
        kept = [
            line for line in path.read_text("utf-8").splitlines() if not line.startswith("hold:")
        ]
        path.write_text("\n".join([*kept, f"hold: {runs} runs", ""]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rulesets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, RuleSet]:
    """The rule project holding for 1, 2 and 3 runs."""
    folder = tmp_path_factory.mktemp("holds")
    return {runs: load_ruleset(held_rules(folder / str(runs), runs)) for runs in (1, 2, 3)}


def customer(key: str, balance: float) -> dict[str, Any]:
    """Valuable at or above LINE (deposits), low value below; nothing else near a line (it
    transacts often, and its contribution ranks high among larger())."""
    return {
        "customer_id": key,
        "name": f"客户{key}",
        "rm_id": "RM001",
        "balance": balance,
        "monthly_txn_count": 20,
        "products_held": 1,
        "annual_contribution": 1_000.0,
        "cost_to_serve": 1_000.0,
        "last_txn_date": "2026-10-30",
        "consent_marketing": True,
    }


def larger() -> list[dict[str, Any]]:
    """Twenty customers far above the deposits line, whose data never change: two contribute
    more than customer() (so it is not gold), eighteen less (so it ranks at 0.9)."""
    rows = [customer(f"L{i:02d}", 2 * LINE) for i in range(20)]
    return [
        {**row, "annual_contribution": 100_000.0 if i < 2 else 100.0} for i, row in enumerate(rows)
    ]


def night(number: int) -> dt.datetime:
    return NOW + dt.timedelta(days=number)


def state(store: Store, key: str) -> dict[str, Any]:
    [row] = store.execute(
        f"SELECT {', '.join(STATE)} FROM current_assignments WHERE customer_id = :k", {"k": key}
    )
    return row


@pytest.mark.every_store
def test_a_customer_oscillating_around_a_threshold_changes_tier_at_most_once(
    store: Store, tmp_path: Path
) -> None:
    ruleset = load_ruleset(held_rules(tmp_path / "rules"))
    store.upsert_customers(larger())  # H1 is not gold
    balances = [ABOVE, BELOW] * 5 + [BELOW]  # ±1 % for 10 nights, then below a second night
    for number, balance in enumerate(balances):
        store.upsert_customers([customer("H1", balance)])
        report = classify(store, ruleset, night(number))
        plan_transitions(store, ruleset, report.run_id, night(number))
        if number == 0:  # a new customer takes its tier at once
            assert (state(store, "H1")["tier"], report.held) == ("valuable", 0)
        else:  # every other night, its new answer comes out only once in a row
            assert report.held == (number % 2)
    moves = store.execute(
        "SELECT run_id, from_tier, to_tier, from_level, to_level, from_strategy, to_strategy"
        " FROM transitions WHERE customer_id = 'H1' AND from_tier IS NOT NULL"
    )
    assert [tuple(m.values()) for m in moves] == [  # its level holds with its tier
        (report.run_id, "valuable", "low_value", "responsible", "passive", "general", "general")
    ]  # on the second night in a row below the line
    steps = store.execute(
        "SELECT COUNT(*) AS n FROM followups WHERE customer_id = 'H1'"
        " AND step_id = 'retention_call'"
    )
    assert steps[0]["n"] == 1


@pytest.mark.parametrize(
    ("tiers", "levels", "strategies", "expected"),
    [
        ("3 runs", None, None, (3, 3, 3)),
        ("2 runs", "1 run", None, (2, 1, 1)),
        (None, None, "2", (1, 1, 2)),
        ("2 runs", None, "1 次", (2, 2, 1)),
    ],
)
def test_a_ladder_without_hold_holds_as_the_one_it_is_built_on(
    tmp_path: Path,
    tiers: str | None,
    levels: str | None,
    strategies: str | None,
    expected: tuple[int, int, int],
) -> None:
    folder = unheld_rules(tmp_path / "rules")
    for name, hold in (("tiers", tiers), ("levels", levels), ("strategies", strategies)):
        if hold is not None:
            with (folder / f"{name}.yaml").open("a", encoding="utf-8") as file:
                file.write(f"\nhold: {hold}\n")
    assert tuple(holds(load_ruleset(folder)).values()) == expected


def hold_model(answers: list[str], runs: int) -> list[str]:
    """The assignment after each run, kept as the rule says (the oracle)."""
    assigned, pending, count, kept = answers[0], None, 0, [answers[0]]
    for answer in answers[1:]:
        if answer == assigned:
            pending, count = None, 0
        else:
            count = count + 1 if answer == pending else 1
            pending = answer
            if count >= runs:
                assigned, pending, count = answer, None, 0
        kept.append(assigned)
    return kept


@settings(max_examples=12, deadline=None)
@given(
    runs=st.integers(1, 3),
    sides=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=2, max_size=7),
)
def test_an_assignment_changes_only_once_hold_runs_in_a_row_give_it(
    runs: int,
    sides: list[list[bool]],
    rulesets: dict[int, RuleSet],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ruleset = rulesets[runs]
    store = SQLiteStore(tmp_path_factory.mktemp("hold") / "guanxi.db")
    try:
        store.prepare(ruleset.schema)
        store.upsert_customers(larger())
        keys = ("A", "B", "C")
        for number, above in enumerate(sides):
            rows = [customer(k, ABOVE if up else BELOW) for k, up in zip(keys, above, strict=True)]
            store.upsert_customers(rows)
            classify(store, ruleset, night(number))
        for index, key in enumerate(keys):
            answers = ["valuable" if s[index] else "low_value" for s in sides]
            assert state(store, key)["tier"] == hold_model(answers, runs)[-1]
    finally:
        store.close()


def jittered(number: int) -> list[dict[str, Any]]:
    """60 customers near the deposits line and near the contribution percentiles, moving a
    little every night."""
    rnd = random.Random(number)
    rows = []
    for i in range(60):
        row = customer(f"J{i:02d}", LINE * rnd.uniform(0.98, 1.02))
        row["annual_contribution"] = 1_000.0 + i * 10 + rnd.uniform(-40, 40)
        row["cost_to_serve"] = 100.0 * (1 + i % 3)
        rows.append(row)
    return rows


def every_state(store: Store) -> dict[str, tuple[Any, ...]]:
    rows = store.execute(f"SELECT customer_id, {', '.join(STATE)} FROM current_assignments")
    return {
        r["customer_id"]: tuple(bool(v) if k == "gold" else v for k, v in r.items()) for r in rows
    }


@pytest.mark.every_store
@pytest.mark.parametrize("duckdb_into", ["sqlite", "this store"])
def test_holds_give_the_same_assignments_on_the_store_and_on_duckdb(
    store: Store, tmp_path: Path, duckdb_into: str
) -> None:
    ruleset = load_ruleset(held_rules(tmp_path / "rules"))
    other = SQLiteStore(tmp_path / "other.db")
    other.prepare(ruleset.schema)
    duck_store, in_store = (other, store) if duckdb_into == "sqlite" else (store, other)
    held = 0
    try:
        for number in range(6):
            rows = jittered(number)
            in_store.upsert_customers(rows)
            by_store = classify(in_store, ruleset, night(number))
            snapshot = write_snapshot(tmp_path / f"{number}.parquet", rows, ruleset)
            by_duckdb = classify_snapshot(duck_store, ruleset, night(number), snapshot)
            found = every_state(in_store)
            assert every_state(duck_store) == found
            assert (by_duckdb.changed, by_duckdb.transitions, by_duckdb.held) == (
                by_store.changed,
                by_store.transitions,
                by_store.held,
            )
            held += sum(1 for s in found.values() if s[STATE.index("pending_tier_runs")])
    finally:
        other.close()
    assert held > 0  # some customers were held on the way


def test_explain_shows_a_customer_being_held(tmp_path: Path) -> None:
    rules = held_rules(tmp_path / "rules")
    ruleset = load_ruleset(rules)
    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        store.prepare(ruleset.schema)
        store.upsert_customers([*larger(), customer("H1", ABOVE)])
        classify(store, ruleset, night(0))
        store.upsert_customers([customer("H1", BELOW)])
        second = classify(store, ruleset, night(1)).run_id
        found = explain(store, ruleset, "H1", night(1))
        with language("zh"):
            chinese, _level = explain(store, ruleset, "H1", night(1)).holds
    finally:
        store.close()
    hold, level = found.holds  # its level (responsible, passive below the line) holds alike
    assert (level.kind, level.kept, level.pending) == ("level", "responsible", "passive")
    assert (hold.kind, hold.kept, hold.pending) == ("tier", "valuable", "low_value")
    assert (hold.since_run, hold.runs, hold.needed) == (second, 1, 2)
    assert hold.until_run == second + 1 and hold.until is not None
    assert hold.until.isoformat() == "2026-11-04T02:00:00+08:00"  # the next nightly run
    assert hold.reason == (
        f"qualifies for low_value since run {second}, 1 of 2 runs; stays valuable until run"
        f" {second + 1} gives it too (the scheduled classification of 2026-11-04 02:00)"
    )
    assert chinese.reason == (
        f"自第 {second} 次分类起符合「低价值客户」，已连续 1 次（需 2 次）；第 {second + 1} 次分类"
        "（按计划在 2026-11-04 02:00）仍得出「低价值客户」才调整，在此之前仍为「有价值客户」"
    )
    assert found.decision("tier").result == "low_value"  # what the rules say today
    assert found.stored is not None and found.stored["tier"] == "valuable"  # what is kept
    args = ["explain", "H1", "--rules", str(rules), "--store", str(tmp_path / "guanxi.db")]
    shown = CliRunner().invoke(cli, [*args, "--now", night(1).isoformat()])
    assert shown.exit_code == 0, shown.output
    assert f"tier: qualifies for low_value since run {second}, 1 of 2 runs" in shown.stdout
    as_json = CliRunner().invoke(cli, [*args, "--now", night(1).isoformat(), "--json"])
    assert json.loads(as_json.stdout)["holds"][0]["pending"] == "low_value"


@pytest.mark.parametrize("written", ["2 weeks", "0 runs", "-1"])
def test_an_invalid_hold_is_a_diagnostic_at_its_line(tmp_path: Path, written: str) -> None:
    rules = held_rules(tmp_path / "rules")
    path = rules / "levels.yaml"
    lines = path.read_text("utf-8").replace("hold: 2 runs", f"hold: {written}").splitlines()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RuleSetInvalid) as raised:
        load_ruleset(rules)
    [found] = raised.value.diagnostics
    assert (found.code, found.line, found.col) == ("invalid-hold", len(lines), 7)
    assert found.message == f"'{written}' is not a number of classification runs from 1 to 100"
    assert found.hint is not None and "hold: 2 runs" in found.hint


def test_a_copy_of_the_assignments_from_before_holds_is_rebuilt(tmp_path: Path) -> None:
    ruleset = load_ruleset(held_rules(tmp_path / "rules"))
    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        rows = jittered(0)
        first = classify_snapshot(
            store, ruleset, night(0), write_snapshot(tmp_path / "0.parquet", rows, ruleset)
        )
        old = duckdb.connect(mirror_path(store.path))  # as an older guanxi wrote it
        old.execute("DROP TABLE assignments")
        old.execute(
            "CREATE TABLE assignments AS SELECT customer_id, gold, tier, level, strategy"
            " FROM (VALUES ('J00', FALSE, 'valuable', 'responsible', NULL))"
            " AS t(customer_id, gold, tier, level, strategy)"
        )
        old.execute("UPDATE meta SET run_id = ?", [first.run_id])
        old.close()
        report = classify_snapshot(
            store, ruleset, night(1), write_snapshot(tmp_path / "1.parquet", rows, ruleset)
        )
    finally:
        store.close()
    assert "assignments from store" in report.timings
    assert report.changed == 0


NAMES = st.sampled_from([None, "a", "b"])
STORED = st.fixed_dictionaries(
    {
        "gold": st.booleans(),
        **{kind: NAMES for kind in LADDERS},
        **{f"pending_{kind}": NAMES for kind in LADDERS},
        **{f"pending_{kind}_runs": st.integers(0, 3) for kind in LADDERS},
        **{f"pending_{kind}_since": st.sampled_from([None, 3]) for kind in LADDERS},
    }
)
ANSWER = st.fixed_dictionaries({"gold": st.booleans(), **{kind: NAMES for kind in LADDERS}})


def held_model(
    answer: dict[str, Any], stored: dict[str, Any] | None, hold: dict[str, int], run: int
) -> dict[str, Any] | None:
    """The new state as hold.py's docstring says; None when it is the stored one."""
    new: dict[str, Any] = {"gold": answer["gold"]}
    for kind in LADDERS:
        was = stored or {}
        again = was.get(f"pending_{kind}_runs", 0) > 0 and was[f"pending_{kind}"] == answer[kind]
        runs = was[f"pending_{kind}_runs"] + 1 if again else 1
        held = stored is not None and stored[kind] != answer[kind] and runs < hold[kind]
        new[kind] = stored[kind] if held and stored else answer[kind]
        new[f"pending_{kind}"] = answer[kind] if held else None
        new[f"pending_{kind}_runs"] = runs if held else 0
        new[f"pending_{kind}_since"] = (
            (was[f"pending_{kind}_since"] if again else run) if held else None
        )
    return None if stored is not None and new == stored else new


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(ANSWER, st.none() | STORED), min_size=1, max_size=12),
    hold=st.fixed_dictionaries({kind: st.integers(1, 3) for kind in LADDERS}),
)
def test_held_changes_are_exactly_the_customers_whose_state_moves(
    dialect: str, rows: list[tuple[dict[str, Any], dict[str, Any] | None]], hold: dict[str, int]
) -> None:
    """The held state and the choice of the changed customers (its quick test of the settled
    ones included) agree with the rule, pending states of every kind stored."""
    expected = {
        f"C{i}": new
        for i, (answer, stored) in enumerate(rows)
        if (new := held_model(answer, stored, hold, 7)) is not None
    }
    assert changed_rows(dialect, rows, hold) == expected


def changed_rows(
    dialect: str, rows: list[tuple[dict[str, Any], dict[str, Any] | None]], hold: dict[str, int]
) -> dict[str, dict[str, Any]]:
    db = duckdb.connect() if dialect == "duckdb" else sqlite3.connect(":memory:")
    types = {"gold": "BOOLEAN", **PENDING_TYPES} | {kind: "TEXT" for kind in LADDERS}
    columns = ", ".join(f"{c} {types[c]}" for c in STATE)
    db.execute(
        "CREATE TABLE r (customer_id TEXT, gold BOOLEAN, tier TEXT, level TEXT, strategy TEXT)"
    )
    db.execute(f"CREATE TABLE a (customer_id TEXT, {columns})")
    for i, (answer, stored) in enumerate(rows):
        db.execute(
            "INSERT INTO r VALUES (?, ?, ?, ?, ?)",
            [f"C{i}", *(answer[c] for c in ("gold", *LADDERS))],
        )
        if stored is not None:
            marks = ", ".join("?" for _ in STATE)
            db.execute(f"INSERT INTO a VALUES (?, {marks})", [f"C{i}", *(stored[c] for c in STATE)])
    found = db.execute(held_changes("r", "r.customer_id", "a", hold, 7, dialect)).fetchall()
    return {
        row[0]: {c: bool(v) if c == "gold" else v for c, v in zip(STATE, row[1:], strict=True)}
        for row in found
    }
