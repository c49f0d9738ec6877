"""Mistakes a new user makes on a Chinese keyboard, found by an audit: full-width spaces in a
rule file's list items and indentation, amounts written with ¥ or in 万, a spreadsheet's blank
rows and encodings, Chinese dates on the command line. Each is read as meant, or named in
Chinese at its place with a fix."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_customers
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.ruleset.fix import fix_project
from guanxi.engine.store import Store
from tests.test_chinese_keyboard import edit, errors, line_of

RULES = Path(__file__).resolve().parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--lang", "zh", *args])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


# --- 1. full-width spaces in a list item and in the indentation --------------------------


def test_a_full_width_space_after_a_list_dash_is_named_and_fixed(project: Path) -> None:
    """Before: 'indented less than the lines above' at the dash, and --fix repaired nothing."""
    path = edit(project, "levels.yaml", "  - name: proactive", "  -\u3000name: proactive")
    with language("zh"):
        [error] = errors(project)
        message = error.message
    assert (error.code, error.line, error.col) == (
        "full-width",
        line_of("levels.yaml", "  - name: proactive"),
        4,
    )
    assert "全角空格" in message
    fix_project(project)
    assert path.read_text("utf-8") == (RULES / "levels.yaml").read_text("utf-8")


def test_a_full_width_space_of_indentation_is_fixed_to_two_spaces(project: Path) -> None:
    """It shows two columns wide: '　　label' lines up under '- name' as four spaces do.
    Before, each became one space and the line stayed wrongly indented."""
    path = edit(project, "levels.yaml", "    label: 能动型", "\u3000\u3000label: 能动型")
    with language("zh"):
        [error] = errors(project)
        message = error.message
    assert (error.code, error.line, error.col) == (
        "full-width",
        line_of("levels.yaml", "    label: 能动型"),
        1,
    )
    assert "全角空格" in message
    fix_project(project)
    assert path.read_text("utf-8") == (RULES / "levels.yaml").read_text("utf-8")


# --- 2. and 3. amounts written with ¥, or in 万 and 亿 ------------------------------------


@pytest.mark.parametrize("written", ["¥200000", "￥200000", "¥ 200000"])
def test_a_yuan_sign_in_a_condition_is_answered_at_its_place(written: str) -> None:
    """Before: 'no customer field ¥200000', with no hint."""
    text = f"total_assets >= {written}"
    with language("zh"), pytest.raises(ConditionError) as caught:
        parse_condition(text, {"total_assets": "number"})
    error = caught.value
    assert (error.code, error.hint) == ("number-format", "金额不要写 ¥ 符号：写 200000")
    assert text[error.offset : error.offset + error.length] == written


def write_customers(path: Path, rows: list[str]) -> Path:
    header = "customer_id,name,kind,balance,annual_income,expected_years"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def balances(store: Store) -> dict[str, tuple[float, float]]:
    found = store.execute("SELECT customer_id, balance, annual_income FROM customers")
    return {r["customer_id"]: (r["balance"], r["annual_income"]) for r in found}


def test_amounts_with_a_yuan_sign_or_in_wan_are_read_in_money_fields(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Before, each of these rows was quarantined ('is not a number')."""
    rows = [
        'C1,张三,personal,¥5000,"￥5,000.00",1',
        "C2,李四,personal,100万,1.5亿,2",
        'C3,王五,personal,￥50万,"1,200元",3',
    ]
    report = load_customers(store, ruleset, write_customers(tmp_path / "c.csv", rows), NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    assert balances(store) == {
        "C1": (5000, 5000),
        "C2": (1_000_000, 150_000_000),
        "C3": (500_000, 1200),
    }


def test_a_yuan_sign_is_no_number_outside_an_amount(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = ["C1,张三,personal,5000,5000,¥3", "C2,李四,personal,5000,5000,abc"]
    report = load_customers(store, ruleset, write_customers(tmp_path / "c.csv", rows), NOW)
    assert (report.loaded, report.quarantined) == (0, 2)


def test_a_scenario_customer_with_an_amount_in_wan_is_loaded(project: Path) -> None:
    """`balance: 100万` in a scenario, as the rules write it. Before: 'cannot be loaded'."""
    scenario = """scenarios:
  - name: 百万存款
    today: "2026-11-02"
    customer: {customer_id: T900, name: 王五, kind: personal, balance: 100万,
               annual_contribution: 1.5万, cost_to_serve: 60}
    expect: {tier: low_value}  # not dormant: the balance is read, and is not 0
"""
    (project / "tests" / "mine.yaml").write_text(scenario, encoding="utf-8")
    result = invoke("test", "--rules", str(project), "--only", "百万存款")
    assert result.exit_code == 0, result.output


# --- 4. a GBK table saved with UTF-8's byte-order mark ---------------------------------


def test_a_gbk_table_with_a_utf8_mark_is_read_as_gbk(project: Path) -> None:
    """Before: its first column was '锘縩ame', and every row of the table was refused."""
    table = project / "strategies.csv"
    text = table.read_text("utf-8")
    table.write_bytes(b"\xef\xbb\xbf" + text.encode("gbk"))
    found = validate_project(project).diagnostics
    assert [(d.file.rsplit("/", 1)[-1], d.severity) for d in found] == [
        ("strategies.csv", "warning")  # read as GB18030, as without the mark
    ]


# --- 5. the empty rows Excel writes below the data ---------------------------------------


def test_a_csv_row_of_empty_cells_is_skipped(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Before, each ',,,,' row was quarantined as 'customer_id: required, but empty'."""
    rows = ["C1,张三,personal,5000,5000,1", ",,,,,", " , ,,,,", ",,,"]
    report = load_customers(store, ruleset, write_customers(tmp_path / "c.csv", rows), NOW)
    assert (report.read, report.loaded, report.quarantined) == (1, 1, 0)


def test_a_row_with_values_but_no_id_is_still_quarantined(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = ["C1,张三,personal,5000,5000,1", ",李四,,,,"]
    report = load_customers(store, ruleset, write_customers(tmp_path / "c.csv", rows), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert report.problems[0]["field"] == "customer_id"


# --- 6. dates on the command line as data files write them -------------------------------


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    data = write_customers(tmp_path / "c.csv", ["C1,张三,personal,5000,5000,1"])
    store = tmp_path / "guanxi.db"
    result = invoke("load", "customers", str(data), "--rules", str(RULES), "--store", str(store))
    assert result.exit_code == 0, result.output
    return store


@pytest.mark.parametrize(
    ("option", "written", "start"),
    [
        ("--from", "2026/12/1", "2026-12-01T00:00:00+08:00"),
        ("--from", "2026.12.1", "2026-12-01T00:00:00+08:00"),
        ("--from", "2026年12月1日 08:00", "2026-12-01T08:00:00+08:00"),
        ("--now", "2026年12月7日", "2026-12-07T00:00:00+08:00"),  # the window starts today
        ("--now", "2026/12/7 09:30", "2026-12-07T00:00:00+08:00"),
    ],
)
def test_a_date_on_the_command_line_is_read_as_in_data_files(
    loaded: Path, option: str, written: str, start: str
) -> None:
    """Before: "'2026/12/1' is not an ISO date or time"."""
    where = ["--rules", str(RULES), "--store", str(loaded)]
    result = invoke("plan", "--json", option, written, *where)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["window"]["from"] == start


def test_consent_at_a_chinese_date_is_that_day(loaded: Path) -> None:
    where = ["--rules", str(RULES), "--store", str(loaded)]
    args = ["consent", "record", "C1", "--purpose", "service", "--grant", "--source", "branch"]
    result = invoke(*args, "--at", "2026年11月1日", "--json", *where)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["effective_at"] == "2026-10-31T16:00:00Z"  # in Shanghai


def test_a_date_that_is_none_is_said_in_chinese(loaded: Path) -> None:
    result = invoke("plan", "--from", "12/1/2026", "--rules", str(RULES), "--store", str(loaded))
    assert result.exit_code == 2
    assert "'12/1/2026' 不是" in result.output


# --- 7. a file given where a folder is wanted ------------------------------------------


def test_a_file_given_to_test_is_answered_in_chinese() -> None:
    """Before: "Directory '…' 是文件", click's English word in a Chinese message."""
    file = RULES / "tests" / "lifecycle.yaml"
    result = invoke("test", str(file))
    assert result.exit_code == 2
    assert (
        f"{file} 是文件，不是文件夹：请写规则项目的文件夹（放 guanxi.yaml 的那个）" in result.output
    )
    assert "Directory" not in result.output
