"""Decision tables kept in Excel (.xlsx) are read as their CSV twins."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from guanxi.engine import sheets
from guanxi.engine.classify import classify
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.ruleset.tables import read_sheet_table, read_table
from guanxi.engine.sheets import cell_name
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
FIELDS = {"balance": "number", "kind": "string", "opened_on": "date", "consent_sms": "boolean"}


def workbook(path: Path, rows: list[list[Any]], title: str = "Sheet") -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def excel_project(tmp_path: Path, yaml: str = "decision_table: strategies.xlsx\n") -> Path:
    """The default rules with strategies.csv saved as a workbook, every cell as text."""
    project = tmp_path / "excel"
    shutil.copytree(RULES, project)
    with (RULES / "strategies.csv").open(encoding="utf-8") as file:
        rows: list[list[Any]] = [[c or None for c in row] for row in csv.reader(file)]
    workbook(project / "strategies.xlsx", rows)
    (project / "strategies.csv").unlink()
    (project / "strategies.yaml").write_text(f"hit_policy: first\n{yaml}", encoding="utf-8")
    return project


def assignments(tmp_path: Path, rules: Path, customers: Path) -> list[tuple[Any, ...]]:
    ruleset = load_ruleset(rules)
    store = SQLiteStore(tmp_path / f"{rules.name}.db")
    try:
        load_customers(store, ruleset, customers, NOW)
        classify(store, ruleset, NOW)
        sql = (
            "SELECT customer_id, tier, level, strategy FROM current_assignments"
            " ORDER BY customer_id"
        )
        return [tuple(row.values()) for row in store.execute(sql)]
    finally:
        store.close()


def test_an_excel_twin_of_strategies_csv_classifies_identically(tmp_path: Path) -> None:
    write_demo_data(tmp_path / "demo", 400, 7, NOW.date(), bad_rows=False)
    customers = tmp_path / "demo" / "customers.csv"
    from_excel = assignments(tmp_path, excel_project(tmp_path), customers)
    assert from_excel == assignments(tmp_path, RULES, customers)
    assert len({row[3] for row in from_excel}) >= 3  # several strategies were given


def test_cells_are_read_as_excel_stores_them() -> None:
    header = ["name", "label", "balance", "kind", "opened_on", "consent_sms"]
    cells = [
        ["rich", "富", 1000000, "personal, corporate", dt.datetime(2020, 1, 5), True],
        ["mid", "中", ">= 0.5", "not personal", "-", False],
        ["low", "低", 12.5, None, None, None],
    ]
    lines = [
        'rich,富,1000000,"personal, corporate",2020-01-05,true',
        "mid,中,>= 0.5,not personal,-,false",
    ]
    text = "\n".join([",".join(header), *lines, "low,低,12.5,,,"])
    sheet = read_sheet_table("t.xlsx", enumerate([header, *cells], start=1), FIELDS)
    twin = read_table("t.csv", text, FIELDS)
    assert (sheet.diagnostics, twin.diagnostics) == ([], [])
    assert [(r.rule, r.line) for r in sheet.rows] == [(r.rule, r.line) for r in twin.rows]


def test_a_bad_cell_is_reported_at_its_row_and_column() -> None:
    rows = [
        (1, ["name", "label", "kind", "balance"]),
        (2, ["a", "甲"]),
        (5, ["b", "乙", None, "多"]),
    ]
    (diagnostic,) = read_sheet_table("t.xlsx", rows, FIELDS).diagnostics
    assert (diagnostic.line, diagnostic.col) == (5, 4)
    assert diagnostic.message == "column 'balance': '多' is not a number (cell D5)"


def test_cell_names_are_excel_s() -> None:
    assert [cell_name(4, 2), cell_name(1, 26), cell_name(10, 27), cell_name(3, 703)] == [
        "B4",
        "Z1",
        "AA10",
        "AAA3",
    ]


def test_a_sheet_is_chosen_by_name(tmp_path: Path) -> None:
    project = excel_project(tmp_path, "decision_table: strategies.xlsx\nsheet: 策略\n")
    book = openpyxl.load_workbook(project / "strategies.xlsx")
    book.active.title = "策略"  # type: ignore[union-attr]
    book.create_sheet("说明", 0).append(["这一页不是决策表"])
    book.save(project / "strategies.xlsx")
    ruleset = load_ruleset(project)
    assert ruleset.strategies is not None
    assert ruleset.strategies.names == (
        "gold_package", "growth", "growth", "growth", "general", "unprofitable"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("yaml", "content", "expected"),
    [
        (
            "decision_table: strategies.xlsx\nsheet: 策略\n",
            None,
            "strategies.yaml:3:8: error[decision-table]: the workbook has no sheet '策略';"
            " its sheets are: Sheet",
        ),
        (
            "decision_table: strategies.xlsx\n",
            b"name,label\n",
            "strategies.yaml:2:17: error[decision-table]: not a readable Excel workbook (.xlsx)",
        ),
        (
            "decision_table: strategies.csv\nsheet: 策略\n",
            None,
            "strategies.yaml:3:8: error[invalid-value]: only an Excel (.xlsx) decision table"
            " has sheets",
        ),
    ],
)
def test_a_workbook_that_cannot_be_read_is_a_diagnostic(
    tmp_path: Path, yaml: str, content: bytes | None, expected: str
) -> None:
    project = excel_project(tmp_path, yaml)
    shutil.copy(RULES / "strategies.csv", project)
    if content is not None:
        (project / "strategies.xlsx").write_bytes(content)
    validation = validate_project(project)
    headlines = [d.headline() for d in validation.diagnostics]
    assert any(h.endswith(expected) or expected in h for h in headlines), headlines


def with_a_huge_cell(path: Path, size: int) -> Path:
    """The workbook at `path` with one more row, whose cell unpacks to `size` bytes of text:
    a few KB on disk."""
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    huge = (
        b'<row r="9999"><c r="A9999" t="inlineStr"><is><t>' + b"a" * size + b"</t></is></c></row>"
    )
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"</sheetData>", huge + b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for name, data in parts.items():
            bomb.writestr(name, data)
    return path


def test_a_decision_table_that_unpacks_past_the_limit_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small workbook whose cell unpacks to gigabytes would cost openpyxl that much memory,
    and a daemon picking the edit up would be killed for it (here 1 MB stands for the limit)."""
    monkeypatch.setattr(sheets, "MAX_UNPACKED", 1_000_000)
    project = excel_project(tmp_path)
    bomb = with_a_huge_cell(project / "strategies.xlsx", 3_000_000)
    assert bomb.stat().st_size < 20_000
    headlines = [d.headline() for d in validate_project(project).diagnostics]
    assert headlines == [
        f"{project / 'strategies.yaml'}:2:17: error[decision-table]: the workbook unpacks to"
        " 3 MB, more than the 1 MB allowed: not read"
    ]


def test_a_customer_workbook_that_unpacks_past_the_limit_is_refused_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheets, "MAX_UNPACKED", 1_000_000)
    rows = [["customer_id", "name", "kind"], ["C1", "张三", "personal"]]
    bomb = with_a_huge_cell(workbook(tmp_path / "c.xlsx", rows), 3_000_000)
    store = SQLiteStore(tmp_path / "s.db")
    try:
        with pytest.raises(DataError, match="unpacks to 3 MB, more than the 1 MB allowed"):
            load_customers(store, load_ruleset(RULES), bomb, NOW)
        store.prepare(load_ruleset(RULES).schema)
        assert store.execute("SELECT COUNT(*) AS n FROM customers") == [{"n": 0}]
    finally:
        store.close()
