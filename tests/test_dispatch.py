"""Dispatch against each real store (SQLite, PostgreSQL), the real outbox adapter, a local HTTP
receiver and a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import itertools
import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.adapters.base import Adapter, Message, Receipt, RetryableError, address_fields
from guanxi.adapters.registry import load_adapter
from guanxi.adapters.smtp import message_id
from guanxi.engine.dispatch import Backoff, claim, dispatch_once, retry_dead
from guanxi.engine.dispatch.claim import waiting
from guanxi.engine.dispatch.ledger import attempts
from guanxi.engine.dispatch.outcomes import Attempts, record
from guanxi.engine.plan.followups import insert_followups, iso
from guanxi.engine.plan.policy import apply_policies
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation

pytestmark = pytest.mark.every_store

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
    priority: int = 50,
    mandatory: bool = False,
    purpose: str = "marketing",
    batch: str = "b1",
) -> list[int]:
    if not store.execute("SELECT 1 FROM customers WHERE customer_id = 'C0001'"):
        store.upsert_customers([CUSTOMER])
    fields = {"channel": channel, "priority": priority, "mandatory": mandatory,
              "purpose": purpose, "expires_at": expires}  # fmt: skip
    followups = [invitation("C0001", f"{prefix}{i}", due, **fields) for i in range(n)]
    insert_followups(store, followups, batch, NOW)
    ids = {r["key"]: r["id"] for r in store.execute("SELECT id, key FROM followups")}
    return [ids[f.key] for f in followups]


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
    """A local HTTP server answering each POST with the next of `statuses`, then 500 for the
    keys in `refuse` and 200 for the others, after `delay` seconds. With `hold_after`, it
    answers that many POSTs and holds every later one until `release` is set."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    delay: float = 0.0
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    busy: int = 0
    most_busy: int = 0  # the most POSTs it was answering at once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str | None) -> tuple[int, bool]:
        """Note a POST; its status, and whether to hold it."""
        with self.lock:
            self.keys.append(key)
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
            held = self.hold_after is not None and len(self.keys) > self.hold_after
            if self.statuses:
                return self.statuses.pop(0), held
            return (500 if key in self.refuse else 200), held

    def done(self) -> None:
        with self.lock:
            self.busy -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    seen = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status, held = seen.take(self.headers.get("Idempotency-Key"))
            if held:
                seen.release.wait(30)
            time.sleep(seen.delay)
            seen.done()
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
    seen.release.set()
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
        now += dt.timedelta(hours=1)  # every attempt before the quiet hours (21:00 local)
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


