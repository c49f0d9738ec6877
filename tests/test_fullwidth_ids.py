"""An id typed in full width on a Chinese keyboard (ＣＵＳＴ００１) is the ASCII id (CUST001) on
every path: loads of every kind and format, `events post`, the command line's look-ups and the
snapshot night. It never becomes a second customer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.ingest import load_consents, load_customers, load_events
from guanxi.engine.ingest.values import Invalid, identifier
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.tasks import find_task, insert_task
from tests.test_ingest import write

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
WIDE = "ＣＵＳＴ００１"  # CUST001 in full width
CUSTOMER = {"name": "张三", "kind": "personal", "balance": "1000", "age": "40",
            "opened_on": "2020-01-01", "last_txn_date": "2026-11-20", "monthly_txn_count": "3",
            "annual_contribution": "1000", "cost_to_serve": "100", "rm_id": "RM1"}  # fmt: skip


def customer_ids(store: Store, table: str = "customers") -> list[str]:
    rows = store.execute(f"SELECT customer_id FROM {table} ORDER BY customer_id")
    return [r["customer_id"] for r in rows]


def customers_file(folder: Path, form: str, ids: list[str]) -> Path:
    records = [{"customer_id": i, **CUSTOMER} for i in ids]
    path = folder / f"customers.{form}"
    if form == "csv":
        lines = [",".join(r.values()) for r in records]
        return write(folder, path.name, ",".join(records[0]), *lines)
    if form == "jsonl":
        return write(folder, path.name, *(json.dumps(r, ensure_ascii=False) for r in records))
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def sale(event_id: str, customer: str) -> dict[str, Any]:
    return {"id": event_id, "type": "sale", "customer_id": customer,
            "at": "2026-11-20T10:30:00+08:00", "amount": 100}  # fmt: skip


@pytest.mark.parametrize(
    ("written", "read"),
    [(WIDE, "CUST001"), ("\u3000C1\u3000", "C1"), ("Ｃ－１２", "C-12"), ("C1", "C1")],
)
def test_an_id_is_read_in_nfkc(written: str, read: str) -> None:
    assert identifier(written) == read


def test_an_invisible_character_in_an_id_is_still_refused() -> None:
    with pytest.raises(Invalid, match="invisible character"):
        identifier("ＣＵＳＴ\u200b００１")


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_a_full_width_id_in_a_customers_file_is_the_same_customer(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    report = load_customers(store, ruleset, customers_file(tmp_path, form, ["CUST001", WIDE]), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    [problem] = report.problems
    assert problem["reason"] == "duplicate customer_id 'CUST001': already on " + (
        "row 1" if form == "parquet" else "line 2" if form == "csv" else "line 1"
    )
    folder = tmp_path / "again"
    folder.mkdir()
    assert load_customers(store, ruleset, customers_file(folder, form, [WIDE]), NOW).unchanged == 1
    assert customer_ids(store) == ["CUST001"]


@pytest.mark.every_store
def test_full_width_ids_in_an_events_file_are_the_ascii_ids(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [json.dumps(sale("E1", WIDE)), json.dumps(sale("Ｅ１", "CUST001"))]
    report = load_events(store, ruleset, write(tmp_path, "events.jsonl", *lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)  # Ｅ１ is E1, given twice
    assert customer_ids(store, "events") == ["CUST001"]


@pytest.mark.every_store
def test_a_full_width_id_in_a_consents_file_is_the_ascii_id(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    header = "customer_id,channel,purpose,granted,source"
    path = write(tmp_path, "consents.csv", header, f"{WIDE},sms,marketing,no,branch")
    assert load_consents(store, ruleset, path, NOW).loaded == 1
    assert customer_ids(store, "consent_ledger") == ["CUST001"]


@pytest.mark.every_store
def test_a_task_key_typed_in_full_width_finds_the_task(store: Store, ruleset: RuleSet) -> None:
    store.prepare(ruleset.schema)
    task = {"key": "call:CUST001:1", "customer_id": "CUST001", "step_id": "call",
            "owner": "RM1", "title": "call", "body": "", "due_at": None,
            "created_at": "2026-11-28T02:00:00+00:00"}  # fmt: skip
    assert insert_task(store, task)
    found = find_task(store, "ｃａｌｌ：ＣＵＳＴ００１：１")
    assert found is not None and found["key"] == "call:CUST001:1"


# --- the command line --------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--lang", "en", *args])


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store in the working folder with customer CUST001, classified."""
    monkeypatch.chdir(tmp_path)
    customers_file(tmp_path, "csv", ["CUST001"])
    assert invoke("load", "customers", "customers.csv").exit_code == 0
    assert invoke("classify", "--engine", "sqlite").exit_code == 0
    return tmp_path


