"""`guanxi run --once` and `guanxi followups retry`, on each real store and an outbox file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.store import Store
from tests.daemon_helpers import MARKETING_EMAIL, invitation

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.every_store


@pytest.fixture
def db(store: Store) -> str:
    """A customer with one follow-up due now and one due in a week."""
    store.upsert_customers([{"customer_id": "C0001", "name": "张三", "email": "z@example.com",
                             "consent_email": True, "consent_marketing": True}])  # fmt: skip
    due = [
        invitation("C0001", "E1", NOW, **MARKETING_EMAIL),
        invitation("C0001", "E2", NOW + dt.timedelta(days=7), **MARKETING_EMAIL),
    ]
    insert_followups(store, due, "b1", NOW)
    return store.location


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in the test's folder: a PostgreSQL store's adapters write their files
    into the working folder."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args])


def run_once(db: str, now: dt.datetime = NOW) -> Result:
    args = ["--rules", str(RULES), "--store", db, "--now", now.isoformat(), "--json"]
    return invoke("run", "--once", *args)


def outbox_path(db: str) -> Path:
    """Where the outbox adapter writes by default: beside a SQLite store, else the working
    folder."""
    return Path(db).parent / "outbox.jsonl" if "://" not in db else Path.cwd() / "outbox.jsonl"


def outbox_keys(db: str) -> list[str]:
    path = outbox_path(db)
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines()]


def status(store: Store, occurrence: str) -> str:
    rows = store.execute("SELECT status FROM followups WHERE occurrence = :o", {"o": occurrence})
    return str(rows[0]["status"])


def test_a_due_followup_is_delivered_once_across_two_runs(db: str, store: Store) -> None:
    first = run_once(db)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["sent"] == 1
    assert f"outbox ({outbox_path(db)})" in report["delivered_to"]
    second = run_once(db, NOW + dt.timedelta(hours=1))
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["sent"] == 0
    keys = outbox_keys(db)
    assert len(keys) == 1 and keys[0].endswith(":E1")
    assert status(store, "E1") == "sent"
    assert status(store, "E2") == "pending"


def test_the_text_report_has_the_counts(db: str) -> None:
    result = invoke("run", "--once", "--rules", str(RULES), "--store", db,
                    "--now", NOW.isoformat())  # fmt: skip
    assert result.exit_code == 0, result.output
    for label in ("planned from events", "planned recurring", "sent", "retried", "dead"):
        assert label in result.stdout
    assert "waiting" in result.stdout


def test_retry_requeues_a_dead_letter_and_the_next_run_sends_it(db: str, store: Store) -> None:
    store.execute("UPDATE followups SET status = 'dead', attempts = 5 WHERE occurrence = 'E1'")
    (dead_id,) = [r["id"] for r in store.execute("SELECT id FROM followups WHERE status = 'dead'")]
    assert json.loads(run_once(db).stdout)["sent"] == 0
    result = invoke("followups", "retry", str(dead_id), "--rules", str(RULES), "--store", db,
                    "--now", NOW.isoformat())  # fmt: skip
    assert result.exit_code == 0, result.output
    assert status(store, "E1") == "pending"
    later = run_once(db, NOW + dt.timedelta(minutes=1))
    assert json.loads(later.stdout)["sent"] == 1
    assert status(store, "E1") == "sent"
    assert [k.rsplit(":", 1)[1] for k in outbox_keys(db)] == ["E1"]


def test_retry_refuses_a_followup_that_is_not_dead(db: str, store: Store) -> None:
    (pending_id,) = [r["id"] for r in store.execute(
        "SELECT id FROM followups WHERE occurrence = 'E2'")]  # fmt: skip
    result = invoke("followups", "retry", str(pending_id), "--rules", str(RULES), "--store", db)
    assert result.exit_code == 1
    assert f"Error: follow-up {pending_id} is not a dead letter" in result.output


def test_retry_says_when_there_is_no_such_followup(db: str, store: Store) -> None:
    """A mistyped id is not 'not a dead letter': there is no follow-up of that id at all."""
    [row] = store.execute("SELECT max(id) AS last FROM followups")
    missing = row["last"] + 999
    result = invoke("followups", "retry", str(missing), "--rules", str(RULES), "--store", db)
    assert (result.exit_code, result.stderr) == (1, f"Error: there is no follow-up {missing}\n")
