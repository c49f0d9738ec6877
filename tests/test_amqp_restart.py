"""Faults: the RabbitMQ broker is restarted (`rabbitmqctl stop_app` / `start_app`) while the real
dispatch sends follow-ups to it through the amqp adapter.

While the broker is down every send fails retryably and is retried with back-off; once it is
back every follow-up goes through; nothing is lost (the messages confirmed before the restart
survive it: durable queue, persistent messages) and nothing is dead-lettered. The broker is
started again whatever happens to the test.
"""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from guanxi.adapters.base import Adapter
from guanxi.adapters.registry import load_adapter
from guanxi.engine.dispatch import Backoff, dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import MARKETING_EMAIL, invitation

if TYPE_CHECKING:
    from conftest import Broker

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
FOLLOWUPS = 60
MAX_ATTEMPTS = 30  # with this back-off, at least 28 s of retrying before a dead letter
BACKOFF = Backoff(base=dt.timedelta(seconds=0.5), cap=dt.timedelta(seconds=2), jitter=0.5)
TICK = 0.05  # seconds between dispatch passes
DEADLINE = 90.0  # seconds; the restart itself takes about 10 s here
RABBITMQCTL_TIMEOUT = 60.0


def plan(store: Store, n: int) -> None:
    """`n` marketing e-mails, one customer each: the contact caps stay out of it."""
    store.upsert_customers([{"customer_id": f"C{i:04d}", "name": "张三", "email": "z@example.com",
                             "consent_email": True, "consent_marketing": True}
                            for i in range(n)])  # fmt: skip
    followups = [invitation(f"C{i:04d}", f"E{i}", NOW, **MARKETING_EMAIL) for i in range(n)]
    insert_followups(store, followups, "b1", NOW)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(
        ["rabbitmqctl", *args], check=True, capture_output=True, timeout=RABBITMQCTL_TIMEOUT
    )


class Restart(threading.Thread):
    """Stops the broker's application, then starts it again; `down` is set once it is stopped.
    It always ends with the broker started, even when stopping failed half-way."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.down = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            rabbitmqctl("stop_app")
            self.down.set()
        except BaseException as error:
            self.error = error
        finally:
            try:
                rabbitmqctl("start_app")
                rabbitmqctl("await_startup", "--timeout", str(int(RABBITMQCTL_TIMEOUT)))
            except BaseException as error:
                self.error = self.error or error


def counts(store: Store) -> Counter[str]:
    rows = store.execute("SELECT status, count(*) AS n FROM followups GROUP BY status")
    return Counter({r["status"]: int(r["n"]) for r in rows})


def dispatch_through_restart(
    store: Store, ruleset: RuleSet, adapter: Adapter, restart: Restart
) -> list[dict[str, Any]]:
    """Dispatch on a clock that follows real time until every follow-up is sent and the broker
    is back. Before the broker goes down, one follow-up per pass and only while more than half
    are still pending, so that the outage finds work to do. The dispatch reports, in order."""
    rng, started = random.Random(1), time.monotonic()
    reports = []
    while time.monotonic() - started < DEADLINE:
        now = NOW + dt.timedelta(seconds=time.monotonic() - started)
        status = counts(store)
        if not restart.down.is_set():
            limit = 1 if status["pending"] > FOLLOWUPS // 2 else 0
        elif status["sent"] == FOLLOWUPS and not restart.is_alive():
            return reports
        else:
            limit = FOLLOWUPS
        if limit:
            report = dispatch_once(
                store,
                ruleset,
                {"email": adapter},
                now,
                limit=limit,
                max_attempts=MAX_ATTEMPTS,
                backoff=BACKOFF,
                rng=rng,
            )
            reports.append(vars(report))
        time.sleep(TICK)
        if restart.error is not None:
            raise restart.error
    raise AssertionError(f"not all sent within {DEADLINE} s: {dict(counts(store))}")


@pytest.mark.restarts_broker
def test_broker_restart_mid_run_loses_nothing(
    store: Store, ruleset: RuleSet, broker: Broker
) -> None:
    queue = broker.queue()
    plan(store, FOLLOWUPS)
    restart = Restart()
    adapter = load_adapter("amqp", routing_key=queue, timeout=2.0)
    try:
        restart.start()
        reports = dispatch_through_restart(store, ruleset, adapter, restart)
    finally:
        restart.join(2 * RABBITMQCTL_TIMEOUT + 10)
        adapter.close()
    assert restart.error is None

    assert counts(store) == Counter({"sent": FOLLOWUPS})
    ledger = store.execute("SELECT key, attempt, outcome, error FROM deliveries ORDER BY id")
    retries = [row for row in ledger if row["outcome"] == "retry"]
    assert retries, "the outage caused no retry"
    assert all(row["error"].startswith("amqp amqp://guest:***@") for row in retries)
    assert not any(row["outcome"] == "dead" for row in ledger)
    assert sum(r["retried"] for r in reports) == len(retries)
    sent = Counter(row["key"] for row in ledger if row["outcome"] == "sent")
    assert len(sent) == FOLLOWUPS and set(sent.values()) == {1}

    # Nothing lost: the queue holds every key, those confirmed before the restart included;
    # a copy sent again after an unconfirmed publish carries the same message_id.
    ids = Counter(properties.message_id for properties, _ in broker.drain(queue))
    assert set(ids) == set(sent)
    duplicates = sum(ids.values()) - len(ids)
    assert duplicates <= len(retries)