def test_expired_followup_is_expired_without_sending(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    [fid] = plan(store, 1, expires=NOW - dt.timedelta(minutes=1))
    report = run(store, ruleset, outbox, NOW)
    assert (report.expired, report.dead) == (1, 0) and outbox_keys(outbox) == []
    assert followup(store, fid)["status"] == "expired"
    assert "too late" in followup(store, fid)["reason"]


def test_no_message_starts_once_most_of_the_lease_has_passed(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    """A dispatcher slowed down (a busy machine, a slow server) stops before its lease runs
    out: what it has not sent stays claimed, and is sent once, after the lease lapses, by the
    next pass. Without the stop, a second daemon would claim the lapsed rows while the first
    still sends them: the same message twice."""
    due = plan(store, 3)
    seconds = itertools.chain([0.0, 0.0], itertools.repeat(LEASE.total_seconds()))
    report = run(store, ruleset, outbox, NOW, lease=LEASE, stopwatch=lambda: next(seconds))
    assert (report.claimed, report.sent, report.unsent) == (3, 1, 2)
    left = [i for i in due if followup(store, i)["status"] == "claimed"]
    assert len(left) == 2 and all(attempts(store, i) == [] for i in left)
    assert run(store, ruleset, outbox, NOW + LEASE / 2).claimed == 0  # still leased
    later = run(store, ruleset, outbox, NOW + LEASE + dt.timedelta(seconds=1))
    assert (later.claimed, later.sent, later.unsent) == (2, 2, 0)
    assert sorted(outbox_keys(outbox)) == sorted(followup(store, i)["key"] for i in due)


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


# --- the contact policy again at send time -----------------------------------------------------


def verdicts(store: Store, followup_id: int) -> list[tuple[str, str, str]]:
    rows = store.execute(
        "SELECT status, policy, reason FROM followup_decisions WHERE followup_id = :id",
        {"id": followup_id},
    )
    return [(r["status"], r["policy"], r["reason"]) for r in rows]


@pytest.mark.parametrize(
    ("change", "mandatory", "purpose", "policy"),
    [
        ({"consent_email": False}, False, "marketing", "channel_consent"),
        ({"consent_marketing": False}, False, "marketing", "marketing_consent"),
        ({"do_not_contact": True}, False, "service", "do_not_contact"),
        ({"do_not_contact": True}, True, "service", None),  # a mandatory notice still goes out
        ({"consent_email": False}, True, "service", "channel_consent"),  # as the planner decides
    ],
)
def test_consent_changed_after_planning_is_decided_at_send_time_as_the_planner_decides(
    store: Store,
    ruleset: RuleSet,
    outbox: Adapter,
    change: dict[str, bool],
    mandatory: bool,
    purpose: str,
    policy: str | None,
) -> None:
    [fid] = plan(store, 1, mandatory=mandatory, purpose=purpose)
    store.upsert_customers([{"customer_id": "C0001", **change}])
    report = run(store, ruleset, outbox, NOW)
    # the planner's verdict on the same follow-up planned now, for the same customer
    [twin] = plan(store, 1, mandatory=mandatory, purpose=purpose, prefix="T", batch="b2")
    apply_policies(store, ruleset, "b2", NOW)
    row, planned = followup(store, fid), followup(store, twin)
    assert (planned["status"], planned["policy"]) == (
        ("suppressed", policy) if policy else ("pending", None)
    )
    if policy is None:
        assert (report.sent, row["status"], outbox_keys(outbox)) == (1, "sent", [row["key"]])
        return
    assert (report.claimed, report.sent, report.suppressed) == (1, 0, {policy: 1})
    assert outbox_keys(outbox) == []
    assert (row["status"], row["policy"], row["lease_until"]) == ("suppressed", policy, None)
    assert row["reason"] == planned["reason"]
    assert verdicts(store, fid) == [("suppressed", policy, row["reason"])]
    ledger = [(r["outcome"], r["attempt"], r["error"]) for r in attempts(store, fid)]
    assert ledger == [("suppressed", 0, row["reason"])]
    assert run(store, ruleset, outbox, NOW + dt.timedelta(hours=1)).claimed == 0


def test_withdrawn_consent_reads_as_the_reason_a_manager_sees(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    [fid] = plan(store, 1)
    store.upsert_customers([{"customer_id": "C0001", "consent_email": None}])  # unknown: no
    run(store, ruleset, outbox, NOW)
    assert followup(store, fid)["reason"] == "no email consent (consent_email)"


# --- batches: one transaction, crash safety, faults that stay inside one follow-up -------------

CRASHING_DISPATCHER = """
import datetime as dt, sys
from guanxi.engine.ruleset import load_ruleset
from guanxi.adapters.registry import load_adapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.store import open_store
location, rules, url, now = sys.argv[1:]
with load_adapter("webhook", url=url, timeout=60) as adapter:
    store = open_store(location)
    dispatch_once(store, load_ruleset(rules), {"email": adapter}, dt.datetime.fromisoformat(now))
"""


def settled(receiver: Receiver, quiet: float = 0.5) -> list[str | None]:
    """The keys received once no more arrive: POSTs the killed process had already written
    are still read from their sockets after it died."""
    seen = -1
    while seen != len(receiver.keys):
        seen = len(receiver.keys)
        time.sleep(quiet)
    return list(receiver.keys)


def test_a_dispatcher_killed_mid_batch_loses_nothing_and_only_repeats_attempts(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver, tmp_path: Path
) -> None:
    ids = plan(store, 20, mandatory=True)  # notices: no frequency cap holds them back
    keys = {followup(store, i)["key"] for i in ids}
    receiver.hold_after = 5  # answers five, then the dispatcher waits on the others
    rules = Path(__file__).parent.parent / "rules"
    args = [sys.executable, "-c", CRASHING_DISPATCHER, store.location, str(rules), receiver.url]
    process = subprocess.Popen([*args, NOW.isoformat()])
    try:
        deadline = time.monotonic() + 60
        while len(receiver.keys) <= 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.keys) > 5, "the dispatcher never got to sending"
    finally:
        process.kill()
        process.wait(10)
    receiver.release.set()
    attempted = settled(receiver)
    statuses = {followup(store, i)["status"] for i in ids}
    assert statuses == {"claimed"}  # nothing of the batch was recorded
    assert all(attempts(store, i) == [] for i in ids)

    report = run(store, ruleset, webhook, NOW + LEASE + dt.timedelta(seconds=1))
    assert (report.claimed, report.sent) == (20, 20)
    assert {followup(store, i)["status"] for i in ids} == {"sent"}
    assert set(receiver.keys) == keys  # nothing lost
    repeated = [k for k in keys if receiver.keys.count(k) > 1]
    assert sorted(repeated) == sorted(attempted)  # the killed pass's sends, attempted again
    assert all(receiver.keys.count(k) <= 2 for k in keys)
    assert all(len(attempts(store, i)) == 1 for i in ids)


def test_a_batch_is_sent_concurrently_and_each_result_lands_on_its_own_followup(
    store: Store, ruleset: RuleSet, webhook: Adapter, receiver: Receiver
) -> None:
    ids = plan(store, 16, mandatory=True)  # notices: no frequency cap holds them back
    refused = {followup(store, i)["key"] for i in ids[1::3]}
    receiver.refuse, receiver.delay = refused, 0.05
    report = run(store, ruleset, webhook, NOW)
    assert (report.sent, report.retried) == (16 - len(refused), len(refused))
    assert receiver.most_busy > 1
    for i in ids:
        row = followup(store, i)
        assert row["status"] == ("pending" if row["key"] in refused else "sent")
        [entry] = attempts(store, i)
        assert (entry["outcome"] == "retry") == (row["key"] in refused)


class Faulty(Adapter):
    """A bank's own adapter with a bug: it raises something that is no AdapterError."""

    name = "faulty"

    def send(self, message: Message) -> Receipt:
        if message.key.endswith(":E1"):
            raise KeyError("gateway_id")
        return Receipt(message.key, self.name, "ok")


def test_a_fault_in_an_adapter_is_retried_and_spares_the_rest_of_the_batch(
    store: Store, ruleset: RuleSet
) -> None:
    first, second, third = plan(store, 3)
    report = run(store, ruleset, Faulty(), NOW)
    assert (report.sent, report.retried) == (2, 1)
    assert followup(store, second)["status"] == "pending"
    [entry] = attempts(store, second)
    assert (entry["outcome"], entry["error"]) == ("retry", "faulty: KeyError: 'gateway_id'")
    assert {followup(store, i)["status"] for i in (first, third)} == {"sent"}


def test_a_followup_that_cannot_be_rendered_is_dead_and_spares_the_rest(
    store: Store, ruleset: RuleSet, outbox: Adapter
) -> None:
    broken, fine = plan(store, 2)
    store.execute("UPDATE followups SET payload = '{not json' WHERE id = :id", {"id": broken})
    report = run(store, ruleset, outbox, NOW)
    assert (report.sent, report.dead) == (1, 1)
    row = followup(store, broken)
    assert row["status"] == "dead" and row["reason"].startswith("render: JSONDecodeError")
    assert outbox_keys(outbox) == [followup(store, fine)["key"]]


# --- SMTP: several connections at once, kept open across batches -----------------------------


@dataclass
class Mailbox:
    port: int = 0
    mails: list[email.message.EmailMessage] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)  # the client connections seen

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.mails.append(parsed)
        self.peers.add(session.peer)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def test_smtp_batches_go_out_on_a_few_reused_connections(
    store: Store, ruleset: RuleSet, mailbox: Mailbox
) -> None:
    notices = {"mandatory": True}  # no frequency cap holds them back
    later = NOW + dt.timedelta(hours=1)
    ids = plan(store, 12, **notices) + plan(store, 12, due=later, prefix="L", **notices)
    fields = address_fields(ruleset.policies)
    with load_adapter("smtp", host="127.0.0.1", port=mailbox.port, address_fields=fields) as smtp:
        assert run(store, ruleset, smtp, NOW).sent == 12
        assert run(store, ruleset, smtp, NOW + dt.timedelta(hours=1)).sent == 12
        workers = smtp.concurrent_sends
    assert workers > 1 and len(mailbox.peers) <= workers
    expected = sorted(message_id(followup(store, i)["key"]) for i in ids)
    assert sorted(str(mail["Message-ID"]) for mail in mailbox.mails) == expected
    assert {str(mail["Subject"]) for mail in mailbox.mails} == {"感谢您的信任"}


# --- claiming ----------------------------------------------------------------------------------


def test_claims_take_lapsed_leases_then_priority_then_due_time_across_channels(
    store: Store,
) -> None:
    hour = dt.timedelta(hours=1)
    [lapsed] = plan(store, 1, due=NOW - 24 * hour, priority=10, prefix="F")
    claim(store, NOW - 24 * hour, 1, LEASE)  # its dispatcher died a day ago
    [a] = plan(store, 1, due=NOW - hour, prefix="A")
    [b] = plan(store, 1, due=NOW - 2 * hour, channel="sms", prefix="B")
    [c] = plan(store, 1, due=NOW, priority=80, prefix="C")
    [d] = plan(store, 1, due=NOW - 3 * hour, channel="sms", priority=20, prefix="D")
    plan(store, 1, due=NOW + hour, priority=90, prefix="X")  # not due yet
    plan(store, 1, due=NOW - hour, channel="app", priority=99, prefix="Y")  # not served
    served = {"email", "sms"}
    first = claim(store, NOW, 3, LEASE, channels=served)
    second = claim(store, NOW, 3, LEASE, channels=served)
    assert [r["id"] for r in first] == [lapsed, c, b]
    assert [r["id"] for r in second] == [a, d]
    assert claim(store, NOW, 3, LEASE, channels=served) == []


QUEUED = st.lists(
    st.tuples(
        st.sampled_from(["email", "sms", "app"]),
        st.sampled_from([10, 50, 80]),  # priority
        st.integers(-300, 120),  # due, minutes from now
        st.booleans(),  # backing off after a failed attempt
    ),
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(queued=QUEUED, limit=st.integers(1, 7))
def test_claims_hand_out_every_due_followup_once_in_queue_order(
    store: Store, queued: list[tuple[str, int, int, bool]], limit: int
) -> None:
    store.execute("DELETE FROM followups")
    rows = [
        invitation("C0001", f"E{i}", NOW + dt.timedelta(minutes=due), channel=channel,
                   priority=priority)
        for i, (channel, priority, due, _) in enumerate(queued)
    ]  # fmt: skip
    insert_followups(store, rows, "b", NOW)
    backing_off = [f"E{i}" for i, (*_, waits) in enumerate(queued) if waits]
    for occurrence in backing_off:
        store.execute(
            "UPDATE followups SET next_attempt_at = :later WHERE occurrence = :o",
            {"later": iso(NOW + dt.timedelta(minutes=1)), "o": occurrence},
        )
    served = {"email", "sms"}
    claimed: list[list[dict[str, Any]]] = []
    while batch := claim(store, NOW, limit, LEASE, channels=served):
        claimed.append(batch)
    everything = store.execute("SELECT * FROM followups")
    due = [
        r for r in everything
        if r["channel"] in served and r["due_at"] <= iso(NOW) and r["occurrence"] not in backing_off
    ]  # fmt: skip
    expected = sorted(due, key=lambda r: (-r["priority"], r["due_at"], r["id"]))
    assert [r["id"] for batch in claimed for r in batch] == [r["id"] for r in expected]
    assert all(len(batch) <= limit for batch in claimed)


def test_waiting_counts_due_followups_of_channels_without_adapter(store: Store) -> None:
    hour = dt.timedelta(hours=1)
    plan(store, 2, channel="sms", prefix="S")
    plan(store, 1, channel="sms", priority=90, due=NOW - hour, prefix="P")
    plan(store, 1, channel="sms", due=NOW + hour, prefix="L")  # not due yet
    [backing_off] = plan(store, 1, channel="app", prefix="R")
    store.execute(
        "UPDATE followups SET next_attempt_at = :later WHERE id = :id",
        {"later": iso(NOW + hour), "id": backing_off},
    )
    plan(store, 3, prefix="E")  # served
    assert waiting(store, NOW, {"email"}) == {"sms": 3}
    assert waiting(store, NOW + hour, {"email"}) == {"app": 1, "sms": 4}
