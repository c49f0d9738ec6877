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

import datetime as dt
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import store_source
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.classify_helpers import (
    NIGHT,
    cli_classify,
    customers,
    first_night,
    followups,
    planning_fails,
    reference_followups,
    write_csv,
)
from tests.conftest import RULES
from tests.daemon_helpers import wait_for

pytestmark = pytest.mark.every_store

FEW = 60  # customers where one run is enough
CUSTOMERS = 4_000  # where a run lasts long enough to be killed inside it
KILLS = 4


def test_a_classify_whose_planning_fails_leaves_no_run_without_its_followups(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The process ends between writing the run and planning its follow-ups (here the
    planning fails: the store refuses the insert); the next classify plans them all."""
    expected = reference_followups(ruleset, tmp_path, FEW)
    first_night(store, ruleset, FEW)
    with planning_fails(store):
        assert CliRunner().invoke(cli, cli_classify(store.location)).exit_code != 0
    assert CliRunner().invoke(cli, cli_classify(store.location)).exit_code == 0
    assert {step for step, *_ in expected} == {"partner_welcome_visit", "retention_call"}
    assert followups(store) == expected


def test_the_duckdb_engine_commits_a_run_with_its_followups(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The snapshot engine's run fails while planning: neither the run nor the columnar copy
    of the assignments moves on, and the next run plans every follow-up."""
    expected = reference_followups(ruleset, tmp_path, FEW)
    first_night(store, ruleset, FEW)
    runs = store.execute("SELECT count(*) AS n FROM classification_runs")[0]["n"]
    snapshot = ["--input", str(write_csv(tmp_path / "night.csv", customers(FEW, 1)))]
    with planning_fails(store):
        stopped = CliRunner().invoke(cli, [*cli_classify(store.location), *snapshot])
    assert stopped.exit_code != 0
    assert store.execute("SELECT count(*) AS n FROM classification_runs")[0]["n"] == runs
    again = CliRunner().invoke(cli, [*cli_classify(store.location), *snapshot])
    assert again.exit_code == 0, again.output
    assert followups(store) == expected


@pytest.mark.parametrize("duckdb_from", [None, 1])
def test_the_nightly_classification_commits_a_run_with_its_followups(
    store: Store,
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    duckdb_from: int | None,
) -> None:
    """The daemon's classification job fails while planning; its next run plans them all.
    The daemon chooses the engine as `guanxi classify` does: a SQLite store from DUCKDB_FROM
    customers is classified on DuckDB."""
    if duckdb_from is not None:
        monkeypatch.setattr(store_source, "DUCKDB_FROM", duckdb_from)
    expected = reference_followups(ruleset, tmp_path, FEW)
    first_night(store, ruleset, FEW)
    clock = FixedClock(dt.datetime.fromisoformat(NIGHT))
    daemon = Daemon(RULES, ruleset, store, clock, folder=tmp_path, port=None)
    try:
        with planning_fails(store), pytest.raises(Exception, match="disk full"):
            daemon.classify_now()
        daemon.classify_now()
    finally:
        daemon.leadership.release()
        daemon.running.adapters.close()
    assert followups(store) == expected
    on_duckdb = duckdb_from is not None and store.dialect == "sqlite"
    [last] = store.execute("SELECT engine FROM classification_runs ORDER BY id DESC LIMIT 1")
    assert last["engine"] == ("duckdb" if on_duckdb else store.dialect)


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
    reference, log = SQLiteStore(tmp_path / "reference.db"), tmp_path / "classify.log"
    reference.prepare(ruleset.schema)
    for opened in (store, reference):
        first_night(opened, ruleset, CUSTOMERS)
    began = time.monotonic()
    finished(start_classify(reference.location, log), log)  # uninterrupted, on a copy
    seconds = time.monotonic() - began
    killed = 0
    for _ in range(KILLS):
        process = start_classify(store.location, log)
        time.sleep(rng.uniform(0.3, 0.9) * seconds)  # mostly inside the run, past start-up
        if process.poll() is not None:
            break  # it finished before the kill: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        killed += 1
    finished(start_classify(store.location, log), log)
    assert killed, "no run was killed"
    expected = followups(reference)
    reference.close()
    assert len(expected) > CUSTOMERS // 10
    assert followups(store) == expected  # each once: a duplicate would be a row more


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
    expected = reference_followups(ruleset, tmp_path, FEW)
    store, log = PostgresStore(postgres_emptied), tmp_path / "classify.log"
    try:
        store.prepare(ruleset.schema)
        first_night(store, ruleset, FEW)
        with psycopg.connect(postgres_emptied) as other:  # a transaction, until rolled back
            other.execute("LOCK TABLE followups IN EXCLUSIVE MODE")
            process = start_classify(store.location, log)
            wait_for(lambda: planning_waits(store), 30, "the planning to wait for the lock")
            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            other.rollback()
        finished(start_classify(store.location, log), log)
        assert followups(store) == expected
    finally:
        store.close()
