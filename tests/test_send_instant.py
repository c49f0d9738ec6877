"""A tick's dispatch passes each decide at their own instant: a tick that runs for minutes
(a burst of messages, a slow receiver) claims its later batches under leases that start when
they are claimed, and decides consent and quiet hours for the time they are sent, not for
the time the tick started. On each real store, with the time passing as the sends take it."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from guanxi.adapters.base import Adapter, Message, Receipt, RetryableError, address_fields
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine import consent
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.tick import DispatchSettings, tick
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups, iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.policy_helpers import LOCAL, broken_promises
from tests.test_send_time_policy import customer, open_again

pytestmark = pytest.mark.every_store

MORNING = dt.datetime(2026, 12, 1, 10, 0, tzinfo=LOCAL)
LEASE = dt.timedelta(minutes=5)
ONE_AT_A_TIME = DispatchSettings(limit=1, lease=LEASE)


class Slow(Adapter):
    """Takes `took` of the clock's time for each send; `during(message)` runs while it sends."""

    name = "slow"

    def __init__(
        self, clock: FixedClock, took: dt.timedelta, during: Callable[[Message], None]
    ) -> None:
        super().__init__(address_fields={"sms": "phone"})
        self.clock, self.took, self.during = clock, took, during
        self.keys: list[str] = []

    def send(self, message: Message) -> Receipt:
        self.clock.advance(self.took)
        self.during(message)
        self.keys.append(message.key)
        return Receipt(message.key, self.name)


def plan_sms(store: Store, customers: int, due: dt.datetime) -> None:
    store.upsert_customers([customer(i) for i in range(customers)])
    followups = [invitation(f"C{i:04d}", f"E{i}", due) for i in range(customers)]
    insert_followups(store, followups, "b1", due)


def run_tick(store: Store, ruleset: RuleSet, adapter: Adapter, clock: FixedClock) -> Any:
    return tick(
        store, ruleset, {"sms": adapter}, clock.now(), random.Random(1),
        settings=ONE_AT_A_TIME, plan_events=False, recurring=False, clock=clock.now,
    )  # fmt: skip


@pytest.fixture
def other(store: Store, ruleset: RuleSet) -> Iterator[tuple[Store, RecordingAdapter]]:
    """Another dispatcher on its own connection, recording what it sends."""
    own = open_again(store)
    with RecordingAdapter(address_fields=address_fields(ruleset.policies)) as recording:
        yield own, recording
    own.close()


def test_a_long_tick_claims_each_batch_under_a_lease_from_its_own_claim(
    store: Store, ruleset: RuleSet, other: tuple[Store, RecordingAdapter]
) -> None:
    """Each batch takes two minutes to send; a second daemon passes while the third is sent,
    six minutes into the tick. Claimed under a lease counted from the tick's start, that
    batch had lapsed already, and the second daemon sent its message again."""
    plan_sms(store, 4, MORNING)
    clock = FixedClock(MORNING)
    other_store, recording = other

    def second_daemon(message: Message) -> None:
        if len(slow.keys) == 2:
            dispatch_once(other_store, ruleset, {"sms": recording}, clock.now(), lease=LEASE)

    slow = Slow(clock, dt.timedelta(minutes=2), second_daemon)
    run_tick(store, ruleset, slow, clock)
    sends = Counter([*slow.keys, *(m.key for m in recording.messages)])
    assert (len(recording.messages), sorted(sends.values())) == (1, [1, 1, 1, 1])


def test_a_withdrawal_made_while_a_tick_runs_stops_its_later_batches(
    store: Store, ruleset: RuleSet
) -> None:
    """C0001 withdraws SMS consent at the branch while the first batch is being sent; the
    second batch, two minutes later, must not reach them."""
    plan_sms(store, 2, MORNING)
    clock = FixedClock(MORNING)

    def withdraw(message: Message) -> None:
        if message.customer_id == "C0000":
            at = iso(clock.now())
            given = consent.Record("C0001", "sms", "service", False, "branch", "F-1", at)
            consent.record(store, ruleset.policies, given, clock.now())

    slow = Slow(clock, dt.timedelta(minutes=2), withdraw)
    report = run_tick(store, ruleset, slow, clock)
    assert (len(slow.keys), report.sent, report.suppressed) == (1, 1, {"channel_consent": 1})


