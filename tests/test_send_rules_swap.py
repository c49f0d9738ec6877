"""New rules taken while a batch is being sent: what goes out after they wait is decided by
them, not by the rules the batch was claimed under. A rule edit or a release (approved or
rolled back) that widens the quiet hours, lowers a cap or withdraws a step, arriving while the
first message of a batch of thirty is with a slow channel, stops the batch: it records what
it sent, gives its other claims back (pending, no attempt counted), and the next tick decides
them under the new rules. Rules that cannot be taken (an edit with errors, a release that
does not load) stop nothing. The daemon runs in-process on each store, its clock fixed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guanxi.adapters.base import Message, Receipt, RetryableError, address_fields
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.releases import ledger
from guanxi.engine.releases.live import live_ruleset
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from tests.daemon_helpers import CONSENTS, invitation, plan_due, rules_copy
from tests.test_releases import propose

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
DUE = NOW - dt.timedelta(minutes=5)
QUIET = 'quiet_hours: {start: "21:00", end: "08:30"}'
QUIET_NOW = 'quiet_hours: {start: "09:00", end: "20:00"}'
SMS_CAP = "{channel: sms, max: 2, per: 7 days}"
STEP = re.compile(r"(?ms)^    - id: maturity_notice\n.*?(?=^    - id: )")


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The default rules, one batch of thirty, without the scenario tests (which name the
    step withdrawn here)."""
    folder = rules_copy(tmp_path, batch="30")
    shutil.rmtree(folder / "tests")
    return folder


@pytest.fixture
def daemon(tmp_path: Path, rules: Path, store: Store) -> Iterator[Daemon]:
    running = Daemon(rules, load_ruleset(rules), store, FixedClock(NOW), folder=tmp_path, port=None)
    yield running
    running.running.adapters.close()
    running.leadership.release()


@pytest.fixture
def released(tmp_path: Path, rules: Path, store: Store) -> Iterator[Daemon]:
    """The daemon in releases mode, running release 1: the rules as they are."""
    with (rules / "guanxi.yaml").open("a", encoding="utf-8") as settings:
        settings.write("\nrules:\n  mode: releases\n")
    approve(store, rules, minutes=0)
    release, ruleset = live_ruleset(store, tmp_path / "cache")
    running = Daemon(
        rules, ruleset, store, FixedClock(NOW), folder=tmp_path, release=release,
        cache=tmp_path / "cache", port=None,
    )  # fmt: skip
    yield running
    running.running.adapters.close()
    running.leadership.release()


def approve(store: Store, rules: Path, minutes: int) -> None:
    """The folder as it is proposed by one person and approved by another."""
    ledger.approve(store, propose(store, rules, minutes=minutes).id, NOW, actor="wang")


def edit(path: Path, old: str | re.Pattern[str], new: str) -> None:
    text = path.read_text("utf-8")
    changed = old.sub(new, text, 1) if isinstance(old, re.Pattern) else text.replace(old, new, 1)
    assert changed != text, f"the edit of {path.name} changed nothing"
    path.write_text(changed, "utf-8")


def during_first_send(daemon: Daemon, change: Callable[[], None]) -> None:
    """A slow SMS channel: `change` happens while it sends the first message it is given."""
    adapter = daemon.running.adapters["sms"]
    send, changed = adapter.send, []

    def slow_send(message: Message) -> Receipt:
        if not changed:
            changed.append(change())
        return send(message)

    adapter.send = slow_send  # type: ignore[method-assign]


def sent_keys(daemon: Daemon) -> list[str]:
    """What reached the outbox, in order."""
    path = daemon.folder / "outbox.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return [json.loads(line)["key"] for line in lines]


def statuses(store: Store) -> Counter[str]:
    return Counter(row["status"] for row in store.execute("SELECT status FROM followups"))


def given_back(store: Store) -> list[dict[str, Any]]:
    """The follow-ups pending again: with their attempts and lease."""
    return store.execute(
        "SELECT attempts, lease_until, next_attempt_at FROM followups WHERE status = 'pending'"
    )


