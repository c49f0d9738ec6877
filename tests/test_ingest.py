"""Loading customers and events from files: validation, quarantine, idempotence, the CLI."""

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
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import language
from guanxi.engine.ingest import LoadReport, load_customers, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
HEADER = "customer_id,name,kind,balance,age,opened_on,consent_sms"


def write(tmp_path: Path, name: str, *lines: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def customers(store: Store, ruleset: RuleSet, path: Path) -> LoadReport:
    return load_customers(store, ruleset, path, NOW)


def events(store: Store, ruleset: RuleSet, path: Path) -> LoadReport:
    return load_events(store, ruleset, path, NOW)


def stored(store: Store, key: str) -> dict[str, Any]:
    rows = store.execute("SELECT * FROM customers WHERE customer_id = :key", {"key": key})
    return rows[0] if rows else {}


def quarantined(store: Store) -> list[tuple[int, str | None, str]]:
    sql = "SELECT row_number, field, reason FROM quarantine ORDER BY row_number, id"
    return [(r["row_number"], r["field"], r["reason"]) for r in store.execute(sql)]


def counts(report: LoadReport) -> tuple[int, int, int, int]:
    return report.inserted, report.updated, report.unchanged, report.quarantined


# --- customers -------------------------------------------------------------------------------


@pytest.mark.every_store
def test_loading_the_same_file_twice_changes_nothing(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", HEADER, "C1,张三,personal,1000.50,30,2020-01-05,true",
                 "C2,李四,corporate,,,,", "C3,王五,,0,,,否")  # fmt: skip
    assert counts(customers(store, ruleset, path)) == (3, 0, 0, 0)
    again = customers(store, ruleset, path)
    assert counts(again) == (0, 0, 3, 0)
    assert (again.read, again.loaded) == (3, 3)
    assert len(store.execute("SELECT * FROM customers")) == 3


@pytest.mark.every_store
def test_a_changed_value_is_one_update(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    customers(store, ruleset, write(tmp_path, "a.csv", HEADER, "C1,张三,,1,,,", "C2,李四,,2,,,"))
    path = write(tmp_path, "b.csv", HEADER, "C1,张三,,1,,,", "C2,李四,,3,,,")
    assert counts(customers(store, ruleset, path)) == (0, 1, 1, 0)
    assert stored(store, "C2")["balance"] == 3.0


@pytest.mark.every_store
def test_each_bad_row_is_quarantined_with_its_line_and_reason(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "c.csv",
        HEADER,
        "C1,张三,personal,100,30,2020-01-05,true",  # line 2: good
        'C2,"李\n四",personal,12,3x4,,,',  # lines 3-4: a line break inside a quoted cell
        'C3,王五,personal,"12,3x4",,,',  # line 5
        "C4,赵六,vip,,,,",  # line 6
        "C5,,personal,,,,",  # line 7
        "C6,钱七,personal,,3.5,2023-02-30,maybe",  # line 8: three problems
        "C7,孙八,personal,,,05/01/2023,",  # line 9: day or month first? never guessed
        'C8,周九,personal,"1,234.50",,,是',  # line 10: good, thousands separator
    )
    report = customers(store, ruleset, path)
    assert counts(report) == (2, 0, 0, 6)
    assert (report.read, report.loaded) == (8, 2)
    assert quarantined(store) == [
        (3, None, "has 8 cells, but the header has 7 columns"),
        (5, "balance", "'12,3x4' is not a number"),
        (
            6,
            "kind",
            "'vip' is not one of:"
            " corporate (公司客户), institutional (机构客户), personal (个人客户)",
        ),
        (7, "name", "required, but empty"),
        (8, "opened_on", "'2023-02-30' is not a real calendar date"),
        (8, "age", "'3.5' is not a whole number"),
        (
            8,
            "consent_sms",
            "'maybe' is not true or false (write true/false, yes/no, y/n, 1/0 or 是/否)",
        ),
        (
            9,
            "opened_on",
            "'05/01/2023' is not a date:"
            " write it YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYY年M月D日 (year first)",
        ),
    ]
    assert stored(store, "C8")["balance"] == 1234.5
    assert stored(store, "C8")["consent_sms"] == 1
    assert stored(store, "C3") == {}


def test_quarantine_records_name_the_file_and_the_value(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "客户.csv", HEADER, "C1,张三,personal,abc,,,")
    customers(store, ruleset, path)
    (row,) = store.execute("SELECT * FROM quarantine")
    assert (row["kind"], row["source"], row["value"]) == ("customers", str(path), "abc")
    assert row["at"] == "2026-11-28T02:00:00+00:00"


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("balance", "1,234,567.50", 1234567.5),
        ("annual_contribution", "-12.5", -12.5),
        ("balance", "1e3", 1000.0),
        ("balance", " 7 ", 7.0),
        ("age", "42", 42),
        ("age", "42.0", 42),
        ("monthly_txn_count", "1,200", 1200),
        ("consent_sms", "YES", 1),
        ("consent_sms", "0", 0),
        ("consent_sms", "否", 0),
        ("consent_sms", "√", 1),  # a ticked box
        ("consent_sms", " × ", 0),
        ("opened_on", "2024-02-29", "2024-02-29"),
        ("opened_on", "20240105", "2024-01-05"),  # as core banking systems export a day
        ("opened_on", "2026/1/5 0:00", "2026-01-05"),  # Excel's midnight of a date cell
        ("annual_contribution", "(1,234.00)", -1234.0),  # the accounting format's negative
        ("annual_contribution", "(¥1,234.00)", -1234.0),
        ("annual_contribution", "（１,２３４.５０）", -1234.5),  # typed in full width
        ("monthly_txn_count", " (0) ", 0),
    ],
)
def test_accepted_spellings(
    store: Store, ruleset: RuleSet, tmp_path: Path, field: str, text: str, value: object
) -> None:
    path = write(tmp_path, "c.csv", f"customer_id,name,{field}", f'C1,张三,"{text}"')
    assert customers(store, ruleset, path).loaded == 1
    assert stored(store, "C1")[field] == value


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("balance", "1,23", "'1,23' is not a number"),
        ("balance", "1,5", "'1,5' is not a number"),
        ("balance", "-nan", "'-nan' is not a number"),  # nan alone is pandas' no value
        ("balance", "inf", "'inf' is not a number"),
        ("balance", "1_000", "'1_000' is not a number"),
        ("age", "forty", "'forty' is not a whole number"),
        (
            "balance",
            "(1,234.00)",
            "'(1,234.00)' is -1234: an amount in parentheses is negative, as the accounting"
            " format writes it; -1234 is below 0, the lowest value allowed",
        ),
        ("annual_contribution", "(-5)", "'(-5)' is not a number"),
        ("annual_contribution", "()", "'()' is not a number"),
        (
            "balance",
            "5%",
            "'5%' is a percentage: write the number without %, as 0.05 for 5% where the field"
            " holds a share (as the rules compare contribution_pct >= 0.90)",
        ),
        ("age", "99999999999999999999", "99999999999999999999 is too large"),
        ("opened_on", "2024-02-30", "'2024-02-30' is not a real calendar date"),
        (
            "opened_on",
            "05/01/2024",
            "'05/01/2024' is not a date:"
            " write it YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYY年M月D日 (year first)",
        ),
        (
            "kind",
            "Personal",
            "'Personal' is not one of:"
            " corporate (公司客户), institutional (机构客户), personal (个人客户)",
        ),
    ],
)
def test_rejected_spellings(
    store: Store, ruleset: RuleSet, tmp_path: Path, field: str, text: str, reason: str
) -> None:
    path = write(tmp_path, "c.csv", f"customer_id,name,{field}", f'C1,张三,"{text}"')
    assert customers(store, ruleset, path).quarantined == 1
    assert quarantined(store) == [(2, field, reason)]


