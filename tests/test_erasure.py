"""Erasure and subject access, on both stores: after `guanxi customer erase` no table (those
added later included), no file guanxi wrote and no log line written afterwards holds the
person's name, phone, e-mail or id; the accounting rows stay under a pseudonym; a later load
of the person is quarantined; `guanxi customer export` gives everything held about them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.adapters.base import Adapter, Message
from guanxi.adapters.base import Receipt as AdapterReceipt
from guanxi.adapters.outbox import OutboxAdapter
from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.mirror import mirror_path
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.delivery import build_adapters
from guanxi.engine.daemon.tick import tick
from guanxi.engine.dispatch.claim import claim
from guanxi.engine.dispatch.dispatch import dispatch_once
from guanxi.engine.dispatch.instant import Instant
from guanxi.engine.errors import GuanxiError
from guanxi.engine.ingest.load import load_customers, load_events
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.plan.policy_verdicts import Verdict
from guanxi.engine.privacy import audit
from guanxi.engine.privacy.catalog import tables
from guanxi.engine.privacy.erasure import Person, Receipt, fields_of, pseudonym
from guanxi.engine.privacy.files import erase_from_files, written_files
from guanxi.engine.privacy.mentions import scrubbed
from guanxi.engine.privacy.requests import erase_request, export_request
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.copy import copy_store
from guanxi.engine.store import Store
from guanxi.engine.store.base import Row
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import invitation, post
from tests.test_send_time_policy import open_again

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
CUSTOMERS = """customer_id,name,phone,email,rm_id,consent_sms
C0001,张伟,13812345678,Zhang.Wei@example.com,RM01,true
C0002,李娜,13900001111,li.na@example.com,RM01,true
C00011,王芳,13700002222,wang.fang@example.com,RM02,true
C0001,张伟,13812345678,zhang.wei@example.com,RM01,true
"""
# The person: what must be found nowhere afterwards (the id as a whole word: C00011 is not it)
TRACES = [r"(?<![A-Za-z0-9])C0001(?![A-Za-z0-9])", "张伟", "13812345678", "(?i)zhang\\.wei@"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in the test's folder: a PostgreSQL store's outbox is written there."""
    monkeypatch.chdir(tmp_path)


def folder_of(store: Store) -> Path:
    return store.path.parent if isinstance(store, SQLiteStore) else Path.cwd()