def test_quiet_hours_widened_while_a_batch_is_sent_stop_it(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    old = daemon.running.ruleset.hash
    plan_due(daemon.store, 30, DUE)
    policies = daemon.rules / "policies.yaml"
    during_first_send(daemon, lambda: edit(policies, QUIET, QUIET_NOW))
    with caplog.at_level(logging.INFO, logger="guanxi.daemon"):
        first = daemon.dispatch_tick()
    assert len(sent_keys(daemon)) == 1  # the message with the channel when the rules changed
    assert (first.claimed, first.sent, first.given_back) == (30, 1, 29)
    assert statuses(daemon.store) == {"sent": 1, "pending": 29}
    assert {(r["attempts"], r["lease_until"]) for r in given_back(daemon.store)} == {(0, None)}
    said = [r for r in caplog.records if r.getMessage().startswith("new rules wait")]
    assert [r.given_back for r in said] == [29]  # type: ignore[attr-defined]
    assert daemon.running.ruleset.hash != old
    second = daemon.dispatch_tick()
    assert (second.sent, sum(second.deferred.values())) == (0, 29)  # 10:00 is quiet now
    assert len(sent_keys(daemon)) == 1


def test_a_step_withdrawn_while_a_batch_is_sent_sends_nothing_more(daemon: Daemon) -> None:
    plan_due(daemon.store, 30, DUE)
    during_first_send(daemon, lambda: edit(daemon.rules / "playbooks.yaml", STEP, ""))
    assert daemon.dispatch_tick().given_back == 29
    second = daemon.dispatch_tick()
    assert (second.sent, second.cancelled) == (0, {"withdrawn": 29})
    assert len(sent_keys(daemon)) == 1


def plan_two_each(store: Store, customers: int) -> None:
    """Two SMS for each customer, due now: the first of each in the batch's first half."""
    people = [f"C{i:06d}" for i in range(customers)]
    store.upsert_customers(
        [{"customer_id": c, "name": "客户", "phone": "13800000000", **CONSENTS} for c in people]
    )
    planned = [invitation(c, event, DUE) for event in ("E1", "E2") for c in people]
    insert_followups(store, planned, "test", DUE)


def test_a_cap_lowered_by_a_release_while_a_batch_is_sent_holds_at_once(
    released: Daemon,
) -> None:
    """The SMS cap goes from two a week to one while C000000's first message is sent: no
    customer gets a second message."""
    plan_two_each(released.store, 15)

    def lower_the_cap() -> None:
        edit(released.rules / "policies.yaml", SMS_CAP, SMS_CAP.replace("max: 2", "max: 1"))
        approve(released.store, released.rules, minutes=1)

    during_first_send(released, lower_the_cap)
    first = released.dispatch_tick()
    assert len(sent_keys(released)) == 1
    assert (first.sent, first.given_back) == (1, 29)
    assert released.release is not None and released.release.id == 2
    released.dispatch_tick()
    customers = Counter(key.split(":")[1] for key in sent_keys(released))
    assert (len(customers), set(customers.values())) == (15, {1})
    assert statuses(released.store) == {"sent": 15, "suppressed": 15}


def test_a_rollback_while_a_batch_is_sent_holds_at_once(released: Daemon, store: Store) -> None:
    """Release 2 ended the morning's quiet hours early; it is rolled back (to release 1,
    quiet until 20:00) while the first message of a batch goes out under it."""
    rules = released.rules
    edit(rules / "policies.yaml", QUIET, QUIET_NOW)
    approve(store, rules, minutes=2)  # release 2: quiet until 20:00
    edit(rules / "policies.yaml", QUIET_NOW, QUIET)
    approve(store, rules, minutes=3)  # release 3: quiet until 08:30, live
    released.reload_if_changed()
    assert released.release is not None and released.release.id == 3
    plan_due(store, 30, DUE)
    during_first_send(released, lambda: ledger.rollback(store, NOW, "too early", "wang"))
    assert released.dispatch_tick().given_back == 29
    assert released.release.id == 2
    assert sum(released.dispatch_tick().deferred.values()) == 29
    assert len(sent_keys(released)) == 1


UNSET_GATEWAY = "sms: {adapter: webhook, url: '${GX_UNSET_GATEWAY}'}\n    rm_task: rm_tasks"


@pytest.mark.parametrize(
    ("name", "old", "new", "said"),
    [
        ("policies.yaml", "caps:", "caps: [", "the rule project has 1 error"),
        ("guanxi.yaml", "rm_task: rm_tasks", UNSET_GATEWAY, "the new rules cannot start"),
    ],
    ids=["invalid", "adapter cannot start"],
)
def test_rules_that_cannot_be_taken_while_a_batch_is_sent_stop_nothing(
    daemon: Daemon, name: str, old: str, new: str, said: str
) -> None:
    good = daemon.running.ruleset.hash
    plan_due(daemon.store, 30, DUE)
    during_first_send(daemon, lambda: edit(daemon.rules / name, old, new))
    first = daemon.dispatch_tick()
    assert (first.sent, first.given_back) == (30, 0)
    assert daemon.running.ruleset.hash == good
    assert said in daemon.metrics.failures()[1]["reload"]  # the health check says why
    again = [invitation(f"C{i:06d}", "E2", DUE) for i in range(30)]
    insert_followups(daemon.store, again, "test", DUE)  # the rules refused stop no batch again
    assert (daemon.dispatch_tick().sent, daemon.running.ruleset.hash) == (30, good)


def test_a_release_that_does_not_load_stops_nothing(released: Daemon, store: Store) -> None:
    plan_due(store, 30, DUE)

    def approve_a_broken_release() -> None:
        edit(released.rules / "policies.yaml", "caps:", "caps: [")
        approve(store, released.rules, minutes=1)

    during_first_send(released, approve_a_broken_release)
    first = released.dispatch_tick()
    assert (first.sent, first.given_back) == (30, 0)
    assert released.release is not None and released.release.id == 1
    again = [invitation(f"C{i:06d}", "E2", DUE) for i in range(30)]
    insert_followups(store, again, "test", DUE)  # the refused release stops no batch again
    assert (released.dispatch_tick().sent, released.release.id) == (30, 1)


class Failing:
    """An SMS gateway down: every send fails and waits out a back-off."""

    def __init__(self, daemon: Daemon) -> None:
        adapter = daemon.running.adapters["sms"]
        self.adapter, self.send = adapter, adapter.send

    def __enter__(self) -> None:
        def down(message: Message) -> Receipt:
            raise RetryableError("the gateway is down")

        self.adapter.send = down  # type: ignore[method-assign]

    def __exit__(self, *exc_info: object) -> None:
        self.adapter.send = self.send  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("change", "ends"),
    [
        (("policies.yaml", QUIET, QUIET_NOW), ({}, 3)),
        (("playbooks.yaml", STEP, ""), ({"withdrawn": 3}, 0)),
    ],
)
def test_rules_taken_while_a_retry_waits_decide_the_retry(
    daemon: Daemon, change: tuple[str, Any, str], ends: tuple[dict[str, int], int]
) -> None:
    """The gateway is down; while the retries wait out their back-off, the quiet hours
    widen to now, or the step is withdrawn: the retries are deferred, or cancelled."""
    plan_due(daemon.store, 3, DUE)
    with Failing(daemon):
        assert daemon.dispatch_tick().retried == 3
    name, old, new = change
    edit(daemon.rules / name, old, new)
    assert daemon.reload_if_changed() is True
    daemon.clock.advance(dt.timedelta(minutes=2))  # type: ignore[attr-defined]
    report = daemon.dispatch_tick()
    assert sent_keys(daemon) == []
    assert (report.cancelled, sum(report.deferred.values())) == ends


