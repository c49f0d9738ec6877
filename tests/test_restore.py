"""A SQLite store restored from a backup (SQLite's backup API, as the README copies a store)
sends nothing twice: what went out after the backup was taken is held until an operator
releases it, and what was not due then goes out as usual."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import POSTGRES
from tests.daemon_helpers import CONSENTS, KeyReceiver, invitation, rules_copy

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def receiver() -> KeyReceiver:
    with KeyReceiver() as running:
        yield running


@pytest.fixture
def rules(tmp_path: Path, receiver: KeyReceiver) -> Path:
    delivery = f'delivery:\n  default: {{adapter: webhook, url: "{receiver.url}"}}'
    return rules_copy(tmp_path, delivery)


@pytest.fixture
def db(tmp_path: Path, ruleset: RuleSet) -> Path:
    """Three customers, with a message due now (E1), in an hour (E2) and in three (E3)."""
    path = tmp_path / "guanxi.db"
    store = SQLiteStore(path)
    try:
        store.prepare(ruleset.schema)
        plan(store, {"E1": NOW, "E2": NOW + HOUR, "E3": NOW + 3 * HOUR})
    finally:
        store.close()
    return path


def plan(store: Store, due: dict[str, dt.datetime], now: dt.datetime = NOW) -> None:
    """For each occurrence, a customer of its name with a message due then."""
    customers = [
        {"customer_id": f"C-{name}", "name": f"客户{i}", "phone": f"1380013800{i}", **CONSENTS}
        for i, name in enumerate(due)
    ]
    store.upsert_customers(customers)
    planned = [invitation(f"C-{name}", name, at) for name, at in due.items()]
    insert_followups(store, planned, "restore", now)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run_once(rules: Path, db: Path | str, now: dt.datetime) -> dict[str, object]:
    result = invoke("run", "--once", "--rules", str(rules), "--store", str(db),
                    "--now", now.isoformat(), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def copy(source: Path, target: Path) -> None:
    """SQLite's backup API, the way the README copies a store (and a bank restores one)."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copied:
        live.backup(copied)
    live.close()
    copied.close()


def attempts(receiver: KeyReceiver, occurrence: str) -> int:
    return sum(n for key, n in receiver.attempts.items() if key.endswith(f":{occurrence}"))


def followup(db: Path, occurrence: str) -> dict[str, object]:
    store = SQLiteStore(db)
    try:
        [row] = store.execute(
            "SELECT status, policy, reason FROM followups WHERE occurrence = :o", {"o": occurrence}
        )
    finally:
        store.close()
    return row


def restored(tmp_path: Path, rules: Path, db: Path) -> None:
    """E1 sent, a backup taken, E2 sent, then the backup restored over the store."""
    backup = tmp_path / "backup.db"
    run_once(rules, db, NOW)
    copy(db, backup)
    run_once(rules, db, NOW + 2 * HOUR)
    copy(backup, db)


def test_what_was_sent_after_the_backup_is_not_sent_again(
    tmp_path: Path, rules: Path, db: Path, receiver: KeyReceiver
) -> None:
    restored(tmp_path, rules, db)
    report = run_once(rules, db, NOW + 4 * HOUR)
    assert [attempts(receiver, o) for o in ("E1", "E2", "E3")] == [1, 1, 1]
    assert report["held_restored"] == 1
    held = followup(db, "E2")
    assert (held["status"], held["policy"]) == ("suppressed", "restored")
    assert "release-restored" in str(held["reason"])
    assert followup(db, "E3")["status"] == "sent"


def test_release_restored_sends_what_an_operator_lets_go(
    tmp_path: Path, rules: Path, db: Path, receiver: KeyReceiver
) -> None:
    restored(tmp_path, rules, db)
    run_once(rules, db, NOW + 4 * HOUR)
    released = invoke("followups", "release-restored", "--rules", str(rules), "--store", str(db),
                      "--now", (NOW + 5 * HOUR).isoformat())  # fmt: skip
    assert released.exit_code == 0, released.output
    assert "1" in released.stdout
    run_once(rules, db, NOW + 5 * HOUR)
    assert attempts(receiver, "E2") == 2  # the operator's choice: the receiver had not got it
    assert followup(db, "E2")["status"] == "sent"
    again = run_once(rules, db, NOW + 6 * HOUR)
    assert again["held_restored"] == 0  # the restore is found once


def test_a_store_made_anew_at_the_same_place_is_not_a_restore(
    tmp_path: Path, rules: Path, db: Path, receiver: KeyReceiver, ruleset: RuleSet
) -> None:
    run_once(rules, db, NOW)
    run_once(rules, db, NOW + 2 * HOUR)
    for leftover in tmp_path.glob("guanxi.db*"):
        if not leftover.name.endswith(".sends"):
            leftover.unlink()
    store = SQLiteStore(db)
    try:
        store.prepare(ruleset.schema)
        plan(store, {"F1": NOW + 3 * HOUR})
    finally:
        store.close()
    report = run_once(rules, db, NOW + 4 * HOUR)
    assert attempts(receiver, "F1") == 1
    assert (report["held_restored"], report["sent"]) == (0, 1)