@pytest.fixture
def held(store: Store, ruleset: RuleSet, tmp_path: Path) -> Iterator[Store]:
    """Three customers loaded (with a repeated row, quarantined), classified; events (another
    customer's naming the person's phone); a message sent to the outbox, a task in the
    inbox, one follow-up still pending; an audit entry; a table added later (without a
    primary key)."""
    (tmp_path / "customers.csv").write_text(CUSTOMERS, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    post(store, "E1", "sale", "C0001", "2026-11-30T02:00:00Z", product="大额存单", amount=5)
    post(store, "E2", "feedback", "C0002", "2026-11-30T02:00:00Z", comment="朋友13812345678推荐")
    classify(store, ruleset, NOW)
    task = {"kind": "task", "channel": "rm_task", "template": "post_sale_check", "owner": "RM01"}
    insert_followups(
        store,
        [
            invitation("C0001", "E1", NOW, payload={"product": "大额存单", "name": "张伟"}),
            invitation("C0002", "E2", NOW),
            invitation("C0001", "T1", NOW, step_id="retention_call", **task),
        ],
        "b1",
        NOW,
    )
    adapters = build_adapters(ruleset, store, folder_of(store), None, FixedClock(NOW))
    try:
        tick(store, ruleset, adapters, NOW, random.Random(0))
    finally:
        adapters.close()
    later = invitation("C0001", "E9", NOW + dt.timedelta(days=3))
    insert_followups(store, [later], "b2", NOW)
    with store.transaction():  # committed: the commands open the store on their own
        add_later_table(store)
    yield store
    store.execute("DROP TABLE phone_changes")  # PostgreSQL's schema serves the next tests


def add_later_table(store: Store) -> None:
    """An audit entry, and a table added later (no primary key) holding the person's data."""
    audit.record(store, NOW, "explain --unmask", "C0001", actor="li.na")
    store.execute(
        "CREATE TABLE phone_changes (customer_id TEXT, field TEXT, old_value TEXT, new_value TEXT)"
    )
    store.execute(
        "INSERT INTO phone_changes (customer_id, field, old_value, new_value)"
        " VALUES ('C0001', 'phone', '13800000000', '13812345678'),"
        " ('C0002', 'phone', '13900000000', '13900001111')"
    )


def invoke(store: Store, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--rules", str(RULES), "--store", store.location])


def erase(store: Store, ruleset: RuleSet, *also: Path) -> Receipt:
    """`guanxi customer erase C0001 --also …`, as the command calls the engine."""
    files = [*written_files(ruleset, folder_of(store)), *also]
    return erase_request(store, fields_of(ruleset), "C0001", NOW, files)


def traces_in(text: str) -> list[str]:
    return [pattern for pattern in TRACES if re.search(pattern, text)]


def traces_in_store(store: Store) -> dict[str, list[str]]:
    """Every table, found in the catalog, searched row by row for the person."""
    found: dict[str, list[str]] = {}
    for table in tables(store):
        for row in store.execute(f'SELECT * FROM "{table.name}"'):
            hits = traces_in(json.dumps(row, ensure_ascii=False, default=str))
            if hits:
                found.setdefault(table.name, []).extend(hits)
    return found


def traces_in_files(folder: Path) -> dict[str, list[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.suffix == ".jsonl":
            text = path.read_text("utf-8")
        elif path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False, default=str)
        else:
            continue
        if traces_in(text):
            found[str(path)] = traces_in(text)
    return found


@pytest.mark.every_store
def test_erasure_leaves_no_trace_in_any_table_file_or_later_log(
    held: Store, ruleset: RuleSet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = folder_of(held) / "outbox.jsonl"
    archive = tmp_path / "kept"
    archive.mkdir()
    rows = [{"customer_id": "C0001", "note": "x"}, {"customer_id": "C0002", "note": "13812345678"}]
    pq.write_table(pa.Table.from_pylist(rows), archive / "events.parquet")
    assert traces_in(outbox.read_text("utf-8")), "the person's SMS is in the outbox"
    assert set(traces_in_store(held)) >= {"customers", "events", "followups", "phone_changes"}

    caplog.set_level(logging.DEBUG)
    receipt = erase(held, ruleset, archive).to_dict()
    again = load_customers(held, ruleset, tmp_path / "customers.csv", NOW)

    assert traces_in_store(held) == {}
    assert traces_in_files(tmp_path) == {}
    assert traces_in(json.dumps(again.as_dict(), ensure_ascii=False) + caplog.text) == []
    assert receipt["tables"]["customers"] == {"deleted": 1}
    assert receipt["tables"]["phone_changes"] == {"deleted": 1}  # a table added later
    assert receipt["tables"]["events"] == {"deleted": 1, "scrubbed": 1}
    assert receipt["files"] == {str(outbox): 1, str(archive / "events.parquet"): 2}
    # the person's row goes, another's that names their phone stays, scrubbed
    assert pq.read_table(archive / "events.parquet").to_pylist() == [
        {"customer_id": "C0002", "note": "[erased]"}
    ]
    assert "C0002" in outbox.read_text("utf-8")  # the others' lines stay


@pytest.mark.every_store
def test_the_accounts_stay_under_the_pseudonym_and_nothing_more_goes_out(
    held: Store, ruleset: RuleSet
) -> None:
    alias = erase(held, ruleset).pseudonym
    assert alias.startswith("erased:")

    kept = held.execute(
        "SELECT occurrence, status, payload, key FROM followups WHERE customer_id = :a"
        " ORDER BY occurrence",
        {"a": alias},
    )
    assert [(f["occurrence"], f["status"]) for f in kept] == [
        ("E1", "sent"),
        ("E9", "cancelled"),  # was pending: it will not be sent
        ("T1", "sent"),
    ]
    assert all(f["payload"] == "{}" and alias in f["key"] for f in kept)
    [task] = held.execute("SELECT title, body, status, outcome FROM tasks")
    assert task == {"title": "售后回访：[erased]", "body": None, "status": "done",
                    "outcome": "erased"}  # fmt: skip
    deliveries = held.execute("SELECT key FROM deliveries WHERE followup_id <> 2")
    assert [d["key"].split(":")[1:3] for d in deliveries] == [alias.split(":")] * 2
    assert [e["subject"] for e in audit.entries(held)] == [alias, alias]  # + the erasure
    assert audit.entries(held)[0]["action"] == "customer erase"
    others = held.execute("SELECT customer_id FROM customers")
    assert {r["customer_id"] for r in others} == {"C0002", "C00011"}
    consents = held.execute(
        "SELECT customer_id, channel, granted, evidence FROM consent_ledger"
        " WHERE evidence LIKE 'customers.csv:2 %' ORDER BY id"
    )
    assert [(c["customer_id"], c["channel"], bool(c["granted"])) for c in consents] == [
        (alias, "sms", True)
    ]  # the proof that the SMS sent was allowed stays


class ErasingAdapter(Adapter):
    """Sends by asking, meanwhile, for the customer's erasure on another connection."""

    name = "erasing"

    def __init__(self, store: Store, ruleset: RuleSet) -> None:
        super().__init__()
        self.other, self.ruleset = open_again(store), ruleset
        self.refused: list[str] = []

    def send(self, message: Message) -> AdapterReceipt:
        try:
            erase_request(self.other, fields_of(self.ruleset), message.customer_id, NOW, [])
        except GuanxiError as error:
            self.refused.append(str(error))
        return AdapterReceipt(message.key, self.name)


@pytest.mark.every_store
def test_a_customer_is_not_erased_while_a_message_to_them_is_being_sent(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The sending dispatcher writes the attempt, with the customer's id in its key, after
    the send: an erasure meanwhile would leave the id behind. It is refused until the
    attempt is written; then it leaves no trace."""
    (tmp_path / "customers.csv").write_text(CUSTOMERS, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    insert_followups(store, [invitation("C0001", "E1", NOW)], "b1", NOW)
    adapter = ErasingAdapter(store, ruleset)
    try:
        dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    finally:
        adapter.other.close()
    assert adapter.refused == [
        "customer C0001 cannot be erased while a message to them is being sent"
        " (claimed until 2026-12-01T02:05:00Z); erase them again after that"
    ]
    [sent] = store.execute("SELECT status FROM followups")
    assert sent["status"] == "sent"
    erase_request(store, fields_of(ruleset), "C0001", NOW, [])
    assert traces_in_store(store) == {}


@pytest.mark.every_store
def test_a_later_load_of_the_person_is_quarantined_with_the_receipt(
    held: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    erase(held, ruleset)
    held.execute("DELETE FROM quarantine")
    (tmp_path / "events.csv").write_text(
        "id,type,customer_id,at,product\nE7,sale,C0001,2026-12-02T10:00:00,基金\n", "utf-8"
    )
    customers = load_customers(held, ruleset, tmp_path / "customers.csv", NOW)
    events = load_events(held, ruleset, tmp_path / "events.csv", NOW)

    assert (customers.quarantined, events.quarantined) == (2, 1)
    reasons = held.execute("SELECT kind, value, reason FROM quarantine ORDER BY id")
    assert [r["kind"] for r in reasons] == ["customers", "customers", "events"]
    assert all(r["value"].startswith("erased:") for r in reasons)
    assert all("on 2026-12-01 (receipt 1)" in r["reason"] for r in reasons)
    assert held.execute("SELECT customer_id FROM events WHERE id = 'E7'") == []
    named = held.execute("SELECT customer_id FROM quarantine WHERE kind = 'customers'")
    assert [r["customer_id"] for r in named] == [None, None]  # the pseudonym alone
    assert traces_in_store(held) == {}


@pytest.mark.every_store
def test_the_persons_quarantined_rows_go_though_no_value_of_them_names_them(
    held: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A row of theirs quarantined for a bad value holds nothing of them but the customer it
    names (`customer_id`): erasure finds it by that and deletes it; another's row stays."""
    (tmp_path / "later.csv").write_text(
        "customer_id,name,consent_sms\nC0001,张伟,maybe\nC0002,李娜,maybe\n", "utf-8"
    )
    load_customers(held, ruleset, tmp_path / "later.csv", NOW)
    receipt = erase(held, ruleset).to_dict()
    left = held.execute("SELECT customer_id FROM quarantine WHERE source LIKE '%later.csv'")
    assert [r["customer_id"] for r in left] == ["C0002"]
    # the repeated row of customers.csv (its id the value) and the bad one of later.csv
    assert receipt["tables"]["quarantine"] == {"deleted": 2}


@pytest.mark.every_store
def test_a_later_consent_record_of_the_person_is_refused(held: Store, ruleset: RuleSet) -> None:
    """A form handed in at a branch after the erasure must not bring the id back."""
    erase(held, ruleset)
    result = invoke(
        held, "consent", "record", "C0001", "--channel", "sms", "--purpose", "marketing",
        "--withdraw", "--source", "branch", "--evidence", "F-9", "--now", NOW.isoformat(),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "C0001 was erased on 2026-12-01 (receipt 1) at their request" in result.stderr
    assert traces_in_store(held) == {}


@pytest.mark.every_store
def test_export_gives_everything_held_and_is_audited(held: Store, ruleset: RuleSet) -> None:
    listed = invoke(held, "tasks", "list", "--rm", "RM01", "--unmask")
    assert listed.exit_code == 0, listed.output
    found = export_request(held, fields_of(ruleset), "C0001", NOW)["tables"]
    assert found["customers"][0]["phone"] == "13812345678"
    assert [e["id"] for e in found["events"]] == ["E1", "E2"]  # E2 names their phone
    assert {t: len(found[t]) for t in ("followups", "deliveries", "tasks", "phone_changes")} == {
        "followups": 3,
        "deliveries": 2,
        "tasks": 1,
        "phone_changes": 1,
    }
    assert found["quarantine"][0]["value"] == "C0001"
    # the list of tasks showed the person too (it names them by their pseudonym)
    assert [e["action"] for e in found["audit_log"]] == ["explain --unmask", "tasks list --unmask"]
    assert "C00011" not in json.dumps(found, ensure_ascii=False, default=str)
    assert audit.entries(held, subject="C0001")[0]["action"] == "customer export"


@pytest.mark.every_store
def test_export_shows_where_others_rows_mention_the_person_and_nothing_of_theirs(
    held: Store, ruleset: RuleSet
) -> None:
    """C0002's feedback names the person's phone: the export says so (the event, the text
    that names them) without C0002's id, name, phone or the rest of their row."""
    held.execute(
        "UPDATE events SET payload = :payload WHERE id = 'E2'",
        {"payload": json.dumps({"comment": "李娜 13900001111 推荐朋友13812345678", "score": 5},
                               ensure_ascii=False)},
    )  # fmt: skip
    found = export_request(held, fields_of(ruleset), "C0001", NOW)["tables"]
    [theirs] = [e for e in found["events"] if e["id"] == "E2"]
    assert theirs == {
        "id": "E2",
        "payload": json.dumps(
            {"comment": "李* 139****1111 推荐朋友13812345678", "score": 5}, ensure_ascii=False
        ),
    }
    shown = json.dumps(found, ensure_ascii=False, default=str)
    assert "C0002" not in shown and "13900001111" not in shown and "李娜" not in shown


@pytest.mark.every_store
def test_a_kept_simulation_copy_is_erased_too(
    held: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    kept = tmp_path / "simulation"
    kept.mkdir()
    if isinstance(held, SQLiteStore):  # a true copy, as `simulate --keep` makes
        copy_store(held.path, kept / "simulation.db")
    else:
        copy = SQLiteStore(kept / "simulation.db")
        copy.prepare(ruleset.schema)
        copy.upsert_customers([{"customer_id": "C0001", "name": "张伟", "phone": "13812345678"}])
        copy.close()

    erase(held, ruleset, kept)
    copy = SQLiteStore(kept / "simulation.db", migrate=False)
    assert traces_in_store(copy) == {}
    copy.close()


def test_the_commands_print_the_receipt_without_personal_data(held: Store) -> None:
    held.execute(
        "UPDATE followups SET status = 'claimed', lease_until = '2026-12-01T02:05:00Z'"
        " WHERE occurrence = 'E9'"
    )
    refused = invoke(held, "customer", "erase", "C0001", "--yes", "--now", NOW.isoformat())
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "being sent (claimed until 2026-12-01T02:05:00Z)" in refused.output
    held.execute("UPDATE followups SET status = 'pending' WHERE occurrence = 'E9'")
    erased = invoke(held, "customer", "erase", "C0001", "--yes")
    assert erased.exit_code == 0, erased.output
    listed = invoke(held, "customer", "erasures", "--json")
    assert listed.exit_code == 0, listed.output
    [receipt] = json.loads(listed.stdout)["erasures"]
    assert receipt["tables"]["customers"] == {"deleted": 1}
    assert "erasure receipt 1" in erased.output and receipt["pseudonym"] in erased.output
    posted = invoke(held, "events", "post", "sale", "--customer", "C0001")
    assert posted.exit_code == 1 and "erased on" in posted.output and "(receipt 1)" in posted.output
    assert held.execute("SELECT count(*) AS n FROM events WHERE customer_id = 'C0001'")[0]["n"] == 0
    assert traces_in(erased.output + listed.output) == []


def test_the_receipt_reads_the_same_when_erasing_and_in_the_list_of_erasures(held: Store) -> None:
    erased = invoke(held, "customer", "erase", "C0001", "--yes", "--now", NOW.isoformat())
    assert erased.exit_code == 0, erased.output
    listed = invoke(held, "customer", "erasures")
    assert listed.exit_code == 0, listed.output
    printed = erased.stdout[erased.stdout.index("erasure receipt 1") :]
    assert printed == listed.stdout[listed.stdout.index("erasure receipt 1") :]
    table_rows = [line.split("│")[1].strip() for line in printed.splitlines() if "│" in line]
    assert table_rows[:3] == sorted(table_rows[:3]) and "consent_ledger" in table_rows


@settings(max_examples=25, deadline=None)
@given(
    customer_id=st.from_regex(r"[A-Za-z0-9 _.-]{1,12}", fullmatch=True),
    phone=st.from_regex(r"1[3-9]\d{9}", fullmatch=True),
    text=st.text(max_size=30),
)
def test_scrubbing_leaves_no_value_and_the_pseudonym_is_a_stable_keyed_hash(
    customer_id: str, phone: str, text: str
) -> None:
    person = Person(customer_id, ("张伟",), (phone,))
    alias = pseudonym(b"k" * 32, customer_id)
    written = f"{text}{customer_id} {phone.upper()}张伟{text}"
    written = scrubbed(written, person.replacements(alias, everything=True, own=True))
    assert phone not in written and "张伟" not in written
    assert alias == pseudonym(b"k" * 32, customer_id) != pseudonym(b"j" * 32, customer_id)
    assert re.fullmatch(r"erased:[0-9a-f]{24}", alias)


# Ids a bank would not use but a test, a demo or a small branch system may: a year, a minute.
LOOKALIKES = """customer_id,name,phone,opened_on,rm_id,consent_sms
2026,张伟,13812345678,2020-01-05,RM01,true
35,李娜,13900001111,2026-03-05,RM01,true
C0002,王芳,13700002222,2026-01-01,RM02,true
"""
AT_35 = dt.datetime(2026, 12, 1, 2, 35, tzinfo=dt.UTC)


def every_row(store: Store) -> dict[str, list[dict[str, object]]]:
    """Each table's rows, in an order of their own (PostgreSQL returns an updated row where
    it wrote its new version, so a scan's order is not the insertion's)."""
    return {
        t.name: sorted(
            store.execute(f'SELECT * FROM "{t.name}"'),
            key=lambda row: json.dumps(row, sort_keys=True, default=str),
        )
        for t in tables(store)
        if t.name not in ("audit_log", "erasures")
    }


@pytest.mark.every_store
@pytest.mark.parametrize("person", ["2026", "35"])
def test_erasing_an_id_like_a_year_or_a_minute_leaves_every_other_value_as_it_was(
    store: Store, ruleset: RuleSet, tmp_path: Path, person: str
) -> None:
    """Others' dates, timestamps, periods, follow-up keys and JSON numbers hold the digits of
    the id; only a true mention of it (a JSON string that is the id) is replaced."""
    (tmp_path / "customers.csv").write_text(LOOKALIKES, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", AT_35)
    other = "35" if person == "2026" else "2026"
    post(store, "E1", "sale", "C0002", "2026-11-30T02:35:00Z", amount=35, referrer=person)
    post(store, "E2", "sale", person, "2026-11-30T02:35:00Z", amount=2026)
    classify(store, ruleset, AT_35)
    insert_followups(
        store,
        [invitation(c, occurrence, AT_35) for c in ("C0002", other, person)
         for occurrence in ("2026-09", "2026-Q1", "E35")],
        "b2026",
        AT_35,
    )  # fmt: skip
    before = every_row(store)
    own_followups = sorted(
        (f for f in before["followups"] if f["customer_id"] == person),
        key=lambda f: int(str(f["id"])),
    )
    own = {f["id"] for f in own_followups}

    alias = erase_request(store, fields_of(ruleset), person, AT_35, []).pseudonym

    after = every_row(store)
    for table, rows in before.items():
        others = [r for r in rows if person not in (r.get("customer_id"), r.get("id"))]
        untouched = [r for r in others if r.get("id") != "E1" and r.get("followup_id") not in own]
        kept = [
            r
            for r in after[table]
            if alias not in json.dumps(r, default=str) and r.get("followup_id") not in own
        ]
        assert untouched == kept, table
    [event] = store.execute("SELECT payload FROM events WHERE id = 'E1'")
    assert json.loads(event["payload"]) == {"amount": 35, "referrer": alias}
    mine = store.execute("SELECT * FROM followups WHERE customer_id = :a ORDER BY id", {"a": alias})
    assert [(f["key"], f["due_at"], f["occurrence"]) for f in mine] == [
        (f["key"].replace(f":{person}:", f":{alias}:"), f["due_at"], f["occurrence"])
        for f in own_followups
    ]


@pytest.mark.every_store
def test_a_short_name_is_not_erased_from_tables_that_name_no_customer(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A name is shared by many people and a short one stands inside other words: erasing
    `Al` leaves a classification run's counts (`low_value`) and a release's files as they
    were; a row of such a table that names the person by phone loses the name too."""
    people = "customer_id,name,phone,opened_on,rm_id,consent_sms\n"
    people += (
        "C0001,Al,13812345678,2020-01-05,RM01,true\nC0002,王芳,13700002222,2026-01-01,RM02,true\n"
    )
    (tmp_path / "customers.csv").write_text(people, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    classify(store, ruleset, NOW)
    store.execute(
        "INSERT INTO releases (hash, files, proposer, proposed_at)"
        " VALUES ('h1', '{\"tiers.yaml\": \"tier: normal\"}', 'li.na', '2026-11-30T02:00:00Z')"
    )
    with store.transaction():
        store.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        store.execute("INSERT INTO contacts VALUES ('Al', '13812345678'), ('Al', '13700002222')")
    before = every_row(store)

    erase_request(store, fields_of(ruleset), "C0001", NOW, [])

    after = every_row(store)
    store.execute("DROP TABLE contacts")  # PostgreSQL's schema serves the next tests
    assert "low_value" in after["classification_runs"][0]["counts"]
    for table in ("classification_runs", "releases"):
        assert after[table] == before[table], table
    assert sorted(after["contacts"], key=str) == [
        {"name": "Al", "phone": "13700002222"},
        {"name": "[erased]", "phone": "[erased]"},
    ]


@pytest.mark.every_store
def test_an_address_inside_another_is_not_the_persons(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The person's e-mail `li@example.com` is inside another's `wang.li@example.com`, their
    phone `87654321` inside another's mobile: the other customer's row and outbox line stay
    as they were; a true mention (`联系人 li@example.com`) is erased."""
    people = "customer_id,name,phone,email,rm_id,consent_sms\n"
    people += "C0001,李四,87654321,li@example.com,RM01,true\n"
    people += "C0002,王芳,13887654321,wang.li@example.com,RM02,true\n"
    (tmp_path / "customers.csv").write_text(people, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    post(store, "E1", "feedback", "C0002", "2026-11-30T02:00:00Z", comment="联系人 li@example.com")
    outbox = tmp_path / "outbox.jsonl"
    line = {"customer_id": "C0002", "email": "wang.li@example.com", "phone": "13887654321"}
    outbox.write_text(json.dumps(line) + "\n", "utf-8")
    [before] = store.execute("SELECT * FROM customers WHERE customer_id = 'C0002'")

    erase_request(store, fields_of(ruleset), "C0001", NOW, [outbox])

    assert store.execute("SELECT * FROM customers WHERE customer_id = 'C0002'") == [before]
    assert [json.loads(text) for text in outbox.read_text("utf-8").splitlines()] == [line]
    [event] = store.execute("SELECT payload FROM events WHERE id = 'E1'")
    assert json.loads(event["payload"])["comment"] == "联系人 [erased]"


def test_a_file_loses_the_persons_lines_and_only_theirs(tmp_path: Path) -> None:
    sent = tmp_path / "outbox.jsonl"
    lines = [
        {"customer_id": "C0002", "at": "2026-12-01T02:35:00Z", "priority": 35, "text": "1.35%"},
        {"customer_id": "C0003", "key": "news:C0003:2026-09", "text": "02:35 前回复"},
        {"customer_id": "C0004", "referrer": "35"},
        {"customer_id": "35", "at": "2026-12-01T02:35:00Z"},
    ]
    sent.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    for person in ("35", "2026", "02"):
        erase_from_files([sent], Person(person), "customer_id", "erased:x")
    scrubbed_referral = {"customer_id": "C0004", "referrer": "erased:x"}
    assert [json.loads(line) for line in sent.read_text("utf-8").splitlines()] == [
        *lines[:2],
        scrubbed_referral,
    ]


def test_files_keep_others_lines_and_the_archived_accounts_under_the_pseudonym(
    tmp_path: Path,
) -> None:
    """Another customer's outbox line and archived row that name the person keep their
    place, scrubbed; the person's archived follow-ups stay pseudonymised, as in the store,
    and their archived events go."""
    person = Person("C0001", ("张伟",), ("13812345678",))
    sent = tmp_path / "outbox.jsonl"
    lines = [
        {"customer_id": "C0001", "recipient": "13812345678", "body": "张伟您好"},
        {"customer_id": "C0002", "body": "您推荐的朋友13812345678已开户"},
        {"customer_id": "C0003", "body": "您好"},
    ]
    sent.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    archive = tmp_path / "archive"
    followups = [
        {"id": 1, "key": "s:C0001:E1", "customer_id": "C0001", "payload": '{"name": "张伟"}',
         "reason": "张伟 13812345678", "status": "sent"},
        {"id": 2, "key": "s:C0002:E2", "customer_id": "C0002", "payload": "{}",
         "reason": None, "status": "sent"},
    ]  # fmt: skip
    events = [{"id": "E1", "customer_id": "C0001"}, {"id": "E2", "customer_id": "C0002"}]
    for kind, rows in (("followups", followups), ("events", events)):
        (archive / kind).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), archive / kind / f"{kind}-1.parquet")

    done = erase_from_files([sent, archive], person, "customer_id", "erased:x")

    assert [json.loads(line) for line in sent.read_text("utf-8").splitlines()] == [
        {"customer_id": "C0002", "body": "您推荐的朋友[erased]已开户"},
        lines[2],
    ]
    assert pq.read_table(archive / "followups" / "followups-1.parquet").to_pylist() == [
        {"id": 1, "key": "s:erased:x:E1", "customer_id": "erased:x", "payload": "{}",
         "reason": "[erased] [erased]", "status": "sent"},
        followups[1],
    ]  # fmt: skip
    assert pq.read_table(archive / "events" / "events-1.parquet").to_pylist() == events[1:]
    assert sorted(done.values()) == [1, 1, 2]


def test_erasure_takes_the_person_out_of_the_columnar_copy_of_assignments(
    held: Store, ruleset: RuleSet
) -> None:
    """The snapshot engine keeps the assignments in a DuckDB file beside a SQLite store:
    the person's id must not outlive the erasure there."""
    assert invoke(held, "classify", "--engine", "duckdb", "--now", NOW.isoformat()).exit_code == 0
    copy = Path(mirror_path(folder_of(held) / "guanxi.db"))
    assert traces_in(copy.read_bytes().decode("latin-1")), "the copy names the person"

    receipt = erase(held, ruleset)

    assert not copy.exists() or traces_in(copy.read_bytes().decode("latin-1")) == []
    assert receipt.files[str(copy)] == 1
    classified = invoke(held, "classify", "--engine", "duckdb", "--now", NOW.isoformat())
    assert classified.exit_code == 0, classified.output  # the copy is built again


@pytest.mark.every_store
def test_a_claimed_message_is_not_sent_once_the_erasure_has_committed(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A dispatcher that claimed the person's message and sends it after the erasure
    committed (the erasure took the claim as lapsed: its clock ran ahead) must not send it:
    the check right before the send refuses an erased customer, and nothing brings the id
    back."""
    (tmp_path / "customers.csv").write_text(CUSTOMERS, "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    insert_followups(store, [invitation("C0001", "E1", NOW)], "b1", NOW)
    [claimed] = claim(store, NOW, 10, dt.timedelta(minutes=5))
    other = open_again(store)
    try:
        erase_request(other, fields_of(ruleset), "C0001", NOW + dt.timedelta(minutes=6), [])
    finally:
        other.close()
    sending = NOW + dt.timedelta(minutes=1)  # the dispatcher's clock: its lease holds
    instant = Instant(store, ruleset, lambda: sending, lambda: True, NOW, [claimed])

    stop = instant.check(claimed)

    assert isinstance(stop, Verdict) and (stop.verdict, stop.policy) == ("suppressed", "erasure")
    assert instant.sent_at == {}
    assert traces_in_store(store) == {}


def test_erasing_an_unknown_id_says_so_and_writes_no_receipt(held: Store) -> None:
    """A mistyped id is not erased "successfully": exit 1 with the reason, no receipt, and
    only an audit entry saying that it was asked; an id erased before says when."""
    unknown = invoke(held, "customer", "erase", "C9999", "--yes", "--now", NOW.isoformat())
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "Error: no customer C9999 in the store, and no row or file names them: nothing was"
        " erased and no receipt was written; check the id (as in the customer file)\n"
    )
    assert (
        invoke(held, "customer", "erase", "C0001", "--yes", "--now", NOW.isoformat()).exit_code == 0
    )
    again = invoke(held, "customer", "erase", "C0001", "--yes", "--now", NOW.isoformat())
    assert again.exit_code == 1
    assert "C0001 was already erased on 2026-12-01 (receipt 1)" in again.stderr
    receipts = json.loads(invoke(held, "customer", "erasures", "--json").stdout)["erasures"]
    assert [r["id"] for r in receipts] == [1]
    asked = held.execute("SELECT detail FROM audit_log WHERE action = 'customer erase' ORDER BY id")
    assert [json.loads(r["detail"]) for r in asked] == [
        {"found": False},
        {"receipt": 1},
        {"found": False},
    ]


def test_erasure_replaces_the_outbox_whole_and_a_running_adapter_follows(tmp_path: Path) -> None:
    """The outbox is written anew and renamed over the old one: whoever is reading it (the
    channel picking up its lines) reads the old file whole, never one half rewritten, a crash
    leaves one or the other; the running adapter's next line lands in the new file."""
    path = tmp_path / "outbox.jsonl"
    lines = [{"key": f"k{i}", "customer_id": c} for i, c in enumerate(["C0002", "C0001", "C0003"])]
    old = "".join(json.dumps(line) + "\n" for line in lines).encode()
    path.write_bytes(old)
    outbox = OutboxAdapter(path)
    try:
        with path.open("rb", buffering=0) as reader:
            first = reader.readline()
            erase_from_files([path], Person("C0001"), "customer_id", "erased:x")
            assert first + reader.read() == old
        outbox.send(Message("k9", "C0004", "s", "message", "sms", None, None, "您好"))
    finally:
        outbox.close()
    keys = [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines()]
    assert keys == ["k0", "k2", "k9"]


@pytest.mark.every_store
def test_erasure_keeps_only_the_consent_records_a_follow_up_relied_on(
    held: Store, ruleset: RuleSet
) -> None:
    """A consent record is kept after the erasure only as the proof for a follow-up that was
    sent or decided while it was in force; the others go with the person."""
    for channel in ("email", "sms"):
        held.execute(
            "INSERT INTO consent_ledger (customer_id, channel, purpose, granted, source,"
            " effective_at, recorded_at) VALUES ('C0001', :channel, 'marketing', :granted,"
            " 'branch', '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z')",
            {"channel": channel, "granted": True},
        )
    before = held.execute(
        "SELECT id, channel, purpose FROM consent_ledger WHERE customer_id = 'C0001' ORDER BY id"
    )

    receipt = erase(held, ruleset)

    kept = held.execute("SELECT id, customer_id, channel, purpose FROM consent_ledger ORDER BY id")
    mine = [r for r in kept if r["customer_id"] == receipt.pseudonym]
    assert [(r["channel"], r["purpose"]) for r in mine] == [("sms", "service")]
    assert receipt.tables["consent_ledger"]["deleted"] == len(before) - 1


# Ids that hold the person's: another letter case, longer, prefixed, joined by a dash.
def lookalike_ids(person: str) -> list[str]:
    return [person.lower(), f"{person}0", f"X{person}", f"{person}-2"]


def case_customers(person: str) -> str:
    rows = [
        f"{c},客户{c},138{i:04d}{i:04d},Mail{i}@Example.com,RM01,true"
        for i, c in enumerate([person, *lookalike_ids(person)])
    ]
    return "customer_id,name,phone,email,rm_id,consent_sms\n" + "\n".join(rows) + "\n"


def others_of(rows: dict[str, list[Row]], person: str, own: set[int]) -> dict[str, list[Row]]:
    """Each table's rows but the person's (by their id or pseudonym, or their follow-ups)."""
    return {
        table: [
            r
            for r in listed
            if not (
                {r.get("customer_id"), r.get("id")} & {person}
                or str(r.get("customer_id", "")).startswith("erased:")
                or r.get("followup_id") in own
                or (table == "followups" and r["id"] in own)
            )
        ]
        for table, listed in rows.items()
    }


def held_with_lookalikes(store: Store, ruleset: RuleSet, tmp_path: Path, person: str) -> set[int]:
    """The person and customers whose ids hold theirs, each with an event, a message and a
    task; events and task notes of the others mention the person, or `person.lower()`; the
    person's follow-ups."""
    lower, *_ = others = lookalike_ids(person)
    (tmp_path / "customers.csv").write_text(case_customers(person), "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    for i, customer in enumerate([person, *others]):
        post(store, f"E{i}", "sale", customer, "2026-11-30T02:00:00Z", product="存单", amount=5)
    post(store, "R1", "visit_note", others[2], "2026-11-30T02:00:00Z", referrer=person)
    post(store, "R2", "visit_note", others[1], "2026-11-30T02:00:00Z", referrer=lower)
    post(store, "R3", "visit_note", others[3], "2026-11-30T02:00:00Z", comment=f"推荐人 {person}")
    classify(store, ruleset, NOW)
    task = {"kind": "task", "channel": "rm_task", "template": "post_sale_check", "owner": "RM01"}
    plans = [invitation(c, f"E{i}", NOW) for i, c in enumerate([person, *others])]
    plans += [invitation(c, f"T{i}", NOW, step_id="retention_call",
                         **task | {"owner": f"RM{i}"})
              for i, c in enumerate([person, *others])]  # fmt: skip
    insert_followups(store, plans, "b1", NOW)
    adapters = build_adapters(ruleset, store, folder_of(store), None, FixedClock(NOW))
    try:
        tick(store, ruleset, adapters, NOW, random.Random(0))
    finally:
        adapters.close()
    store.execute(
        "UPDATE tasks SET note = '推荐人 ' || customer_id || ' 和 ' || :person || ' 与 ' || :lower",
        {"person": person, "lower": lower},
    )
    return {
        r["id"]
        for r in store.execute("SELECT id FROM followups WHERE customer_id = :p", {"p": person})
    }


def in_order(rows: dict[str, list[Row]]) -> dict[str, list[Row]]:
    """Each table's rows in one order (PostgreSQL returns an updated row last)."""
    return {
        t: sorted(listed, key=lambda r: json.dumps(r, default=str)) for t, listed in rows.items()
    }


@pytest.mark.every_store
@pytest.mark.parametrize("person", ["CUSTX00017", "C9"])
def test_an_id_is_erased_in_its_letter_case_and_never_from_another_customers_id(
    store: Store, ruleset: RuleSet, tmp_path: Path, person: str
) -> None:
    """Ids are told apart by letter case: erasing CUSTX00017 leaves custx00017, CUSTX000170,
    XCUSTX00017 and CUSTX00017-2 (their rows, names, events, follow-ups, tasks) as they were,
    but for the mentions of the person in their free text; a mention of custx00017 stays."""
    own = held_with_lookalikes(store, ruleset, tmp_path, person)
    before = others_of(every_row(store), person, own)
    assert before["customers"] and before["assignments"] and before["tasks"]

    alias = erase_request(store, fields_of(ruleset), person, NOW, []).pseudonym

    whole = rf"(?<![A-Za-z0-9]){person}(?![A-Za-z0-9-])"
    text = json.dumps(before, ensure_ascii=False, default=str)
    referrer = 'referrer\\": \\"{}\\"'  # a JSON payload, in JSON
    expected = text.replace(referrer.format(person), referrer.format(alias))
    if len(person) > 3:  # a weak id (C9) is a mention in others' rows only as a whole value
        expected = re.sub(whole, alias, expected)
    assert json.loads(expected) != before  # the mentions of the person were there
    assert in_order(others_of(every_row(store), person, own)) == in_order(json.loads(expected))
    after = every_row(store)
    theirs = others_of(after, person, own)
    traces = re.compile(f"{whole}|13800000000|(?i:mail0@)")
    left = [
        (table, row)
        for table, rows in after.items()
        for row in rows
        if row not in theirs[table] and traces.search(json.dumps(row, ensure_ascii=False))
    ]
    assert left == []


@pytest.mark.every_store
@pytest.mark.parametrize("person", ["CUSTX00017", "C9"])
def test_export_gives_no_other_customer_whose_id_differs_only_in_letter_case(
    store: Store, ruleset: RuleSet, tmp_path: Path, person: str
) -> None:
    """custx00017's row is not CUSTX00017's, nor does its name `客户custx00017` mention them:
    the export holds the person's rows and the others' that truly mention them."""
    held_with_lookalikes(store, ruleset, tmp_path, person)

    found = export_request(store, fields_of(ruleset), person, NOW)["tables"]

    assert [c["customer_id"] for c in found["customers"]] == [person]
    assert [a["customer_id"] for a in found["assignments"]] == [person]
    mentioned = ["R1", "R3"] if len(person) > 3 else ["R1"]  # C9: only as a whole value
    assert sorted(e["id"] for e in found["events"]) == ["E0", *mentioned]
    tasks = store.execute("SELECT count(*) AS n FROM tasks")[0]["n"]
    assert tasks == 5
    assert len(found["tasks"]) == (tasks if len(person) > 3 else 1)  # others' notes name them


def test_files_keep_other_customers_ids_that_hold_the_persons(tmp_path: Path) -> None:
    """A line or row of `C0001-2` or `c0001` is theirs: its customer id stays, whatever the
    text of it says; the person's id in its text (its letter case as it is) is scrubbed."""
    rows = [
        {"customer_id": "C0001-2", "text": "推荐人 C0001"},
        {"customer_id": "c0001", "text": "推荐人 c0001"},
    ]
    sent, archive = tmp_path / "outbox.jsonl", tmp_path / "events.parquet"
    sent.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    pq.write_table(pa.Table.from_pylist(rows), archive)

    erase_from_files([sent, archive], Person("C0001"), "customer_id", "erased:x")

    scrubbed_rows = [{**rows[0], "text": "推荐人 erased:x"}]
    lines = [json.loads(line) for line in sent.read_text("utf-8").splitlines()]
    assert lines == pq.read_table(archive).to_pylist() == [*scrubbed_rows, rows[1]]


@pytest.mark.every_store
@pytest.mark.parametrize(
    ("person", "other"),
    [("0", {"branch": "0", "rm_id": "0", "group_id": "0"}), ("A", {"credit_rating": "A"}),
     ("personal", {"kind": "personal"})],
)  # fmt: skip
def test_erasing_a_customer_leaves_the_codes_of_others_that_spell_their_id(
    store: Store, ruleset: RuleSet, tmp_path: Path, person: str, other: dict[str, str]
) -> None:
    """`guanxi load` takes the customer `0`: erasing them leaves another customer's branch,
    manager and group `0`, and the manager `0` of that customer's follow-up, as they were
    (each an id of another kind); the customer `A` is not the credit rating `A`, nor a value
    of `values:` anything else."""
    rows = [{"customer_id": person, "name": "张三"}, {"customer_id": "C2", "name": "李四", **other}]
    (tmp_path / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    load_customers(store, ruleset, tmp_path / "customers.jsonl", NOW)
    insert_followups(store, [invitation("C2", "E1", NOW, owner=person)], "b1", NOW)
    before = every_row(store)

    found = export_request(store, fields_of(ruleset), person, NOW)["tables"]
    erase_request(store, fields_of(ruleset), person, NOW, [])

    assert "followups" not in found and [c["customer_id"] for c in found["customers"]] == [person]
    after = every_row(store)
    assert [c for c in after["customers"]] == [
        c for c in before["customers"] if c["customer_id"] == "C2"
    ]
    assert after["followups"] == before["followups"]


@pytest.mark.every_store
@pytest.mark.parametrize(
    ("typed", "hint"),
    [("C 0001", "; did you mean C0001?"), ("c0001", "; did you mean C0001?"), ("C9999", "")],
)
def test_erasing_an_unknown_id_says_so_before_asking_and_names_the_id_meant(
    held: Store, typed: str, hint: str
) -> None:
    """The clerk is not asked to confirm erasing an id that nothing holds, only to be told
    afterwards; an id that differs from a stored one by its spaces or letter case names it.
    Nothing is erased and the audit log notes that it was asked."""
    unknown = CliRunner().invoke(
        cli, ["customer", "erase", typed, "--rules", str(RULES), "--store", held.location],
        input="y\n",
    )  # fmt: skip
    assert unknown.exit_code == 1 and "for good?" not in unknown.output
    assert unknown.stderr == (
        f"Error: no customer {typed} in the store, and no row or file names them: nothing was"
        f" erased and no receipt was written; check the id (as in the customer file){hint}\n"
    )
    assert held.execute("SELECT count(*) AS n FROM erasures")[0]["n"] == 0
    asked = held.execute("SELECT detail FROM audit_log WHERE action = 'customer erase'")
    assert [json.loads(r["detail"]) for r in asked] == [{"found": False}]
    exported = invoke(held, "customer", "export", typed)
    assert exported.exit_code == 1 and exported.stderr.endswith(f"customer file){hint}\n")


@pytest.mark.every_store
def test_erasing_a_stored_customer_still_asks_first(held: Store) -> None:
    declined = CliRunner().invoke(
        cli, ["customer", "erase", "C0001", "--rules", str(RULES), "--store", held.location],
        input="n\n",
    )  # fmt: skip
    assert declined.exit_code == 1 and "erase customer C0001 for good?" in declined.output
    assert held.execute("SELECT count(*) AS n FROM customers WHERE customer_id = 'C0001'")[0]["n"]
    assert held.execute("SELECT count(*) AS n FROM erasures")[0]["n"] == 0


@pytest.mark.every_store
def test_an_id_held_only_by_events_or_by_the_outbox_is_still_asked_about(
    held: Store, ruleset: RuleSet
) -> None:
    """Told first only when nothing holds the id: a person whose customer row never came
    (their events did) or whose only trace is a line of the outbox is erased after the
    confirmation, as before."""
    post(held, "E7", "sale", "C7777", "2026-11-30T02:00:00Z", product="大额存单")
    [outbox] = [p for p in written_files(ruleset, folder_of(held)) if p.suffix == ".jsonl"]
    with outbox.open("a", encoding="utf-8") as lines:
        lines.write(json.dumps({"customer_id": "C8888", "text": "您好"}) + "\n")
    for person in ("C7777", "C8888"):
        asked = CliRunner().invoke(
            cli, ["customer", "erase", person, "--rules", str(RULES), "--store", held.location],
            input="y\n",
        )  # fmt: skip
        assert asked.exit_code == 0, asked.output
        assert f"erase customer {person} for good?" in asked.output
    assert "C8888" not in outbox.read_text("utf-8")
    assert held.execute("SELECT count(*) AS n FROM erasures")[0]["n"] == 2
