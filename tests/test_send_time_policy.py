"""The contact policy at the instant of sending: quiet hours, frequency caps, consent and
do-not-contact hold for every delivery in the ledger, whatever the batches, ticks or
dispatchers, on each real store. The promises are checked against the deliveries ledger (what
was sent, and when), by a count written here, not by the engine's own."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.adapters.base import Adapter, address_fields
from guanxi.adapters.registry import load_adapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import invitation
from tests.policy_helpers import LOCAL, broken_promises, sent

pytestmark = pytest.mark.every_store

START = dt.datetime(2026, 12, 1, 6, 4, tzinfo=LOCAL)  # before the quiet hours end (08:30)
CHANNELS = ("sms", "email", "app")
FLAGS = ("consent_sms", "consent_email", "consent_app", "consent_marketing", "do_not_contact")


def customer(number: int, **flags: bool) -> dict[str, Any]:
    consents = {flag: flag != "do_not_contact" for flag in FLAGS}
    return {"customer_id": f"C{number:04d}", "name": f"客户{number}", "phone": f"138{number:08d}",
            "email": f"c{number}@example.com", **consents, **flags}  # fmt: skip


def plan(store: Store, followups: Sequence[Followup]) -> dict[str, int]:
    insert_followups(store, followups, "b1", START)
    return {row["key"]: row["id"] for row in store.execute("SELECT id, key FROM followups")}


def open_again(store: Store) -> Store:
    """Another connection to the same store, as another dispatcher has."""
    if isinstance(store, PostgresStore):
        return PostgresStore(store.url, migrate=False)
    assert isinstance(store, SQLiteStore)
    return SQLiteStore(store.path, migrate=False)


@contextmanager
def outboxes(ruleset: RuleSet, path: Path) -> Iterator[dict[str, Adapter]]:
    fields = address_fields(ruleset.policies)
    with load_adapter("outbox", path=path, address_fields=fields) as outbox:
        yield dict.fromkeys(CHANNELS, outbox)


def deliver(
    store: Store, ruleset: RuleSet, adapters: dict[str, Adapter], now: dt.datetime, limit: int = 500
) -> None:
    """Dispatch passes at `now` until one claims nothing, as the daemon's tick does."""
    while dispatch_once(store, ruleset, adapters, now, limit=limit).claimed:
        pass


# --- the property ----------------------------------------------------------------------------


followups = st.lists(
    st.fixed_dictionaries(
        {
            "customer": st.integers(0, 3),
            "channel": st.sampled_from(CHANNELS),
            "priority": st.sampled_from([10, 50, 90]),
            "mandatory": st.booleans(),
            "purpose": st.sampled_from(["service", "marketing"]),
            "due": st.integers(0, 4 * 24 * 60),  # minutes after START, quiet hours too
        }
    ),
    min_size=1,
    max_size=14,
)
consents = st.lists(
    st.fixed_dictionaries({flag: st.booleans() for flag in FLAGS}), min_size=4, max_size=4
)
instants = st.lists(st.integers(0, 5 * 24 * 60), min_size=1, max_size=6).map(sorted)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the rule set's repr
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plans=followups,
    flags=consents,
    minutes=instants,
    dispatchers=st.integers(1, 3),
    limit=st.sampled_from([1, 2, 500]),
)
def test_every_delivery_keeps_the_contact_policy_at_its_sent_time(
    store: Store,
    ruleset: RuleSet,
    tmp_path: Path,
    plans: list[dict[str, Any]],
    flags: list[dict[str, bool]],
    minutes: list[int],
    dispatchers: int,
    limit: int,
) -> None:
    """Several daemons share one clock, as on real machines: at each instant every dispatcher
    delivers at once, each on its own connection."""
    for table in ("customers", "followups", "deliveries", "followup_decisions"):
        store.execute(f"DELETE FROM {table}")
    store.upsert_customers([customer(i, **given) for i, given in enumerate(flags)])
    plan(store, [
        invitation(f"C{p['customer']:04d}", f"E{i}", START + dt.timedelta(minutes=p["due"]),
                   channel=p["channel"], priority=p["priority"], mandatory=p["mandatory"],
                   purpose=p["purpose"])
        for i, p in enumerate(plans)
    ])  # fmt: skip
    failures: list[BaseException] = []
    together = threading.Barrier(dispatchers)  # each instant starts for all of them at once

    def dispatcher(number: int) -> None:
        with ExitStack() as stack:
            own = open_again(store)  # its own connection, in its own thread
            stack.callback(own.close)
            adapters = stack.enter_context(outboxes(ruleset, tmp_path / f"out{number}.jsonl"))
            for minute in minutes:
                together.wait()
                try:
                    deliver(own, ruleset, adapters, START + dt.timedelta(minutes=minute), limit)
                except BaseException as error:
                    failures.append(error)

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in range(dispatchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert broken_promises(store, ruleset) == []


# --- named regressions ---------------------------------------------------------------------


def decisions(store: Store, followup_id: int) -> list[tuple[str, str, str]]:
    rows = store.execute(
        "SELECT status, policy, reason FROM followup_decisions WHERE followup_id = :id ORDER BY id",
        {"id": followup_id},
    )
    return [(row["status"], row["policy"], row["reason"]) for row in rows]


def test_a_message_claimed_in_quiet_hours_is_deferred_to_their_end_spread(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(i) for i in range(6)])
    due = START - dt.timedelta(days=170)  # planned long ago, never sent (the daemon was down)
    plan(store, [invitation(f"C{i:04d}", "E1", due) for i in range(6)])
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, START)  # 06:04, inside 21:00–08:30
        assert [row["key"] for row in sent(store)] == []
        rows = store.execute("SELECT * FROM followups ORDER BY id")
        moved = {dt.datetime.fromisoformat(row["due_at"]).astimezone(LOCAL) for row in rows}
        assert {row["status"] for row in rows} == {"pending"}
        opens = START.replace(hour=8, minute=30)
        assert all(opens <= at < opens + dt.timedelta(hours=1) for at in moved)
        assert len(moved) == 6  # spread over the first hour, not a burst at 08:30
        for row in rows:
            local = dt.datetime.fromisoformat(row["due_at"]).astimezone(LOCAL)
            reason = f"quiet hours 21:00–08:30, moved to {local:%Y-%m-%d %H:%M}"
            assert decisions(store, row["id"]) == [("deferred", "quiet_hours", reason)]
        deliver(store, ruleset, adapters, opens + dt.timedelta(hours=1))
    assert len(sent(store)) == 6
    assert broken_promises(store, ruleset) == []