def test_a_tick_running_into_the_quiet_hours_defers_its_later_batches(
    store: Store, ruleset: RuleSet
) -> None:
    """A tick starting at 20:57 whose batches take two minutes each: what would go after
    21:00 waits for the morning, and the ledger says when each message really went."""
    evening = dt.datetime(2026, 12, 1, 20, 57, tzinfo=LOCAL)
    plan_sms(store, 3, evening)
    clock = FixedClock(evening)
    slow = Slow(clock, dt.timedelta(minutes=2), lambda message: None)
    report = run_tick(store, ruleset, slow, clock)
    assert (report.sent, report.deferred) == (2, {"quiet_hours": 1})
    assert broken_promises(store, ruleset) == []


def test_without_a_clock_every_pass_of_a_tick_is_at_its_now(store: Store, ruleset: RuleSet) -> None:
    """A simulation's virtual clock stands still during a tick: its passes are all at `now`."""
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)
    slow = Slow(clock, dt.timedelta(hours=12), lambda message: None)
    report = tick(
        store, ruleset, {"sms": slow}, MORNING, random.Random(1),
        settings=ONE_AT_A_TIME, plan_events=False, recurring=False,
    )  # fmt: skip
    assert report.sent == 3
    at = {row["at"] for row in store.execute("SELECT at FROM deliveries")}
    assert at == {iso(MORNING)}


# --- within one batch: each message decided at the instant it is handed to its adapter --------

ONE_BATCH = DispatchSettings(limit=500, lease=LEASE)


def run_batch(store: Store, ruleset: RuleSet, adapter: Adapter, clock: FixedClock) -> Any:
    """One tick whose first pass claims every due follow-up in one batch."""
    return tick(
        store, ruleset, {"sms": adapter}, clock.now(), random.Random(1),
        settings=ONE_BATCH, plan_events=False, recurring=False, clock=clock.now,
    )  # fmt: skip


def ledger_times(store: Store, outcome: str) -> list[str]:
    rows = store.execute(
        "SELECT at FROM deliveries WHERE outcome = :outcome ORDER BY at", {"outcome": outcome}
    )
    return [row["at"] for row in rows]


def test_a_batch_claimed_before_the_quiet_hours_defers_what_would_go_inside_them(
    store: Store, ruleset: RuleSet
) -> None:
    """One batch claimed at 20:59:30 whose sends take a minute each: the first goes at
    20:59:30, the two others would go at 21:00:30 and 21:01:30, inside the quiet hours. They
    are deferred as a claim at that instant would defer them, and the ledger says when the
    first one really went."""
    evening = dt.datetime(2026, 12, 1, 20, 59, 30, tzinfo=LOCAL)
    plan_sms(store, 3, evening)
    clock = FixedClock(evening)
    slow = Slow(clock, dt.timedelta(minutes=1), lambda message: None)
    report = run_batch(store, ruleset, slow, clock)
    assert (report.sent, report.deferred) == (1, {"quiet_hours": 2})
    assert ledger_times(store, "sent") == [iso(evening)]
    later = store.execute(
        "SELECT f.status, f.due_at, f.reason, d.status AS decided, d.at FROM followups f"
        " JOIN followup_decisions d ON d.followup_id = f.id WHERE f.customer_id <> 'C0000'"
        " ORDER BY f.id"
    )
    morning = dt.datetime(2026, 12, 2, 8, 30, tzinfo=LOCAL)
    for row in later:
        assert (row["status"], row["decided"]) == ("pending", "deferred")
        assert row["reason"].startswith("quiet hours 21:00–08:30, moved to 2026-12-02 0")
        assert morning <= dt.datetime.fromisoformat(row["due_at"]) < morning + dt.timedelta(hours=1)
    assert [row["at"] for row in later] == [iso(evening + dt.timedelta(minutes=1))] * 2
    assert broken_promises(store, ruleset) == []


