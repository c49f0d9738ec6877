"""An e-mail address the daemon would refuse is said at load time, as a phone is
(test_load_phones.py): the row is loaded, with a warning naming the row and the fix and a
quarantine record marked as loaded; the check is the SMTP adapter's own. A Chinese keyboard's
full-width signs are stored as meant when that is an address. The kind of an address field is
the channel's where its name says it (`sms`, `短信`, `email`), whatever the field is called."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.adapters.base import Message, PermanentError
from guanxi.adapters.console import ConsoleAdapter
from guanxi.adapters.recipients import recipient_kind
from guanxi.adapters.smtp import SmtpAdapter
from guanxi.adapters.webhook import WebhookAdapter
from guanxi.engine.ingest import load_customers
from guanxi.engine.ingest.addresses import address_kinds, address_problems, as_meant
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TWO = ["a@x.com;b@y.com", "a@x.com 或 b@y.com", "a@x.com或b@y.com", "a@x.com, b@y.com"]
REFUSED = [*TWO, "wang.bank.com", "wang@bank", "wang@bank。co m"]
TAKEN = ["zhang@bank.com", "张三@银行.中国"]
FULL_WIDTH = ["zhang＠bank.com", "zhang@bank。com", "ｚｈａｎｇ@bank.com"]
FULL_WIDTH += ["ｚｈａｎｇ＠ｂａｎｋ．ｃｏｍ"]


def customers_file(tmp_path: Path, column: str, values: list[str]) -> Path:
    path = tmp_path / "c.csv"
    lines = [f"customer_id,name,balance,{column}"]
    lines += [f'C{i},张三,1000,"{value}"' for i, value in enumerate(values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def message(recipient: str | None, channel: str = "email") -> Message:
    return Message("k", "C", "s", "message", channel, recipient, None, "您好")


def smtp_refuses(address: str) -> bool:
    try:
        SmtpAdapter.checked_recipient(message(address), {"email": "email"})
    except PermanentError:
        return True
    return False


def stored(store: Store, field: str) -> list[str]:
    rows = store.execute(f"SELECT {field} FROM customers ORDER BY customer_id")
    return [row[field] for row in rows]


@pytest.mark.every_store
def test_an_address_the_daemon_refuses_is_warned_of_and_recorded_but_loaded(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    values = [*REFUSED, *TAKEN]
    report = load_customers(store, ruleset, customers_file(tmp_path, "email", values), NOW)
    assert (report.loaded, report.quarantined) == (len(values), 0)
    refused_lines = {n for n, value in enumerate(values, 2) if smtp_refuses(value)}
    assert refused_lines == set(range(2, 2 + len(REFUSED)))
    warned = {n for n in refused_lines if any(f"line {n}:" in w for w in report.warnings)}
    assert warned == refused_lines
    assert all("is not an e-mail address a message can go to" in w for w in report.warnings)
    assert not any(value in w for value in REFUSED for w in report.warnings)  # no value shown
    records = store.execute("SELECT row_number, field, value, reason FROM quarantine")
    assert {r["row_number"] for r in records} == refused_lines
    assert all(r["field"] == "email" and r["reason"].startswith("loaded, but") for r in records)
    assert {r["value"] for r in records} == set(REFUSED)
    assert len(stored(store, "email")) == len(values)


def test_two_addresses_in_one_cell_are_said_to_be_two_and_never_sent_to(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    report = load_customers(store, ruleset, customers_file(tmp_path, "email", TWO), NOW)
    said = [w for w in report.warnings if "more than one e-mail address: keep one" in w]
    assert len(said) == len(TWO)
    assert all(smtp_refuses(value) for value in stored(store, "email"))


def test_the_reasons_name_what_is_wrong(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    values = ["wang.bank.com", "wang@bank", "wang@bank。co m"]
    report = load_customers(store, ruleset, customers_file(tmp_path, "email", values), NOW)
    assert ["name@domain" in w for w in report.warnings] == [True, False, False]
    assert ["not a domain" in w for w in report.warnings] == [False, True, False]
    assert ["character 13 is ' '" in w for w in report.warnings] == [False, False, True]


@pytest.mark.every_store
@pytest.mark.parametrize("typed", FULL_WIDTH)
def test_an_address_typed_in_full_width_is_stored_as_meant_without_a_word(
    store: Store, ruleset: RuleSet, tmp_path: Path, typed: str
) -> None:
    """As a phone's full-width digits are: what was meant is an address the daemon takes."""
    report = load_customers(store, ruleset, customers_file(tmp_path, "email", [typed]), NOW)
    assert (report.loaded, report.warnings) == (1, [])
    assert stored(store, "email") == ["zhang@bank.com"]
    assert store.execute("SELECT id FROM quarantine") == []


