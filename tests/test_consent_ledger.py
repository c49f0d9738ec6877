"""The consent ledger on each real store: records are only added, the latest by effective time
decides, a withdrawal recorded after planning stops the send and is cited where the verdict is
kept (the follow-up, its decisions, the deliveries ledger), marketing withdrawal leaves service
messages alone, customer loads add a record when they change a consent column, and bad rows
of a consent file are quarantined with their row numbers."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine import consent
from guanxi.engine.classify.explain import explain
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import load_consents, load_customers
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.policy import apply_policies
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES
from tests.daemon_helpers import invitation
from tests.policy_helpers import sent
from tests.test_send_time_policy import START, customer, decisions, deliver, outboxes, plan

pytestmark = pytest.mark.every_store

NOON = START.replace(hour=12)


def withdraw(store: Store, ruleset: RuleSet, channel: str, purpose: str, at: dt.datetime) -> int:
    given = consent.Record("C0001", channel, purpose, False, "branch", "FORM-7", iso(at))
    [added] = consent.record(store, ruleset.policies, given, at)
    return added


def cited(record: int, at: dt.datetime) -> str:
    return f"#{record} (branch, {at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC, FORM-7)"


def test_a_withdrawal_recorded_after_planning_stops_the_send_and_the_verdict_cites_it(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    [followup] = plan(store, [invitation("C0001", "E1", NOON, purpose="marketing")]).values()
    apply_policies(store, ruleset, "b1", START)
    [row] = store.execute("SELECT status FROM followups")
    assert row["status"] == "pending"  # the columns consent at planning
    later = START + dt.timedelta(hours=1)
    record = withdraw(store, ruleset, "all", "marketing", later)
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, NOON)
    assert sent(store) == []
    reason = "no marketing consent: withdrawn by consent record " + cited(record, later)
    [row] = store.execute("SELECT status, policy, reason FROM followups")
    assert (row["status"], row["policy"], row["reason"]) == (
        "suppressed",
        "marketing_consent",
        reason,
    )
    assert decisions(store, followup) == [("suppressed", "marketing_consent", reason)]
    [delivery] = store.execute("SELECT outcome, error FROM deliveries")
    assert (delivery["outcome"], delivery["error"]) == ("suppressed", reason)
    history = explain(store, ruleset, "C0001", NOON).history
    assert history is not None and history.followups[0].consents == (record,)


def test_withdrawing_marketing_leaves_service_messages_and_a_channel_withdrawal_stops_both(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    marketing = withdraw(store, ruleset, "sms", "marketing", START)
    plan(store, [
        invitation("C0001", "service", NOON),
        invitation("C0001", "marketing", NOON, purpose="marketing"),
        invitation("C0001", "email", NOON, channel="email", purpose="marketing"),
    ])  # fmt: skip
    apply_policies(store, ruleset, "b1", START)
    found = store.execute("SELECT occurrence, status, reason FROM followups ORDER BY id")
    assert [(row["occurrence"], row["status"]) for row in found] == [
        ("service", "pending"),
        ("marketing", "suppressed"),
        ("email", "pending"),  # withdrawn on SMS only
    ]
    assert found[1]["reason"].endswith(cited(marketing, START))
    service = withdraw(store, ruleset, "sms", "service", START + dt.timedelta(hours=1))
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, NOON)
    assert [row["channel"] for row in sent(store)] == ["email"]
    [row] = store.execute("SELECT reason FROM followups WHERE occurrence = 'service'")
    later = START + dt.timedelta(hours=1)
    assert row["reason"] == "no SMS consent: withdrawn by consent record " + cited(service, later)


def test_the_latest_record_by_effective_time_decides_whenever_it_was_recorded(
    store: Store, ruleset: RuleSet
) -> None:
    """A paper form signed earlier and entered later does not undo a newer withdrawal; a
    newer grant undoes an older withdrawal; a grant taking effect at the same instant as a
    withdrawal does not, even entered later: the safe one is in force."""
    store.upsert_customers([customer(1, consent_marketing=False)])
    monday, tuesday = START, START + dt.timedelta(days=1)
    withdrawn = withdraw(store, ruleset, "all", "marketing", tuesday)
    old_grant = consent.Record("C0001", "all", "marketing", True, "call", None, iso(monday))
    consent.record(store, ruleset.policies, old_grant, tuesday + dt.timedelta(hours=2))
    ledger = consent.history(store, "C0001")
    assert consent.current(ledger, iso(tuesday))[("all", "marketing")]["id"] == withdrawn
    tie = consent.Record("C0001", "all", "marketing", True, "app", None, iso(tuesday))
    consent.record(store, ruleset.policies, tie, tuesday)
    ledger = consent.history(store, "C0001")
    assert consent.current(ledger, iso(tuesday))[("all", "marketing")]["id"] == withdrawn
    minute = tuesday + dt.timedelta(minutes=1)
    newer = consent.Record("C0001", "all", "marketing", True, "app", None, iso(minute))
    [granted] = consent.record(store, ruleset.policies, newer, minute)
    ledger = consent.history(store, "C0001")
    assert consent.current(ledger, iso(minute))[("all", "marketing")]["id"] == granted
    assert len(ledger) == 4  # nothing overwritten
    plan(store, [invitation("C0001", "E1", NOON + dt.timedelta(days=2), purpose="marketing")])
    apply_policies(store, ruleset, "b1", minute)
    [row] = store.execute("SELECT status FROM followups")
    assert row["status"] == "pending"  # the grant in the ledger wins over the column's false


def test_a_record_that_takes_effect_later_does_not_undo_a_withdrawal_in_force_now(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A grant signed to take effect next month (entered first) and a withdrawal today: the
    withdrawal decides until next month, at planning and at send time alike; a follow-up
    due after the grant takes effect is planned."""
    store.upsert_customers([customer(1)])
    next_month = START + dt.timedelta(days=31)
    later = consent.Record("C0001", "all", "marketing", True, "branch", "FORM-6", iso(next_month))
    [granted] = consent.record(store, ruleset.policies, later, START)
    record = withdraw(store, ruleset, "all", "marketing", START)
    ledger = consent.history(store, "C0001")
    assert consent.current(ledger, iso(NOON))[("all", "marketing")]["id"] == record
    assert consent.current(ledger, iso(next_month))[("all", "marketing")]["id"] == granted
    plan(store, [
        invitation("C0001", "E1", NOON, purpose="marketing"),
        invitation("C0001", "E2", NOON + dt.timedelta(days=31), purpose="marketing"),
    ])  # fmt: skip
    apply_policies(store, ruleset, "b1", START)
    found = store.execute("SELECT occurrence, status, reason FROM followups ORDER BY id")
    assert [(row["occurrence"], row["status"]) for row in found] == [
        ("E1", "suppressed"),
        ("E2", "pending"),  # due once the grant is in force
    ]
    assert found[0]["reason"].endswith(cited(record, START))
    store.execute("UPDATE followups SET status = 'pending' WHERE occurrence = 'E1'")
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, NOON)
        assert sent(store) == []
        deliver(store, ruleset, adapters, NOON + dt.timedelta(days=31))
    assert [row["key"].split(":")[-1] for row in sent(store)] == ["E2"]


