"""Customer and event files as Chinese bank staff have them: columns headed by the schema's
labels, dates written 2026/11/03 or 2026年11月3日, allowed values by their labels (短信),
amounts with thousands separators and 元, and Excel workbooks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guanxi.engine.errors import DataError
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import FieldSpec
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
FORMS = "write it YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYY年M月D日 (year first)"

CANONICAL = [
    "customer_id,name,kind,opened_on,balance,age,preferred_channel,consent_sms,last_txn_date",
    "C1,张三,personal,2026-11-03,1234567.89,30,sms,true,2026-11-20",
    "C2,北京某公司,corporate,2019-01-05,1234,,app,false,2026-01-02",
    "C3,某市财政局,institutional,2020-12-31,0,,phone,true,",
]
# The same customers as a bank's export has them: labels for headers (one with Excel's
# byte-order mark, one with a full-width space, one by label_en in another letter case),
# dates in three forms, values by label, thousands separators, full-width digits and 元.
CHINESE = [
    "\ufeff客户编号,客户名称,客户类型,开户日期,存款余额, 年龄\u3000,偏好渠道,SMS Consent,"
    "最近交易日",
    '"C1",张三,个人客户,2026/11/03,"1,234,567.89",30,短信,是,2026年11月20日',
    'C2,北京某公司,公司客户,2019.1.5,"１,２３４元",,手机银行,否,2026-01-02',
    "C3,某市财政局,机构客户,2020年12月31日,0元,,电话,Y,",
]


def write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored(store: Store) -> list[dict[str, Any]]:
    rows = store.execute("SELECT * FROM customers ORDER BY customer_id")
    return [{k: v for k, v in row.items() if k != "_loaded_at"} for row in rows]


def quarantined(store: Store) -> list[tuple[int, str | None, str]]:
    sql = "SELECT row_number, field, reason FROM quarantine ORDER BY row_number, id"
    return [(r["row_number"], r["field"], r["reason"]) for r in store.execute(sql)]


def twin_rows(store: Store, ruleset: RuleSet, twin: Path) -> list[dict[str, Any]]:
    """What loading `twin` stores, in a store emptied of the customers loaded before."""
    report = load_customers(store, ruleset, twin, NOW)
    assert (report.loaded, report.quarantined, report.warnings) == (3, 0, [])
    return stored(store)


@pytest.mark.every_store
def test_chinese_headers_dates_labels_and_amounts_store_what_the_canonical_file_does(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    chinese = twin_rows(store, ruleset, write(tmp_path, "客户.csv", CHINESE))
    store.execute("DELETE FROM customers")
    canonical = twin_rows(store, ruleset, write(tmp_path, "customers.csv", CANONICAL))
    assert chinese == canonical
    assert [(r["kind"], r["preferred_channel"], r["opened_on"]) for r in chinese] == [
        ("personal", "sms", "2026-11-03"),
        ("corporate", "app", "2019-01-05"),
        ("institutional", "phone", "2020-12-31"),
    ]
    assert [r["balance"] for r in chinese] == [1234567.89, 1234.0, 0.0]


@pytest.mark.every_store
def test_an_ambiguous_date_is_quarantined_never_guessed(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "c.csv",
        [
            "客户编号,客户名称,开户日期",
            "C1,张三,03/11/2026",
            "C2,李四,2026/11/3",
            "C3,王五,11-03-2026",
        ],
    )
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 2)
    assert quarantined(store) == [
        (2, "opened_on", f"'03/11/2026' is not a date: {FORMS}"),
        (4, "opened_on", f"'11-03-2026' is not a date: {FORMS}"),
    ]


def test_a_value_neither_name_nor_label_lists_both(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", ["客户编号,客户名称,偏好渠道", "C1,张三,微信"])
    load_customers(store, ruleset, path, NOW)
    assert quarantined(store) == [
        (
            2,
            "preferred_channel",
            "'微信' is not one of: app (手机银行), counter (柜台), email (电子邮件),"
            " online_banking (网上银行), phone (电话), self_service (自助银行), sms (短信)",
        )
    ]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("客户编号,customer_id,客户名称", "columns '客户编号' and 'customer_id' both mean"),
        ("Customer ID,客户名称,Name", "columns '客户名称' and 'Name' both mean the field 'name'"),
    ],
)
def test_two_columns_meaning_one_field_stop_the_load(
    store: Store, ruleset: RuleSet, tmp_path: Path, header: str, named: str
) -> None:
    path = write(tmp_path, "c.csv", [header, "C1,C1,张三"])
    with pytest.raises(DataError, match=named):
        load_customers(store, ruleset, path, NOW)
    assert stored(store) == []


def test_an_unknown_chinese_column_is_ignored_with_a_warning(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", ["客户编号,客户名称,备注", "C1,张三,老客户"])
    report = load_customers(store, ruleset, path, NOW)
    assert report.loaded == 1
    assert report.warnings == ["ignored column '备注': the schema does not declare it"]


def test_a_missing_key_column_is_named_by_the_field(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", ["客户名称", "张三"])
    with pytest.raises(DataError, match="no column 'customer_id', which every row needs"):
        load_customers(store, ruleset, path, NOW)


def test_json_lines_keys_may_be_labels(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {"客户编号": "C1", "客户名称": "张三", "偏好渠道": "电子邮件"}, ensure_ascii=False
        ),
        json.dumps({"客户编号": "C2", "customer_id": "C2", "客户名称": "李四"}, ensure_ascii=False),
    ]
    report = load_customers(store, ruleset, write(tmp_path, "c.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert stored(store)[0]["preferred_channel"] == "email"
    assert quarantined(store) == [
        (
            2,
            None,
            "keys '客户编号' and 'customer_id' both mean the field 'customer_id'; keep one of them",
        )
    ]


def test_json_lines_event_keys_are_read_alike_on_every_line_that_gives_them(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The lines of a file mostly give the same keys: each line is still read on its own,
    a bad set of keys quarantining every line that gives it, with that line's number."""
    good = {
        "事件类型": "销售",
        "客户编号": "C1",
        "发生时间": "2026-11-03 10:30",
    }
    twice = {**good, "customer_id": "C1"}  # 客户编号 and customer_id: the same field
    lines = [
        json.dumps({**keys, "事件编号": f"E{n}"}, ensure_ascii=False)
        for n, keys in enumerate([good, twice, good, twice, {**good, "金额": 5}], start=1)
    ]
    report = load_events(store, ruleset, write(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (3, 2)
    rows = store.execute("SELECT id, payload FROM events ORDER BY id")
    assert [r["id"] for r in rows] == ["E1", "E3", "E5"]
    why = "keys '客户编号' and 'customer_id' both mean the field 'customer_id'; keep one of them"
    assert quarantined(store) == [(2, None, why), (4, None, why)]


def test_parquet_columns_may_be_labels(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    table = pa.table({"客户编号": ["C1"], "客户名称": ["张三"], "存款余额": [12.5]})
    pq.write_table(table, tmp_path / "c.parquet")
    assert load_customers(store, ruleset, tmp_path / "c.parquet", NOW).loaded == 1
    assert stored(store)[0]["balance"] == 12.5


def test_events_by_chinese_headers_type_labels_and_payload_labels(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "events.csv",
        [
            "事件编号,事件类型,客户编号,发生时间,产品,金额",
            'E1,销售,C1,2026年11月3日 10:30,大额存单,"200,000元"',
            "E2,sale,C1,2026/11/03 11:00,基金,5",
        ],
    )
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined, report.warnings) == (2, 0, [])
    rows = store.execute("SELECT id, type, at, payload FROM events ORDER BY id")
    assert [(r["type"], r["at"]) for r in rows] == [
        ("sale", "2026-11-03T02:30:00+00:00"),
        ("sale", "2026-11-03T03:00:00+00:00"),
    ]
    payload = rows[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert payload == {"product": "大额存单", "amount": 200000.0}


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@pytest.mark.every_store
def test_an_excel_customer_list_stores_what_its_csv_twin_does(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    workbook = write_xlsx(
        tmp_path / "客户.xlsx",
        [
            ["客户编号", "客户名称", "客户类型", "开户日期", "存款余额", "年龄", "偏好渠道",
             "同意短信", "最近交易日"],
            ["C1", "张三", "个人客户", dt.datetime(2026, 11, 3), 1234567.89, 30, "短信", True,
             dt.date(2026, 11, 20)],
            ["C2", "北京某公司", "公司客户", "2019/1/5", 1234, None, "手机银行", "否",
             "2026-01-02"],
            [],  # an empty row is skipped
            ["C3", "某市财政局", "institutional", dt.date(2020, 12, 31), 0, None, "phone", 1],
        ],
    )  # fmt: skip
    from_excel = twin_rows(store, ruleset, workbook)
    store.execute("DELETE FROM customers")
    assert from_excel == twin_rows(store, ruleset, write(tmp_path, "c.csv", CANONICAL))


def test_a_bad_excel_row_is_quarantined_by_its_row_number(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = [["客户编号", "客户名称", "开户日期"], [], ["C1", "张三", "03/11/2026"]]
    load_customers(store, ruleset, write_xlsx(tmp_path / "c.xlsx", rows), NOW)
    assert quarantined(store) == [(3, "opened_on", f"'03/11/2026' is not a date: {FORMS}")]


def test_a_file_that_is_no_workbook_is_refused(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    (tmp_path / "c.xlsx").write_text("客户编号\nC1\n", encoding="utf-8")
    with pytest.raises(DataError, match="not a readable Excel workbook"):
        load_customers(store, ruleset, tmp_path / "c.xlsx", NOW)


def test_values_may_be_a_list_or_labelled_and_iterate_as_names() -> None:
    listed = FieldSpec(type="string", label="渠道", values=["sms", "app"])  # type: ignore[arg-type]
    labelled = FieldSpec(type="string", label="渠道", values={"sms": "短信", "app": "手机银行"})
    assert list(listed.values or ()) == list(labelled.values or ()) == ["sms", "app"]
    assert listed.accepted_values() == {"sms": "sms", "app": "app"}
    assert labelled.accepted_values() == {
        "短信": "sms",
        "手机银行": "app",
        "sms": "sms",
        "app": "app",
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sms": "短信", "text": "短信"}, "'text' and 'sms' cannot both be written '短信'"),
        ({"sms": "app", "app": "手机银行"}, "'sms' and 'app' cannot both be written 'app'"),
        ({"sms": " "}, "the value 'sms' has an empty label"),
    ],
)
def test_labels_that_could_mean_two_values_are_refused(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FieldSpec(type="string", label="渠道", values=values)
