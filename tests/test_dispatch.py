"""Dispatch against a real SQLite store, the real outbox adapter and a local HTTP receiver."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from guanxi.adapters.base import Adapter, RetryableError
from guanxi.adapters.registry import load_adapter
from guanxi.engine.dispatch import Backoff, claim, dispatch_once, retry_dead
from guanxi.engine.dispatch.ledger import attempts
from guanxi.engine.dispatch.outcomes import Attempts, record
from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)
BACKOFF = Backoff(base=dt.timedelta(seconds=60), cap=dt.timedelta(hours=1), jitter=0.5)


CUSTOMER = {
    "customer_id": "C0001",
    "name": "张三",
    "email": "z@example.com",
    "consent_email": True,
    "consent_marketing": True,
    "do_not_contact": False,
}


def plan(
    store: Store,
    n: int,
    *,
    due: dt.datetime = NOW,
    channel: str = "email",
    expires: dt.datetime | None = None,
    prefix: str = "E",
) -> list[int]:
    store.upsert_customers([CUSTOMER])
    followups = [
        Followup(
            customer_id="C0001",
            step_id="after_purchase.invite_feedback",
            level=None,
            kind="message",
            channel=channel,
            template="invite_feedback",
            priority=50,
            mandatory=False,
            purpose="marketing",
            owner=None,
            occurrence=f"{prefix}{i}",
            due_at=due,
            expires_at=expires,
            ruleset_hash="abc123",
            event_id=f"{prefix}{i}",
            payload={"product": "大额存单"},
        )
        for i in range(n)
    ]
    insert_followups(store, followups, "b1", NOW)
    keys = [f.key for f in followups]
    rows = store.execute("SELECT id, key FROM followups")
    return [r["id"] for r in rows if r["key"] in keys]


def followup(store: Store, followup_id: int) -> dict[str, Any]:
    return store.execute("SELECT * FROM followups WHERE id = :id", {"id": followup_id})[0]


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Adapter]:
    with load_adapter("outbox", path=tmp_path / "outbox.jsonl") as adapter:
        yield adapter


def outbox_keys(adapter: Adapter) -> list[str]:
    lines = Path(adapter.path).read_text(encoding="utf-8").splitlines()  # type: ignore[attr-defined]
    return [json.loads(line)["key"] for line in lines]


@dataclass
class Receiver:
    """A local HTTP server answering each POST with the next of `statuses` (then 200)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.keys.append(self.headers.get("Idempotency-Key"))
            status = seen.statuses.pop(0) if seen.statuses else 200
            answer = json.dumps({"id": f"r{len(seen.keys)}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield seen
    server.shutdown()
    server.server_close()
    thread.join(2)


@pytest.fixture
def webhook(receiver: Receiver) -> Iterator[Adapter]:
    with load_adapter("webhook", url=receiver.url, timeout=2.0) as adapter:
        yield adapter


def run(store: Store, ruleset: RuleSet, adapter: Adapter, now: dt.datetime, **options: Any) -> Any:
    options.setdefault("backoff", BACKOFF)
    options.setdefault("rng", random.Random(1))
    return dispatch_once(store, ruleset, {"email": adapter}, now, **options)


def test_due_followups_are_delivered_exactly_once(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    due = plan(store, 3)
    later = plan(store, 2, due=NOW + dt.timedelta(days=1), prefix="L")
    report = run(store, ruleset, outbox, NOW)
    again = run(store, ruleset, outbox, NOW + dt.timedelta(hours=1))
    assert (report.claimed, report.sent, again.claimed) == (3, 3, 0)
    assert sorted(outbox_keys(outbox)) == sorted(followup(store, i)["key"] for i in due)
    assert all(followup(store, i)["status"] == "sent" for i in due)
    assert all(followup(store, i)["status"] == "pending" for i in later)
    ledger = attempts(store, due[0])
    assert [(r["outcome"], r["attempt"], r["adapter"]) for r in ledger] == [("sent", 1, "outbox")]
    assert ledger[0]["key"] == followup(store, due[0])["key"]


def test_channel_without_adapter_stays_pending_and_is_counted(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    [sms] = plan(store, 1, channel="sms")
    report = run(store, ruleset, outbox, NOW)
    assert (report.claimed, report.waiting) == (0, {"sms": 1})
    assert followup(store, sms)["status"] == "pending"


def test_retry_after_500_respects_next_attempt_at(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver
) -> None:
    [fid] = plan(store, 1)
    receiver.statuses = [500]
    first = run(store, ruleset, webhook, NOW)
    row = followup(store, fid)
    assert (first.retried, row["status"], row["attempts"]) == (1, "pending", 1)
    next_at = dt.datetime.fromisoformat(row["next_attempt_at"])
    assert NOW + dt.timedelta(seconds=30) <= next_at <= NOW + dt.timedelta(seconds=60)
    early = run(store, ruleset, webhook, next_at - dt.timedelta(seconds=1))
    assert early.claimed == 0
    second = run(store, ruleset, webhook, next_at)
    assert second.sent == 1 and followup(store, fid)["status"] == "sent"
    key = row["key"]
    assert receiver.keys == [key, key]
    outcomes = [(r["outcome"], r["attempt"], r["key"]) for r in attempts(store, fid)]
    assert outcomes == [("retry", 1, key), ("sent", 2, key)]


def test_dead_after_max_attempts_with_last_error(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver
) -> None:
    [fid] = plan(store, 1)
    receiver.statuses = [500, 502, 503]
    now = NOW
    for _ in range(3):
        run(store, ruleset, webhook, now, max_attempts=3)
        now += dt.timedelta(hours=2)
    row = followup(store, fid)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "503" in row["reason"]
    ledger = attempts(store, fid)
    assert [r["outcome"] for r in ledger] == ["retry", "retry", "dead"]
    assert "503" in ledger[-1]["error"]
    assert run(store, ruleset, webhook, now).claimed == 0


def test_permanent_400_is_dead_at_once(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver
) -> None:
    [fid] = plan(store, 1)
    receiver.statuses = [400]
    report = run(store, ruleset, webhook, NOW)
    assert report.dead == 1 and followup(store, fid)["status"] == "dead"
    assert len(receiver.keys) == 1
    assert "400" in attempts(store, fid)[0]["error"]


def test_expired_followup_is_dead_without_sending(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    [fid] = plan(store, 1, expires=NOW - dt.timedelta(minutes=1))
    report = run(store, ruleset, outbox, NOW)
    assert report.dead == 1 and outbox_keys(outbox) == []
    assert followup(store, fid)["reason"] == "expired"


def test_expired_lease_is_reclaimed(store: Store, ruleset: RuleSet, outbox: Adapter) -> None:
    ids = plan(store, 2)
    crashed = claim(store, NOW, 10, LEASE)  # a dispatcher that died before sending
    assert sorted(r["id"] for r in crashed) == sorted(ids)
    assert run(store, ruleset, outbox, NOW + dt.timedelta(minutes=1)).claimed == 0
    report = run(store, ruleset, outbox, NOW + LEASE + dt.timedelta(seconds=1))
    assert (report.claimed, report.sent) == (2, 2)
    assert len(outbox_keys(outbox)) == 2


def test_a_lost_lease_does_not_overwrite_the_new_claims_outcome(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    [fid] = plan(store, 1)
    [stale] = claim(store, NOW, 10, LEASE)  # a dispatcher that stalls past its lease
    later = NOW + LEASE + dt.timedelta(seconds=1)
    assert run(store, ruleset, outbox, later).sent == 1
    late = Attempts(later, 5, BACKOFF, random.Random(1))
    outcome = late.outcome(stale, "outbox", RetryableError("timed out"))
    assert record(store, [outcome], later) == set()
    assert followup(store, fid)["status"] == "sent"
    assert [r["outcome"] for r in attempts(store, fid)] == ["sent", "retry"]


def test_two_claims_never_return_the_same_row(store: Store) -> None:
    plan(store, 10)
    first = claim(store, NOW, 6, LEASE)
    second = claim(store, NOW, 6, LEASE)
    assert (len(first), len(second)) == (6, 4)
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_retry_dead_requeues(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver
) -> None:
    [fid] = plan(store, 1)
    receiver.statuses = [400]
    run(store, ruleset, webhook, NOW)
    assert retry_dead(store, fid, NOW + dt.timedelta(hours=1))
    assert not retry_dead(store, fid, NOW + dt.timedelta(hours=1))
    row = followup(store, fid)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, None)
    report = run(store, ruleset, webhook, NOW + dt.timedelta(hours=2))
    assert report.sent == 1 and followup(store, fid)["status"] == "sent"
    assert [r["outcome"] for r in attempts(store, fid)] == ["dead", "requeued", "sent"]