def test_events_post_with_a_full_width_customer(loaded: Path) -> None:
    result = invoke("events", "post", "sale", "--customer", WIDE, "--json")
    assert result.exit_code == 0, result.output
    stored = invoke("customer", "export", "CUST001")
    assert [e["customer_id"] for e in json.loads(stored.stdout)["tables"]["events"]] == ["CUST001"]


def test_look_ups_by_a_full_width_id_find_the_customer(loaded: Path) -> None:
    explained = invoke("explain", WIDE, "--json")
    assert explained.exit_code == 0, explained.output
    assert json.loads(explained.stdout)["customer_id"] == "CUST001"
    recorded = invoke(
        "consent", "record", WIDE, "--purpose", "marketing", "--withdraw", "--source", "branch"
    )
    assert recorded.exit_code == 0, recorded.output
    assert "CUST001 all marketing withdrawn" in recorded.stdout
    shown = json.loads(invoke("consent", "show", WIDE, "--json").stdout)
    assert [r["customer_id"] for r in shown["records"]] == ["CUST001"]
    exported = json.loads(invoke("customer", "export", WIDE).stdout)
    assert [r["customer_id"] for r in exported["tables"]["customers"]] == ["CUST001"]
    audited = json.loads(invoke("audit", "list", "--customer", WIDE, "--json").stdout)
    assert [(e["action"], e["subject"]) for e in audited["entries"]] == [
        ("customer export", "CUST001")
    ]


def test_followups_list_by_a_full_width_id(loaded: Path) -> None:
    posted = invoke("events", "post", "sale", "--customer", "CUST001", "--json")
    assert posted.exit_code == 0, posted.output
    every = json.loads(invoke("followups", "list", "--json").stdout)["followups"]
    assert every, "the sale planned no follow-up: the test would prove nothing"
    mine = json.loads(invoke("followups", "list", "--customer", WIDE, "--json").stdout)
    assert mine["followups"] == every


def test_a_customer_erased_by_a_full_width_id_is_not_loaded_again(loaded: Path) -> None:
    erased = invoke("customer", "erase", WIDE, "--yes")
    assert erased.exit_code == 0, erased.output
    again = invoke("load", "customers", "customers.csv", "--json")
    assert again.exit_code == 3
    assert json.loads(again.stdout)["problems"][0]["reason"].startswith("erased on ")


# --- the snapshot night ------------------------------------------------------------------------


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_the_snapshot_night_classifies_a_full_width_id_as_the_ascii_id(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    ids = ["CUST001", "ＣＵＳＴ００２", "\u3000CUST003"]
    snapshot = customers_file(tmp_path, form, ids)
    classify_snapshot(store, ruleset, NOW, snapshot)
    night = sorted(
        (r["customer_id"], r["tier"]) for r in store.execute("SELECT * FROM assignments")
    )
    assert [i for i, _tier in night] == ["CUST001", "CUST002", "CUST003"]
    load_customers(store, ruleset, snapshot, NOW)
    classify(store, ruleset, NOW)  # the store's own engine, on what load kept
    stored = sorted(
        (r["customer_id"], r["tier"]) for r in store.execute("SELECT * FROM assignments")
    )
    assert stored == night
    assert customer_ids(store) == ["CUST001", "CUST002", "CUST003"]


@pytest.mark.every_store
def test_a_snapshot_with_an_id_twice_by_width_quarantines_the_second(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    snapshot = customers_file(tmp_path, "parquet", ["CUST001", WIDE])
    report = classify_snapshot(store, ruleset, NOW, snapshot)
    assert (report.customers, report.rejected) == (1, 1)
    [problem] = report.problems
    assert problem["reason"] == "duplicate customer_id 'CUST001': already on row 1"
