"""A classification run and the follow-ups its transitions trigger commit together.

stopped   the planning of a run's `on_enter`/`on_leave` steps fails after the run was written:
          nothing of the run stays, and the next `guanxi classify` plans every follow-up
waiting   PostgreSQL: `guanxi classify` is killed while its planning waits for a lock that
          another session holds on the follow-ups: nothing of the run stays
kill -9   `guanxi classify` (the real CLI, its own process) is killed at random instants while
          most customers change level; after a run that finishes, every transition has its
          follow-ups exactly once, as an uninterrupted run on a copy has them
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.plan.transitions import plan_transitions
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES
from tests.daemon_helpers import wait_for

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
NIGHT = (NOW + dt.timedelta(days=1)).isoformat()
CUSTOMERS = 4_000
KILLS = 4


def customers(count: int, night: int) -> list[dict[str, Any]]:
    """Night 0: everyone valuable, the largest contributors partners. Night 1: the order of
    contributions turns round (new partners enter, old ones leave), every other customer
    costs ten times more (proactive ↔ responsible) and every third one loses its deposits
    (out of valuable, unless still a large contributor)."""
    rows = []
    for i in range(count):
        contribution = 1_000.0 + (i if night == 0 else count - i)
        poorer = night == 1 and i % 3 == 0
        rows.append(
            {"customer_id": f"C{i:05d}", "name": f"客户{i}", "rm_id": f"RM{i % 40}",
             "balance": 1_000.0 if poorer else 600_000.0, "products_held": 3,
             "annual_contribution": contribution, "last_txn_date": "2026-11-20",
             "cost_to_serve": 1_000.0 if night == 1 and i % 2 else 100.0}
        )  # fmt: skip
    return rows


def first_night(store: Store, ruleset: RuleSet, count: int) -> None:
    """Night 0 classified and planned; night 1's data loaded, not classified yet."""
    store.upsert_customers(customers(count, 0))
    plan_transitions(store, ruleset, classify(store, ruleset, NOW).run_id, NOW)
    store.upsert_customers(customers(count, 1))


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


# --- stopped ---------------------------------------------------------------------------------

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


def test_a_classify_whose_planning_fails_leaves_no_run_without_its_followups(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The process ends between writing the run and planning its follow-ups (here the
    planning fails: the store refuses the insert); the next classify plans them all."""
    reference = SQLiteStore(tmp_path / "reference.db")
    reference.prepare(ruleset.schema)
    for opened in (store, reference):
        first_night(opened, ruleset, 60)
    assert CliRunner().invoke(cli, cli_classify(reference.location)).exit_code == 0
    with planning_fails(store):
        assert CliRunner().invoke(cli, cli_classify(store.location)).exit_code != 0
    assert CliRunner().invoke(cli, cli_classify(store.location)).exit_code == 0
    expected = followups(reference)
    assert {step for step, *_ in expected} == {"partner_welcome_visit", "retention_call"}
    assert followups(store) == expected
    reference.close()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_duckdb_engine_commits_a_run_with_its_followups(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The snapshot engine's run fails while planning: neither the run nor the columnar copy
    of the assignments moves on, and the next run plans every follow-up."""
    reference = SQLiteStore(tmp_path / "reference.db")
    reference.prepare(ruleset.schema)
    for opened in (store, reference):
        first_night(opened, ruleset, 60)
    assert CliRunner().invoke(cli, cli_classify(reference.location)).exit_code == 0
    snapshot = ["--input", str(write_csv(tmp_path / "night.csv", customers(60, 1)))]
    with planning_fails(store):
        stopped = CliRunner().invoke(cli, [*cli_classify(store.location), *snapshot])
    assert stopped.exit_code != 0
    assert store.execute("SELECT count(*) AS n FROM classification_runs")[0]["n"] == 1
    again = CliRunner().invoke(cli, [*cli_classify(store.location), *snapshot])
    assert again.exit_code == 0, again.output
    assert followups(store) == followups(reference)
    reference.close()


def test_the_nightly_classification_commits_a_run_with_its_followups(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The daemon's classification job fails while planning; its next run plans them all."""
    reference = SQLiteStore(tmp_path / "reference.db")
    reference.prepare(ruleset.schema)
    for opened in (store, reference):
        first_night(opened, ruleset, 60)
    assert CliRunner().invoke(cli, cli_classify(reference.location)).exit_code == 0
    clock = FixedClock(dt.datetime.fromisoformat(NIGHT))
    daemon = Daemon(RULES, ruleset, store, clock, folder=tmp_path, port=None)
    try:
        with planning_fails(store), pytest.raises(Exception, match="disk full"):
            daemon.classify_now()
        daemon.classify_now()
    finally:
        daemon.leadership.release()
        daemon.running.adapters.close()
    assert followups(store) == followups(reference)
    reference.close()


# --- kill -9 ---------------------------------------------------------------------------------


def start_classify(location: str, log: Path) -> subprocess.Popen[bytes]:
    """`guanxi classify` as its own process, its messages appended to `log`."""
    command = [sys.executable, "-m", "guanxi.cli", *cli_classify(location)]
    with log.open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=out)


def finished(process: subprocess.Popen[bytes], log: Path) -> None:
    assert process.wait(60) == 0, log.read_text("utf-8")


def test_kill_9_at_random_instants_plans_each_transitions_followups_once(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rng = random.Random(20261205)
    reference = SQLiteStore(tmp_path / "reference.db")
    reference.prepare(ruleset.schema)
    for opened in (store, reference):
        first_night(opened, ruleset, CUSTOMERS)
    log = tmp_path / "classify.log"
    began = time.monotonic()
    finished(start_classify(reference.location, log), log)
    seconds = time.monotonic() - began
    killed = 0
    for _ in range(KILLS):
        process = start_classify(store.location, log)
        time.sleep(rng.uniform(0.4, 1.0) * seconds)  # mostly inside the run, past start-up
        if process.poll() is not None:
            break  # it finished before the kill: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        killed += 1
    finished(start_classify(store.location, log), log)
    assert killed, "no run was killed"
    print(f"\n{killed} kills at {seconds:.1f} s a run")
    expected = followups(reference)
    assert len(expected) > CUSTOMERS // 10
    assert followups(store) == expected
    reference.close()


PLANNING_WAITS = (
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO followups%'"
)


def planning_waits(store: Store) -> bool:
    return bool(store.execute(PLANNING_WAITS)[0]["n"] == 1)


def test_kill_9_during_classify_does_not_lose_the_transitions_followups(
    postgres_emptied: str, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Killed at the worst instant: the run written, its planning waiting for a lock that
    another session holds on the follow-ups (PostgreSQL shows where it waits)."""
    store, reference = PostgresStore(postgres_emptied), SQLiteStore(tmp_path / "reference.db")
    log = tmp_path / "classify.log"
    for opened in (store, reference):
        opened.prepare(ruleset.schema)
        first_night(opened, ruleset, 60)
    finished(start_classify(reference.location, log), log)
    with psycopg.connect(postgres_emptied) as other:  # a transaction, held until rolled back
        other.execute("LOCK TABLE followups IN EXCLUSIVE MODE")
        process = start_classify(store.location, log)
        wait_for(lambda: planning_waits(store), 30, "the planning to wait for the lock")
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        other.rollback()
    finished(start_classify(store.location, log), log)
    assert followups(store) == followups(reference)
    store.close()
    reference.close()
