"""A store upgraded while a message waits for a retry: the retry goes out under the key of
the attempt before the upgrade, so the gateway, which may have taken that attempt (its answer
was lost), recognises it and the customer gets one message. Migration m029 wrote the keys of
customers whose id holds `:` or `%` anew (plan/followups.py `followup_key`); m032 gives a
follow-up still to be sent the key its attempts went out under."""

from __future__ import annotations

import datetime as dt

import pytest

from guanxi.engine.dispatch.dispatch import dispatch_once
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import LostAnswer
from tests.test_recurring import customer

NEWS = "proactive_product_news"
DECEMBER = (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
PLANNED = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
NEWS_DAY = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
UPGRADE = ["m029_escaped_followup_keys", "m032_retry_keys"]


def before_the_escaping(store: Store) -> None:
    """The store as planned before m029: the customer's id unescaped in the keys."""
    store.execute("UPDATE followups SET key = step_id || ':' || customer_id || ':' || occurrence")
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    for name in UPGRADE:
        store.execute(f"DELETE FROM {table} WHERE name = :n", {"n": name})


@pytest.mark.every_store
def test_a_retry_waiting_at_the_upgrade_goes_out_under_its_first_attempts_key(
    store: Store, ruleset: RuleSet
) -> None:
    fields = {"consent_marketing": True, "consent_sms": True, "preferred_channel": "sms"}
    customer(store, ruleset, "A:B", "proactive", phone="13800000000", **fields)
    assert plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS]).new == 1
    before_the_escaping(store)
    gateway = LostAnswer(NEWS_DAY)
    first = dispatch_once(store, ruleset, {"sms": gateway}, NEWS_DAY)
    assert (first.retried, len(gateway.messages)) == (1, 1)
    assert UPGRADE[0] in store.migrate()
    retried = dispatch_once(store, ruleset, {"sms": gateway}, NEWS_DAY + dt.timedelta(hours=2))
    assert retried.sent == 1
    assert [m.key for m in gateway.messages] == [f"{NEWS}:A:B:2026-12"]  # one message
    keys = store.execute("SELECT DISTINCT key FROM deliveries")
    assert keys == [{"key": f"{NEWS}:A:B:2026-12"}]


@pytest.mark.every_store
def test_the_upgrade_writes_anew_the_keys_of_what_is_sent_or_never_tried(
    store: Store, ruleset: RuleSet
) -> None:
    """Only a follow-up still to be sent after an attempt keeps its key: one not tried yet
    and one sent take the escaped key, so planning December again finds them."""
    fields = {"consent_marketing": True, "consent_sms": True, "preferred_channel": "sms"}
    for customer_id in ("A:B", "C:D"):
        customer(store, ruleset, customer_id, "proactive", phone="13800000000", **fields)
    assert plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS]).new == 2
    before_the_escaping(store)
    store.execute("UPDATE followups SET status = 'sent' WHERE customer_id = 'C:D'")
    assert UPGRADE[0] in store.migrate()
    keys = sorted(row["key"] for row in store.execute("SELECT key FROM followups"))
    assert keys == [f"{NEWS}:A%3AB:2026-12", f"{NEWS}:C%3AD:2026-12"]
    assert plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS]).new == 0


@pytest.mark.every_store
def test_planning_december_again_after_the_upgrade_plans_no_second_of_a_waiting_retry(
    store: Store, ruleset: RuleSet
) -> None:
    """The retry kept under its old key is still December's message of its customer: a plan
    of December again (an overlapping window) does not plan it a second time under the
    escaped key, and the customer gets one message."""
    fields = {"consent_marketing": True, "consent_sms": True, "preferred_channel": "sms"}
    customer(store, ruleset, "A:B", "proactive", phone="13800000000", **fields)
    assert plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS]).new == 1
    before_the_escaping(store)
    gateway = LostAnswer(NEWS_DAY)
    assert dispatch_once(store, ruleset, {"sms": gateway}, NEWS_DAY).retried == 1
    assert UPGRADE[0] in store.migrate()
    plan_recurring(store, ruleset, *DECEMBER, PLANNED, only=[NEWS])
    for hours in (2, 3):
        dispatch_once(store, ruleset, {"sms": gateway}, NEWS_DAY + dt.timedelta(hours=hours))
    assert [m.key for m in gateway.messages] == [f"{NEWS}:A:B:2026-12"]  # one message
    sent = store.execute("SELECT key FROM followups WHERE status = 'sent'")
    assert sent == [{"key": f"{NEWS}:A:B:2026-12"}]
