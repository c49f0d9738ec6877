"""Shared by the tests of classification runs that fail or are killed: two nights of
customers in which most of them change level, the follow-ups of their transitions, and a
store that refuses those follow-ups on demand."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.plan.transitions import plan_transitions
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
NIGHT = (NOW + dt.timedelta(days=1)).isoformat()


def customers(count: int, night: int) -> list[dict[str, Any]]:
    """Night 0: the largest contributors valuable (the top 30 %: every one is large and
    busy), the very largest partners. Night 1: the order of contributions turns round (new
    valuable customers and partners enter, old ones leave), every other customer costs ten
    times more (proactive ↔ responsible) and every third one loses its deposits (out of
    valuable)."""
    rows = []
    for i in range(count):
        contribution = 1_000.0 + (i if night == 0 else count - i)
        poorer = night == 1 and i % 3 == 0
        rows.append(
            {"customer_id": f"C{i:05d}", "name": f"客户{i}", "rm_id": f"RM{i % 40}",
             "balance": 1_000.0 if poorer else 600_000.0, "products_held": 3,
             "monthly_txn_count": 20,
             "annual_contribution": contribution, "last_txn_date": "2026-11-20",
             "cost_to_serve": 1_000.0 if night == 1 and i % 2 else 100.0}
        )  # fmt: skip
    return rows


def first_night(store: Store, ruleset: RuleSet, count: int) -> None:
    """Night 0 classified and planned; night 1's data loaded and classified once, which the
    default rules' hold (2 runs) keeps back: the next classification confirms the moves."""
    store.upsert_customers(customers(count, 0))
    plan_transitions(store, ruleset, classify(store, ruleset, NOW).run_id, NOW)
    store.upsert_customers(customers(count, 1))
    plan_transitions(store, ruleset, classify(store, ruleset, NOW).run_id, NOW)


def followups(store: Store) -> list[tuple[Any, ...]]:
    """Every follow-up of a transition as (step, customer, status, due), the run in its key
    left out (a run rolled back on PostgreSQL still used up its id)."""
    rows = store.execute(
        "SELECT step_id, customer_id, status, due_at FROM followups"
        " WHERE occurrence LIKE 'run-%' ORDER BY step_id, customer_id"
    )
    return [tuple(row.values()) for row in rows]


def cli_classify(location: str) -> list[str]:
    return ["classify", "--rules", str(RULES), "--store", location, "--now", NIGHT, "--json"]


FAIL_PLANNING = {
    "sqlite": [
        "CREATE TRIGGER gx_test_fail BEFORE INSERT ON followups WHEN NEW.occurrence LIKE 'run-%'"
        " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgres": [
        "CREATE FUNCTION gx_test_fail() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER gx_test_fail BEFORE INSERT ON followups FOR EACH ROW"
        " WHEN (NEW.occurrence LIKE 'run-%') EXECUTE FUNCTION gx_test_fail()",
    ],
}
HEAL_PLANNING = {
    "sqlite": ["DROP TRIGGER IF EXISTS gx_test_fail"],
    "postgres": [
        "DROP TRIGGER IF EXISTS gx_test_fail ON followups",
        "DROP FUNCTION IF EXISTS gx_test_fail()",
    ],
}


@contextlib.contextmanager
def planning_fails(store: Store) -> Iterator[None]:
    """The store refuses every follow-up of a transition (a trigger) until the block ends."""
    for sql in FAIL_PLANNING[store.dialect]:
        store.execute(sql)
    try:
        yield
    finally:
        for sql in HEAL_PLANNING[store.dialect]:
            store.execute(sql)


def reference_followups(ruleset: RuleSet, folder: Path, count: int) -> list[tuple[Any, ...]]:
    """The follow-ups of night 1's transitions from an uninterrupted `guanxi classify` on a
    SQLite store with the same customers."""
    reference = SQLiteStore(folder / "reference.db")
    try:
        reference.prepare(ruleset.schema)
        first_night(reference, ruleset, count)
        assert CliRunner().invoke(cli, cli_classify(reference.location)).exit_code == 0
        return followups(reference)
    finally:
        reference.close()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