def test_only_claims_still_held_are_given_back(store: Store, ruleset: RuleSet) -> None:
    """Other rules wait after the first send; meanwhile the claim lapsed and another
    dispatcher took the third follow-up over: its claim is not this batch's to give back."""
    plan_due(store, 3, DUE)
    third = store.execute("SELECT max(id) AS id FROM followups")[0]["id"]

    def taken_over_then_new_rules() -> bool:
        if not recording.messages:
            return False
        store.execute(
            "UPDATE followups SET lease_until = 'another dispatcher' WHERE id = :id", {"id": third}
        )
        return True

    with RecordingAdapter(address_fields=address_fields(ruleset.policies)) as recording:
        report = dispatch_once(
            store, ruleset, {"sms": recording}, NOW, new_rules=taken_over_then_new_rules
        )
    assert (report.sent, report.given_back, report.unsent) == (1, 1, 0)
    rows = store.execute("SELECT status, attempts, lease_until FROM followups ORDER BY id")
    assert rows == [
        {"status": "sent", "attempts": 1, "lease_until": None},
        {"status": "pending", "attempts": 0, "lease_until": None},
        {"status": "claimed", "attempts": 0, "lease_until": "another dispatcher"},
    ]
    [entry] = store.execute("SELECT outcome FROM deliveries")  # no attempt for those given back
    assert entry == {"outcome": "sent"}