def test_a_full_width_address_still_refused_once_meant_is_kept_as_typed_and_warned(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    typed = ["ａ＠ｘ．ｃｏｍ；ｂ＠ｙ．ｃｏｍ", "zhang＠bank"]
    report = load_customers(store, ruleset, customers_file(tmp_path, "email", typed), NOW)
    assert stored(store, "email") == typed
    assert [f"line {n}:" in w for n, w in enumerate(report.warnings, 2)] == [True, True]


def daemon_refuses(stored: str, channel: str = "email", field: str = "email") -> bool:
    """Whether the daemon refuses a message to `stored`, read as it renders a message; a
    blank is no address, which a load does not warn of (many customers have none)."""
    customer = {"customer_id": "C", "name": "张三", field: stored}
    recipient = ConsoleAdapter(address_fields={channel: field})._recipient(channel, customer)
    if recipient is None:
        return False
    adapter = SmtpAdapter if channel == "email" else WebhookAdapter
    try:
        adapter.checked_recipient(message(recipient, channel), {channel: field})
    except PermanentError:
        return True
    return False


@given(st.text(min_size=1, max_size=40) | st.sampled_from([*FULL_WIDTH, "a﹔b@x.com"]))
def test_load_warns_of_an_address_exactly_when_the_smtp_adapter_refuses_it(value: str) -> None:
    """What load stores (as meant, or as typed) is warned of iff the daemon would refuse it
    as it reads it (`a﹔b@x.com` passes as typed, but the daemon reads `a;b@x.com`)."""
    row, _problems = as_meant(lambda record: (dict(record), []), {"email": "email"})(
        {"email": value}
    )
    kept = row["email"]
    assert kept == value or not smtp_refuses(kept)  # rewritten only into an address taken
    assert bool(address_problems(row, {"email": "email"})) == daemon_refuses(kept)


@given(st.text(min_size=1, max_size=30))
def test_a_phone_in_a_field_named_contact_is_warned_of_exactly_when_sms_refuses_it(
    value: str,
) -> None:
    kinds = address_kinds({"sms": "contact"})
    assert kinds == {"contact": "phone"}
    refused = daemon_refuses(value, "sms", "contact")
    assert bool(address_problems({"contact": value}, kinds)) == refused


def test_the_channel_says_the_kind_before_the_field_name() -> None:
    channels = ["sms", "短信", "phone", "call_centre", "电话银行外呼"]
    channels += ["email", "e_mail", "电子邮件"]
    kinds = {channel: recipient_kind(channel, "contact") for channel in channels}
    assert kinds == dict(zip(channels, ["phone"] * 5 + ["email"] * 3, strict=True))
    unsaid = ["app", "mobile_app", "wechat", "手机银行推送", "online_banking", "mail"]
    assert [recipient_kind(channel, "联系方式") for channel in unsaid] == [None] * len(unsaid)
    assert recipient_kind("app", "phone") == "phone"  # the field's name, where the channel is mute
    assert address_kinds({"sms": "contact", "email": "contact"}) == {}  # no value suits both


@pytest.mark.parametrize(("channel", "field"), [("sms", "contact"), ("短信", "联系方式")])
def test_an_sms_channel_refuses_a_phone_with_a_letter_whatever_its_field_is_called(
    channel: str, field: str
) -> None:
    """Before, `1380013800O` in a field named `contact` passed as an app id to the gateway."""
    fields = {channel: field}
    with pytest.raises(PermanentError, match="character 11 is the letter 'O'"):
        WebhookAdapter.checked_recipient(message("1380013800O", channel), fields)
    with pytest.raises(PermanentError, match="e-mail address"):
        WebhookAdapter.checked_recipient(message("zhang@bank.com", channel), fields)
    assert WebhookAdapter.checked_recipient(message("138 0013 8000", channel), fields)


def test_an_email_channel_refuses_a_phone_in_a_field_named_contact() -> None:
    with pytest.raises(PermanentError, match="email address is not one address"):
        WebhookAdapter.checked_recipient(message("13800138000"), {"email": "contact"})


def test_load_checks_a_field_named_contact_as_the_channel_reading_it(tmp_path: Path) -> None:
    """A project whose SMS channel sends to `contact`: a phone there is checked as a phone."""
    project = tmp_path / "rules"
    shutil.copytree(RULES, project)
    schema = project / "schema.yaml"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace(
            "  phone:", "  contact:             {type: string,  label: 联系方式}\n  phone:"
        ),
        encoding="utf-8",
    )
    policies = project / "policies.yaml"
    policies.write_text(
        policies.read_text(encoding="utf-8").replace(
            "consent_field: consent_sms,   address_field: phone",
            "consent_field: consent_sms,   address_field: contact",
        ),
        encoding="utf-8",
    )
    ruleset = load_ruleset(project)
    store = SQLiteStore(tmp_path / "g.db")
    store.prepare(ruleset.schema)
    values = ["1380013800O", "１３８００１３８０００", "13800138000"]
    report = load_customers(store, ruleset, customers_file(tmp_path, "contact", values), NOW)
    assert len(report.warnings) == 1 and report.warnings[0].startswith("line 2: 'contact'")
    assert "character 11 is the letter 'O'" in report.warnings[0]
    assert stored(store, "contact") == ["1380013800O", "13800138000", "13800138000"]
