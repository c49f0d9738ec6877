"""A follow-up of a level's playbook goes only to a customer still at that level when it is
sent: one who moved to a level whose playbook has no such step is not sent it (policy
`level`), whether the move came before the claim or while its batch was being sent. On each
real store: a classification committed while a batch is sent stops its next send, in the same
instant, as a withdrawal does (test_send_instant_exact.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from guanxi.adapters.base import Message, address_fields
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine.classify import classify
from guanxi.engine.clock import FixedClock
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.policy_helpers import LOCAL
from tests.test_send_instant import Slow, run_batch
from tests.test_send_time_policy import customer, open_again

pytestmark = pytest.mark.every_store

PLANNED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=LOCAL)
NEWS_DAY = dt.datetime(2026, 12, 5, 10, 0, tzinfo=LOCAL)  # proactive_product_news, monthly
NEWS = "proactive_product_news"


def at_level(store: Store, ruleset: RuleSet, number: int, level: str, **fields: Any) -> None:
    store.upsert_customers([customer(number, rm_id="RM7", preferred_channel="sms", **fields)])
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, NULL, FALSE, 1, :h, :at)",
        {"c": f"C{number:04d}", "level": level, "h": ruleset.hash, "at": PLANNED.isoformat()},
    )


def move(store: Store, number: int, level: str) -> None:
    """A classification run moved the customer to `level`."""
    store.execute(
        "UPDATE assignments SET level = :level WHERE customer_id = :c",
        {"c": f"C{number:04d}", "level": level},
    )


def move_by_snapshot(store: Store, number: int, level: str) -> None:
    """A snapshot night moved the customer to `level`: its change waits in
    `assignment_changes`, over the row of `assignments`, until the changes are folded."""
    store.execute(
        "INSERT INTO assignment_changes (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) SELECT customer_id, tier, :level, strategy, gold, 2,"
        " ruleset_hash, assigned_at FROM assignments WHERE customer_id = :c",
        {"c": f"C{number:04d}", "level": level},
    )


def plan_news(store: Store, ruleset: RuleSet, customers: int) -> None:
    """Three proactive customers are planned December's product news (an SMS)."""
    for number in range(customers):
        at_level(store, ruleset, number, "proactive")
    plan_recurring(store, ruleset, PLANNED, PLANNED + dt.timedelta(days=31), PLANNED, only=[NEWS])
    assert len(store.execute("SELECT id FROM followups WHERE status = 'pending'")) == customers


def batch_order(store: Store) -> tuple[int, int, int]:
    """The three customers by the order the claim takes their follow-ups (by id: planning's
    INSERT … SELECT numbers them in the order PostgreSQL's plan reads the customers, not
    always C0000 first)."""
    rows = store.execute(
        "SELECT customer_id FROM followups WHERE status = 'pending'"
        " ORDER BY priority DESC, due_at, id"
    )
    first, second, last = (int(row["customer_id"].removeprefix("C")) for row in rows)
    return first, second, last


def key(number: int) -> str:
    return f"{NEWS}:C{number:04d}:2026-12"


def outcome(store: Store, number: int) -> dict[str, Any]:
    [row] = store.execute(
        "SELECT status, policy, reason FROM followups WHERE customer_id = :c",
        {"c": f"C{number:04d}"},
    )
    return row


def test_a_customer_moved_to_a_level_without_the_step_is_not_sent_it(
    store: Store, ruleset: RuleSet
) -> None:
    """C0001 dropped from proactive to basic after the news was planned: basic customers get
    no product news, so it is not sent to them; C0000, still proactive, gets it."""
    plan_news(store, ruleset, 2)
    move(store, 1, "basic")
    with RecordingAdapter(address_fields=address_fields(ruleset.policies)) as recording:
        report = dispatch_once(store, ruleset, {"sms": recording}, NEWS_DAY)
    assert [m.customer_id for m in recording.messages] == ["C0000"]
    assert report.suppressed == {"level": 1}
    stale = outcome(store, 1)
    assert (stale["status"], stale["policy"]) == ("suppressed", "level")
    assert stale["reason"] == (
        "the customer is now at level basic (基本型), whose playbook has no step"
        f" {NEWS} (a proactive (能动型) step)"
    )
    [entry] = store.execute("SELECT outcome, attempt FROM deliveries WHERE outcome <> 'sent'")
    assert entry == {"outcome": "suppressed", "attempt": 0}


