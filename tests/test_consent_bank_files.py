"""A consent export from a Chinese core system, loaded and then sent from: whatever is sent
honours consent and do-not-contact at the instant it is sent, and a withdrawal is never
silently lost (stored under a channel nothing reads, for an id no customer has). Each value
is read as the project's name or the row is quarantined with what to write."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from guanxi.engine import consent
from guanxi.engine.ingest import load_consents
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation
from tests.policy_helpers import sent
from tests.test_send_time_policy import START, customer, deliver, outboxes, plan

pytestmark = pytest.mark.every_store

NOON = START.replace(hour=12)
HEADER = "客户编号,渠道,目的,同意,来源,生效时间"
NEXT_WEEK = NOON + dt.timedelta(days=7)


def loaded(store: Store, ruleset: RuleSet, tmp_path: Path, *lines: str) -> int:
    """Load a consents file of `lines` at START; how many rows were loaded."""
    path = tmp_path / "consents.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", "utf-8")
    return load_consents(store, ruleset, path, START).loaded


def ledger(store: Store) -> list[tuple[Any, ...]]:
    rows = store.execute("SELECT * FROM consent_ledger ORDER BY id")
    return [(r["customer_id"], r["channel"], r["purpose"], bool(r["granted"])) for r in rows]


def reasons(store: Store) -> list[tuple[str, str]]:
    rows = store.execute("SELECT field, reason FROM quarantine ORDER BY row_number, id")
    return [(r["field"], r["reason"]) for r in rows]


def sent_keys(
    store: Store, ruleset: RuleSet, tmp_path: Path, *due: tuple[str, dt.datetime], **fields: Any
) -> list[str]:
    """Plan a message to C0001 for each (occurrence, due), deliver each at its due time;
    the occurrences sent."""
    plan(store, [invitation("C0001", name, at, **fields) for name, at in due])
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        for _name, at in sorted(due, key=lambda given: given[1]):
            deliver(store, ruleset, adapters, at)
    return [row["key"].split(":")[-1] for row in sent(store)]


@pytest.mark.parametrize(
    ("written", "channel"),
    [("短信", "sms"), ("SMS", "sms"), ("Sms ", "sms"), ("ＳＭＳ", "sms"),
     ("电子邮件", "email"), ("APP", "app"), ("短信 SMS", "sms")],
)  # fmt: skip
def test_a_channel_written_as_the_bank_writes_it_is_the_projects_channel_and_stops_the_send(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str, channel: str
) -> None:
    store.upsert_customers([customer(1)])
    assert loaded(store, ruleset, tmp_path, f"C0001,{written},营销,否,网点,") == 1
    assert ledger(store) == [("C0001", channel, "marketing", False)]
    due = ("E1", NOON)
    assert sent_keys(store, ruleset, tmp_path, due, channel=channel, purpose="marketing") == []


@pytest.mark.parametrize(
    ("written", "could_mean"),
    [
        ("电话", "could mean phone (电话银行外呼 call centre)"),
        ("邮件", "could mean email (电子邮件 email)"),
        ("手机银行", "could mean app (手机银行推送 app)"),
        ("微信", "is no channel of the project, which has rm_task (客户经理任务"),
    ],
)
def test_a_channel_not_read_for_certain_is_quarantined_with_the_channels_it_could_mean(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str, could_mean: str
) -> None:
    store.upsert_customers([customer(1)])
    assert loaded(store, ruleset, tmp_path, f"C0001,{written},营销,否,网点,") == 0
    [(field, reason)] = reasons(store)
    assert field == "channel" and could_mean in reason
    assert "until then the record is not in the ledger" in reason
    assert ledger(store) == []


def test_a_purpose_and_a_source_in_chinese_or_any_case_are_read_and_an_unknown_one_refused(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    lines = ["C0001,sms,营销,否,网点,", "C0001,sms,服务,否,Branch,",
             "C0001,sms,ＭＡＲＫＥＴＩＮＧ,否,app,", "C0001,sms,推广,否,网点,"]  # fmt: skip
    assert loaded(store, ruleset, tmp_path, *lines) == 3
    assert [purpose for _c, _ch, purpose, _g in ledger(store)] == [
        "marketing",
        "service",
        "marketing",
    ]
    [(field, reason)] = reasons(store)
    assert (field, reason) == (
        "purpose",
        "'推广' is not one of: all (全部), marketing (营销), service (服务)",
    )


@pytest.mark.parametrize(
    ("written", "granted"),
    [("同意", True), ("不同意", False), ("拒绝", False), ("撤回", False), ("Y", True),
     ("Ｙ", True), ("ｎ", False), ("否", False)],
)  # fmt: skip
def test_granted_as_consent_forms_write_it(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str, granted: bool
) -> None:
    assert loaded(store, ruleset, tmp_path, f"C0001,sms,营销,{written},网点,") == 1
    assert ledger(store) == [("C0001", "sms", "marketing", granted)]


def test_granted_that_says_neither_is_quarantined_with_what_to_write(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    assert loaded(store, ruleset, tmp_path, "C0001,sms,营销,待定,网点,") == 0
    assert reasons(store) == [
        ("granted", "'待定' is not true or false (write true/false, yes/no, y/n, 1/0 or 是/否)")
    ]


def test_a_withdrawal_dated_without_a_time_counts_from_that_days_start_in_the_projects_zone(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    assert loaded(store, ruleset, tmp_path, "C0001,sms,营销,否,网点,2026年12月1日") == 1
    [record] = consent.history(store, "C0001")
    assert record["effective_at"] == "2026-11-30T16:00:00Z"  # midnight in Shanghai
    assert sent_keys(store, ruleset, tmp_path, ("E1", NOON), purpose="marketing") == []


def test_a_withdrawal_effective_next_week_stops_only_what_is_sent_from_then(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    line = f"C0001,sms,营销,否,网点,{NEXT_WEEK - dt.timedelta(hours=1):%Y-%m-%d %H:%M}"
    assert loaded(store, ruleset, tmp_path, line) == 1
    due = [("today", NOON), ("next_week", NEXT_WEEK)]
    assert sent_keys(store, ruleset, tmp_path, *due, purpose="marketing") == ["today"]


def test_a_grant_effective_next_week_allows_no_send_today(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1, consent_marketing=False)])
    line = f"C0001,全部,营销,是,网点,{NEXT_WEEK - dt.timedelta(hours=1):%Y-%m-%d %H:%M}"
    assert loaded(store, ruleset, tmp_path, line) == 1
    due = [("today", NOON), ("next_week", NEXT_WEEK)]
    assert sent_keys(store, ruleset, tmp_path, *due, purpose="marketing") == ["next_week"]


@pytest.mark.parametrize("withdrawal_first", [True, False], ids=["withdrawal first", "grant first"])
@pytest.mark.parametrize("channel", ["sms", "全部"])
def test_a_grant_and_a_withdrawal_at_the_same_instant_the_withdrawal_is_in_force(
    store: Store, ruleset: RuleSet, tmp_path: Path, withdrawal_first: bool, channel: str
) -> None:
    """Whichever the file lists first, and a grant of the channel against a withdrawal of
    all channels alike: the safe one wins, at planning's and at send time's reading."""
    store.upsert_customers([customer(1)])
    lines = [f"C0001,{channel},营销,否,网点,2026-12-01 09:00",
             "C0001,sms,营销,是,网点,2026-12-01 09:00"]  # fmt: skip
    assert loaded(store, ruleset, tmp_path, *(lines if withdrawal_first else lines[::-1])) == 2
    in_force = consent.relied_on(consent.history(store, "C0001"), "sms", "marketing", iso(NOON))
    assert [bool(r["granted"]) for r in in_force] == [False]
    assert sent_keys(store, ruleset, tmp_path, ("E1", NOON), purpose="marketing") == []


def test_rows_out_of_order_the_latest_effective_decides_and_a_second_load_adds_nothing(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    lines = ["C0001,sms,营销,否,网点,2026-12-01 10:00", "C0001,sms,营销,是,网点,2026-11-20 10:00"]
    assert loaded(store, ruleset, tmp_path, *lines) == 2
    assert loaded(store, ruleset, tmp_path, *lines) == 2
    assert len(ledger(store)) == 2  # the same file again: the ledger holds each record once
    assert sent_keys(store, ruleset, tmp_path, ("E1", NOON), purpose="marketing") == []


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("C 0001", "no customer has id 'C 0001', but C0001 does: write the id as stored"),
        ("123", "no customer has id 123, but 000123 does: the id lost its leading zeros"),
    ],
)
def test_a_withdrawal_for_an_id_no_customer_has_is_quarantined_never_stored_for_a_phantom(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str, why: str
) -> None:
    store.upsert_customers([customer(1), {**customer(2), "customer_id": "000123"}])
    assert loaded(store, ruleset, tmp_path, f"{written},sms,营销,否,网点,") == 0
    [(field, reason)] = reasons(store)
    assert field == "customer_id" and reason.startswith(why)
    assert ledger(store) == []


@pytest.mark.parametrize("written", [" C0001 ", "Ｃ０００１"])
def test_a_withdrawal_for_an_id_with_spaces_around_or_in_full_width_reaches_the_customer(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str
) -> None:
    store.upsert_customers([customer(1)])
    assert loaded(store, ruleset, tmp_path, f"{written},sms,营销,否,网点,") == 1
    assert ledger(store) == [("C0001", "sms", "marketing", False)]
    assert sent_keys(store, ruleset, tmp_path, ("E1", NOON), purpose="marketing") == []


def test_a_withdrawal_for_a_customer_not_loaded_yet_is_kept_and_holds_once_they_are(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The consent export may come before the customers file that brings a new customer: the
    withdrawal is kept for them, not refused, and stops the first message to them."""
    store.upsert_customers([customer(2)])
    assert loaded(store, ruleset, tmp_path, "C0001,sms,营销,否,网点,") == 1
    assert reasons(store) == []
    store.upsert_customers([customer(1)])
    assert sent_keys(store, ruleset, tmp_path, ("E1", NOON), purpose="marketing") == []


def test_do_not_contact_in_the_customers_file_wins_over_a_consent_grant(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1, do_not_contact=True)])
    lines = ["C0001,sms,服务,是,网点,2026-12-01 09:00", "C0001,全部,营销,是,网点,2026-12-01 09:00"]
    assert loaded(store, ruleset, tmp_path, *lines) == 2
    due = [("service", NOON), ("marketing", NOON)]
    assert sent_keys(store, ruleset, tmp_path, *due[:1]) == []
    assert sent_keys(store, ruleset, tmp_path, *due[1:], purpose="marketing") == []
