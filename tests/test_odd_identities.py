"""Customers whose ids, names, contacts, numbers and dates `guanxi load` accepts but are odd
go through every stage beside ordinary customers, each of their rows reaching the end or
quarantined / failed with its reason, and no stage raising.

test_odd_values.py makes arbitrary fields odd; here the odd part is who the customer is:
ids of Unicode letters, dashes and dots, full width or 64 characters long; names with emoji,
combining marks and CJK extension B; e-mail addresses and phones at their limits; a customer
with nothing but an id and a name; numbers like 1e300, 9.99e15 or 0.1234567890123456789 and
dates at the edges of what is accepted (1900-01-01, 2199-12-31, 29 February). Their events
(odd ids, amounts and products) follow. The stages, through the real CLI: load, classify on
the store (SQLite and DuckDB engines) and from a `classify --input` CSV snapshot, events plan,
plan, run (the messages through a webhook on 127.0.0.1, with templates printing the fields),
explain, report, simulate, the subject access export and erasure.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ids import same_id
from guanxi.engine.store import open_store
from tests.test_odd_values import _store, guanxi

pytestmark = pytest.mark.takes_minutes

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
DAYS = [NOW + dt.timedelta(days=d, hours=1) for d in range(0, 10, 3)]
PRINTED = ["customer_id", "name", "phone", "email", "balance", "wealth_balance", "opened_on",
           "last_txn_date", "annual_contribution", "age"]  # fmt: skip

ID_CHARS = st.characters(categories=["Lu", "Ll", "Lo", "Nd"]) | st.sampled_from(
    [*"-._ＡＺａｚ０９－．＿", "Ж", "é", "𠀀", "ß", "ǅ"]
)
ODD_IDS = ["Ж-客户.001", "ＸＹＺ－０１．ａ", "Л" * 64, "-", ".", "0", "007", "1e5", "a.b.c-d_e",
           "A", "AA"]  # fmt: skip
ids = st.text(ID_CHARS, min_size=1, max_size=64) | st.sampled_from(ODD_IDS)
names = st.text(
    st.characters(categories=["L", "M", "N", "So", "Zs"]), min_size=1, max_size=60
) | st.sampled_from(
    ["𠀀𠀁𪜀 😀👨‍👩‍👧‍👦", "Z̷̢̛a̵l̶g̷o̸", "e\u0301\u0301\u0301", "ｆｕｌｌ　ｗｉｄｔｈ", "長" * 4000, "🏦"]
)
EMAILS = ["a@b.c", "a.b-c+d@例子.公司", "x" * 64 + "@" + ("y" * 63 + ".") * 3 + "cn",
          "用户@银行.中国", "ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ", "o'brien@example.com",
          "e" * 4000]  # fmt: skip
PHONES = ["13800000000", "+8613800000000", "+86 138 0000 0000", "138-0000-0000",
          "１３８００００００００", "0", "9" * 64, "(010) 8888 8888"]  # fmt: skip
NUMBERS = [1e300, 9.99e15, 0.1234567890123456789, 5e-324, 1.7976931348623157e308, 0, 0.0,
           123456789.123456789, "9,990,000,000,000,000", "1.5亿",
           "１２３４５.６７８９"]  # fmt: skip
DATES = ["1900-01-01", "2199-12-31", "2024-02-29", "2000-02-29", "2026-11-28", "2026年2月28日"]
# Always there: a customer reached by SMS at a phone typed on a Chinese keyboard in full width
TYPED_IN_FULL_WIDTH = {
    "customer_id": "ＦＷ－０１", "name": "全角客户", "kind": "institutional", "industry": "测试",
    "consent_marketing": True, "consent_sms": True, "preferred_channel": "sms",
    "phone": "１３８　００１３　８０００", "email": "ＦＷ＠ｅｘａｍｐｌｅ．ｃｏｍ",
}  # fmt: skip
numbers = st.sampled_from(NUMBERS) | st.floats(0, 1e300, allow_subnormal=True)
dates = st.sampled_from(DATES) | st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)).map(str)
OPTIONAL = {"balance": numbers, "wealth_balance": numbers, "annual_contribution": numbers,
            "cost_to_serve": numbers, "opened_on": dates, "last_txn_date": dates,
            "age": st.integers(0, 150), "products_held": st.integers(0, 10**15),
            "email": st.sampled_from(EMAILS), "phone": st.sampled_from(PHONES)}  # fmt: skip


@st.composite
def odd_customer(draw: st.DrawFn, key: str) -> dict[str, Any]:
    """A customer who consents to everything, or one with only an id and a name."""
    row: dict[str, Any] = {"customer_id": key, "name": draw(names)}
    if draw(st.integers(0, 4)) == 0:
        return row
    row |= {"kind": "institutional", "industry": "测试", "consent_marketing": True,
            "consent_sms": True, "consent_email": True, "consent_app": True,
            "preferred_channel": draw(st.sampled_from(["sms", "email", "app"]))}  # fmt: skip
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True)):
        row[name] = draw(OPTIONAL[name])
    return row


@st.composite
def odd_events(draw: st.DrawFn, customer: dict[str, Any]) -> list[dict[str, Any]]:
    key, at = customer["customer_id"], (NOW - dt.timedelta(hours=20)).isoformat()
    product = draw(names)
    envelope = {"customer_id": key, "at": at}
    return [
        {**envelope, "id": f"S.{key}", "type": "sale", "product": product,
         "amount": draw(numbers)},
        {**envelope, "id": f"M-{key}", "type": "product_maturity", "product": product,
         "amount": draw(numbers)},
        {**envelope, "id": f"B_{key}", "type": "balance_drop", "amount": draw(numbers)},
        {**envelope, "id": f"Ｆ{key}", "type": "feedback", "score": 5, "product": product},
    ]  # fmt: skip


# --- the webhook and the project -------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default rules, every message channel through one local webhook, every template
    ending with the customer's fields."""
    folder = tmp_path_factory.mktemp("identities") / "rules"
    shutil.copytree(RULES, folder)
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_port}"
    channels = "".join(
        f'    {channel}: {{adapter: webhook, url: "{url}/{channel}"}}\n'
        for channel in ("sms", "email", "app")
    )
    settings_file = folder / "guanxi.yaml"
    text = settings_file.read_text(encoding="utf-8")
    channels = f"    rm_task: rm_tasks\n{channels}"
    settings_file.write_text(text.replace("    rm_task: rm_tasks\n", channels), encoding="utf-8")
    _print_fields(folder / "templates.yaml")
    try:
        yield folder
    finally:
        http.shutdown()
        http.server_close()


