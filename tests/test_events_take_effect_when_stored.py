"""What an event stops takes effect from the moment the events are stored, not from the
moment the leader plans them: a daemon busy sending a monthly burst plans new events only
when its tick ends, and on PostgreSQL the other daemons never plan at all. A withdrawal that
arrives as an event (a `consent_withdrawn` line of an events file, the app's export say)
stops the next send; a resolved complaint cancels the pending call-back (`cancel_on:`). On
each real store, with real dispatch passes and the real events load."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.adapters.base import Message
from guanxi.adapters.recording import RecordingAdapter
from guanxi.cli.main import cli
from guanxi.engine import consent
from guanxi.engine.clock import FixedClock
from guanxi.engine.ingest import load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store, open_store
from tests.daemon_helpers import invitation
from tests.policy_helpers import broken_promises, sent
from tests.test_consent_ledger import project_with_consent_events
from tests.test_send_instant import MORNING, Slow, plan_sms, run_batch
from tests.test_send_time_policy import customer, deliver, open_again, outboxes

pytestmark = pytest.mark.every_store


@pytest.fixture(scope="module")
def with_consent_events(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return project_with_consent_events(tmp_path_factory)


def withdrawal_file(folder: Path, customer_id: str, at: dt.datetime, name: str) -> Path:
    """An events file with one SMS withdrawal of `customer_id`, taking effect at `at`."""
    path = folder / f"{name}.jsonl"
    event = {"id": name, "type": "consent_withdrawn", "customer_id": customer_id,
             "at": at.isoformat(), "channel": "sms", "purpose": "service", "source": "app",
             "evidence": f"APP-{name}"}  # fmt: skip
    path.write_text(json.dumps(event, ensure_ascii=False) + "\n", "utf-8")
    return path


def statuses(store: Store) -> dict[str, tuple[str, str | None]]:
    rows = store.execute("SELECT customer_id, status, policy FROM followups")
    return {row["customer_id"]: (row["status"], row["policy"]) for row in rows}


def test_a_withdrawal_loaded_as_an_event_stops_the_next_send_before_it_is_planned(
    store: Store, with_consent_events: RuleSet, tmp_path: Path
) -> None:
    ruleset = with_consent_events
    plan_sms(store, 2, MORNING)
    withdrawn = MORNING - dt.timedelta(minutes=5)
    load_events(store, ruleset, withdrawal_file(tmp_path, "C0001", withdrawn, "W1"), withdrawn)
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        # no planning in between: the leader is busy with a burst, or another daemon sends
        dispatcher = open_again(store)
        try:
            deliver(dispatcher, ruleset, adapters, MORNING)
        finally:
            dispatcher.close()
    assert [row["customer_id"] for row in sent(store)] == ["C0000"]
    assert statuses(store)["C0001"] == ("suppressed", "channel_consent")
    [row] = store.execute("SELECT reason FROM followups WHERE customer_id = 'C0001'")
    assert "APP-W1" in row["reason"]  # the event's record is cited
    assert broken_promises(store, ruleset) == []


def test_planning_the_event_later_adds_its_record_once(
    store: Store, with_consent_events: RuleSet, tmp_path: Path
) -> None:
    ruleset = with_consent_events
    withdrawn = MORNING - dt.timedelta(minutes=5)
    load_events(store, ruleset, withdrawal_file(tmp_path, "C0001", withdrawn, "W1"), withdrawn)
    plan_new_events(store, ruleset, MORNING)
    plan_new_events(store, ruleset, MORNING)
    shown = [(r["channel"], r["purpose"], bool(r["granted"]), r["source"], r["evidence"])
             for r in consent.history(store, "C0001")]  # fmt: skip
    assert shown == [("sms", "service", False, "app", "APP-W1")]


def test_a_withdrawal_loaded_while_a_batch_is_sent_stops_its_later_messages(
    store: Store, with_consent_events: RuleSet, tmp_path: Path
) -> None:
    """C0002 withdraws in the app while C0000's message is being sent; the events file is
    loaded by another connection before C0002's turn in the same batch."""
    ruleset = with_consent_events
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)
    loader = open_again(store)

    def load_withdrawal(message: Message) -> None:
        if message.customer_id == "C0000":
            now = clock.now()
            load_events(loader, ruleset, withdrawal_file(tmp_path, "C0002", now, "W2"), now)

    try:
        report = run_batch(
            store, ruleset, Slow(clock, dt.timedelta(seconds=2), load_withdrawal), clock
        )
    finally:
        loader.close()
    assert (report.sent, report.suppressed) == (2, {"channel_consent": 1})
    assert statuses(store)["C0002"] == ("suppressed", "channel_consent")
    assert broken_promises(store, ruleset) == []


def test_a_resolved_complaint_loaded_cancels_the_pending_call_back_before_it_is_planned(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """C0001 complained at 9:00; the call-back task falls due at 10:00. The complaint was
    resolved at 9:55 and the events file saying so is loaded then: no task reaches the
    manager, though no planning ran in between."""
    store.upsert_customers([customer(1)])
    complained = MORNING - dt.timedelta(hours=1)
    store.insert_events(
        [
            {
                "id": "K1",
                "type": "complaint",
                "customer_id": "C0001",
                "at": complained.astimezone(dt.UTC).isoformat(),
                "payload": {"category": "收费"},
            }
        ]
    )
    callback = invitation(
        "C0001",
        "K1",
        MORNING,
        step_id="complaint_callback",
        kind="task",
        channel="rm_task",
        template="complaint_callback",
        mandatory=True,
    )
    insert_followups(store, [callback], "b1", complained)
    resolved = MORNING - dt.timedelta(minutes=5)
    path = tmp_path / "resolved.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "K2",
                "type": "complaint_resolved",
                "customer_id": "C0001",
                "at": resolved.isoformat(),
                "category": "收费",
            }
        )
        + "\n",
        "utf-8",
    )
    load_events(store, ruleset, path, resolved)
    with RecordingAdapter() as inbox:
        deliver(store, ruleset, {"rm_task": inbox}, MORNING)
    assert inbox.records == []
    [row] = store.execute("SELECT status, policy, reason FROM followups")
    assert (row["status"], row["policy"]) == ("cancelled", "cancel_on")
    assert "K2" in row["reason"]
    [decision] = store.execute("SELECT status, policy FROM followup_decisions")
    assert (decision["status"], decision["policy"]) == ("cancelled", "cancel_on")
    report = plan_new_events(store, ruleset, MORNING)  # the leader plans it later: no more
    assert report.cancelled == 0
    assert len(store.execute("SELECT id FROM followup_decisions")) == 1


def test_a_withdrawal_posted_on_the_command_line_is_recorded_once(
    store: Store, with_consent_events: RuleSet
) -> None:
    """`guanxi events post` stores the event with its record, then plans it: one record."""
    store.upsert_customers([customer(1)])
    location = store.location
    store.close()
    posted = CliRunner().invoke(cli, [
        "events", "post", "consent_withdrawn", "--customer", "C0001", "--id", "W3",
        "--field", "channel=sms", "--field", "purpose=service", "--field", "source=app",
        "--at", "2026-12-01T09:55:00+08:00", "--now", "2026-12-01T10:00:00",
        "--rules", str(with_consent_events.root), "--store", location,
    ])  # fmt: skip
    assert posted.exit_code == 0, posted.output
    again = open_store(location)
    try:
        shown = [(r["channel"], r["purpose"], bool(r["granted"]), r["source"], r["evidence"])
                 for r in consent.history(again, "C0001")]  # fmt: skip
    finally:
        again.close()
    assert shown == [("sms", "service", False, "app", "event W3")]
