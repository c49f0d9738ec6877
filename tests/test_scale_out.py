"""Several daemons on one PostgreSQL store: claims that never overlap, one leader for the
scheduled jobs that another daemon replaces when it dies, and the whole of it as real
processes: three `guanxi run` daemons, 6,000 follow-ups, one daemon killed mid-run. On one
SQLite store too, one daemon leads until its process ends.

These tests need the PostgreSQL server of conftest.POSTGRES; without it they fail."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.daemon.leader import AdvisoryLock, leadership
from guanxi.engine.dispatch import claim
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import postgres_schema
from tests.daemon_helpers import (
    KeyReceiver,
    log_messages,
    plan_due,
    rules_copy,
    start_daemon,
    stop,
    wait_for,
)

pytestmark = pytest.mark.takes_minutes  # handed out first (conftest.py)

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai: no quiet hours
LEASE = dt.timedelta(minutes=5)
FOLLOWUPS = 6_000  # a fair share each; after the kill the run waits out the 30 s lease anyway
DAEMONS = 3
BATCH = 100


@pytest.fixture
def pg(postgres_url: str, ruleset: RuleSet) -> Iterator[PostgresStore]:
    """A new PostgreSQL schema of its own, migrated and prepared for the default rules."""
    store = PostgresStore(postgres_url)
    store.prepare(ruleset.schema)
    yield store
    store.close()


# --- claims side by side -------------------------------------------------------------------


def test_a_claim_passes_over_the_rows_another_daemon_is_claiming(pg: PostgresStore) -> None:
    plan_due(pg, 10, NOW - dt.timedelta(minutes=1))
    other = PostgresStore(pg.url, migrate=False)
    try:
        other.execute("SET lock_timeout = '2s'")  # waiting on the first claim fails the test
        with pg.transaction():  # the first claim is not committed yet: its rows are locked
            first = claim(pg, NOW, 6, LEASE)
            second = claim(other, NOW, 6, LEASE)
        third = claim(other, NOW, 6, LEASE)
    finally:
        other.close()
    assert len(first) == 6 and len(second) == 4 and third == []
    assert not {r["id"] for r in first} & {r["id"] for r in second}


# --- the leader ----------------------------------------------------------------------------


def test_one_daemon_leads_and_another_takes_over_when_its_session_ends(
    postgres_url: str,
) -> None:
    first, second = AdvisoryLock(postgres_url), AdvisoryLock(postgres_url)
    try:
        assert first.held() and first.held()  # asking again keeps the lead
        assert not second.held()
        _end_session_of(first)  # as when the leader's process or machine dies
        assert not first.held()
        assert second.held()
        assert not first.held()
        second.release()
        assert first.held()
    finally:
        first.release()
        second.release()


def test_a_released_lead_is_free_at_once(postgres_url: str) -> None:
    """On shutdown the lead passes without waiting for the server to end the session: the
    other daemon asks straight after, every time (closing alone lost about 1 in 200 on a
    busy machine: the server frees a closed session's locks when its process has exited)."""
    first, second = AdvisoryLock(postgres_url), AdvisoryLock(postgres_url)
    try:
        for _ in range(200):
            assert first.held()
            first.release()
            assert second.held()
            second.release()
    finally:
        first.release()
        second.release()


def test_each_schema_has_its_own_leader(postgres_url: str) -> None:
    with postgres_schema() as other_url:
        here, there = AdvisoryLock(postgres_url), AdvisoryLock(other_url)
        try:
            assert here.held() and there.held()
        finally:
            here.release()
            there.release()


def _end_session_of(lock: AdvisoryLock) -> None:
    assert lock._conn is not None
    pid = lock._conn.info.backend_pid
    with psycopg.connect(lock.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_only_the_leader_plans_and_a_follower_takes_over_when_it_stops(
    tmp_path: Path, pg: PostgresStore
) -> None:
    rules = rules_copy(tmp_path)
    stores = [PostgresStore(pg.url, migrate=False) for _ in range(2)]
    daemons = [
        Daemon(rules, load_ruleset(rules), s, FixedClock(NOW), folder=tmp_path) for s in stores
    ]
    leader, follower = daemons
    try:
        assert leader.lead() and not follower.lead()
        pg.insert_events([{"id": "E1", "type": "sale", "customer_id": "C1", "at": NOW.isoformat()}])
        follower.dispatch_tick()
        assert _unplanned_events(pg) == 1  # a follower only dispatches
        leader.dispatch_tick()
        assert _unplanned_events(pg) == 0
        assert leader.metrics.leader and not follower.metrics.leader

        leader.leadership.release()  # the leader stops
        pg.insert_events([{"id": "E2", "type": "sale", "customer_id": "C1", "at": NOW.isoformat()}])
        follower.dispatch_tick()
        assert follower.metrics.leader and _unplanned_events(pg) == 0
    finally:
        for daemon, store in zip(daemons, stores, strict=True):
            daemon.leadership.release()
            daemon.running.adapters.close()
            store.close()


def _unplanned_events(store: PostgresStore) -> int:
    """Events no planner has handled yet (one made to wait for a classification was)."""
    [row] = store.execute(
        "SELECT count(*) AS n FROM events WHERE planned_at IS NULL AND waits_after IS NULL"
    )
    return int(row["n"])


def test_a_daemon_outlives_losing_its_database_connection(
    tmp_path: Path, pg: PostgresStore
) -> None:
    rules = rules_copy(tmp_path)
    store = PostgresStore(pg.url, migrate=False)
    daemon = Daemon(rules, load_ruleset(rules), store, FixedClock(NOW), folder=tmp_path)
    try:
        keys = plan_due(pg, 5, NOW - dt.timedelta(minutes=1))
        with psycopg.connect(pg.url, autocommit=True) as admin:  # as a server restart would
            admin.execute("SELECT pg_terminate_backend(%s)", [store.conn.info.backend_pid])
        with pytest.raises(psycopg.OperationalError):
            daemon.dispatch_tick()  # this tick fails (the scheduler logs it and goes on)
        report = daemon.dispatch_tick()
        assert (report.claimed, report.sent) == (len(keys), len(keys))
    finally:
        daemon.leadership.release()
        daemon.running.adapters.close()
        store.close()


# --- three daemons, one killed -------------------------------------------------------------


def test_three_daemons_deliver_everything_once_when_one_is_killed(
    tmp_path: Path, pg: PostgresStore, record_property: pytest.RecordProperty
) -> None:
    with KeyReceiver() as receiver:
        delivery = f'delivery:\n  default: {{adapter: webhook, url: "{receiver.url}"}}'
        # The lease must outlast a batch (claim, sends, record) as every daemon reads it. Each
        # daemon's --now clock starts when that process has started up, so on a busy machine
        # their clocks differ by seconds: the one started first sees another's lease run out
        # that much early (10 s proved too short on a busy CI). 30 s covers it; the killed
        # daemon's batch is claimed again once its lease has run out.
        rules = rules_copy(tmp_path, delivery, lease="30 seconds", batch=str(BATCH))
        keys = plan_due(pg, FOLLOWUPS, NOW - dt.timedelta(minutes=1))
        logs = [tmp_path / f"daemon{i}.log" for i in range(DAEMONS)]
        args = ("--port", "0", "--now", NOW.isoformat())
        daemons = [start_daemon(rules, pg.url, *args, log=log) for log in logs]
        try:
            wait_for(lambda: len(receiver.acted) >= FOLLOWUPS // 4, 120, "a quarter delivered")
            leader = _leader(logs)
            daemons[leader].send_signal(signal.SIGKILL)
            assert daemons[leader].wait(10) == -signal.SIGKILL
            survivors = [i for i in range(DAEMONS) if i != leader]
            wait_for(lambda: len(receiver.acted) == FOLLOWUPS, 180, "every delivery")
            wait_for(lambda: _sent(pg) == FOLLOWUPS, 30, "every outcome recorded")
            wait_for(lambda: any(_led(logs[i]) for i in survivors), 30, "a new leader")
        finally:
            for i, process in enumerate(daemons):
                if process.poll() is None:
                    assert stop(process) == 0, f"daemon {i} did not stop cleanly"
    assert sorted(receiver.acted) == sorted(keys)  # every key acted on once, none missing
    sent_by = _sent_by_worker(pg)
    assert sum(sent_by.values()) == FOLLOWUPS  # one 'sent' in the ledger per key
    pids = [str(p.pid) for p in daemons]
    shares = {pids.index(worker.rsplit(":", 1)[1]): n for worker, n in sent_by.items()}
    record_property("sent_by_daemon", shares)
    record_property("duplicate_attempts", receiver.duplicates)
    print(f"\nsent by daemon {shares}, killed {leader}, {receiver.duplicates} duplicate attempts")
    # Only the killed daemon's batch in flight is sent again (after its lease ran out).
    assert receiver.duplicates <= BATCH
    for i in survivors:  # the survivors shared the work, each a fair part of it
        assert shares.get(i, 0) >= FOLLOWUPS // (2 * DAEMONS), shares


def _leader(logs: list[Path]) -> int:
    wait_for(lambda: any(_led(log) for log in logs), 30, "a leader")
    [leader] = [i for i, log in enumerate(logs) if _led(log)]
    return leader


def _led(log: Path) -> bool:
    return any(line.get("message") == "took the lead" for line in log_messages(log))


def _sent(store: PostgresStore) -> int:
    [row] = store.execute("SELECT count(*) AS n FROM followups WHERE status = 'sent'")
    return int(row["n"])


def _sent_by_worker(store: PostgresStore) -> Counter[str]:
    rows = store.execute(
        "SELECT worker, count(*) AS n FROM deliveries WHERE outcome = 'sent' GROUP BY worker"
    )
    return Counter({str(row["worker"]): int(row["n"]) for row in rows})


def test_one_daemon_leads_a_sqlite_store_until_its_process_ends(tmp_path: Path) -> None:
    """Two daemons on one SQLite store: one leads (only it classifies and plans); when its
    process ends, however it ends, the other takes the lead."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    first, second = leadership(store), leadership(SQLiteStore(tmp_path / "guanxi.db"))
    try:
        assert first.held() and first.held()  # asking again keeps the lead
        assert not second.held()
        first.release()
        assert second.held() and not first.held()
        second.release()
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LEAD, str(tmp_path / "guanxi.db")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leading"
        assert not first.held()
        holder.kill()  # no release: the system frees the lock with the process
        holder.wait()
        holder.stdout.close()
        assert first.held()
    finally:
        first.release()
        second.release()
        store.close()


HOLD_LEAD = """
import sys, time
from guanxi.engine.daemon.leader import leadership
from guanxi.engine.store.sqlite import SQLiteStore
lead = leadership(SQLiteStore(sys.argv[1]))
assert lead.held()
print("leading", flush=True)
time.sleep(600)
"""