def withdraw_consent(store: Store, ruleset: RuleSet, at: dt.datetime) -> None:
    """C0001 withdraws their SMS consent at the branch."""
    given = consent.Record("C0001", "sms", "service", False, "branch", "F-1", iso(at))
    consent.record(store, ruleset.policies, given, at)


def ask_not_to_be_contacted(store: Store, ruleset: RuleSet, at: dt.datetime) -> None:
    """C0001's record now says: do not contact."""
    store.upsert_customers([customer(1, do_not_contact=True)])


@pytest.mark.parametrize(
    ("withdrawal", "policy"),
    [(withdraw_consent, "channel_consent"), (ask_not_to_be_contacted, "do_not_contact")],
)
def test_a_withdrawal_made_while_a_batch_is_sent_stops_its_later_messages(
    store: Store,
    ruleset: RuleSet,
    withdrawal: Callable[[Store, RuleSet, dt.datetime], None],
    policy: str,
) -> None:
    """C0001 withdraws while C0000's message is being sent, two seconds before their own
    message's turn in the same batch: it is not sent, and is suppressed with the reason the
    claim would have given."""
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)

    def withdraw(message: Message) -> None:
        if message.customer_id == "C0000":
            withdrawal(store, ruleset, clock.now())

    slow = Slow(clock, dt.timedelta(seconds=2), withdraw)
    report = run_batch(store, ruleset, slow, clock)
    assert (report.sent, report.suppressed) == (2, {policy: 1})
    [row] = store.execute(
        "SELECT f.status, f.policy, d.outcome, d.attempt, d.at FROM followups f"
        " JOIN deliveries d ON d.followup_id = f.id WHERE f.customer_id = 'C0001'"
    )
    assert row == {"status": "suppressed", "policy": policy, "outcome": "suppressed",
                   "attempt": 0, "at": iso(MORNING + dt.timedelta(seconds=2))}  # fmt: skip
    assert broken_promises(store, ruleset) == []


def test_a_follow_up_expiring_while_its_batch_is_sent_is_not_sent(
    store: Store, ruleset: RuleSet
) -> None:
    """Three messages that may go until 10:01:30, in one batch whose sends take a minute
    each: the third's turn comes at 10:02, too late."""
    bound = MORNING + dt.timedelta(seconds=90)
    store.upsert_customers([customer(i) for i in range(3)])
    followups = [invitation(f"C{i:04d}", f"E{i}", MORNING, expires_at=bound) for i in range(3)]
    insert_followups(store, followups, "b1", MORNING)
    clock = FixedClock(MORNING)
    slow = Slow(clock, dt.timedelta(minutes=1), lambda message: None)
    report = run_batch(store, ruleset, slow, clock)
    assert (report.sent, report.expired) == (2, 1)
    assert ledger_times(store, "expired") == [iso(MORNING + dt.timedelta(minutes=2))]
    statuses = store.execute("SELECT status FROM followups ORDER BY id")
    assert [row["status"] for row in statuses] == ["sent", "sent", "expired"]


def test_concurrent_sends_are_decided_when_each_one_starts(store: Store, ruleset: RuleSet) -> None:
    """An adapter sending two at a time, each send taking a minute, from 20:57:30: what
    starts after 21:00 is deferred, and every message went when the ledger says, outside the
    quiet hours."""
    evening = dt.datetime(2026, 12, 1, 20, 57, 30, tzinfo=LOCAL)
    plan_sms(store, 6, evening)
    clock = FixedClock(evening)
    slow = Slow(clock, dt.timedelta(minutes=1), lambda message: None)
    slow.concurrent_sends = 2
    report = run_batch(store, ruleset, slow, clock)
    deferred = report.deferred.get("quiet_hours", 0)
    assert (report.sent + deferred, deferred >= 2) == (6, True)
    assert broken_promises(store, ruleset) == []


# --- a record entered earlier that takes effect while a batch is sent ------------------------


