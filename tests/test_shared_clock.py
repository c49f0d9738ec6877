"""Machines that share a PostgreSQL store tell time by its server's clock, not their own: a
daemon (or `run --once`) whose clock is 5 minutes behind sends nothing past its bound on
lateness, and a withdrawal recorded on a machine 5 minutes ahead is in force at once, not
5 minutes later. One clock also means one lease: a claim by one daemon is not lapsed for
another whose clock is ahead.

These tests need the PostgreSQL server of conftest.POSTGRES; without it they fail."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.clock import StoreClock, SystemClock
from guanxi.engine.daemon import heartbeat
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.postgresql import PostgresStore
from tests.daemon_helpers import invitation, rules_copy
from tests.test_send_time_policy import customer

SKEW = dt.timedelta(minutes=5)
CUSTOMER = "C0001"


@pytest.fixture
def pg(postgres_emptied: str, ruleset: RuleSet) -> Iterator[PostgresStore]:
    """A new store with one customer who consents to everything."""
    store = PostgresStore(postgres_emptied)
    store.prepare(ruleset.schema)
    store.upsert_customers([customer(1)])
    yield store
    store.close()


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default rules without quiet hours (these tests run at any hour), run in the
    test's folder (the outbox is written there)."""
    monkeypatch.chdir(tmp_path)
    folder = rules_copy(tmp_path)
    policies = folder / "policies.yaml"
    text = policies.read_text("utf-8")
    policies.write_text(text.replace('quiet_hours: {start: "21:00", end: "08:30"}', ""), "utf-8")
    return folder


def machine_clock_off(monkeypatch: pytest.MonkeyPatch, by: dt.timedelta) -> None:
    """This machine's clock (the one every command reads) is `by` off the true time."""
    true_now = SystemClock.now
    monkeypatch.setattr(SystemClock, "now", lambda self: true_now(self) + by)


def server_now(store: PostgresStore) -> dt.datetime:
    server = store.server_time()
    assert server is not None
    return server


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args], catch_exceptions=False)


def sent() -> list[str]:
    """The lines the outbox adapter wrote (it makes its file when it starts)."""
    outbox = Path("outbox.jsonl")
    return outbox.read_text("utf-8").splitlines() if outbox.exists() else []


def status(store: PostgresStore) -> str:
    [row] = store.execute("SELECT status FROM followups")
    return str(row["status"])


def test_a_run_whose_clock_is_behind_the_stores_sends_nothing_past_its_bound(
    pg: PostgresStore, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = server_now(pg)
    late = invitation(CUSTOMER, "E1", now - dt.timedelta(hours=1), expires_at=now - SKEW / 2)
    insert_followups(pg, [late], "b1", now - dt.timedelta(hours=2))
    machine_clock_off(monkeypatch, -SKEW)
    result = invoke("run", "--once", "--rules", str(rules), "--store", pg.url, "--json")
    assert result.exit_code == 0, result.output
    assert status(pg) == "expired"
    assert sent() == []


def test_a_withdrawal_recorded_on_a_machine_ahead_of_the_store_is_in_force_at_once(
    pg: PostgresStore, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert_followups(pg, [invitation(CUSTOMER, "E1", server_now(pg))], "b1", server_now(pg))
    withdraw = ["--channel", "sms", "--purpose", "service", "--withdraw", "--source", "branch"]
    where = ["--rules", str(rules), "--store", pg.url]
    with monkeypatch.context() as ahead:  # the branch's machine; the daemon's keeps time
        machine_clock_off(ahead, SKEW)
        assert invoke("consent", "record", CUSTOMER, *withdraw, *where).exit_code == 0
    assert invoke("run", "--once", *where, "--json").exit_code == 0
    assert status(pg) == "suppressed"
    assert sent() == []


def test_health_from_a_machine_ahead_of_the_store_sees_a_daemon_that_just_ticked_as_ok(
    pg: PostgresStore, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heartbeat.record_once(pg, server_now(pg), "dispatch", None, dt.timedelta(seconds=30))
    machine_clock_off(monkeypatch, SKEW)
    result = invoke("health", "--rules", str(rules), "--store", pg.url, "--json")
    assert result.exit_code == 0, result.output
    assert [d["status"] for d in json.loads(result.stdout)["daemons"]] == ["ok"]


def test_the_store_clock_follows_the_server_however_far_the_machine_is_off(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read at the start and again after `every`; the machine's clock runs in between."""
    machine_clock_off(monkeypatch, SKEW)
    ticks = iter([0.0, 1.0, 61.0])
    clock = StoreClock(pg.server_time, every=dt.timedelta(minutes=1), stopwatch=lambda: next(ticks))
    for _ in range(3):
        assert abs(clock.now() - server_now(pg)) < dt.timedelta(seconds=1)


def test_a_store_on_this_machine_is_on_its_clock(tmp_path: Path) -> None:
    from guanxi.engine.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        assert store.server_time() is None
        clock = StoreClock(store.server_time)
        assert abs(clock.now() - SystemClock().now()) < dt.timedelta(seconds=1)
    finally:
        store.close()
