"""A message whose answer was lost (the gateway took it, then the answer timed out) may have
reached the customer: until its retry it keeps its place under the frequency caps, counted
from its first attempt, so the customer's other messages sent meanwhile do not take it too.
On each real store, with real dispatch passes; what reached the customer is counted by the
gateway here, not by the engine."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from guanxi.adapters.base import Adapter, Message, Receipt, RetryableError
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.dispatch.dispatch import Backoff
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.policy_helpers import broken_promises
from tests.test_send_time_policy import START, customer, plan

pytestmark = pytest.mark.every_store

NOON = START.replace(hour=12)
SLOW_RETRY = Backoff(base=dt.timedelta(minutes=10))  # the retry comes after the others


class LostAnswer(Adapter):
    """An SMS gateway that takes every message (once per idempotency key, as gateways do)
    and loses its answer to the first attempt of `lost`: dispatch sees a timeout."""

    name = "gateway"

    def __init__(self, lost: str) -> None:
        super().__init__(address_fields={"sms": "phone"})
        self.lost = lost
        self.attempts: Counter[str] = Counter()

    def send(self, message: Message) -> Receipt:
        self.attempts[message.key] += 1
        if message.key == self.lost and self.attempts[message.key] == 1:
            raise RetryableError("gateway: timed out waiting for the answer")
        return Receipt(message.key, self.name)


def test_a_message_waiting_for_its_retry_keeps_its_place_under_the_cap(
    store: Store, ruleset: RuleSet
) -> None:
    """SMS cap 2 per 7 days. A's answer is lost at noon; B and C fall due seconds later,
    before A's retry: the customer must not get A, B and C."""
    store.upsert_customers([customer(7)])
    a, b, c = (invitation("C0007", name, NOON + dt.timedelta(seconds=10 * n))
               for n, name in enumerate("ABC"))  # fmt: skip
    ids = plan(store, [a, b, c])
    gateway = LostAnswer(a.key)
    for seconds in (0, 10, 20, 60 * 60):
        now = NOON + dt.timedelta(seconds=seconds)
        dispatch_once(store, ruleset, {"sms": gateway}, now, backoff=SLOW_RETRY)
    assert sorted(gateway.attempts) == sorted([a.key, b.key])  # what reached the customer
    [row] = store.execute(
        "SELECT status, policy, reason FROM followups WHERE id = :id", {"id": ids[c.key]}
    )
    assert (row["status"], row["policy"], row["reason"]) == (
        "suppressed",
        "frequency_cap",
        "SMS cap 2 per 7 days reached",
    )
    [retried] = store.execute("SELECT status FROM followups WHERE id = :id", {"id": ids[a.key]})
    assert retried["status"] == "sent"
    assert broken_promises(store, ruleset) == []


class Down(Adapter):
    """An SMS gateway that refuses the connection for `refused` and takes the rest."""

    name = "gateway"

    def __init__(self, refused: str) -> None:
        super().__init__(address_fields={"sms": "phone"})
        self.refused = refused
        self.taken: list[str] = []

    def send(self, message: Message) -> Receipt:
        if message.key == self.refused:
            raise RetryableError("gateway: connection refused")
        self.taken.append(message.key)
        return Receipt(message.key, self.name)


def test_a_dead_letter_waits_for_no_retry_and_holds_no_place(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer(8)])
    a, b, c = (invitation("C0008", name, NOON + dt.timedelta(seconds=10 * n))
               for n, name in enumerate("ABC"))  # fmt: skip
    plan(store, [a, b, c])
    gateway = Down(a.key)
    for seconds in (0, 10, 20):
        now = NOON + dt.timedelta(seconds=seconds)
        dispatch_once(store, ruleset, {"sms": gateway}, now, max_attempts=1)
    assert gateway.taken == [b.key, c.key]
    rows = store.execute("SELECT key, status FROM followups")
    assert {row["key"]: row["status"] for row in rows} == {
        a.key: "dead",
        b.key: "sent",
        c.key: "sent",
    }