@pytest.mark.every_store
def test_partial_records_leave_what_the_file_does_not_give(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customers(store, ruleset, write(tmp_path, "full.csv", HEADER, "C1,张三,personal,500,30,,"))
    partial = write(tmp_path, "names.csv", "customer_id,name", "C1,张三丰", "C2,李四")
    assert counts(customers(store, ruleset, partial)) == (1, 1, 0, 0)
    row = stored(store, "C1")
    assert (row["name"], row["kind"], row["balance"], row["age"]) == ("张三丰", "personal", 500, 30)
    assert stored(store, "C2")["balance"] is None
    assert counts(customers(store, ruleset, partial)) == (0, 0, 2, 0)


@pytest.mark.every_store
def test_an_empty_cell_clears_the_stored_value(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customers(store, ruleset, write(tmp_path, "a.csv", "customer_id,name,balance", "C1,张三,5"))
    cleared = write(tmp_path, "b.csv", "customer_id,name,balance", "C1,张三,")
    assert counts(customers(store, ruleset, cleared)) == (0, 1, 0, 0)
    assert stored(store, "C1")["balance"] is None


@pytest.mark.every_store
def test_chinese_round_trips_from_excel_csv_with_bom(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "customer_id,name,branch,occupation",
                 "C1,欧阳娜娜,长沙岳麓支行,个体工商户", encoding="utf-8-sig")  # fmt: skip
    assert customers(store, ruleset, path).loaded == 1
    row = stored(store, "C1")
    assert (row["name"], row["branch"], row["occupation"]) == (
        "欧阳娜娜",
        "长沙岳麓支行",
        "个体工商户",
    )


def test_a_repeated_key_is_quarantined_and_the_first_row_kept(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "customer_id,name", "C1,张三", "C2,李四", "C1,张三二")
    assert counts(customers(store, ruleset, path)) == (2, 0, 0, 1)
    assert quarantined(store) == [
        (4, "customer_id", "duplicate customer_id 'C1': already on line 2")
    ]
    assert stored(store, "C1")["name"] == "张三"
    assert counts(customers(store, ruleset, path)) == (0, 0, 2, 1)


def test_unknown_columns_are_ignored_with_one_warning_each(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "customer_id,name,balanse,notes", "C1,张三,5,x", "C2,李四,6,y")
    report = customers(store, ruleset, path)
    assert report.loaded == 2
    assert report.warnings == [
        "ignored column 'balanse': the schema does not declare it (did you mean 'balance'?)",
        "ignored column 'notes': the schema does not declare it",
    ]


@pytest.mark.every_store
def test_json_lines_customers(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.jsonl",
        json.dumps({"customer_id": "C1", "name": "张三", "balance": 10, "consent_sms": True}),
        "",
        json.dumps({"customer_id": "C2", "name": "李四", "age": "x", "colour": "red"}),
        json.dumps({"name": "无编号"}),
        "[1, 2]",
    )
    report = customers(store, ruleset, path)
    assert counts(report) == (1, 0, 0, 3)
    assert stored(store, "C1")["balance"] == 10.0
    assert quarantined(store) == [
        (3, "age", "'x' is not a whole number"),
        (4, "customer_id", "required, but missing"),
        (5, None, "not a JSON object"),
    ]
    assert report.warnings == ["ignored field 'colour': the schema does not declare it"]


@pytest.mark.every_store
def test_json_null_clears_and_a_missing_key_leaves_alone(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    full = {"customer_id": "C1", "name": "张三", "balance": 10, "age": 30}
    customers(store, ruleset, write(tmp_path, "a.jsonl", json.dumps(full)))
    change = {"customer_id": "C1", "name": "张三", "balance": None}
    assert counts(customers(store, ruleset, write(tmp_path, "b.jsonl", json.dumps(change)))) == (
        0, 1, 0, 0,
    )  # fmt: skip
    row = stored(store, "C1")
    assert (row["balance"], row["age"]) == (None, 30)


@pytest.mark.every_store
def test_parquet_customers_are_read_with_their_types(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    table = pa.table({
        "customer_id": ["C1", "C2", "C3"],
        "name": ["张三", "李四", None],
        "balance": [1.5, None, 3.0],
        "age": [30, 40, 50],
        "opened_on": [dt.date(2020, 1, 5), None, None],
        "consent_sms": [True, False, None],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "c.parquet")
    report = customers(store, ruleset, tmp_path / "c.parquet")
    assert counts(report) == (2, 0, 0, 1)
    assert quarantined(store) == [(3, "name", "required, but empty")]
    row = stored(store, "C1")
    assert (row["balance"], row["age"], row["opened_on"], row["consent_sms"]) == (
        1.5, 30, "2020-01-05", 1,
    )  # fmt: skip
    assert counts(customers(store, ruleset, tmp_path / "c.parquet")) == (0, 0, 2, 1)


def test_progress_is_reported_up_to_the_file_size(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "customer_id,name", *(f"C{i},客户{i}" for i in range(25_000)))
    seen: list[tuple[int, int]] = []
    load_customers(
        store, ruleset, path, NOW, progress=lambda done, total: seen.append((done, total))
    )
    assert len(seen) >= 3
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


# --- files that cannot be read ---------------------------------------------------------------


def test_a_file_that_is_not_utf8_names_its_line(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "l1.csv", "customer_id,name", "C1,ok", "C2,Café", encoding="latin-1")
    with pytest.raises(DataError) as error:
        customers(store, ruleset, path)
    assert str(error.value) == (
        f"{path}:3: not UTF-8 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )
    assert store.execute("SELECT * FROM customers") == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.csv", None, "no such file"),
        ("c.xls", "x", "cannot read '.xls' files; use .csv (UTF-8), .jsonl, .parquet or .xlsx"),
        ("c.csv", "", "no header; the first line must name the columns"),
        ("c.csv", "name,balance\n张三,1\n", "no column 'customer_id', which every row needs"),
        ("c.csv", "customer_id,nmae\nC1,x\n", "no column 'name', which every row needs "
         "(did you mean 'nmae'?)"),
        ("c.csv", "客户编号,姓名\nC1,张三\n", "no column 'name', which every row needs; its"
         " heading may be any of 'name', '客户名称'"),  # a synonym of the label: what to write
        ("c.csv", "customer_id,name,name\n", "column 'name' appears twice"),
        ("c.parquet", "not parquet", "not a readable Parquet file"),
    ],
)  # fmt: skip
def test_files_that_cannot_be_read_at_all(
    store: Store, ruleset: RuleSet, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        customers(store, ruleset, path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


# --- events ----------------------------------------------------------------------------------


def event(
    event_id: str, kind: str = "sale", at: str = "2026-11-20T10:30:00+08:00", **payload: Any
) -> str:
    return json.dumps({"id": event_id, "type": kind, "customer_id": "C1", "at": at, **payload},
                      ensure_ascii=False)  # fmt: skip


@pytest.mark.every_store
def test_loading_events_twice_inserts_nothing_new(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "e.jsonl", event("E1", product="理财产品", amount="1,000.00"),
                 event("E2", "login", channel="app"))  # fmt: skip
    assert counts(events(store, ruleset, path)) == (2, 0, 0, 0)
    assert counts(events(store, ruleset, path)) == (0, 0, 2, 0)
    row = store.execute("SELECT * FROM events WHERE id = 'E1'")[0]
    assert row["at"] == "2026-11-20T02:30:00+00:00"
    assert json.loads(row["payload"]) == {"product": "理财产品", "amount": 1000.0}


@pytest.mark.every_store
def test_a_time_without_offset_is_in_the_project_time_zone(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "e.jsonl", event("E1", at="2026-11-20 09:00"),
                 event("E2", at="2026-11-20T09:00:00Z"))  # fmt: skip
    events(store, ruleset, path)
    rows = store.execute("SELECT id, at FROM events ORDER BY id")
    assert [r["at"] for r in rows] == ["2026-11-20T01:00:00+00:00", "2026-11-20T09:00:00+00:00"]


def test_a_time_as_excel_saves_it_has_an_hour_of_one_digit(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Excel writes a date and time cell to a CSV file as `2026/1/5 9:30`."""
    written = [("E1", "2026/1/5 9:30"), ("E2", "2026年1月5日 0:00:00"), ("E3", "2026/1/5 10:05")]
    path = write(tmp_path, "e.jsonl", *(event(key, at=at) for key, at in written))
    assert events(store, ruleset, path).quarantined == 0
    rows = store.execute("SELECT id, at FROM events ORDER BY id")
    assert [r["at"] for r in rows] == [
        "2026-01-05T01:30:00+00:00",
        "2026-01-04T16:00:00+00:00",
        "2026-01-05T02:05:00+00:00",
    ]


def test_bad_event_lines_are_quarantined_with_their_line_numbers(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "e.jsonl",
        event("E1", amount=5),
        event("E2", amount="12,3x4"),
        '{"id": "E3", "type": "sale", "customer_id": "C1"',
        "",
        event("E4", "sael"),
        event("E5", at="yesterday"),
        json.dumps({"id": "E6", "customer_id": "C1", "at": "2026-11-20T10:00:00"}),
        event("E1", amount=6),
        event("E7", "complaint", severity=2.5, payload={"category": "排队等候"}),
    )
    report = events(store, ruleset, path)
    assert counts(report) == (1, 0, 0, 7)
    assert quarantined(store) == [
        (2, "amount", "'12,3x4' is not a number"),
        (3, None, "not valid JSON: Expecting ',' delimiter at column 49"),
        (5, "type", "unknown event type 'sael' (did you mean 'sale'?)"),
        (6, "at", "'yesterday' is not a date and time: write the date YYYY-MM-DD, YYYY/MM/DD,"
                  " YYYY.MM.DD or YYYY年M月D日, then the time HH:MM:SS (optionally with an offset"
                  " such as +08:00)"),
        (7, "type", "required, but missing"),
        (8, "id", "duplicate id 'E1': already on line 1"),
        (9, "severity", "2.5 is not a whole number"),
    ]  # fmt: skip


def test_undeclared_payload_fields_are_ignored_with_a_warning(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "e.jsonl", event("E1", amout=5), event("E2", amout=6))
    report = events(store, ruleset, path)
    assert report.loaded == 2
    assert report.warnings == [
        "ignored field 'amout' of 'sale' events: not in the schema (did you mean 'amount'?)"
    ]


@pytest.mark.every_store
def test_events_from_csv(store: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", "id,type,customer_id,at,product,amount,channel",
                 "E1,sale,C1,2026-11-20T10:00:00+08:00,基金,100,",
                 "E2,login,C1,2026-11-20T11:00:00+08:00,,,app")  # fmt: skip
    assert counts(events(store, ruleset, path)) == (2, 0, 0, 0)
    payloads = [
        json.loads(r["payload"]) for r in store.execute("SELECT payload FROM events ORDER BY id")
    ]
    assert payloads == [{"product": "基金", "amount": 100.0}, {"channel": "app"}]


# --- the commands ----------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


SHIPPED = f"rules: {default_rules_path()} (the shipped default rules)\n"  # said on stderr


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the command in an empty folder: no ./rules, so the shipped rules are used."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_load_customers_prints_the_counts_and_the_problems(here: Path) -> None:
    write(here, "c.csv", HEADER, "C1,张三,personal,100,,,", "C2,李四,vip,,,,")
    result = invoke("load", "customers", "c.csv")
    assert result.exit_code == 3, result.output  # loaded, with rows quarantined
    assert "customers from c.csv into guanxi.db" in result.stdout
    headings = (
        "┃ read ┃ loaded ┃ of them with a warning ┃ inserted ┃ updated ┃ unchanged ┃ not loaded"
    )
    assert headings in result.stdout
    assert "│ 2    │ 1      │ 0                      │ 1        │ 0       │ 0         │ 1 " in (
        result.stdout
    )
    assert "quarantined 1 row(s); all problems: guanxi quarantine list" in result.stdout
    assert "│ 3    │ kind  │ vip   │ 'vip' is not one of: corporate (公司客户)," in result.stdout
    assert result.stderr == SHIPPED + (
        "1 row(s) of c.csv quarantined, not loaded: guanxi quarantine list --store guanxi.db\n"
    )
    assert (here / "guanxi.db").exists()


def test_load_json_output_is_the_report(here: Path) -> None:
    write(here, "c.csv", "customer_id,name,extra", "C1,张三,x")
    invoke("load", "customers", "c.csv")
    result = invoke("load", "customers", "c.csv", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("read", "inserted", "unchanged", "quarantined")} == {
        "read": 1, "inserted": 0, "unchanged": 1, "quarantined": 0,
    }  # fmt: skip
    assert report["warnings"] == ["ignored column 'extra': the schema does not declare it"]


def test_load_warnings_go_to_stderr(here: Path) -> None:
    write(here, "c.csv", "customer_id,name,extra", "C1,张三,x")
    result = invoke("load", "customers", "c.csv")
    assert result.stderr == SHIPPED + (
        "warning: c.csv: ignored column 'extra': the schema does not declare it\n"
    )


def test_a_file_that_is_not_utf8_exits_1_with_a_clear_message(here: Path) -> None:
    write(here, "c.csv", "customer_id,name", "C1,Café", encoding="latin-1")
    result = invoke("load", "customers", "c.csv")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == SHIPPED + (
        "Error: c.csv:2: not UTF-8 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')\n"
    )


def test_a_missing_file_exits_1(here: Path) -> None:
    result = invoke("load", "events", "nowhere.jsonl")
    assert (result.exit_code, result.stderr) == (
        1,
        SHIPPED + "Error: nowhere.jsonl: no such file\n",
    )
    assert not (here / "guanxi.db").exists()


def test_store_option_and_rules_folder_in_the_current_folder(here: Path) -> None:
    invoke("init", "rules")
    write(here, "c.csv", "customer_id,name", "C1,张三")
    result = invoke("load", "customers", "c.csv", "--store", "elsewhere.db")
    assert result.exit_code == 0, result.output
    assert "into elsewhere.db" in result.stdout
    assert (here / "elsewhere.db").exists()
    assert not (here / "guanxi.db").exists()
    assert not (here / "rules" / "guanxi.db").exists()


def test_a_bad_rule_project_prints_its_diagnostics_and_exits_1(here: Path) -> None:
    invoke("init", "rules")
    schema = here / "rules" / "schema.yaml"
    schema.write_text(schema.read_text(encoding="utf-8").replace("type: number", "type: numbr", 1),
                      encoding="utf-8")  # fmt: skip
    write(here, "c.csv", "customer_id,name", "C1,张三")
    result = invoke("load", "customers", "c.csv")
    assert result.exit_code == 1
    assert "rules/schema.yaml:" in result.stderr
    assert "rules: 1 error(s); nothing was changed" in result.stderr
    assert result.stdout == ""
    assert not (here / "guanxi.db").exists()


def test_demo_data_then_load_it(here: Path) -> None:
    result = invoke("demo-data", "--customers", "300", "--seed", "5", "--out", "demo",
                    "--today", "2026-11-28")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 300 customers (")
    assert (here / "demo" / "customers.csv").exists()
    again = invoke("demo-data", "--customers", "300", "--seed", "5", "--out", "demo2",
                   "--today", "2026-11-28")  # fmt: skip
    assert again.exit_code == 0
    for name in ("customers.csv", "events.jsonl"):
        assert (here / "demo" / name).read_bytes() == (here / "demo2" / name).read_bytes()
    summary = json.loads(invoke("demo-data", "--customers", "300", "--seed", "5", "--out",
                                "demo", "--today", "2026-11-28", "--json").stdout)  # fmt: skip
    loaded = json.loads(invoke("load", "customers", "demo/customers.csv", "--json").stdout)
    assert loaded["quarantined"] == summary["bad_customer_rows"]
    assert loaded["loaded"] == 300 - summary["bad_customer_rows"]
    events_loaded = json.loads(invoke("load", "events", "demo/events.jsonl", "--json").stdout)
    assert events_loaded["quarantined"] == summary["bad_event_rows"]


def test_demo_data_refuses_a_bad_date(here: Path) -> None:
    result = invoke("demo-data", "--out", "demo", "--today", "28/11/2026")
    assert result.exit_code == 2
    assert "Invalid value for '--today'" in result.stderr


def test_a_feedback_score_outside_1_to_5_is_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """The assessed satisfaction (1-5) is the mean feedback score: one score of 2^63 - 1 made a
    customer's 9.2e18 and the report's mean of a whole tier some 10^16."""
    scores = {"E1": 5, "E2": 2**63 - 1, "E3": 0, "E4": 1}
    lines = [event(i, "feedback", score=s) for i, s in scores.items()]
    report = events(store, ruleset, write(tmp_path, "e.jsonl", *lines))
    assert counts(report) == (2, 0, 0, 2)
    assert quarantined(store) == [
        (2, "score", "9223372036854775807 is above 5, the highest value allowed"),
        (3, "score", "0 is below 1, the lowest value allowed"),
    ]


@pytest.mark.every_store
def test_an_event_id_stored_with_other_content_is_quarantined_not_dropped(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    app = event("E2", "login", channel="app")
    first = write(
        tmp_path, "e1.jsonl", event("E1", amount="1000"), app, event("E3", "login", channel="app")
    )
    assert counts(events(store, ruleset, first)) == (3, 0, 0, 0)
    other_customer = json.loads(event("E1", amount="1000")) | {"customer_id": "C2"}
    counter = event("E3", "login", channel="counter")
    again = write(tmp_path, "e2.jsonl", json.dumps(other_customer), app, counter)
    report = events(store, ruleset, again)
    assert counts(report) == (0, 0, 1, 2)
    assert (report.read, report.loaded) == (3, 1)
    assert quarantined(store) == [
        (1, "id", "event id 'E1' is already stored with another customer_id: an event id names"
         " one event and a stored event is never changed; give this event an id of its own, or"
         " take the line out if it is the stored event"),
        (3, "id", "event id 'E3' is already stored with another channel: an event id names"
         " one event and a stored event is never changed; give this event an id of its own, or"
         " take the line out if it is the stored event"),
    ]  # fmt: skip
    kept = store.execute("SELECT id, customer_id, payload FROM events ORDER BY id")
    assert [(r["id"], r["customer_id"], json.loads(r["payload"])) for r in kept] == [
        ("E1", "C1", {"amount": 1000.0}), ("E2", "C1", {"channel": "app"}),
        ("E3", "C1", {"channel": "app"}),
    ]  # fmt: skip


def test_a_reused_event_id_is_explained_in_chinese(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    events(store, ruleset, write(tmp_path, "e1.jsonl", event("E1", amount="1000")))
    with language("zh"):
        events(store, ruleset, write(tmp_path, "e2.jsonl", event("E1", "login", channel="app")))
    [(_line, _field, reason)] = quarantined(store)
    assert reason.startswith("事件 ID 'E1' 已经存有一个事件，但其 type, amount, channel 不同")


@pytest.mark.every_store
def test_an_id_given_as_a_json_number_is_its_text(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """7 and 7.0 are one event, as 42 and 42.0 are one customer; letter case counts in ids, as
    it does in customer keys (d1 and D1 are two events)."""
    numbered = [json.loads(event("E")) | {"id": given} for given in (7, 7.0, 7.5)]
    cased = [event("d1"), event("D1")]
    path = write(tmp_path, "e.jsonl", *map(json.dumps, numbered), *cased)
    report = events(store, ruleset, path)
    assert (report.inserted, report.quarantined) == (4, 1)
    assert quarantined(store) == [(2, "id", "duplicate id '7': already on line 1")]
    ids = store.execute("SELECT id FROM events ORDER BY id")
    assert [r["id"] for r in ids] == ["7", "7.5", "D1", "d1"]
    person = {"customer_id": 42.0, "name": "张三", "kind": "personal"}
    customers(store, ruleset, write(tmp_path, "c.jsonl", json.dumps(person, ensure_ascii=False)))
    assert stored(store, "42")["name"] == "张三"