def test_three_sms_due_at_once_for_a_customer_with_cap_two_per_seven_days_two_go_highest_priority(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(136)])
    noon = START.replace(hour=12)
    ids = plan(store, [invitation("C0136", f"E{p}", noon, priority=p) for p in (10, 90, 50)])
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, noon)
    assert sorted(row["priority"] for row in sent(store)) == [50, 90]
    low = ids[invitation("C0136", "E10", noon).key]
    [row] = store.execute(
        "SELECT status, policy, reason FROM followups WHERE id = :id", {"id": low}
    )
    assert (row["status"], row["policy"]) == ("suppressed", "frequency_cap")
    reason = "SMS cap 2 per 7 days reached"
    assert row["reason"] == reason
    assert decisions(store, low) == [("suppressed", "frequency_cap", reason)]
    assert broken_promises(store, ruleset) == []


@pytest.fixture
def pg(postgres_emptied: str, ruleset: RuleSet) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_emptied)
    store.prepare(ruleset.schema)
    yield store
    store.close()


def test_two_dispatchers_on_postgresql_do_not_both_spend_the_last_slot(
    pg: PostgresStore, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The customer was sent one SMS this week and has two more due: one slot left. Each
    dispatcher claims one of them; the ledger is held up until both are in the middle of
    their claim, so they decide at the same moment."""
    noon = START.replace(hour=12)
    pg.upsert_customers([customer(136)])
    earlier = invitation("C0136", "E0", noon - dt.timedelta(days=2))
    plan(pg, [earlier, *(invitation("C0136", f"E{n}", noon) for n in (1, 2))])
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(pg, ruleset, adapters, noon - dt.timedelta(days=2))
    holder = open_again(pg)
    try:
        with holder.transaction():
            holder.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
            threads = [threading.Thread(target=claim_one, args=(pg, ruleset, tmp_path, noon, n))
                       for n in range(2)]  # fmt: skip
            for thread in threads:
                thread.start()
            wait_until_waiting(holder, 2)
        for thread in threads:
            thread.join()
    finally:
        holder.close()
    assert [row["key"] for row in sent(pg)][1:] in (
        [invitation("C0136", "E1", noon).key],
        [invitation("C0136", "E2", noon).key],
    )
    assert broken_promises(pg, ruleset) == []


def claim_one(store: Store, ruleset: RuleSet, folder: Path, now: dt.datetime, n: int) -> None:
    """One dispatch pass of one follow-up, on a connection of its own."""
    own = open_again(store)
    try:
        with outboxes(ruleset, folder / f"out{n}.jsonl") as adapters:
            dispatch_once(own, ruleset, adapters, now, limit=1)
    finally:
        own.close()


def wait_until_waiting(store: Store, sessions: int) -> None:
    """Until `sessions` other sessions of the database wait for a lock."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [row] = store.execute("SELECT count(DISTINCT pid) AS n FROM pg_locks WHERE NOT granted")
        if row["n"] >= sessions:
            return
        time.sleep(0.01)
    raise AssertionError(f"{sessions} dispatchers never got to wait")
