"""Values as a bank's exporting programs write them, which `guanxi load` must either take
as what they mean or quarantine with the row and the reason, never pass on as something a
customer reads.

JSON Lines from a script: Python's and JavaScript's serialisers write a missing number as
`NaN` and an overflowing one as `Infinity` or `1e999`, also where text belongs (a product
name, a customer's name, an id).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guanxi.engine.errors import DataError
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e999"]


def write_lines(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quarantined(store: Store) -> list[tuple[int, str | None, str]]:
    sql = "SELECT row_number, field, reason FROM quarantine ORDER BY row_number, id"
    return [(r["row_number"], r["field"], r["reason"]) for r in store.execute(sql)]


def _customer(key: str, name: str) -> str:
    return f'{{"customer_id": {key}, "name": {name}, "balance": 1000}}'


@pytest.mark.every_store
def test_a_number_that_is_not_finite_is_no_name_or_id(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [_customer('"C0"', '"张三"')]
    lines += [_customer(f'"N{i}"', written) for i, written in enumerate(NOT_FINITE)]
    lines += [_customer(written, '"李四"') for written in NOT_FINITE]
    lines += [_customer('"C9"', '"王五"')]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (2, 8)
    found = quarantined(store)
    assert [(line, field) for line, field, _ in found] == [
        *((line, "name") for line in range(2, 6)),
        *((line, "customer_id") for line in range(6, 10)),
    ]
    assert all("NaN" in why or "Infinity" in why for _, _, why in found)
    names = [r["name"] for r in store.execute("SELECT name FROM customers ORDER BY name")]
    assert names == ["张三", "王五"]


@pytest.mark.every_store
def test_an_event_whose_product_or_id_is_not_finite_is_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    def maturity(key: str, product: str) -> str:
        return (
            f'{{"id": {key}, "type": "product_maturity", "customer_id": "C1",'
            f' "at": "2026-11-27T10:00+08:00", "product": {product}, "amount": 100}}'
        )

    lines = [maturity(f'"M{i}"', written) for i, written in enumerate(NOT_FINITE)]
    lines += [maturity(written, '"定期存款"') for written in NOT_FINITE]
    lines += [maturity('"M9"', '"定期存款"')]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 8)
    fields = [(line, field) for line, field, _ in quarantined(store)]
    assert fields == [*((n, "product") for n in range(1, 5)), *((n, "id") for n in range(5, 9))]
    stored = [json.loads(r["payload"]) for r in store.execute("SELECT payload FROM events")]
    assert stored == [{"product": "定期存款", "amount": 100.0}]


def test_a_whole_number_past_the_largest_double_is_too_large_not_a_crash(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """JSON keeps a whole number of any length exact (a script's 10**400): as a balance, a
    contribution or an event's amount it is quarantined as 1e400 written out is, and the
    rows around it load."""
    huge = "1" + "0" * 400
    lines = [
        '{"customer_id": "C1", "name": "张三", "balance": 1000}',
        f'{{"customer_id": "C2", "name": "李四", "balance": {huge}}}',
        f'{{"customer_id": "C3", "name": "王五", "annual_contribution": -{huge}}}',
        '{"customer_id": "C4", "name": "赵六", "balance": 2000}',
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (2, 2)
    sale = (
        '{{"id": "{}", "type": "sale", "customer_id": "C1",'
        ' "at": "2026-11-27T10:00+08:00", "amount": {}}}'
    )
    lines = [sale.format("S1", huge), sale.format("S2", 5)]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    found = quarantined(store)
    assert [(line, field) for line, field, _ in found] == [
        (1, "amount"),
        (2, "balance"),
        (3, "annual_contribution"),
    ]
    assert all("too large" in why for _, _, why in found)


def test_an_id_given_as_a_long_number_is_held_to_the_length_of_an_id(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """An id of 200 digits is 200 characters, whether written as text or as a JSON number."""
    digits = "9" * 200
    lines = [
        '{"customer_id": 7, "name": "张三", "rm_id": 12}',
        f'{{"customer_id": {digits}, "name": "李四"}}',
        f'{{"customer_id": "{digits}", "name": "王五"}}',
        f'{{"customer_id": "C4", "name": "赵六", "rm_id": {digits}}}',
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 3)
    found = quarantined(store)
    assert [(line, field) for line, field, _ in found] == [
        (2, "customer_id"),
        (3, "customer_id"),
        (4, "rm_id"),
    ]
    assert all(why.startswith("200 characters long") for _, _, why in found)
    assert [(r["customer_id"], r["rm_id"]) for r in store.execute("SELECT * FROM customers")] == [
        ("7", "12")
    ]


def test_text_of_invisible_characters_only_is_an_empty_cell(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A lone zero-width space looks like an empty cell, and is one: a name of it is
    required but empty (a message would greet nobody), a product of it is no product (the
    template's default names one); inside text, a joiner of an emoji stays."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    lines = [
        '{"customer_id": "C1", "name": "\u200b"}',
        f'{{"customer_id": "C2", "name": "张三{family}", "industry": " \u200b\u2060 "}}',
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert quarantined(store) == [(1, "name", "required, but empty")]
    [row] = store.execute("SELECT name, industry FROM customers")
    assert (row["name"], row["industry"]) == (f"张三{family}", None)
    sale = '{"id": "S1", "type": "sale", "customer_id": "C2", "at": "2026-11-27T10:00+08:00"'
    events = [sale + ', "product": "\u200b"}']
    load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", events), NOW)
    [event] = store.execute("SELECT payload FROM events")
    assert json.loads(event["payload"]) == {}


def test_the_reason_says_in_chinese_what_to_write(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write_lines(tmp_path, "c.jsonl", [_customer('"C1"', "NaN")])
    with language("zh"):
        load_customers(store, ruleset, path, NOW)
    [(line, field, why)] = quarantined(store)
    assert (line, field) == (1, "name")
    assert why.startswith("NaN 不是文字")
    assert "留空" in why


# --- Excel's error values and the words programs write for a missing value ----------------

EXCEL_ERRORS = ["#N/A", "#div/0!", "#NAME?"]
MISSING_WRITTEN = ["NULL", "None", "nan", "\\N", " null "]
# typed in a Chinese keyboard's full-width mode
MISSING_WRITTEN += ["ＮＵＬＬ", "Ｎｏｎｅ", "ｎａｎ", "＼Ｎ", "　ｎｕｌｌ　"]


@pytest.mark.every_store
def test_an_excel_error_is_quarantined_and_a_missing_value_word_is_no_value(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A name or a branch of #N/A is quarantined; one of NULL is an empty cell: a customer
    without a branch loads, one without a name (required) is quarantined."""
    lines = ["customer_id,name,branch", "C0,张三,长沙支行"]
    lines += [f"N{i},{written},长沙支行" for i, written in enumerate(EXCEL_ERRORS)]
    lines += [f"M{i},{written},长沙支行" for i, written in enumerate(MISSING_WRITTEN)]
    lines += [f"B{i},李四,{written}" for i, written in enumerate(EXCEL_ERRORS)]
    lines += [f"E{i},王五,{written}" for i, written in enumerate(MISSING_WRITTEN)]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    errors, missing = len(EXCEL_ERRORS), len(MISSING_WRITTEN)
    assert (report.loaded, report.quarantined) == (1 + missing, 2 * errors + missing)
    found = quarantined(store)
    assert [(line, field) for line, field, _ in found] == [
        *((line, "name") for line in range(3, 3 + errors + missing)),
        *((line, "branch") for line in range(3 + errors + missing, 3 + 2 * errors + missing)),
    ]
    assert all("Excel" in why for line, _, why in found if line < 3 + errors)
    assert all(
        "required" in why for line, _, why in found if 3 + errors <= line < 3 + errors + missing
    )
    branches = store.execute(
        "SELECT customer_id, branch FROM customers WHERE customer_id LIKE 'E%'"
    )
    assert [r["branch"] for r in branches] == [None] * missing


@pytest.mark.every_store
def test_an_event_field_of_an_excel_error_is_quarantined_and_of_null_is_absent(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    def event(key: str, kind: str, product: str) -> str:
        return (
            f'{{"id": "{key}", "type": "{kind}", "customer_id": "C0",'
            f' "at": "2026-11-27T10:00+08:00", "product": {json.dumps(product)}, "amount": 100}}'
        )

    written = [*EXCEL_ERRORS, *MISSING_WRITTEN]
    events = [event(f"M{i}", "product_maturity", w) for i, w in enumerate(written)]  # required
    events += [event(f"S{i}", "sale", w) for i, w in enumerate(MISSING_WRITTEN)]  # optional
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", events), NOW)
    assert (report.loaded, report.quarantined) == (len(MISSING_WRITTEN), len(written))
    stored = [json.loads(r["payload"]) for r in store.execute("SELECT payload FROM events")]
    assert stored == [{"amount": 100.0}] * len(MISSING_WRITTEN)


# Optional fields of every type: a number, an amount, a whole number, true/false, a date,
# one of listed values. A database export leaves them NULL where the bank knows nothing.
OPTIONAL = ("annual_income", "monthly_txn_count", "consent_marketing", "opened_on", "kind")


def _loaded_fields(store: Store) -> dict[str, dict[str, Any]]:
    found = store.execute(f"SELECT customer_id, {', '.join(OPTIONAL)} FROM customers")
    return {r["customer_id"]: {f: r[f] for f in OPTIONAL} for r in found}


def _reasons_in_chinese(store: Store, ruleset: RuleSet, path: Path) -> Any:
    with language("zh"):
        return load_customers(store, ruleset, path, NOW)


@pytest.mark.every_store
def test_a_missing_value_word_in_a_csv_is_no_value_in_every_type_of_field(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """NULL, None, nan or \\N in an optional number, date or true/false column is an empty
    cell, as in a text column; in the required name it quarantines the row as empty."""
    lines = [f"customer_id,name,{','.join(OPTIONAL)}", "C0,张三,120000,8,true,2020-01-02,personal"]
    lines += [f"M{i},李四,{','.join([w] * len(OPTIONAL))}" for i, w in enumerate(MISSING_WRITTEN)]
    lines += [f"R{i},{w},1,1,false,2020-01-02,corporate" for i, w in enumerate(MISSING_WRITTEN)]
    report = _reasons_in_chinese(store, ruleset, write_lines(tmp_path, "c.csv", lines))
    missing = len(MISSING_WRITTEN)
    assert (report.loaded, report.quarantined) == (1 + missing, missing)
    loaded = _loaded_fields(store)
    assert all(loaded[f"M{i}"] == dict.fromkeys(OPTIONAL) for i in range(missing))
    assert loaded["C0"]["annual_income"] == 120000
    first = 3 + missing  # the line of R0
    assert quarantined(store) == [
        (line, "name", "必填，但为空") for line in range(first, first + missing)
    ]


@pytest.mark.every_store
def test_a_missing_value_word_in_json_lines_is_no_value_as_null_is(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A script's "NULL" or "None" string where a number, a date or true/false belongs;
    a real NaN (a number, not the word) is a failed computation and stays quarantined."""

    def customer(key: str, written: Any) -> str:
        fields = {"customer_id": key, "name": "张三", **dict.fromkeys(OPTIONAL, written)}
        return json.dumps(fields, ensure_ascii=False)

    lines = [customer(f"M{i}", w) for i, w in enumerate([*MISSING_WRITTEN, None])]
    lines += ['{"customer_id": "X1", "name": "王五", "annual_income": NaN}']
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (len(MISSING_WRITTEN) + 1, 1)
    assert list(_loaded_fields(store).values()) == [dict.fromkeys(OPTIONAL)] * (report.loaded)
    [(line, field, _why)] = quarantined(store)
    assert (line, field) == (len(lines), "annual_income")


@pytest.mark.every_store
def test_an_event_number_of_null_is_absent_or_required_but_empty(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    def event(key: str, kind: str, amount: str) -> str:
        return (
            f'{{"id": "{key}", "type": "{kind}", "customer_id": "C0",'
            f' "at": "2026-11-27T10:00+08:00", "product": "定期存款", "amount": "{amount}"}}'
        )

    lines = [event(f"S{i}", "sale", w) for i, w in enumerate(["NULL", "nan", "\\\\N"])]
    lines += [event("M1", "product_maturity", "None")]  # its amount is required
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (3, 1)
    stored = [json.loads(r["payload"]) for r in store.execute("SELECT payload FROM events")]
    assert stored == [{"product": "定期存款"}] * 3
    assert quarantined(store) == [(4, "amount", "required, but empty")]


def test_a_null_text_cell_of_a_workbook_is_no_value_in_every_type_of_field(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["客户编号", "客户名称", "年收入", "开户日期", "同意营销", "年龄"])
    sheet.append(["C1", "张三", "NULL", "NULL", "NULL", "NULL"])
    sheet.append(["C2", "NULL", 1000, None, True, 30])
    sheet.append(["C3", "王五", 2000, "null", "None", "nan"])
    book.save(tmp_path / "c.xlsx")
    report = _reasons_in_chinese(store, ruleset, tmp_path / "c.xlsx")
    assert (report.loaded, report.quarantined) == (2, 1)
    assert quarantined(store) == [(3, "name", "必填，但为空")]
    found = store.execute(
        "SELECT customer_id, annual_income, opened_on, consent_marketing, age FROM customers"
    )
    assert {r["customer_id"]: tuple(r.values())[1:] for r in found} == {
        "C1": (None, None, None, None),
        "C3": (2000, None, None, None),
    }


def test_an_excel_error_cell_is_quarantined_at_its_row_in_chinese(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["客户编号", "客户名称"], ["C1", "张三"], ["C2", "#N/A"], ["C3", "王五"]):
        sheet.append(row)
    sheet["B3"].data_type = "e"  # as Excel saves a VLOOKUP that found nothing
    book.save(tmp_path / "c.xlsx")
    with language("zh"):
        report = load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)
    assert (report.loaded, report.quarantined) == (2, 1)
    [(line, field, why)] = quarantined(store)
    assert (line, field) == (3, "name")
    assert why.startswith("'#N/A' 是 Excel")


# --- numbers past a double in what machines read ------------------------------------------


def _strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it, which JavaScript, jq and a database's JSON type read: no
    NaN or Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_explain_and_report_json_stay_json_when_a_measure_is_infinite(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from guanxi.cli.main import cli

    rows = [
        "customer_id,name,kind,balance,annual_contribution,expected_years,cost_to_serve",
        "E1,甲,personal,1e308,1e308,1e308,1e-320",  # lifetime value, value ratio: +infinity
        "E2,乙,personal,1.7e308,-1.7e308,5,10",  # lifetime value -infinity
        "E3,丙,personal,1000,100,3,10",
    ]
    write_lines(tmp_path, "c.csv", rows)
    store = ["--store", str(tmp_path / "guanxi.db")]

    def run(*args: str) -> str:
        now = [] if args[0] == "load" else ["--now", NOW.isoformat()]
        result = CliRunner().invoke(cli, [*args, *store, *now])
        assert result.exit_code == 0, result.output
        return result.stdout

    run("load", "customers", str(tmp_path / "c.csv"))
    run("classify")
    measures = {c: _strict_json(run("explain", c, "--json"))["measures"] for c in ("E1", "E2")}
    assert measures["E1"]["lifetime_value"] is None  # infinite: null, as JavaScript writes it
    assert measures["E2"]["lifetime_value"] is None
    ordinary = _strict_json(run("explain", "E3", "--json"))["measures"]
    assert isinstance(ordinary["lifetime_value"], float) and ordinary["lifetime_value"] > 0
    report = _strict_json(run("report", "--json"))
    assert report["latest_run"]["customers"] == 3


# --- numbers where text belongs: phones and ids a program or Excel wrote as numbers ------


@pytest.mark.every_store
def test_a_phone_written_as_a_real_number_is_stored_as_its_digits(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """pandas makes a column of phones with one missing a column of reals (13800000000.0);
    sent as it stands, a gateway that keeps the digits would text 138000000000."""
    path = tmp_path / "c.parquet"
    table = {
        "customer_id": ["C1", "C2", "C3"],
        "name": ["张三", "李四", "王五"],
        "phone": [13800000000.0, None, 13900000001.0],
        "rm_id": [1.0, 2.0, None],
    }
    pq.write_table(pa.table(table), path)
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    found = store.execute("SELECT customer_id, phone, rm_id FROM customers ORDER BY customer_id")
    assert [(r["phone"], r["rm_id"]) for r in found] == [
        ("13800000000", "1"),
        (None, "2"),
        ("13900000001", None),
    ]


def test_a_flag_of_1_or_0_in_a_column_of_reals_is_true_or_false(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """pandas makes a 1/0 column with one gap a column of reals (1.0, 0.0), in Parquet and in
    its JSON Lines alike: each is the flag it stands for, and 0.5 is no flag."""
    table = {
        "customer_id": ["C1", "C2", "C3", "C4"],
        "name": ["张三", "李四", "王五", "赵六"],
        "consent_sms": [1.0, None, 0.0, 0.5],
        "do_not_contact": [0.0, 0.0, None, 0.0],
    }
    pq.write_table(pa.table(table), tmp_path / "c.parquet")
    lines = ['{"customer_id": "C5", "name": "钱七", "consent_sms": 1.0, "do_not_contact": 0.0}']
    for path in (tmp_path / "c.parquet", write_lines(tmp_path, "c.jsonl", lines)):
        load_customers(store, ruleset, path, NOW)
    assert [(line, field) for line, field, _ in quarantined(store)] == [(4, "consent_sms")]
    found = store.execute("SELECT * FROM customers ORDER BY customer_id")
    assert [(r["customer_id"], r["consent_sms"], r["do_not_contact"]) for r in found] == [
        ("C1", 1, 0),
        ("C2", None, 0),
        ("C3", 0, None),
        ("C5", 1, 0),
    ]


# phone as a load before that stored it -> as m030 leaves it
STORED_PHONES = {
    "13800000000.0": "13800000000",
    "861380000000000.0": "861380000000000",  # 15 digits: a real holds them exactly
    "13800000000": "13800000000",
    "1380000000000000.0": "1380000000000000.0",  # 16: its last digits may be another's
    "13800000000.00": "13800000000.00",
    "+8613800000000.0": "+8613800000000.0",
    "138 0000 0000.0": "138 0000 0000.0",
    ".0": ".0",
    "１３８００００００００.0": "１３８００００００００.0",
}


@pytest.mark.every_store
def test_m030_makes_the_phones_earlier_loads_stored_from_reals_their_digits(
    store: Store, ruleset: RuleSet
) -> None:
    """A customer loaded before phones from real numbers were stored as digits keeps
    "13800000000.0" until loaded again: the migration repairs it in place. Only a phone
    field, only digits and ".0": a name or an e-mail of the same form stays."""
    store.upsert_customers(
        [
            {"customer_id": f"C{i}", "name": "100.0", "phone": phone, "email": "12345.0"}
            for i, phone in enumerate(STORED_PHONES)
        ]
    )
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm030_phones_from_reals'")
    assert store.migrate() == ["m030_phones_from_reals"]
    found = store.execute("SELECT customer_id, name, phone, email FROM customers")
    by_id = {r["customer_id"]: r for r in found}
    repaired = [by_id[f"C{i}"]["phone"] for i in range(len(STORED_PHONES))]
    assert repaired == list(STORED_PHONES.values())
    assert {(r["name"], r["email"]) for r in found} == {("100.0", "12345.0")}


@pytest.mark.every_store
def test_a_phone_pandas_wrote_to_a_csv_as_a_real_is_stored_as_its_digits(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """pandas writes a column of reals to a CSV as 13800000000.0: in a field a channel sends
    to (phone, email) that is the number's digits, as when the real itself is given; in
    other text, and past 15 digits (no longer exact), it stays as written."""
    lines = [
        "customer_id,name,phone,email,branch",
        "C1,100.0,13800000000.0,12345.0,8.0",
        "C2,张三, 13900000001.0 ,a@b.cn,长沙支行",
        "C3,李四,1380000000000000.0,,",
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    found = store.execute("SELECT customer_id, name, phone, email, branch FROM customers")
    assert sorted(tuple(r.values()) for r in found) == [
        ("C1", "100.0", "13800000000", "12345", "8"),  # a branch is an id: 8.0 is branch 8
        ("C2", "张三", "13900000001", "a@b.cn", "长沙支行"),
        ("C3", "李四", "1380000000000000.0", None, None),
    ]


@pytest.mark.every_store
def test_an_id_a_float_export_wrote_as_123_0_is_the_customer_123_in_every_file(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """One export wrote its column of ids as reals (a pandas column with a gap): `123.0` in a
    CSV file is the customer `123` another file, an Excel number cell or a JSON number names;
    so is a manager id, and the customer of an event."""
    lines = ["customer_id,name,rm_id", "123.0,张三,7.0", "0.0,李四,", "123.5,王五,"]
    load_customers(store, ruleset, write_lines(tmp_path, "a.csv", lines), NOW)
    load_customers(
        store, ruleset, write_lines(tmp_path, "b.csv", ["customer_id,name", "123,张三"]), NOW
    )
    json_line = json.dumps({"customer_id": 123.0, "name": "张三"}, ensure_ascii=False)
    load_customers(store, ruleset, write_lines(tmp_path, "c.jsonl", [json_line]), NOW)
    found = store.execute("SELECT customer_id, rm_id FROM customers ORDER BY customer_id")
    assert [tuple(r.values()) for r in found] == [("0", None), ("123", "7"), ("123.5", None)]
    events = ["id,type,customer_id,at", "E1.0,sale,123.0,2026-11-02 10:00"]
    load_events(store, ruleset, write_lines(tmp_path, "e.csv", events), NOW)
    [event] = store.execute("SELECT id, customer_id FROM events")
    assert (event["id"], event["customer_id"]) == ("E1.0", "123")


@pytest.mark.every_store
def test_a_customer_an_earlier_version_stored_as_123_0_stays_one_customer(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A store upgraded from a version that kept a CSV cell's `123.0` as written: the stored
    customer `123.0` is the one a later file names, as `123.0` or `123` (a second customer
    would get every message twice); where `123` is stored too, each keeps its own rows."""
    store.prepare(ruleset.schema)
    store.upsert_customers(
        [{"customer_id": "123.0", "name": "张三"}, {"customer_id": "7.0", "name": "李四"}]
    )
    store.upsert_customers([{"customer_id": "7", "name": "李四"}])
    lines = ["customer_id,name,rm_id", "123.0,张三,R1", "7.0,李四,R3"]
    load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    found = store.execute("SELECT customer_id, rm_id FROM customers ORDER BY customer_id")
    assert [tuple(r.values()) for r in found] == [("123.0", "R1"), ("7", "R3"), ("7.0", None)]
    lines = ["customer_id,name,rm_id", "123,张三,R2"]
    load_customers(store, ruleset, write_lines(tmp_path, "d.csv", lines), NOW)
    found = store.execute("SELECT customer_id, rm_id FROM customers ORDER BY customer_id")
    assert [tuple(r.values()) for r in found] == [("123.0", "R2"), ("7", "R3"), ("7.0", None)]
    events = ["id,type,customer_id,at", "E1,sale,123,2026-11-02 10:00"]
    load_events(store, ruleset, write_lines(tmp_path, "e.csv", events), NOW)
    [event] = store.execute("SELECT customer_id FROM events")
    assert event["customer_id"] == "123.0"


@pytest.mark.every_store
def test_an_id_of_more_digits_than_excel_keeps_is_quarantined_not_changed(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """An 18-digit id typed into a number cell: Excel keeps 15 digits, and the file holds
    1.10101199003078E+17; read as a number it would be another customer's id."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    rows = [
        ["客户编号", "客户名称", "手机号"],
        [110101199003077777.0, "身份证号客户", "13800000000"],
        ["110101199003077777", "写成文字的客户", "13800000001"],
        [123456789012345.0, "十五位客户", "13800000002"],
        ["C4", "长号码客户", 1.2345678901234567e19],
    ]
    for row in rows:
        sheet.append(row)
    book.save(tmp_path / "c.xlsx")
    with language("zh"):
        report = load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)
    assert (report.loaded, report.quarantined) == (2, 2)
    assert [(line, field) for line, field, _ in quarantined(store)] == [
        (2, "customer_id"),
        (5, "phone"),
    ]
    assert all("文本" in why for _, _, why in quarantined(store))
    ids = [r["customer_id"] for r in store.execute("SELECT customer_id FROM customers")]
    assert sorted(ids) == ["110101199003077777", "123456789012345"]


def test_a_number_cell_written_without_a_decimal_point_is_still_what_excel_keeps(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A workbook may write a number cell as plain digits (6222021234567891, no point or
    exponent: other spreadsheet programs and scripts do); Excel holds it as a real all the
    same and keeps 15 digits, so a 16-digit id there is quarantined as the real's is."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    rows = [
        ["客户编号", "客户名称", "手机号", "同意短信", "月均交易笔数"],
        [6222021234567891, "卡号客户", "13800000000", 1, 5],
        [123456789012345, "十五位客户", 13800000002, 0, 10**16],
        ["C3", "长号码客户", 13800000000123456, 1, 5],
        ["C4", "巨数客户", "13800000004", 1, 7777777],  # then 10**400, which openpyxl cannot write
    ]
    for row in rows:
        sheet.append(row)
    book.save(tmp_path / "c.xlsx")
    _rewrite_sheet(tmp_path / "c.xlsx", "<v>7777777</v>", f"<v>{10**400}</v>")
    report = load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)
    assert (report.loaded, report.quarantined) == (1, 3)
    assert [(line, field) for line, field, _ in quarantined(store)] == [
        (2, "customer_id"),
        (4, "phone"),
        (5, "monthly_txn_count"),
    ]
    [row] = store.execute("SELECT * FROM customers")
    assert (row["customer_id"], row["phone"], row["consent_sms"]) == (
        "123456789012345",
        "13800000002",
        0,
    )
    assert row["monthly_txn_count"] == 10**16


@pytest.mark.parametrize(
    "cell",
    ["<v>abc</v>", "<v>1" + "0" * 5000 + "</v>", "<v>1</v></c></row><<"],
    ids=["not a number", "past the digits Python reads", "broken XML"],
)
def test_a_damaged_sheet_is_refused_whole_not_a_crash(
    store: Store, ruleset: RuleSet, tmp_path: Path, cell: str
) -> None:
    """openpyxl reads a sheet as it goes, so a damaged one opens and breaks at its row."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["客户编号", "客户名称", "存款余额"], ["C1", "张三", 7777777], ["C2", "李四", 5]]:
        sheet.append(row)
    book.save(tmp_path / "c.xlsx")
    _rewrite_sheet(tmp_path / "c.xlsx", "<v>7777777</v>", cell)
    with pytest.raises(DataError, match="not a readable Excel workbook"):
        load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)
    assert store.execute("SELECT customer_id FROM customers") == []


def _rewrite_sheet(path: Path, old: str, new: str) -> None:
    with zipfile.ZipFile(path) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(old.encode(), new.encode())
    with zipfile.ZipFile(path, "w") as book:
        for name, data in parts.items():
            book.writestr(name, data)


@pytest.mark.every_store
def test_a_bank_exports_dates_and_flags_load_as_written_elsewhere(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A core banking system writes a day as 20261103 (text, or a number in a workbook or
    Parquet); a pandas column of flags with a gap holds reals (1.0, NaN); PostgreSQL exports
    booleans as t/f."""
    path = tmp_path / "c.parquet"
    table = {
        "customer_id": ["C1", "C2", "C3", "C4"],
        "name": ["张三", "李四", "王五", "赵六"],
        "opened_on": [20200102, 20261103, 46000, 20200230],
        "consent_marketing": [1.0, None, 0.0, 1.0],
    }
    pq.write_table(pa.table(table), path)
    report = load_customers(store, ruleset, path, NOW)
    lines = ["customer_id,name,opened_on,consent_marketing,consent_sms", "C5,孙七,20200102,t,f"]
    report_csv = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined, report_csv.loaded) == (2, 2, 1)
    found = store.execute(
        "SELECT customer_id, opened_on, consent_marketing, consent_sms FROM customers"
    )
    assert sorted((r["customer_id"], r["opened_on"], r["consent_marketing"]) for r in found) == [
        ("C1", "2020-01-02", True),
        ("C2", "2026-11-03", None),
        ("C5", "2020-01-02", True),
    ]
    assert [r["consent_sms"] for r in found if r["customer_id"] == "C5"] == [False]
    assert [(line, field) for line, field, _ in quarantined(store)] == [
        (3, "opened_on"),  # 46000: Excel's day number, told how to format the column
        (4, "opened_on"),  # no 30 February
    ]


@pytest.mark.every_store
def test_event_times_as_java_and_sql_server_write_them_are_read(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Java writes an offset without its colon (+0800) and an Instant to the nanosecond;
    SQL Server's datetime2 has seven digits of a second: each is its instant, to the
    microsecond. A date field takes SQL Server's midnight (.0000000) as the day."""

    def event(key: str, at: str) -> str:
        return (
            f'{{"id": "{key}", "type": "sale", "customer_id": "C0", "at": "{at}",'
            ' "product": "定期存款", "amount": 100}'
        )

    written = [
        "2026-11-27T10:00:00.000+0800",
        "2026-11-27T02:00:00.123456789Z",
        "2026-11-27 10:00:00.1234567",
        "2026/11/27 10:00:00+08",
        "2026-11-27T10:00:00+8",  # not an offset: quarantined
    ]
    lines = [event(f"E{i}", at) for i, at in enumerate(written)]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (4, 1)
    found = store.execute("SELECT id, at FROM events ORDER BY id")
    assert [r["at"] for r in found] == [
        "2026-11-27T02:00:00+00:00",
        "2026-11-27T02:00:00.123456+00:00",
        "2026-11-27T02:00:00.123456+00:00",
        "2026-11-27T02:00:00+00:00",
    ]
    lines = ["customer_id,name,opened_on", "C1,张三,2026-11-03 00:00:00.0000000"]
    assert load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW).loaded == 1


@pytest.mark.every_store
def test_event_times_typed_in_full_width_are_read_as_their_half_width_twins(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A Chinese input method left in full-width mode types digits, dashes, colons and the
    space wide: each time is the instant its half-width twin is; not a real day is refused."""
    written = [
        "２０２６－１１－２７　１０：００",
        "２０２６／１１／２７Ｔ１０：００：００＋０８：００",
        "２０２６年１１月２７日　１０：００：００",
        "２０２６－１１－３１　１０：００",
    ]
    lines = [
        f'{{"id": "E{i}", "type": "sale", "customer_id": "C0", "at": "{at}",'
        ' "product": "定期存款", "amount": 100}'
        for i, at in enumerate(written)
    ]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (3, 1)
    found = store.execute("SELECT id, at FROM events ORDER BY id")
    assert [r["at"] for r in found] == ["2026-11-27T02:00:00+00:00"] * 3


@pytest.mark.every_store
def test_a_csv_cell_written_for_excel_as_a_text_formula_is_its_text(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Exports write ="13800000000" so that Excel keeps the digits as typed; before, the id
    `="C1"` was another customer than C1 and the phone no number at all."""
    lines = [
        "customer_id,name,phone,branch,balance,opened_on",
        '="C1",张三,="13800000000",="00123",="1000",="2020-01-02"',
        '"=""C2""",李四,13800000001,"=""说""""明""",1000,2020-01-02',  # the whole cell quoted
        'C3,"=HYPERLINK(""http://x"")",="",="",,',
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    found = store.execute(
        "SELECT customer_id, name, phone, branch, balance, opened_on FROM customers"
    )
    assert sorted(tuple(r.values()) for r in found) == [
        ("C1", "张三", "13800000000", "00123", 1000, "2020-01-02"),
        ("C2", "李四", "13800000001", '说"明', 1000, "2020-01-02"),
        ("C3", '=HYPERLINK("http://x")', None, None, None, None),
    ]


# --- what a store loaded before these were refused holds --------------------------------


def _rendered(body: str, customer: dict[str, Any], payload: str = "{}") -> str:
    from guanxi.adapters.registry import load_adapter

    @dataclass(frozen=True)
    class Text:
        body: str
        subject: str | None = None

    row = {"key": "k", "customer_id": "C1", "step_id": "s", "kind": "message",
           "channel": "sms", "template": "t", "due_at": "2026-12-01T09:00:00+00:00",
           "payload": payload}  # fmt: skip
    return load_adapter("console").render(row, customer, {"t": Text(body)}).body


@pytest.mark.parametrize("stored", ["nan", "None", "NULL", "#N/A", " null ", "ＮＵＬＬ"])
def test_a_stored_missing_value_word_is_no_value_to_a_template(stored: str) -> None:
    """Written as it is, it fails the message naming the field; `default` replaces it."""
    from guanxi.adapters.base import RenderError

    customer = {"customer_id": "C1", "name": stored, "phone": "13800000000"}
    assert _rendered("{{ name | default('尊敬的客户') }}您好", customer) == "尊敬的客户您好"
    with pytest.raises(RenderError, match="no value in the field 'name'"):
        _rendered("{{ name }}您好", customer)
    event = json.dumps({"product": stored})
    ordinary = {**customer, "name": "张三"}
    body = "您的{{ event.product | default('产品') }}即将到期"
    assert _rendered(body, ordinary, event) == "您的产品即将到期"
    with pytest.raises(RenderError, match="no field 'product'"):
        _rendered("您的{{ event.product }}即将到期", ordinary, event)


# --- ids holding the follow-up key's separator ---------------------------------------------


@pytest.mark.every_store
def test_ids_with_colons_never_share_a_follow_up(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A follow-up's key is step:customer:occurrence. Customer `A` with event `B:E1` and
    customer `A:B` with event `E1` are two notices, not one key planned once."""
    from guanxi.engine.classify import classify
    from guanxi.engine.plan.events import plan_new_events

    header = "customer_id,name,kind,balance,products_held,last_txn_date,consent_marketing,"
    header += "consent_sms,preferred_channel,phone"
    lines = [header]
    lines += [f"{key},客户,personal,600000,3,2026-11-20,true,true,sms,1380000000{i}"
              for i, key in enumerate(["A", "A:B"])]  # fmt: skip
    load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    classify(store, ruleset, NOW)
    events = [
        {"id": event, "type": "product_maturity", "customer_id": customer,
         "at": "2026-11-27T10:00:00+08:00", "product": "定期存款", "amount": 100}
        for customer, event in [("A", "B:E1"), ("A:B", "E1")]
    ]  # fmt: skip
    path = write_lines(tmp_path, "e.jsonl", [json.dumps(e) for e in events])
    load_events(store, ruleset, path, NOW)
    plan_new_events(store, ruleset, NOW)
    found = store.execute("SELECT customer_id, key FROM followups WHERE step_id LIKE '%maturity%'")
    per_customer = sorted(r["customer_id"] for r in found)
    assert per_customer == ["A", "A:B"]


@pytest.mark.every_store
def test_keys_planned_before_ids_were_escaped_are_upgraded_and_nothing_is_planned_twice(
    store: Store, ruleset: RuleSet
) -> None:
    """A store upgraded from before the escaping holds `step:A:B:2026-12` for customer `A:B`;
    the migration writes it `step:A%3AB:2026-12`, so planning December again plans nothing."""
    from guanxi.engine.plan.recurring import plan_recurring
    from tests.test_recurring import customer

    for customer_id in ("A:B", "50%", "erased:9f2c", "C1"):
        customer(store, ruleset, customer_id, "proactive", consent_marketing=True)
    december = (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    news = ["proactive_product_news"]
    assert plan_recurring(store, ruleset, *december, NOW, only=news).new == 4
    store.execute("UPDATE followups SET key = step_id || ':' || customer_id || ':' || occurrence")
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm029_escaped_followup_keys'")
    assert store.migrate() == ["m029_escaped_followup_keys"]
    keys = sorted(row["key"] for row in store.execute("SELECT key FROM followups"))
    assert keys == [
        "proactive_product_news:50%25:2026-12",
        "proactive_product_news:A%3AB:2026-12",
        "proactive_product_news:C1:2026-12",
        "proactive_product_news:erased:9f2c:2026-12",  # an erased customer's, as erasure left it
    ]
    store.execute("DELETE FROM customers WHERE customer_id LIKE 'erased:%'")  # as erasure does
    assert plan_recurring(store, ruleset, *december, NOW, only=news).new == 0


# --- dates written as numbers -----------------------------------------------------------


def test_a_date_cell_formatted_as_a_number_is_quarantined_with_the_excel_fix(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["客户编号", "客户名称", "开户日期"], ["C1", "张三", 46000], ["C2", "李四", None]):
        sheet.append(row)
    book.save(tmp_path / "c.xlsx")
    events = ['{"id": "E1", "type": "login", "customer_id": "C2", "at": 1764208800}']
    with language("zh"):
        customers = load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)
        load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", events), NOW)
    assert (customers.loaded, customers.quarantined) == (1, 1)
    [(event_line, at, event_why), (line, field, why)] = quarantined(store)
    assert (line, field, event_line, at) == (2, "opened_on", 1, "at")
    assert why.startswith("46000 是数字，不是日期") and "设为“日期”" in why
    assert event_why.startswith("1764208800 是数字，不是日期时间")


@pytest.mark.every_store
def test_a_database_export_s_midnight_after_a_date_is_the_date(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Databases export a DATE column as `2026-11-20 00:00:00` (SQL Server `.000`): the
    day, as an Excel cell holding that midnight is; with an offset, midnight in the project's
    zone (as a Parquet timestamp with a zone). Another time is not a date's."""
    written = ["2026-11-20 00:00:00", "2026/11/20 00:00", "2026-11-20T00:00:00.000",
               "2026-11-20 14:30:00", "2026-11-20 00:00:00+08:00"]  # fmt: skip
    lines = ["customer_id,name,last_txn_date"]
    lines += [f"C{i},客户,{text}" for i, text in enumerate(written)]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (4, 1)
    days = store.execute("SELECT customer_id, last_txn_date FROM customers ORDER BY customer_id")
    assert [(r["customer_id"], r["last_txn_date"]) for r in days] == [
        ("C0", "2026-11-20"),
        ("C1", "2026-11-20"),
        ("C2", "2026-11-20"),
        ("C4", "2026-11-20"),
    ]
    assert [(line, field) for line, field, _ in quarantined(store)] == [(5, "last_txn_date")]


def test_a_number_past_the_largest_is_called_too_large(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """1e309 is a number, only too large to hold; nan and inf are no numbers at all."""
    lines = ["customer_id,name,balance", "C1,张三,1e309", "C2,李四,-1.2e400", "C3,王五,ｉｎｆ"]
    load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    reasons = [why for _, _, why in quarantined(store)]
    assert [("too large" in why, "not a number" in why) for why in reasons] == [
        (True, False),
        (True, False),
        (False, True),
    ]
