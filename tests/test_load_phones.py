"""A phone the daemon would refuse (a letter, an extension, two numbers) is said at load time:
the row is loaded (its other fields still classify the customer), with a warning naming the
row and a quarantine record marked as loaded; the same rules as adapters/recipients.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from guanxi.adapters.base import Message, PermanentError, address_fields
from guanxi.adapters.recipients import one_recipient
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine.daemon.shadow import shadow_adapter
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.run import live_checks
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
REFUSED = ["1380013800O", "13800138000转2", "138 0013 8000 ext 2", "13800138000;13900139000"]
REFUSED += ["13800138000 13900139000"]
TAKEN = ["13800138000", "+86 138-0013-8000", "(010) 6552 8000"]


def customers_file(tmp_path: Path, phones: list[str], name: str = "c.csv") -> Path:
    path = tmp_path / name
    lines = ["customer_id,name,balance,phone"]
    lines += [f'C{i},张三,1000,"{phone}"' for i, phone in enumerate(phones)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def daemon_refuses(phone: str) -> bool:
    message = Message("k", "C", "s", "message", "sms", phone, None, "hi")
    try:
        one_recipient("sms", message, True, "phone")
    except PermanentError:
        return True
    return False


@pytest.mark.every_store
def test_a_phone_the_daemon_refuses_is_warned_of_and_recorded_but_loaded(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    phones = [*REFUSED, *TAKEN]
    report = load_customers(store, ruleset, customers_file(tmp_path, phones), NOW)
    assert (report.loaded, report.quarantined) == (len(phones), 0)
    refused_lines = {n for n, phone in enumerate(phones, 2) if daemon_refuses(phone)}
    assert refused_lines == set(range(2, 2 + len(REFUSED)))
    warned = {n for n in refused_lines if any(f"line {n}:" in w for w in report.warnings)}
    assert warned == refused_lines
    assert not any(phone in w for phone in REFUSED for w in report.warnings)  # no value shown
    records = store.execute("SELECT row_number, field, value, reason FROM quarantine")
    assert {r["row_number"] for r in records} == refused_lines
    assert all(r["field"] == "phone" and r["reason"].startswith("loaded") for r in records)
    assert {r["value"] for r in records} == set(REFUSED)
    stored = store.execute("SELECT customer_id, phone FROM customers ORDER BY customer_id")
    assert len(stored) == len(phones)


def test_the_reasons_name_what_is_wrong(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    report = load_customers(store, ruleset, customers_file(tmp_path, REFUSED[:3]), NOW)
    said = " ".join(report.warnings)
    assert "character 11 is the letter 'O'" in said
    assert "extension" in said


def test_a_reload_lists_a_kept_row_once(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    path = customers_file(tmp_path, ["1380013800O"])
    for _ in range(3):
        load_customers(store, ruleset, path, NOW)
    assert len(store.execute("SELECT id FROM quarantine")) == 1


@pytest.mark.parametrize("phone", [*REFUSED, *TAKEN])
def test_the_shadow_refuses_what_simulate_and_the_live_adapter_refuse(
    ruleset: RuleSet, phone: str
) -> None:
    channels = {"sms"}
    shadow = shadow_adapter(ruleset, channels)
    recorder = RecordingAdapter(
        address_fields=address_fields(ruleset.policies), checks=live_checks(ruleset, channels)
    )
    message = Message("k", "C", "s", "message", "sms", phone, None, "hi")
    outcomes = []
    for adapter in (shadow, recorder):
        try:
            adapter.send(message)
            outcomes.append("sent")
        except PermanentError:
            outcomes.append("dead")
    assert outcomes[0] == outcomes[1] == ("dead" if daemon_refuses(phone) else "sent")


@pytest.mark.every_store
def test_a_phone_typed_in_full_width_digits_is_stored_as_the_digits_it_is(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A Chinese keyboard types １３８００１３８０００: the number meant, which the daemon
    sends to once it is ASCII digits; the letter Ｏ stays a letter, refused and warned."""
    typed = ["１３８００１３８０００", "＋８６　１３８－００１３－８０００"]
    typed += ["１３８００１３８００Ｏ"]
    report = load_customers(store, ruleset, customers_file(tmp_path, typed), NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    stored = store.execute("SELECT phone FROM customers ORDER BY customer_id")
    phones = [row["phone"] for row in stored]
    assert phones == ["13800138000", "+86 138-0013-8000", "1380013800Ｏ"]
    assert [daemon_refuses(phone) for phone in phones] == [False, False, True]
    assert [r["row_number"] for r in store.execute("SELECT row_number FROM quarantine")] == [4]