def _print_fields(file: Path) -> None:
    fields = " ".join(f"{{{{ {name} | default('-') }}}}" for name in PRINTED)
    templates = yaml.safe_load(file.read_text(encoding="utf-8"))
    for template in templates["templates"].values():
        template["body"] += f" [{fields}]"
    file.write_text(yaml.safe_dump(templates, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="module")
def ordinary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ordinary")
    write_demo_data(folder, 30, 5, NOW.date(), bad_rows=False)
    return folder


def ordinary_ids(ordinary: Path) -> set[str]:
    with (ordinary / "customers.csv").open(encoding="utf-8-sig") as source:
        return {row["customer_id"] for row in csv.DictReader(source)}


# --- the pipeline -------------------------------------------------------------------------------


def pipeline(store: str, rules: Path, ordinary: Path, odd: Path) -> None:
    at = ("--store", store, "--rules", rules)
    now = ("--now", NOW.isoformat())
    guanxi("load", "customers", ordinary / "customers.csv", *at)
    guanxi("load", "events", ordinary / "events.jsonl", *at)
    guanxi("load", "customers", odd / "odd.jsonl", *at)
    guanxi("classify", *at, *now)
    guanxi("load", "events", odd / "odd_events.jsonl", *at, *now)  # planned as they load
    guanxi("events", "plan", *at, *now)
    guanxi("plan", *at, *now)
    for moment in DAYS:
        guanxi("run", "--once", *at, "--now", moment.isoformat(), "--outbox", odd / "out.jsonl")


def read(store: str) -> dict[str, Any]:
    opened = open_store(store)
    try:
        return {
            "customers": {r["customer_id"] for r in opened.execute("SELECT * FROM customers")},
            "assigned": {r["customer_id"]: (r["tier"], r["level"], r["strategy"])
                         for r in opened.execute("SELECT * FROM current_assignments")},
            "quarantine": opened.execute("SELECT source, row_number, reason FROM quarantine"),
            "events": opened.execute("SELECT id, customer_id, planned_at FROM events"),
            "followups": opened.execute(
                "SELECT key, customer_id, channel, status, reason, due_at FROM followups"),
        }  # fmt: skip
    finally:
        opened.close()


def check_every_row_ends(found: dict[str, Any], odd: list[dict[str, Any]], file: str) -> None:
    quarantined = {q["row_number"] for q in found["quarantine"] if q["source"].endswith(file)}
    assert all(q["reason"] for q in found["quarantine"])
    for number, row in enumerate(odd, start=1):
        key = same_id(row["customer_id"])
        assert key in found["customers"] or number in quarantined, (row, found["quarantine"])
    assert set(found["assigned"]) == found["customers"]
    assert all(e["planned_at"] for e in found["events"])  # planned, or failed with a reason
    for followup in found["followups"]:
        due = followup["due_at"] <= DAYS[-1].isoformat()
        assert not (due and followup["status"] in ("pending", "claimed")), followup
        assert followup["status"] in ("pending", "sent") or followup["reason"], followup


def check_messages_print_fields(found: dict[str, Any], received: list[dict[str, Any]]) -> None:
    """Every message the webhook took was the customer's, with their id in its body, to an
    address a gateway reads (a phone typed in full width goes to its ASCII twin)."""
    sent = {f["key"]: f["customer_id"] for f in found["followups"] if f["status"] == "sent"}
    assert {m["key"] for m in received} <= set(sent)
    for message in received:
        assert message["customer_id"] == sent[message["key"]]
        assert f"[{message['customer_id']} " in message["body"], message
        recipient = message["recipient"]
        assert recipient is None or same_id(recipient) == recipient, message


def engines_agree(store: str, rules: Path, found: dict[str, Any]) -> None:
    guanxi("classify", "--store", store, "--rules", rules, "--engine", "duckdb",
           "--now", NOW.isoformat())  # fmt: skip
    assert read(store)["assigned"] == found["assigned"]


def snapshot_agrees(rules: Path, ordinary: Path, scratch: Path, found: dict[str, Any]) -> None:
    """The same rows as a CSV snapshot, classified with --input: the same assignments."""
    snapshot = scratch / "snapshot.csv"
    stored = open_store(str(scratch / "guanxi.db"))
    try:
        rows = stored.execute("SELECT * FROM customers")
    finally:
        stored.close()
    columns = [c for c in rows[0] if not c.startswith("_")]
    with snapshot.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
    store = str(scratch / "snapshot.db")
    guanxi("classify", "--store", store, "--rules", rules, "--input", snapshot,
           "--now", NOW.isoformat())  # fmt: skip
    assert read(store)["assigned"] == found["assigned"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def other_stages(store: str, rules: Path, scratch: Path, keys: set[str]) -> None:
    at = ("--store", store, "--rules", rules, "--now", NOW.isoformat())
    for key in sorted(keys):  # `--`: an id may begin with a dash
        assert json.loads(guanxi("explain", *at, "--json", "--", key).stdout)
        export = scratch / "export.json"
        guanxi("customer", "export", *at, "--output", export, "--", key)
        assert key in export.read_text(encoding="utf-8")
    guanxi("report", *at, "--html", scratch / "report.html")
    guanxi("report", *at, "--csv", scratch / "report")


def erase_each(store: str, rules: Path, keys: set[str], found: dict[str, Any]) -> None:
    """Erasing the odd customers one by one leaves the others as they were: their rows (the
    ordinary customers' say nothing of the odd ones), their tiers, levels and strategies."""
    at = ("--store", store, "--rules", rules, "--now", NOW.isoformat())
    ordinary_before = ordinary_rows(store, keys)
    for key in sorted(keys):
        guanxi("customer", "erase", *at, "--yes", "--json", "--", key)
    assert ordinary_rows(store, keys) == ordinary_before
    after = read(store)
    assert after["customers"] == found["customers"] - keys
    assert {k: v for k, v in after["assigned"].items() if k not in keys} == {
        k: v for k, v in found["assigned"].items() if k not in keys
    }


def ordinary_rows(store: str, odd: set[str]) -> list[dict[str, Any]]:
    opened = open_store(store)
    try:
        rows = opened.execute("SELECT * FROM customers ORDER BY customer_id")
    finally:
        opened.close()
    return [r for r in rows if r["customer_id"] not in odd]


def write_jsonl(file: Path, rows: list[dict[str, Any]]) -> None:
    lines = (json.dumps(r, ensure_ascii=False) for r in rows)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")


@settings(
    max_examples=2,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a pipeline takes minutes
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_odd_customers_and_their_events_reach_every_stage(
    kind: str, project: Path, ordinary: Path, data: st.DataObject
) -> None:
    keys = data.draw(st.lists(ids, min_size=3, max_size=5, unique_by=same_id))
    taken = ordinary_ids(ordinary) | {same_id(TYPED_IN_FULL_WIDTH["customer_id"])}
    odd = [TYPED_IN_FULL_WIDTH] + [
        data.draw(odd_customer(key)) for key in keys if same_id(key) not in taken
    ]
    events = [e for row in odd for e in data.draw(odd_events(row))]
    _Receiver.received.clear()
    with tempfile.TemporaryDirectory() as name, _store(kind, Path(name)) as store:
        scratch = Path(name)
        write_jsonl(scratch / "odd.jsonl", odd)
        write_jsonl(scratch / "odd_events.jsonl", events)
        pipeline(store, project, ordinary, scratch)
        found = read(store)
        check_every_row_ends(found, odd, "/odd.jsonl")
        check_messages_print_fields(found, _Receiver.received)
        full_width = [f for f in found["followups"] if f["customer_id"] == "FW-01"]
        assert full_width and all(f["status"] == "sent" for f in full_width), full_width
        stored_odd = found["customers"] - ordinary_ids(ordinary)
        other_stages(store, project, scratch, stored_odd)
        if kind == "sqlite":
            engines_agree(store, project, found)
            snapshot_agrees(project, ordinary, scratch, found)
            guanxi("simulate", "--store", store, "--rules", project, "--start",
                   NOW.date().isoformat(), "--days", "3", "--json")  # fmt: skip
        erase_each(store, project, stored_odd, found)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_id_that_begins_with_a_dash_is_given_after_two_dashes(tmp_path: Path, lang: str) -> None:
    """`guanxi load` takes the customer `-A01`; `guanxi explain -A01` reads it as an unknown
    option `-A`, and says how to give it; `guanxi explain -- -A01` explains the customer."""
    (tmp_path / "customers.jsonl").write_text('{"customer_id": "-A01", "name": "张三"}\n')
    at = ("--store", str(tmp_path / "guanxi.db"), "--rules", str(RULES))
    guanxi("load", "customers", tmp_path / "customers.jsonl", *at)
    guanxi("classify", *at, "--now", NOW.isoformat())
    mistaken = CliRunner().invoke(cli, ["--lang", lang, "explain", *at, "-A01"], prog_name="guanxi")
    assert mistaken.exit_code == 2 and mistaken.exception is not None
    told = {"en": "goes after --: guanxi explain [OPTIONS] -- -A01",
            "zh": "请写在 -- 之后：guanxi explain [OPTIONS] -- -A01"}  # fmt: skip
    assert told[lang] in mistaken.output
    explained = guanxi("explain", *at, "--now", NOW.isoformat(), "--json", "--", "-A01")
    assert json.loads(explained.stdout)["customer_id"] == "-A01"
