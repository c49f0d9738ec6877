"""On SQLite, which tells cheaply whether anything was written, a withdrawal is seen by the
very next send of a batch however soon after the claim it was recorded. (PostgreSQL reads
consent again once a second: tests/test_send_instant.py.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from guanxi.adapters.base import Message
from guanxi.engine.clock import FixedClock
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.test_send_instant import (
    MORNING,
    Slow,
    ask_not_to_be_contacted,
    plan_sms,
    run_batch,
    withdraw_consent,
)


@pytest.mark.parametrize(
    ("withdrawal", "policy"),
    [(withdraw_consent, "channel_consent"), (ask_not_to_be_contacted, "do_not_contact")],
)
def test_a_withdrawal_recorded_a_moment_before_a_send_stops_it(
    store: Store,
    ruleset: RuleSet,
    withdrawal: Callable[[Store, RuleSet, dt.datetime], None],
    policy: str,
) -> None:
    """Sends of a tenth of a second: C0001 withdraws while C0000's message is being sent,
    a tenth of a second after the claim and before their own message's turn. However soon
    after the claim or the last read, a withdrawal in the store before a send stops it."""
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)

    def withdraw(message: Message) -> None:
        if message.customer_id == "C0000":
            withdrawal(store, ruleset, clock.now())

    quick = Slow(clock, dt.timedelta(milliseconds=100), withdraw)
    report = run_batch(store, ruleset, quick, clock)
    assert (report.sent, report.suppressed) == (2, {policy: 1})
    [row] = store.execute("SELECT status, policy FROM followups WHERE customer_id = 'C0001'")
    assert row == {"status": "suppressed", "policy": policy}
