"""Consent given or withdrawn for every purpose (全部, 所有, all), as a bank's consent export
and its staff write it: each purpose's record is stored, honoured at planning and at send
time on each real store, and shown by explain, `consent show` and an access request. The
command line reads a channel, purpose and source as a consent file does, and refuses an id
no customer has when a customer has it without its spaces or in another letter case."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine import consent
from guanxi.engine.classify.explain import explain
from guanxi.engine.ingest import LoadReport, load_consents
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.policy import apply_policies
from guanxi.engine.privacy.erasure import fields_of
from guanxi.engine.privacy.requests import export_request
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.conftest import RULES
from tests.daemon_helpers import invitation
from tests.policy_helpers import sent
from tests.test_consent_bank_files import NOON, ledger, loaded, reasons, sent_keys
from tests.test_consent_ledger import project_with_consent_events
from tests.test_send_time_policy import START, customer, deliver, outboxes, plan

pytestmark = pytest.mark.every_store

BOTH = [("C0001", "all", "service", False), ("C0001", "all", "marketing", False)]
DUE = [("service", NOON), ("marketing", NOON)]


@pytest.fixture(scope="module")
def with_consent_events(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return project_with_consent_events(tmp_path_factory)


def invoke(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--rules", str(RULES), "--store", store.location])


@pytest.mark.parametrize("written", ["全部", "所有", "all", "ALL", "全部 "])
def test_a_withdrawal_of_every_purpose_in_a_consent_file_stops_service_and_marketing(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str
) -> None:
    """Read as a withdrawal of each purpose, never quarantined nor lost: the marketing
    message and the service message both stay unsent."""
    store.upsert_customers([customer(1)])
    assert loaded(store, ruleset, tmp_path, f"C0001,全部,{written},否,网点,2026-12-01") == 1
    assert reasons(store) == []
    assert ledger(store) == BOTH
    assert sent_keys(store, ruleset, tmp_path, *DUE[:1]) == []
    assert sent_keys(store, ruleset, tmp_path, *DUE[1:], purpose="marketing") == []


def test_a_grant_of_every_purpose_allows_both_and_a_later_withdrawal_of_one_stops_only_it(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1, consent_sms=False, consent_marketing=False)])
    lines = ["C0001,短信,全部,同意,网点,2026-12-01 09:00",
             "C0001,sms,营销,撤回,app,2026-12-01 10:00"]  # fmt: skip
    assert loaded(store, ruleset, tmp_path, *lines) == 2
    assert sent_keys(store, ruleset, tmp_path, *DUE[:1]) == ["service"]
    assert sent_keys(store, ruleset, tmp_path, *DUE[1:], purpose="marketing") == ["service"]


def test_a_file_of_every_purpose_loaded_twice_adds_nothing_the_second_time(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store.upsert_customers([customer(1)])
    path = tmp_path / "consents.csv"
    path.write_text("客户编号,渠道,目的,同意,来源\nC0001,全部,全部,否,网点\n", "utf-8")
    first = consent_load(store, ruleset, path)
    again = consent_load(store, ruleset, path)
    assert (first.loaded, first.inserted, first.unchanged) == (1, 2, 0)
    assert (again.loaded, again.inserted, again.unchanged) == (1, 0, 2)
    assert len(ledger(store)) == 2


def consent_load(store: Store, ruleset: RuleSet, path: Path) -> LoadReport:
    return load_consents(store, ruleset, path, START)


def test_a_withdrawal_of_everything_entered_at_the_branch_stops_at_send_and_at_planning(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """`guanxi consent record --purpose 全部` after a service message was planned: the send
    refuses it, citing the service record; a marketing message planned afterwards is
    suppressed at planning. Explain cites the records, and `consent show` and an access
    request list both."""
    store.upsert_customers([customer(1)])
    plan(store, [invitation("C0001", "before", NOON)])
    apply_policies(store, ruleset, "b1", START)
    assert [r["status"] for r in store.execute("SELECT status FROM followups")] == ["pending"]
    args = ["consent", "record", "C0001", "--purpose", "全部", "--withdraw", "--source", "网点",
            "--evidence", "柜面-118", "--at", "2026-12-01T09:00"]  # fmt: skip
    recorded = invoke(store, *args)
    assert recorded.exit_code == 0, recorded.output
    service, marketing = (int(r["id"]) for r in consent.history(store, "C0001"))
    assert f"#{service}: C0001 all service withdrawn" in recorded.output
    assert f"#{marketing}: C0001 all marketing withdrawn" in recorded.output
    with outboxes(ruleset, tmp_path / "outbox.jsonl") as adapters:
        deliver(store, ruleset, adapters, NOON)
    assert sent(store) == []
    [refused] = store.execute("SELECT status, reason FROM followups")
    assert refused["status"] == "suppressed"
    assert refused["reason"].startswith(f"no SMS consent: withdrawn by consent record #{service} ")
    plan(store, [invitation("C0001", "after", NOON, purpose="marketing")])
    apply_policies(store, ruleset, "b1", START)
    [after] = store.execute("SELECT status, reason FROM followups WHERE occurrence = 'after'")
    assert after["status"] == "suppressed" and f"record #{service} " in after["reason"]
    history = explain(store, ruleset, "C0001", NOON).history
    assert history is not None
    assert [f.consents for f in history.followups] == [(service, marketing), (service,)]
    shown = json.loads(invoke(store, "consent", "show", "C0001", "--json").stdout)
    assert sorted((r["purpose"], r["granted"]) for r in shown["current"]) == [
        ("marketing", False),
        ("service", False),
    ]
    exported = export_request(store, fields_of(ruleset), "C0001", NOON)
    listed = exported["tables"]["consent_ledger"]
    assert sorted((r["purpose"], r["evidence"]) for r in listed) == [
        ("marketing", "柜面-118"),
        ("service", "柜面-118"),
    ]


@pytest.mark.parametrize(
    ("channel", "purpose", "source", "stored"),
    [("短信", "营销", "网点", ("sms", "marketing", "branch")),
     ("ＳＭＳ", "Service", "电话", ("sms", "service", "call")),
     ("所有", "all", "app", ("all", "marketing", "app"))],
)  # fmt: skip
def test_the_command_line_reads_a_channel_purpose_and_source_as_a_consent_file_does(
    store: Store, channel: str, purpose: str, source: str, stored: tuple[str, str, str]
) -> None:
    args = ["consent", "record", "C0001", "--channel", channel, "--purpose", purpose,
            "--withdraw", "--source", source, "--json"]  # fmt: skip
    recorded = invoke(store, *args)
    assert recorded.exit_code == 0, recorded.output
    given = json.loads(recorded.stdout)
    assert given["ids"] == [r["id"] for r in consent.history(store, "C0001")]
    found = [(r["channel"], r["purpose"], r["source"]) for r in consent.history(store, "C0001")]
    assert stored in found


def test_the_command_line_refuses_a_channel_purpose_or_source_it_cannot_read_naming_each(
    store: Store,
) -> None:
    args = ["consent", "record", "C0001", "--channel", "微信", "--purpose", "全", "--withdraw",
            "--source", "网"]  # fmt: skip
    refused = invoke(store, *args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "channel '微信': unknown channel; one of: rm_task" in refused.output
    assert "purpose '全': unknown purpose; one of: service, marketing, all" in refused.output
    assert "source '网': unknown source; one of: branch, app, call" in refused.output
    assert consent.history(store, "C0001") == []


@pytest.mark.parametrize("typed", ["C 0001", "c0001", "Ｃ ０００１"])
def test_the_command_line_refuses_a_withdrawal_for_an_id_that_is_a_customers_but_for_spaces_or_case(
    store: Store, typed: str
) -> None:
    """Recorded, the withdrawal would be a phantom's and C0001 would still get marketing; a
    consent file's row for it is quarantined alike."""
    store.upsert_customers([customer(1)])
    args = ["consent", "record", typed, "--purpose", "营销", "--withdraw", "--source", "网点"]
    refused = invoke(store, *args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "but C0001 does: give the id as stored; the record was not added" in refused.output
    assert store.execute("SELECT count(*) AS n FROM consent_ledger")[0]["n"] == 0
    recorded = invoke(store, *args[:2], "C0001", *args[3:])
    assert recorded.exit_code == 0 and "warning" not in recorded.output


def test_a_consent_event_of_every_purpose_written_in_chinese_withdraws_each(
    store: Store, with_consent_events: RuleSet
) -> None:
    """An app's withdrawal event that writes 全部 for the purpose and 短信 for the channel is
    read as a consent file's row, not refused for an unknown value."""
    payload = {"channel": "短信", "purpose": "全部", "source": "手机银行"}
    at = START.astimezone(dt.UTC).isoformat()
    event = {"id": "E1", "type": "consent_withdrawn", "customer_id": "C0001", "at": at}
    store.insert_events([{**event, "payload": payload}])
    plan_new_events(store, with_consent_events, START)
    assert store.execute("SELECT plan_error FROM events") == [{"plan_error": None}]
    found = [(r["channel"], r["purpose"], r["granted"], r["source"])
             for r in consent.history(store, "C0001")]  # fmt: skip
    assert found == [("sms", "service", False, "app"), ("sms", "marketing", False, "app")]


def test_evidence_with_an_escape_sequence_is_refused_as_a_files_text_with_it_is(
    store: Store,
) -> None:
    """Stored, the escape would be played by every terminal that shows the customer's
    consent (`consent show --csv`, an access request printed)."""
    args = ["consent", "record", "C0001", "--purpose", "marketing", "--withdraw", "--source",
            "branch", "--evidence", "F-1\x1b[2J"]  # fmt: skip
    refused = invoke(store, *args)
    why = "evidence 'F-1\\x1b[2J': contains an invisible character (U+001B) at character 4"
    assert refused.exit_code == 1 and why in refused.output and "\x1b" not in refused.output
    assert consent.history(store, "C0001") == []


def test_consent_show_says_a_customer_was_erased_and_names_the_id_meant(store: Store) -> None:
    """An auditor asking for an erased customer's consent learns that they were erased, not
    that their consent columns decide; an id typed with a space names the stored one."""
    store.upsert_customers([customer(1), customer(2)])
    args = ["--purpose", "全部", "--withdraw", "--source", "网点"]
    assert invoke(store, "consent", "record", "C0001", *args).exit_code == 0
    erased = invoke(store, "customer", "erase", "C0001", "--yes")
    assert erased.exit_code == 0, erased.output
    shown = invoke(store, "consent", "show", "C0001")
    assert shown.exit_code == 0
    assert shown.stdout.startswith("customer C0001 was erased on ")
    assert "(receipt 1) at their request: no consent record is kept for them" in shown.stdout
    near = invoke(store, "consent", "show", "C 0002")
    assert near.stdout == (
        "no consent records for C 0002: the consent columns decide; did you mean C0002?\n"
    )