def test_health_says_the_store_was_restored_until_the_held_are_released(
    tmp_path: Path, rules: Path, db: Path
) -> None:
    restored(tmp_path, rules, db)
    run_once(rules, db, NOW + 4 * HOUR)
    args = ("--rules", str(rules), "--store", str(db), "--now", (NOW + 4 * HOUR).isoformat())
    found = invoke("health", *args)
    assert found.exit_code == 1
    assert "restored from a backup" in found.stdout
    assert "1 follow-up due by 2026-12-01 12:00 is held" in found.stdout
    assert "guanxi followups release-restored" in found.stdout
    assert "held" in found.stderr
    assert json.loads(invoke("health", *args, "--json").stdout)["restored"]["held"] == 1
    assert invoke("followups", "release-restored", *args).exit_code == 0
    assert invoke("health", *args).exit_code == 0


def test_what_is_planned_again_for_a_time_the_store_forgot_is_held_too(
    tmp_path: Path, rules: Path, db: Path, receiver: KeyReceiver, ruleset: RuleSet
) -> None:
    """After a restore the day's events are loaded again: their follow-ups come back due
    when they went out before the restore, and are held like those the backup held; one
    planned after a release is held again."""
    restored(tmp_path, rules, db)
    run_once(rules, db, NOW + 4 * HOUR)
    replan(db, ruleset, {"R1": NOW + HOUR}, NOW + 4 * HOUR)
    report = run_once(rules, db, NOW + 5 * HOUR)
    assert attempts(receiver, "R1") == 0
    assert (report["held_restored"], followup(db, "R1")["policy"]) == (1, "restored")
    args = ("--rules", str(rules), "--store", str(db), "--now", (NOW + 6 * HOUR).isoformat())
    assert "2 follow-ups due by 2026-12-01 12:00 are held" in invoke("health", *args).stdout
    assert invoke("followups", "release-restored", *args).exit_code == 0
    replan(db, ruleset, {"R2": NOW + 2 * HOUR, "R3": NOW + 7 * HOUR}, NOW + 7 * HOUR)
    report = run_once(rules, db, NOW + 8 * HOUR)
    assert [attempts(receiver, o) for o in ("E2", "R1", "R2", "R3")] == [2, 1, 0, 1]
    assert followup(db, "R2")["policy"] == "restored"


def replan(db: Path, ruleset: RuleSet, due: dict[str, dt.datetime], now: dt.datetime) -> None:
    store = SQLiteStore(db)
    try:
        store.prepare(ruleset.schema)
        plan(store, due, now)
    finally:
        store.close()


def test_a_postgresql_store_restored_by_pg_restore_holds_what_was_due(
    tmp_path: Path,
    rules: Path,
    receiver: KeyReceiver,
    ruleset: RuleSet,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pg_dump, a send, pg_restore --clean: the restore makes the tables anew, which tells it.
    There is no file of the last send: everything due by the moment the restore is found
    waits for an operator."""
    monkeypatch.chdir(tmp_path)
    store = PostgresStore(postgres_url)
    try:
        store.prepare(ruleset.schema)
        plan(store, {"E1": NOW, "E2": NOW + HOUR, "E3": NOW + 3 * HOUR})
        [row] = store.execute("SELECT current_schema() AS name")
    finally:
        store.close()
    dump = tmp_path / "guanxi.dump"
    run_once(rules, postgres_url, NOW)
    pg("pg_dump", "--format=custom", f"--schema={row['name']}", f"--file={dump}")
    run_once(rules, postgres_url, NOW + 2 * HOUR)
    pg("pg_restore", "--clean", "--if-exists", "--single-transaction", str(dump))
    report = run_once(rules, postgres_url, NOW + 4 * HOUR)
    assert [attempts(receiver, o) for o in ("E1", "E2", "E3")] == [1, 1, 0]
    assert report["held_restored"] == 2
    args = ("--rules", str(rules), "--store", postgres_url, "--now", (NOW + 4 * HOUR).isoformat())
    assert "2 follow-ups due by 2026-12-01 14:00 are held" in invoke("health", *args).stdout
    assert invoke("followups", "release-restored", *args).exit_code == 0
    run_once(rules, postgres_url, NOW + 5 * HOUR)
    assert [attempts(receiver, o) for o in ("E1", "E2", "E3")] == [1, 2, 1]


def pg(program: str, *args: str) -> None:
    """A PostgreSQL client program on the test database."""
    subprocess.run([program, f"--dbname={POSTGRES}", *args], check=True, capture_output=True)
