"""What a new user meets first, in Chinese: files written where they said, a bank's export
with a title above its header, a field written by its label, text in double quotes, and a
customer or task that is not there."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store import Store

RULES = Path(__file__).resolve().parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
HEADER: list[object] = ["客户编号", "客户名称", "客户类型", "存款余额"]
ROWS: list[list[object]] = [["C1", "张三", "个人客户", 1000], ["C2", "李四", "个人客户", 2000]]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--lang", "zh", *args])


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    """A store holding two customers, and a row that was quarantined."""
    data = tmp_path / "c.csv"
    lines = [",".join(map(str, r)) for r in (HEADER, *ROWS)] + ["C3,王五,个人客户,abc"]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = tmp_path / "guanxi.db"
    result = invoke("load", "customers", str(data), "--rules", str(RULES), "--store", str(store))
    assert result.exit_code == 3, result.output
    return store


@pytest.mark.parametrize(
    ("command", "file"),
    [
        (["report", "--html"], "report.html"),
        (["quarantine", "list", "--csv"], "quarantine.csv"),
        (["customer", "export", "C1", "-o"], "C1.json"),
    ],
)
def test_a_file_in_a_folder_not_made_yet_is_written_there(
    loaded: Path, command: list[str], file: str
) -> None:
    """As --csv DIR makes its folder: before, a traceback (FileNotFoundError)."""
    path = loaded.parent / "新文件夹" / "下一层" / file
    result = invoke(*command, str(path), "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 0, result.output
    assert path.stat().st_size > 0


def test_a_file_that_cannot_be_written_is_one_line(loaded: Path) -> None:
    blocker = loaded.parent / "报告"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    path = blocker / "report.html"
    result = invoke("report", "--html", str(path), "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 1
    assert f"错误：无法写入 {path}：" in result.stderr
    assert "Traceback" not in result.output


def test_a_customer_not_in_the_store_is_said_in_chinese(loaded: Path) -> None:
    result = invoke("explain", "C9", "--rules", str(RULES), "--store", str(loaded))
    assert (result.exit_code, result.stderr) == (1, "错误：数据库中没有客户 'C9'：请核对客户编号\n")


def test_a_task_not_in_the_store_is_said_in_chinese(loaded: Path) -> None:
    where = ["--rules", str(RULES), "--store", str(loaded)]
    result = invoke("tasks", "done", "T9", "--outcome", "done", *where)
    assert result.exit_code == 1
    assert result.stderr.startswith("错误：没有任务 'T9'（请填写任务编号或跟进编号")


def write_xlsx(path: Path, rows: list[list[object]], merged: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if merged:
        sheet.merge_cells(merged)
    book.save(path)
    return path


def test_a_title_above_the_header_of_a_workbook_names_the_header_row(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Before, 'no column customer_id', though the file has one, two rows down."""
    rows: list[list[object]] = [["XX银行客户信息表"], ["导出日期：2026-11-28"], HEADER, *ROWS]
    path = write_xlsx(tmp_path / "客户.xlsx", rows, merged="A1:D1")
    with language("zh"), pytest.raises(DataError) as refused:
        load_customers(store, ruleset, path, NOW)
    assert str(refused.value) == (
        f"{path}:3：列名在这一行，而不在第一行：请删掉它上面的行（标题、合并单元格），"
        "让列名成为第一行"
    )
    assert store.execute("SELECT COUNT(*) AS n FROM customers") == [{"n": 0}]


def test_a_title_above_the_header_of_a_csv_file_names_the_header_line(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "客户.csv"
    lines = ["客户信息表,,,", ",,,", ",".join(map(str, HEADER)), "C1,张三,个人客户,1000"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"客户\.csv:3: this row names the columns"):
        load_customers(store, ruleset, path, NOW)


def test_a_file_without_the_column_anywhere_is_refused_as_before(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", [["客户信息表"], ["客户名称"], ["张三"]])
    with pytest.raises(DataError, match="no column 'customer_id', which every row needs"):
        load_customers(store, ruleset, path, NOW)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def edit(project: Path, file: str, old: str, new: str) -> None:
    path = project / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def errors(project: Path) -> list[Diagnostic]:
    with language("zh"):
        return [d for d in validate_project(project).diagnostics if d.severity == "error"]


SCENARIO = """scenarios:
  - name: 我的场景
    today: "2026-11-02"
    customer: {客户编号: T900, name: 王五, 存款余额: 500000}
    expect: {tier: valuable}
"""


def test_a_scenario_customer_keyed_by_labels_is_answered_with_the_names(project: Path) -> None:
    (project / "tests" / "mine.yaml").write_text(SCENARIO, encoding="utf-8")
    found = [d for d in errors(project) if d.code == "unknown-field"]
    assert [(d.file.rsplit("/", 1)[-1], d.line, d.col, d.hint) for d in found] == [
        ("mine.yaml", 4, 16, "这里要写字段名，不能写中文标签：customer_id (客户编号)"),
        ("mine.yaml", 4, 38, "这里要写字段名，不能写中文标签：balance (存款余额)"),
    ]


def test_within_a_label_is_answered_with_the_field_name(project: Path) -> None:
    edit(project, "tiers.yaml", "within: [kind, industry]", "within: [kind, 行业]")
    [error] = errors(project)
    assert (error.code, error.hint) == (
        "unknown-field",
        "这里要写字段名，不能写中文标签：industry (行业)",
    )


@pytest.mark.parametrize(
    ("quoted", "hint"),
    [
        ('"high_value_added"', "tier = 'high_value_added'"),  # a tier, as kind's values are
        ('"高附加值客户"', "tier = 'high_value_added'"),  # its label, in double quotes
        ('"VIP"', "'VIP'"),  # no name at all: still the quotes to use
    ],
)
def test_text_in_double_quotes_is_answered_with_single_quotes(
    project: Path, quoted: str, hint: str
) -> None:
    """Before, 'no customer field' with no hint for any of them."""
    edit(project, "levels.yaml", "tier = 'high_value_added' OR", f"tier = {quoted} OR")
    [error] = errors(project)
    assert error.code == "unknown-field"
    assert error.hint == f"双引号表示字段名；文字取值要用英文单引号：{hint}"