def test_a_customer_moved_while_the_batch_is_sent_is_not_sent_it(
    store: Store, ruleset: RuleSet
) -> None:
    """A classification run commits while the first customer's news is being sent, moving
    the last of the batch to basic: their news, later in the same batch, is not sent."""
    plan_news(store, ruleset, 3)
    first, second, last = batch_order(store)
    clock = FixedClock(NEWS_DAY)

    def classify(message: Message) -> None:
        if message.customer_id == f"C{first:04d}":
            move(store, last, "basic")

    slow = Slow(clock, dt.timedelta(seconds=2), classify)
    report = run_batch(store, ruleset, slow, clock)
    assert slow.keys == [key(first), key(second)]
    assert report.suppressed == {"level": 1}
    assert outcome(store, last)["status"] == "suppressed"


def test_a_customer_moved_up_keeps_a_step_of_every_level(store: Store, ruleset: RuleSet) -> None:
    """A step of the `all` playbook is for every level: a move does not make it stale."""
    at_level(store, ruleset, 0, "basic", opened_on="2026-11-28")
    plan_recurring(
        store, ruleset, PLANNED, PLANNED + dt.timedelta(days=31), PLANNED,
        only=["new_customer_welcome"],
    )  # fmt: skip
    planned = store.execute("SELECT due_at, channel FROM followups WHERE status = 'pending'")
    assert planned, "the weekly welcome is planned for a new basic customer"
    move(store, 0, "partner")
    due = max(dt.datetime.fromisoformat(row["due_at"]) for row in planned)
    with RecordingAdapter(address_fields=address_fields(ruleset.policies)) as recording:
        adapters = {row["channel"]: recording for row in planned}
        report = dispatch_once(store, ruleset, adapters, due)
    assert report.suppressed == {}
    assert len(recording.messages) == len(planned)


def test_the_level_is_read_with_a_snapshot_night_s_changes_over_it(
    store: Store, ruleset: RuleSet
) -> None:
    """A snapshot night's moves wait in `assignment_changes`: C0001, moved to basic there, is
    not sent the news; C0000, whose `assignments` row still says basic but whose night moved
    it back to proactive, is."""
    plan_news(store, ruleset, 2)
    move(store, 0, "basic")
    move_by_snapshot(store, 0, "proactive")
    move_by_snapshot(store, 1, "basic")
    with RecordingAdapter(address_fields=address_fields(ruleset.policies)) as recording:
        report = dispatch_once(store, ruleset, {"sms": recording}, NEWS_DAY)
    assert [m.customer_id for m in recording.messages] == ["C0000"]
    assert report.suppressed == {"level": 1}
    assert outcome(store, 1)["policy"] == "level"


# valuable (a large contribution among ten customers), earning 7.5 times its cost: proactive
PROACTIVE = {"rm_id": "RM7", "preferred_channel": "sms", "kind": "personal", "balance": 500000,
             "wealth_balance": 300000, "monthly_txn_count": 20, "last_txn_date": "2026-11-18",
             "products_held": 2, "annual_contribution": 30000, "cost_to_serve": 4000}  # fmt: skip
SMALL = {**PROACTIVE, "annual_contribution": 100}  # earns less than it costs: basic


def classified(store: Store, unheld: RuleSet, proactive: int) -> None:
    """Ten customers, the first `proactive` of them proactive, classified for real."""
    fields = [PROACTIVE] * proactive + [SMALL] * (10 - proactive)
    store.upsert_customers([{**customer(i), **f} for i, f in enumerate(fields)])
    classify(store, unheld, PLANNED)


def levels(store: Store) -> dict[str, str]:
    rows = store.execute("SELECT customer_id, level FROM current_assignments")
    return {row["customer_id"]: row["level"] for row in rows}


def test_a_classification_committed_while_the_batch_is_sent_stops_the_next_send(
    store: Store, unheld: RuleSet
) -> None:
    """The last customer of the batch saw their contribution fall before it was claimed; the
    night's classification, on another connection, commits their move to basic while the
    first customer's news is being sent, in the same instant (the clock stands still: no
    once-a-second reading helps). Their news, later in the batch, is not sent."""
    classified(store, unheld, 3)
    plan_recurring(store, unheld, PLANNED, PLANNED + dt.timedelta(days=31), PLANNED, only=[NEWS])
    first, second, last = batch_order(store)
    store.upsert_customers([{**customer(last), **SMALL}])
    clock, night = FixedClock(NEWS_DAY), open_again(store)

    def classify_the_night(message: Message) -> None:
        if message.customer_id == f"C{first:04d}":
            classify(night, unheld, clock.now())

    try:
        slow = Slow(clock, dt.timedelta(0), classify_the_night)
        report = run_batch(store, unheld, slow, clock)
    finally:
        night.close()
    assert levels(store)[f"C{last:04d}"] == "basic"
    assert slow.keys == [key(first), key(second)]
    assert report.suppressed == {"level": 1}
    stale = outcome(store, last)
    assert (stale["status"], stale["policy"]) == ("suppressed", "level")