def test_a_withdrawal_taking_effect_between_two_sends_stops_the_later_one(
    store: Store, ruleset: RuleSet
) -> None:
    """C0001 withdrew at the branch an hour ago, with effect from 10:00:00. A batch starts at
    09:59:59.5 and its sends take 0.6 s each: C0001's turn comes at 10:00:00.1, 0.6 s after
    consent was read, with nothing written since. The withdrawal is in force then: not sent."""
    start = MORNING - dt.timedelta(milliseconds=500)
    plan_sms(store, 3, start)
    given = consent.Record("C0001", "sms", "service", False, "branch", "F-1", iso(MORNING))
    consent.record(store, ruleset.policies, given, MORNING - dt.timedelta(hours=1))
    clock = FixedClock(start)
    slow = Slow(clock, dt.timedelta(milliseconds=600), lambda message: None)
    report = run_batch(store, ruleset, slow, clock)
    assert (report.sent, report.suppressed) == (2, {"channel_consent": 1})
    rows = store.execute("SELECT customer_id, status FROM followups ORDER BY customer_id")
    assert [row["status"] for row in rows] == ["sent", "suppressed", "sent"]


# --- a send outlasting its lease --------------------------------------------------------------


def test_a_send_outlasting_its_lease_leaves_only_itself_to_go_again(
    store: Store, ruleset: RuleSet, other: tuple[Store, RecordingAdapter]
) -> None:
    """Sends take a minute each; the third hangs past the five-minute lease (a receiver
    slower than its timeout says), and a second daemon takes the lapsed claim over meanwhile.
    The first two went minutes before the lease ran out: they must not go again. Written only
    at the batch's end, their outcomes were not there yet, and the whole batch went twice."""
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)
    other_store, recording = other

    def hang_then_second_daemon(message: Message) -> None:
        if message.customer_id == "C0002":
            clock.advance(LEASE)
            dispatch_once(other_store, ruleset, {"sms": recording}, clock.now(), lease=LEASE)

    slow = Slow(clock, dt.timedelta(minutes=1), hang_then_second_daemon)
    report = dispatch_once(
        store, ruleset, {"sms": slow}, MORNING, lease=LEASE, clock=clock.now,
        stopwatch=lambda: clock.now().timestamp(),
    )  # fmt: skip
    assert [m.customer_id for m in recording.messages] == ["C0002"]
    assert (report.sent, report.lost) == (2, 1)


class FailsFirst(Adapter):
    """Refuses each message's first send for `wait` seconds (Retry-After), takes the next."""

    name = "flaky"

    def __init__(self, wait: float) -> None:
        super().__init__(address_fields={"sms": "phone"})
        self.wait, self.tried, self.keys = wait, set[str](), list[str]()

    def send(self, message: Message) -> Receipt:
        if message.key not in self.tried:
            self.tried.add(message.key)
            raise RetryableError("busy", retry_after=self.wait)
        self.keys.append(message.key)
        return Receipt(message.key, self.name)


def test_a_retry_whose_back_off_ends_in_the_quiet_hours_waits_for_their_end(
    store: Store, ruleset: RuleSet
) -> None:
    """The gateway refuses at 20:59:30 and asks for a minute; the retry falls due at 21:00:30,
    inside the quiet hours. A pass at 21:01 defers it to their end; it goes in the morning,
    its attempts kept."""
    evening = dt.datetime(2026, 12, 1, 20, 59, 30, tzinfo=LOCAL)
    plan_sms(store, 1, evening)
    flaky = FailsFirst(60)
    assert dispatch_once(store, ruleset, {"sms": flaky}, evening).retried == 1
    late = dispatch_once(store, ruleset, {"sms": flaky}, evening + dt.timedelta(seconds=90))
    assert (late.sent, late.deferred) == (0, {"quiet_hours": 1})
    morning = dt.datetime(2026, 12, 2, 9, 40, tzinfo=LOCAL)
    assert dispatch_once(store, ruleset, {"sms": flaky}, morning).sent == 1
    [row] = store.execute("SELECT status, attempts FROM followups")
    assert (row["status"], row["attempts"], len(flaky.keys)) == ("sent", 2, 1)
    assert broken_promises(store, ruleset) == []