def test_a_customer_load_that_changes_a_consent_column_adds_a_record_and_keeps_history(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    header = "customer_id,name,consent_sms,consent_marketing\n"
    file = tmp_path / "customers.csv"
    file.write_text(header + "C0001,王伟,true,false\nC0002,李娜,false,false\n", "utf-8")
    load_customers(store, ruleset, file, START)
    load_customers(store, ruleset, file, START + dt.timedelta(days=1))  # unchanged: no record
    first = consent.history(store, "C0001")
    shown = [(r["channel"], r["purpose"], bool(r["granted"]), r["source"], r["evidence"])
             for r in first]  # fmt: skip
    assert shown == [("sms", "service", True, "file", "customers.csv:2 consent_sms")]
    assert consent.history(store, "C0002") == []  # never consented: nothing to record
    withdrawn = withdraw(store, ruleset, "sms", "service", START + dt.timedelta(days=2))
    load_customers(store, ruleset, file, START + dt.timedelta(days=3))  # still says true
    ledger = consent.history(store, "C0001")
    in_force = consent.current(ledger, iso(START + dt.timedelta(days=3)))
    assert in_force[("sms", "service")]["id"] == withdrawn
    file.write_text(header + "C0001,王伟,false,true\n", "utf-8")
    load_customers(store, ruleset, file, START + dt.timedelta(days=4))
    ledger = consent.history(store, "C0001")
    assert [r["id"] for r in ledger[:2]] == [first[0]["id"], withdrawn]  # kept, in order
    added = {(r["channel"], r["purpose"], bool(r["granted"])) for r in ledger[2:]}
    # the phone channel's consent column is consent_marketing: it stands for both
    assert added == {("sms", "service", False), ("phone", "service", True),
                     ("all", "marketing", True)}  # fmt: skip


def test_a_consent_file_quarantines_bad_rows_with_their_row_numbers_and_loads_once(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    file = tmp_path / "consents.csv"
    file.write_text(
        "客户编号,渠道,目的,同意,来源,凭证,生效时间\n"
        "C0001,短信 SMS,营销,否,网点,FORM-1,2026-11-30 09:00\n"
        "C0001,fax,marketing,true,branch,,\n"
        "C0002,all,service,maybe,app,,\n"
        ",sms,service,true,call,,\n"
        "C0003,all,marketing,yes,file,,\n",
        "utf-8",
    )
    report = load_consents(store, ruleset, file, START)
    assert (report.loaded, report.inserted, report.quarantined) == (2, 2, 3)
    bad = store.execute("SELECT row_number, field FROM quarantine ORDER BY row_number")
    assert [(row["row_number"], row["field"]) for row in bad] == [
        (3, "channel"),
        (4, "granted"),
        (5, "customer_id"),
    ]
    [given] = consent.history(store, "C0001")
    assert (given["channel"], given["purpose"], bool(given["granted"]), given["source"]) == (
        "sms",
        "marketing",
        False,
        "branch",
    )
    assert given["effective_at"] == "2026-11-30T01:00:00Z"  # 09:00 in Shanghai
    [defaulted] = consent.history(store, "C0003")
    assert defaulted["evidence"] == "consents.csv:6"
    again = load_consents(store, ruleset, file, START + dt.timedelta(days=1))
    assert (again.inserted, again.unchanged) == (1, 1)  # C0003 takes effect at each load


CONSENT_FIELDS = (
    "      channel: {type: string, label: 渠道}\n"
    "      purpose: {type: string, label: 目的}\n"
    "      source: {type: string, label: 来源}\n"
    "      evidence: {type: string, label: 凭证}\n"
)
CONSENT_EVENTS = (
    "  consent_given:\n    label: 给予同意\n    fields:\n"
    + CONSENT_FIELDS
    + "  consent_withdrawn:\n    label: 撤回同意\n    fields:\n"
    + CONSENT_FIELDS
)


@pytest.fixture(scope="module")
def with_consent_events(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return project_with_consent_events(tmp_path_factory)


def project_with_consent_events(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default project whose schema declares the consent events."""
    folder = tmp_path_factory.mktemp("consent-events") / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    schema = folder / "schema.yaml"
    schema.write_text(
        schema.read_text("utf-8").replace("\nevents:\n", "\nevents:\n" + CONSENT_EVENTS), "utf-8"
    )
    return load_ruleset(folder)


def test_consent_events_add_their_records_when_planned(
    store: Store, with_consent_events: RuleSet
) -> None:
    at = START.astimezone(dt.UTC).isoformat()
    app = {"channel": "app", "purpose": "service", "source": "app", "evidence": "APP-1"}
    store.insert_events([
        {"id": "E1", "type": "consent_withdrawn", "customer_id": "C0001", "at": at, "payload": app},
        {"id": "E2", "type": "consent_given", "customer_id": "C0001", "at": at, "payload": {}},
        {"id": "E3", "type": "consent_given", "customer_id": "C0001", "at": at,
         "payload": {"channel": "fax"}},
    ])  # fmt: skip
    plan_new_events(store, with_consent_events, START)
    ledger = consent.history(store, "C0001")
    shown = [(r["channel"], r["purpose"], bool(r["granted"]), r["source"], r["evidence"])
             for r in ledger]  # fmt: skip
    assert shown == [("app", "service", False, "app", "APP-1"),
                     ("all", "marketing", True, "event", "event E2")]  # fmt: skip
    [refused] = store.execute("SELECT plan_error FROM events WHERE id = 'E3'")
    assert refused["plan_error"].startswith("channel 'fax': unknown channel")
    plan_new_events(store, with_consent_events, START)  # planned once: nothing added again
    assert len(consent.history(store, "C0001")) == 2


def test_consent_record_and_show_on_the_command_line_in_chinese(
    ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line once (on SQLite): the stores were tested above."""
    where = ["--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    runner = CliRunner()
    args = ["consent", "record", "C0001", "--channel", "sms", "--purpose", "marketing",
            "--withdraw", "--source", "call", "--evidence", "REC-9", *where]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "C0001 sms marketing withdrawn" in result.output
    bad = runner.invoke(cli, [*args, "--channel", "fax"])
    assert bad.exit_code == 1 and "channel 'fax': unknown channel; one of: rm_task" in bad.output
    monkeypatch.setenv("GUANXI_LANG", "zh")
    shown = runner.invoke(cli, ["consent", "show", "C0001", *where])
    assert shown.exit_code == 0, shown.output
    assert "已撤回" in shown.output and "REC-9" in shown.output and "电话" in shown.output


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("C0001\u200b", "customer_id 'C0001\u200b': contains an invisible character (U+200B)"),
        ("C" * 65, "65 characters long; at most 64 are allowed here"),
    ],
    ids=["zero-width space", "longer than an id"],
)
def test_a_record_for_an_id_no_file_could_load_is_refused(
    store: Store, ruleset: RuleSet, typed: str, why: str
) -> None:
    """An id pasted with a zero-width space is refused, as a file's row with it is: recorded,
    the withdrawal would belong to no customer and C0001 would still get marketing."""
    given = consent.Record(typed, "sms", "marketing", False, "branch", "FORM-7", iso(START))
    with pytest.raises(DataError, match=re.escape(why)):
        consent.record(store, ruleset.policies, given, START)
    assert consent.history(store, "C0001") == []


IMPLAUSIBLE = ["0001-01-01T00:00+08:00", "9999-12-31T23:59:59-12:00", "1899-12-31"]


@pytest.mark.parametrize("at", IMPLAUSIBLE)
def test_consent_at_outside_plausible_dates_is_a_usage_error(tmp_path: Path, at: str) -> None:
    """Year 1 east of UTC, or 9999 west of it, has no UTC time: refused as load refuses it,
    naming --at, instead of an OverflowError."""
    where = ["--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    args = ["consent", "record", "C0001", "--channel", "sms", "--purpose", "marketing",
            "--grant", "--source", "call", "--at", at, *where]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --at" in result.output
    assert "is not a plausible date: dates from 1900-01-01 to 2199-12-31" in result.output


def test_now_outside_plausible_dates_is_a_usage_error(tmp_path: Path) -> None:
    where = ["--rules", str(RULES), "--store", str(tmp_path / "g.db")]
    result = CliRunner().invoke(cli, ["classify", *where, "--now", IMPLAUSIBLE[0]])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --now" in result.output


def test_a_record_for_an_id_the_store_does_not_hold_is_kept_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A withdrawal for C00001 (one 0 too many) protects no one: it is recorded, as one for a
    customer loaded later must be, and the clerk is told, in Chinese too. For a known
    customer, or in a store that holds no customers yet, nothing is said."""
    where = ["--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    record = ["consent", "record", "--channel", "sms", "--purpose", "marketing", "--withdraw",
              "--source", "branch", *where]  # fmt: skip
    runner = CliRunner()
    before_any = runner.invoke(cli, [*record, "C00001"])
    assert before_any.exit_code == 0 and "warning" not in before_any.output
    (tmp_path / "c.csv").write_text("customer_id,name\nC0001,张三\n", encoding="utf-8")
    loaded = runner.invoke(cli, ["load", "customers", str(tmp_path / "c.csv"), *where])
    assert loaded.exit_code == 0, loaded.output
    known = runner.invoke(cli, [*record, "C0001"])
    assert known.exit_code == 0 and "warning" not in known.output
    mistyped = runner.invoke(cli, [*record, "C00001", "--json"])
    assert mistyped.exit_code == 0
    assert "warning: the store has no customer C00001" in mistyped.output
    monkeypatch.setenv("GUANXI_LANG", "zh")
    chinese = runner.invoke(cli, [*record, "C00001"])
    assert "库中没有客户 C00001" in chinese.output
    store = SQLiteStore(tmp_path / "guanxi.db")
    assert [r["customer_id"] for r in consent.history(store, "C00001")] == ["C00001"] * 3
