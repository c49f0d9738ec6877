"""What `load` accepts: hostile and broken values are quarantined with their row number and
reason, on every store, and nothing about them stops the rest of the file."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import classify
from guanxi.engine.i18n import language
from guanxi.engine.ingest import LoadReport, load_customers, load_events
from guanxi.engine.report import ReportRequest, build_report
from guanxi.engine.report.concentration import curve_of
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
EVENT = {"type": "sale", "customer_id": "C1", "at": "2026-11-20T10:00+08:00", "amount": 5}


def write_lines(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def json_lines(tmp_path: Path, records: list[dict[str, Any]], name: str = "e.jsonl") -> Path:
    return write_lines(tmp_path, name, [json.dumps(r, ensure_ascii=False) for r in records])


def quarantined(store: Store) -> list[tuple[int, str | None, str]]:
    sql = "SELECT row_number, field, reason FROM quarantine ORDER BY row_number, id"
    return [(r["row_number"], r["field"], r["reason"]) for r in store.execute(sql)]


def loaded_ids(store: Store, table: str = "events", key: str = "id") -> list[str]:
    return [r[key] for r in store.execute(f"SELECT {key} FROM {table} ORDER BY {key}")]


# --- unreadable lines stream to the quarantine -----------------------------------------------


def test_unreadable_json_lines_are_quarantined_batch_by_batch_not_held_to_the_end(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write_lines(tmp_path, "bad.jsonl", ['{"id": "E1", "at": oops}'] * 25_000)
    kept_after_each_batch: list[int] = []

    def progress(done: int, total: int) -> None:
        rows = store.execute("SELECT COUNT(*) AS n FROM quarantine")
        kept_after_each_batch.append(rows[0]["n"])

    report = load_events(store, ruleset, path, NOW, progress)
    assert report.quarantined == 25_000
    assert kept_after_each_batch == [10_000, 20_000, 25_000]


# --- invisible characters --------------------------------------------------------------------


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_a_nul_byte_is_quarantined_with_its_line_and_the_rest_loads(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    names = ["张三", "李\x00四", "王五"]
    if form == "csv":
        lines = ["customer_id,name", *(f"C{i},{n}" for i, n in enumerate(names, start=1))]
        path = write_lines(tmp_path, "c.csv", lines)
    else:
        records = [{"customer_id": f"C{i}", "name": n} for i, n in enumerate(names, start=1)]
        path = json_lines(tmp_path, records, "c.jsonl")
    report = load_customers(store, ruleset, path, NOW)
    line = 3 if form == "csv" else 2
    assert (report.loaded, report.quarantined) == (2, 1)
    reason = "contains an invisible character (U+0000) at character 2; remove it"
    assert quarantined(store) == [(line, "name", reason)]
    assert store.execute("SELECT value FROM quarantine")[0]["value"] == "李\\x00四"
    assert loaded_ids(store, "customers", "customer_id") == ["C1", "C3"]


@pytest.mark.every_store
def test_control_and_broken_characters_in_events_are_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [
        json.dumps({**EVENT, "id": "E1"}),
        json.dumps({**EVENT, "id": "E2\x1b"}),  # an escape in an id
        json.dumps({**EVENT, "id": "E3", "product": "\ud800"}),  # a lone surrogate: not text
        json.dumps({**EVENT, "id": "E4", "type": "feedback", "comment": "好\n很好\t!"}),
        json.dumps({**EVENT, "id": "E5", "type": "sa\x00le"}),
    ]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (2, 3)
    assert quarantined(store) == [
        (2, "id", "contains an invisible character (U+001B) at character 3; remove it"),
        (3, "product", "contains a broken character (U+D800) at character 1; remove it"),
        (5, "type", "contains an invisible character (U+0000) at character 3; remove it"),
    ]
    assert loaded_ids(store) == ["E1", "E4"]


@pytest.mark.every_store
@pytest.mark.parametrize("mark", ["\u200b", "\ufeff", "\u00ad", "\u2060"])
def test_an_id_with_an_invisible_format_character_is_not_a_second_customer(
    store: Store, ruleset: RuleSet, tmp_path: Path, mark: str
) -> None:
    """C1 and C1 with a zero-width space look the same to whoever reads them: the second is
    quarantined, not kept as another customer to contact; in a name the character is kept."""
    lines = ["customer_id,name", "C1,张三", f"C1{mark},张三", f"C2,李{mark}四"]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (2, 1)
    reason = f"contains an invisible character (U+{ord(mark):04X}) at character 3; remove it"
    assert quarantined(store) == [(3, "customer_id", reason)]
    assert loaded_ids(store, "customers", "customer_id") == ["C1", "C2"]
    names = store.execute("SELECT name FROM customers ORDER BY customer_id")
    assert [r["name"] for r in names] == ["张三", f"李{mark}四"]


BIDI_REASON = (
    "contains a text direction control (U+{code:04X}) at character {place}, which can make the"
    " text around it read in another order; remove it"
)


@pytest.mark.every_store
@pytest.mark.parametrize(
    "mark", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"]
)
def test_a_text_direction_control_in_a_name_or_id_is_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path, mark: str
) -> None:
    """A right-to-left override in a name would turn around the amount or link a message writes
    after it: the row is quarantined, naming the field, the line and the character."""
    lines = ["customer_id,name", "C1,张三", f"C2,李{mark}四", f"C3{mark},王五"]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 2)
    assert quarantined(store) == [
        (3, "name", BIDI_REASON.format(code=ord(mark), place=2)),
        (4, "customer_id", BIDI_REASON.format(code=ord(mark), place=3)),
    ]
    escaped = mark.encode("unicode_escape").decode()
    shown = store.execute("SELECT value FROM quarantine ORDER BY row_number")
    assert [r["value"] for r in shown] == [f"李{escaped}四", f"C3{escaped}"]
    assert loaded_ids(store, "customers", "customer_id") == ["C1"]


def test_a_text_direction_control_in_an_event_field_is_explained_in_chinese(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [json.dumps({**EVENT, "id": "E1", "product": "贷款\u202e00.001"})]
    with language("zh"):
        report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (0, 1)
    reason = "第 3 个字符是文字方向控制符（U+202E），会让它周围的文字显示成另一种顺序；请删除它"
    assert quarantined(store) == [(1, "product", reason)]


def test_invisible_characters_in_column_names_are_shown_as_escapes(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write_lines(tmp_path, "c.csv", ["customer_id,name,\x1b[31mred", "C1,张三,x"])
    report = load_customers(store, ruleset, path, NOW)
    assert report.warnings == ["ignored column '\\x1b[31mred': the schema does not declare it"]


# --- lengths ---------------------------------------------------------------------------------


@pytest.mark.every_store
def test_fields_longer_than_their_limit_are_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    records = [
        {"customer_id": "C" * 64, "name": "名" * 4000},  # at the limits: loaded
        {"customer_id": "C" * 65, "name": "张三"},
        {"customer_id": "C2", "name": "名" * 4001},
    ]
    report = load_customers(store, ruleset, json_lines(tmp_path, records, "c.jsonl"), NOW)
    assert (report.loaded, report.quarantined) == (1, 2)
    assert quarantined(store) == [
        (2, "customer_id", "65 characters long; at most 64 are allowed here"),
        (3, "name", "4,001 characters long; at most 4,000 are allowed here"),
    ]
    shown = store.execute("SELECT value FROM quarantine ORDER BY row_number")
    assert len(shown[1]["value"]) == 200  # of a value, the quarantine keeps the start


def test_hostile_json_lines_are_quarantined_not_a_crash(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [
        json.dumps({**EVENT, "id": "E1"}),
        "[" * 100_000 + "]" * 100_000,  # nested deeper than any parser recursion
        '{"id": "E3", "amount": ' + "9" * 5000 + "}",  # an integer of 5,000 digits
        json.dumps({**EVENT, "id": "E4", "product": "x" * (1 << 20)}),  # a line over 1 MB
        json.dumps({**EVENT, "id": "E5", "amount": "9" * 5000}),  # 5,000 digits as text
        json.dumps({**EVENT, "id": "E6"}),
    ]
    report = load_events(store, ruleset, write_lines(tmp_path, "e.jsonl", lines), NOW)
    assert (report.loaded, report.quarantined) == (2, 4)
    assert quarantined(store) == [
        (2, None, "not readable: nested too deeply"),
        (3, None, "not readable: a number of thousands of digits"),
        (4, None, "longer than 1,048,576 characters: not read"),
        (5, "amount", f"'{'9' * 39}…' is too large: numbers up to about 1.8e308 are held"),
    ]
    assert loaded_ids(store) == ["E1", "E6"]


# --- money -----------------------------------------------------------------------------------


@pytest.mark.every_store
def test_a_negative_balance_is_quarantined_but_a_negative_contribution_loads(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = [
        "customer_id,name,balance,annual_contribution,satisfaction",
        "C1,张三,100,-250.5,5",  # a loss-making customer
        "C2,李四,-0.01,10,3",
        "C3,王五,5,10,6",
    ]
    report = load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    assert (report.loaded, report.quarantined) == (1, 2)
    assert quarantined(store) == [
        (3, "balance", "-0.01 is below 0, the lowest value allowed"),
        (4, "satisfaction", "6 is above 5, the highest value allowed"),
    ]
    row = store.execute("SELECT annual_contribution FROM customers")[0]
    assert row["annual_contribution"] == -250.5


@pytest.mark.every_store
def test_a_negative_contribution_never_gives_a_negative_concentration_share(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = ["customer_id,name,annual_contribution", "C1,甲,100", "C2,乙,50", "C3,丙,-400"]
    load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    curve = curve_of(store, "annual_contribution", "贡献度")
    assert curve.top == {1: pytest.approx(2 / 3), 5: pytest.approx(2 / 3),
                         10: pytest.approx(2 / 3), 20: pytest.approx(2 / 3)}  # fmt: skip
    assert (curve.customers, curve.total, curve.below_zero) == (3, 150.0, 1)
    assert curve.holders == 2
    assert curve.points[-1] == (1.0, 1.0)
    assert "1 customers below 0 count as 0" in curve.verdict()


@pytest.mark.every_store
def test_losses_outweighing_gains_give_no_contribution_share(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    # C1 holds 200,000 and transacts 12 times a month: valuable; C2 only loses money: low value
    lines = [
        "customer_id,name,annual_contribution,balance,monthly_txn_count",
        "C1,甲,100,200000,12",
        "C2,乙,-400,,",
    ]
    load_customers(store, ruleset, write_lines(tmp_path, "c.csv", lines), NOW)
    classify(store, ruleset, NOW)
    scorecard = build_report(store, ruleset, ReportRequest(sections=("scorecard",))).scorecard
    shares = {e["tier"]: e["contribution_share"] for e in scorecard.to_dict()["by_tier"]}
    assert shares == {"valuable": None, "low_value": None}  # not -33 % and 133 %


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1_000_000, 1_000_000) | st.none(), min_size=1, max_size=40))
def test_concentration_shares_stay_between_0_and_1_and_never_fall(
    ruleset: RuleSet, values: list[int | None]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "guanxi.db")
        store.prepare(ruleset.schema)
        rows = [{"customer_id": f"C{i}", "annual_contribution": v} for i, v in enumerate(values)]
        store.upsert_customers(rows)
        curve = curve_of(store, "annual_contribution", "贡献度")
        store.close()
    held = [h for _, h in curve.points]
    assert all(0.0 <= h <= 1.0 + 1e-9 for h in held)
    assert held == sorted(held)
    assert all(s is None or 0.0 <= s <= 1.0 + 1e-9 for s in curve.top.values())
    assert curve.total == sum(v for v in values if v is not None and v > 0)


# --- dates and times -------------------------------------------------------------------------

OUT_OF_RANGE = ("0001-01-01T00:00+08:00", "9999-12-31T23:00-08:00", "1899-12-30T00:00")


def write_events(tmp_path: Path, form: str, moments: list[Any]) -> Path:
    records = [{**EVENT, "id": f"E{i}", "at": m} for i, m in enumerate(moments, start=1)]
    if form == "jsonl":
        return json_lines(tmp_path, records)
    if form == "csv":
        lines = ["id,type,customer_id,at"]
        lines += [f"{r['id']},{r['type']},{r['customer_id']},{r['at']}" for r in records]
        return write_lines(tmp_path, "e.csv", lines)
    path = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_an_event_time_out_of_range_is_quarantined_not_a_crash(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    path = write_events(tmp_path, form, ["2026-11-20T10:00+08:00", *OUT_OF_RANGE])
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 3)
    first = 2 if form == "csv" else 1  # the CSV header is line 1
    reasons = [
        f"'{m}' is not a plausible date: dates from 1900-01-01 to 2199-12-31 are accepted"
        " (is the year mistyped?)"
        for m in OUT_OF_RANGE
    ]
    assert quarantined(store) == [(first + i, "at", r) for i, r in enumerate(reasons, start=1)]
    assert loaded_ids(store) == ["E1"]


@pytest.mark.every_store
def test_parquet_times_out_of_range_are_quarantined_by_row(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    utc = dt.UTC
    moments = [
        dt.datetime(2026, 11, 20, 2, tzinfo=utc),
        dt.datetime(1, 1, 1, tzinfo=utc),
        dt.datetime(9999, 12, 31, 23, tzinfo=utc),
    ]
    path = write_events(tmp_path, "parquet", moments)
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 2)
    assert [(n, f) for n, f, _ in quarantined(store)] == [(2, "at"), (3, "at")]
    far = pa.array([0, 3_000_000], type=pa.date32())  # 10183-10-25: no Python date holds it
    table = pa.table({"customer_id": ["C1", "C2"], "name": ["甲", "乙"], "opened_on": far})
    pq.write_table(table, tmp_path / "c.parquet")
    report = load_customers(store, ruleset, tmp_path / "c.parquet", NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert report.problems[0]["row_number"] == 2
    assert report.problems[0]["reason"].startswith("'opened_on' is not a plausible date")


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_a_customer_date_out_of_range_is_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    days = ["2020-01-05", "0001-01-01", "9999-12-31", "1899-12-31", "2199-12-31", "1900-01-01"]
    records = [{"customer_id": f"C{i}", "name": "张三", "opened_on": d} for i, d in enumerate(days)]
    if form == "csv":
        lines = ["customer_id,name,opened_on", *(",".join(r.values()) for r in records)]
        path = write_lines(tmp_path, "c.csv", lines)
    elif form == "jsonl":
        path = json_lines(tmp_path, records, "c.jsonl")
    else:
        for r in records:
            r["opened_on"] = dt.date.fromisoformat(r["opened_on"])
        path = tmp_path / "c.parquet"
        pq.write_table(pa.Table.from_pylist(records), path)
    report: LoadReport = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (3, 3)
    assert loaded_ids(store, "customers", "customer_id") == ["C0", "C4", "C5"]
    assert {f for _, f, _ in quarantined(store)} == {"opened_on"}
