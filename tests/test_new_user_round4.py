"""A new user's fourth round: `--fix` on a rule file Notepad saved as 'Unicode' (UTF-16) or
'ANSI' (GBK), or an editor indented with tabs, a day the calendar does not have (2月30日,
2026-02-29, 13月1日), and click's own words for a bad number ('integer range', `x>=0`) in
Chinese mode. Each is named at its place with what to write, or repaired by --fix."""

from __future__ import annotations

import codecs
import csv
import shutil
from pathlib import Path

import openpyxl
import pytest

from guanxi.engine.i18n import language
from guanxi.engine.ruleset import validate_project
from guanxi.engine.ruleset.fix import fix_project
from tests.test_chinese_keyboard import (
    RULES,
    edit,
    errors,
    line_of,
    project,  # noqa: F401  (the fixture)
)
from tests.test_new_user_audit import invoke

# --- --fix: files no rule file can be ------------------------------------------------------


def resave(path: Path, encoding: str) -> None:
    path.write_bytes(path.read_text("utf-8").encode(encoding))


def test_fix_saves_a_utf16_rule_file_as_utf8(project: Path) -> None:  # noqa: F811
    """Before: 'nothing to fix', then the same error."""
    resave(project / "tiers.yaml", "utf-16")
    fixed = invoke("validate", str(project), "--fix")
    assert fixed.exit_code == 0, fixed.output
    said = f"{project}/tiers.yaml：已另存为 UTF-8（原来是 UTF-16，即记事本的「Unicode」）"
    assert fixed.stdout.splitlines()[0] == said
    assert (project / "tiers.yaml").read_bytes() == (RULES / "tiers.yaml").read_bytes()


def test_fix_saves_a_utf16_table_as_utf8_that_excel_opens(project: Path) -> None:  # noqa: F811
    """Excel reads a CSV as UTF-8 only after the byte-order mark."""
    resave(project / "strategies.csv", "utf-16")
    assert not validate_project(project).ok
    fix_project(project)
    expected = codecs.BOM_UTF8 + (RULES / "strategies.csv").read_bytes()
    assert (project / "strategies.csv").read_bytes() == expected
    assert validate_project(project).ok


def test_fix_saves_as_utf8_then_repairs_the_full_width_punctuation(
    project: Path,  # noqa: F811
) -> None:
    path = edit(project, "levels.yaml", "hit_policy: first", "hit_policy：first")
    resave(path, "utf-16")
    fixed = invoke("validate", str(project), "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "-hit_policy：first\n+hit_policy: first" in fixed.stdout
    assert path.read_bytes() == (RULES / "levels.yaml").read_bytes()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  - name: dormant", "\t- name: dormant"),  # a tab two columns wide
        ("    label: 睡眠客户", "\tlabel: 睡眠客户"),  # four
        ("    label: 睡眠客户", "\t\tlabel: 睡眠客户"),  # two, twice
        ("    label: 睡眠客户", "    label:\t睡眠客户"),  # after the colon
    ],
)
def test_fix_makes_the_tabs_of_a_yaml_file_spaces(
    project: Path,  # noqa: F811
    old: str,
    new: str,
) -> None:
    """Before: 'nothing to fix', then the tab error again."""
    path = edit(project, "tiers.yaml", old, new)
    [error] = errors(project)
    assert (error.code, error.line) == ("yaml-tab", line_of("tiers.yaml", old))
    fixed = invoke("validate", str(project), "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert f"-{new}\n+{old}\n" in fixed.stdout
    assert path.read_bytes() == (RULES / "tiers.yaml").read_bytes()


def test_fix_saves_a_gb18030_file_with_tabs_as_utf8_with_spaces(project: Path) -> None:  # noqa: F811
    path = edit(project, "levels.yaml", "  - name: partner", "\t- name: partner")
    resave(path, "gb18030")
    fix_project(project)
    assert path.read_bytes() == (RULES / "levels.yaml").read_bytes()


# --- square brackets typed on a Chinese keyboard -------------------------------------------

ORDER = "order: [basic, passive, responsible, proactive, partner]"
IN_LIST = "tier IN ('high_value_added', 'valuable') AND value_ratio >= 5"
AGES = "not dormant,[25..45],"


@pytest.mark.parametrize(
    ("file", "old", "new", "needed"),
    [
        ("levels.yaml", ORDER, ORDER.replace("[", "【").replace("]", "】"), "'['"),
        ("levels.yaml", ORDER, ORDER.replace("[", "［").replace("]", "］"), "'['"),
        ("levels.yaml", IN_LIST, IN_LIST.replace("(", "【").replace(")", "】"), "'('"),
        ("strategies.csv", AGES, AGES.replace("[", "【").replace("]", "】"), "'['"),
    ],
)
def test_a_full_width_square_bracket_is_named_and_fixed(
    project: Path,  # noqa: F811
    file: str,
    old: str,
    new: str,
    needed: str,
) -> None:
    """Before: 'expected a list' for the whole value, 'an AND or OR may be missing' at the
    first value of a condition's list, 'not a number' for a table's range."""
    path = edit(project, file, old, new)
    with language("zh"):
        opening, closing = errors(project)
    text = path.read_text("utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if new in row)
    row = text.splitlines()[line - 1]
    bracket = row.index(next(char for char in new if char in "【［"))
    assert (opening.code, opening.line, opening.col) == ("full-width", line, bracket + 1)
    assert opening.message == f"这里需要 {needed}，却用了全角左方括号 '{row[opening.col - 1]}'"
    assert (closing.code, closing.line) == ("full-width", line)
    assert closing.message.endswith(f"却用了全角右方括号 '{row[closing.col - 1]}'")
    fix_project(project)
    assert path.read_bytes() == (RULES / file).read_bytes()


# --- a day the calendar does not have -----------------------------------------------------

DORMANT_IDLE = "AND (days_idle >= 180 OR days_idle IS NULL)"


@pytest.mark.parametrize(
    ("written", "code", "underlined", "hint"),
    [
        ("'2月30日'", "type-mismatch", "opened_on >= '2月30日'", "2月没有30日：这个月最多 29 天"),
        ("2月30日", "number-format", "2月30日", "2月没有30日：这个月最多 29 天"),
        ("'4月31号'", "type-mismatch", "opened_on >= '4月31号'", "4月没有31日：这个月最多 30 天"),
        (
            "'2026年2月29日'",
            "type-mismatch",
            "opened_on >= '2026年2月29日'",
            "2026年2月只有 28 天，最后一天是 2026-02-28",
        ),
        (
            "DATE '2026-02-30'",
            "condition-syntax",
            "2026-02-30",
            "2026年2月只有 28 天，最后一天是 2026-02-28",
        ),
        ("DATE '2026-13-01'", "condition-syntax", "2026-13-01", "没有13月：月份只能是 1 到 12"),
    ],
)
def test_a_day_the_calendar_lacks_is_answered_with_its_months_days(
    project: Path,  # noqa: F811
    written: str,
    code: str,
    underlined: str,
    hint: str,
) -> None:
    """Before: 'write dates as DATE '2024-01-31'' or 'expected YYYY-MM-DD' for a day written
    just so, and 'leave out 月30日: write 2' for one without quotes."""
    edit(project, "tiers.yaml", DORMANT_IDLE, f"AND opened_on >= {written}")
    with language("zh"):
        [error] = errors(project)
    line = line_of("tiers.yaml", f"      {DORMANT_IDLE}")
    text = (project / "tiers.yaml").read_text("utf-8").splitlines()[line - 1]
    assert (error.code, error.line, error.col) == (code, line, text.index(underlined) + 1)
    assert (error.length, error.hint) == (len(underlined), hint)


def test_a_leap_day_in_a_leap_year_is_a_day(project: Path) -> None:  # noqa: F811
    edit(project, "tiers.yaml", DORMANT_IDLE, "AND opened_on >= DATE '2028-02-29'")
    assert validate_project(project).ok


def test_a_scenario_day_the_calendar_lacks_is_answered_with_its_months_days(
    project: Path,  # noqa: F811
) -> None:
    today = 'today: "2026-11-06"'
    path = edit(project, "tests/lifecycle.yaml", today, 'today: "2026年2月30日"')
    with language("zh"):
        [error] = errors(project)
    line = line_of("tests/lifecycle.yaml", f"    {today}")
    assert (error.file, error.line, error.col) == (str(path), line, len("    today: ") + 1)
    assert error.hint == "2026年2月只有 28 天，最后一天是 2026-02-28"


@pytest.mark.parametrize("written", ["2026-02-30", "2026年2月30日 09:00"])
def test_an_option_day_the_calendar_lacks_is_answered_with_its_months_days(
    project: Path,  # noqa: F811
    written: str,
) -> None:
    planned = invoke("plan", "--rules", str(project), "--from", written, "--to", "2026-03-31")
    assert planned.exit_code == 2
    said = f"'{written}' 不是日期：2026年2月只有 28 天，最后一天是 2026-02-28"
    assert said in planned.stderr


# --- click's own words for numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["demo-data", "--customers", "五百"], "'--customers' 的取值无效：'五百' 不是有效的整数。"),
        (["health", "--max-dead", "-1"], "'--max-dead' 的取值无效：-1 超出了允许的范围（至少 0）"),
        (["simulate", "--days", "0"], "'--days' 的取值无效：0 超出了允许的范围（1 到 366）。"),
        (["doctor", "--timeout", "几秒"], "'--timeout' 的取值无效：'几秒' 不是有效的数字。"),
        (["quarantine", "show", "abc"], "'ID' 的取值无效：'abc' 不是有效的整数。"),
    ],
)
def test_a_bad_number_on_the_command_line_is_said_in_chinese(args: list[str], said: str) -> None:
    """Before: '不是有效的integer range', '不在范围 x>=0 内'."""
    refused = invoke(*args)
    assert refused.exit_code == 2
    assert said in refused.stderr


def test_the_help_gives_a_numbers_range_in_chinese() -> None:
    shown = invoke("demo-data", "--help")
    [line] = [line for line in shown.stdout.splitlines() if "--customers " in line]
    assert "--customers 整数" in line and "至少 1]" in line
    assert "INTEGER" not in shown.stdout and "x>=" not in shown.stdout


def test_english_keeps_clicks_own_words() -> None:
    from click.testing import CliRunner

    from guanxi.cli.main import cli

    refused = CliRunner().invoke(cli, ["--lang", "en", "health", "--max-dead", "-1"])
    assert "-1 is not in the range x>=0." in refused.stderr
    shown = CliRunner().invoke(cli, ["--lang", "en", "demo-data", "--help"])
    assert "--customers INTEGER RANGE" in shown.stdout


# --- a decision table kept in Excel, with merged cells --------------------------------------


def excel_project(folder: Path, merge: str) -> Path:
    """The project in `folder` with its strategies in strategies.xlsx, the cells `merge`
    merged (all values but the top-left one emptied, as Excel does)."""
    rows = list(csv.reader((RULES / "strategies.csv").read_text("utf-8").splitlines()))
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "策略"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(folder / "strategies.xlsx")
    (folder / "strategies.csv").unlink(missing_ok=True)
    table = "hit_policy: first\ndecision_table: strategies.xlsx\nsheet: 策略\n"
    (folder / "strategies.yaml").write_text(table, encoding="utf-8")
    return folder


@pytest.mark.parametrize("merge", ["B3:B5", "C3:C5", "F3:F4"])  # labels; a test (not dormant)
def test_cells_merged_down_a_column_hold_their_value_in_each_row(
    project: Path,  # noqa: F811
    tmp_path: Path,
    merge: str,
) -> None:
    """Before: 'every row needs name and label' at the rows under the merged label, and a
    merged test was read as any value in the rows under it."""
    unmerged = excel_project(project, "")
    expected = validate_project(unmerged)
    assert expected.ok and expected.ruleset is not None
    merged_folder = tmp_path / "merged"
    shutil.copytree(project, merged_folder)
    merged = validate_project(excel_project(merged_folder, merge))
    assert merged.ok and merged.ruleset is not None, merged.diagnostics
    assert merged.ruleset.hash == expected.ruleset.hash


def test_cells_merged_across_columns_are_refused_with_their_place(
    project: Path,  # noqa: F811
) -> None:
    """Before: valid, the second column's test ('not dormant') read as any value."""
    excel_project(project, "E3:F3")
    with language("zh"):
        [error] = errors(project)
    assert (error.file, error.line, error.col) == (
        f"{project}/strategies.yaml",
        2,
        len("decision_table: ") + 1,
    )
    assert error.message.startswith("单元格 E3:F3 跨列合并了：除第一列外，其余列的条件成了空")


# --- a decision table's amount said as a banker says it -----------------------------------

INCOME_CELL = ",>= 8万,"


@pytest.mark.parametrize(
    ("said", "hint"),
    [
        ("8w", "表示“万”请写 8万"),  # before: the list of what a cell may be
        ("八万", "请用阿拉伯数字写：80000"),  # before: '写一次万或亿，紧跟在数字后面'
        ("八万元", "请用阿拉伯数字写：80000"),
    ],
)
def test_a_cells_amount_said_in_words_is_answered_with_the_number(
    project: Path,  # noqa: F811
    said: str,
    hint: str,
) -> None:
    path = edit(project, "strategies.csv", INCOME_CELL, f",>= {said},")
    with language("zh"):
        [error] = errors(project)
    row = line_of_text(path, said)
    text = path.read_text("utf-8").splitlines()[row - 1]
    assert (error.code, error.line, error.col) == ("number-format", row, text.index(">= ") + 1)
    assert (error.message, error.hint) == (f"列 'annual_income'：'{said}' 不是数字", hint)


# --- a template's variable written as a Chinese keyboard writes it --------------------------

SUBJECT = "subject: 售后回访：{{ name }}"


@pytest.mark.parametrize(
    "written", ["｛｛ name ｝｝", "{ name }", "{name}", "｛name｝", "{ event.product }"]
)
def test_a_variable_in_braces_the_template_does_not_read_is_refused(
    project: Path,  # noqa: F811
    written: str,
) -> None:
    """Before: valid, and the customer or the manager read '｛｛ name ｝｝' as it stands."""
    path = edit(project, "templates.yaml", SUBJECT, f"subject: 售后回访：{written}")
    with language("zh"):
        [error] = errors(project)
    line = line_of("templates.yaml", f"    {SUBJECT}")
    text = path.read_text("utf-8").splitlines()[line - 1]
    at = (error.code, error.line, error.col, error.length)
    assert at == ("template-variable", line, text.index(written) + 1, len(written))
    said = f"'{written}' 会原样发出：变量要用英文双花括号 {{{{ }}}} 括起来"
    inside = written.strip("{}｛｝ ")
    assert (error.message, error.hint) == (said, f"请写成 {{{{ {inside} }}}}")


def test_a_field_label_as_a_template_variable_is_answered_with_the_field(
    project: Path,  # noqa: F811
) -> None:
    """Before: 'unknown variable '客户名称'' and no hint."""
    edit(project, "templates.yaml", SUBJECT, "subject: 售后回访：{{ 客户名称 }}")
    with language("zh"):
        [error] = errors(project)
    assert (error.code, error.line) == (
        "template-variable",
        line_of("templates.yaml", f"    {SUBJECT}"),
    )
    assert error.hint == "'客户名称' 是字段 'name' 的显示名称，模板中要写字段名：{{ name }}"


def test_a_chinese_word_as_a_template_variable_is_answered_with_the_nearest_fields(
    project: Path,  # noqa: F811
) -> None:
    """`{{ 姓名 }}`, a word no label is: the fields whose labels are nearest (客户名称)."""
    edit(project, "templates.yaml", SUBJECT, "subject: 售后回访：{{ 姓名 }}")
    with language("zh"):
        [error] = errors(project)
    assert (error.code, error.message) == ("template-variable", "未知的变量 '姓名'")
    assert error.hint is not None
    assert error.hint.startswith("变量要写 schema.yaml 中的英文字段名：{{ name }} (客户名称)")


def test_text_in_single_braces_that_names_no_variable_is_text(project: Path) -> None:  # noqa: F811
    edit(project, "templates.yaml", SUBJECT, "subject: 售后回访：{VIP专享}")
    assert validate_project(project).ok


# --- a duration said with 'after' or 'within' ----------------------------------------------


@pytest.mark.parametrize(
    ("key", "said", "word", "duration"),
    [
        ("after: 3 business days", "after: 3天后", "后", "3天"),
        ("after: 3 business days", "after: 3个工作日之后", "之后", "3个工作日"),
        ("expires: 10 days", "expires: 十天以内", "以内", "十天"),
    ],
)
def test_a_duration_said_with_after_or_within_is_answered_without_it(
    project: Path,  # noqa: F811
    key: str,
    said: str,
    word: str,
    duration: str,
) -> None:
    """Before: 'write a number and a unit, e.g. '3 business days''."""
    path = edit(project, "playbooks.yaml", key, said)
    with language("zh"):
        [error] = errors(project)
    line = line_of_text(path, said)
    text = path.read_text("utf-8").splitlines()[line - 1]
    at = (error.code, error.line, error.col)
    assert at == ("invalid-duration", line, text.index(said.split(": ")[1]) + 1)
    assert error.hint == f"去掉“{word}”（这一项本身已含此意）：请写 '{duration}'"
    edit(project, "playbooks.yaml", said, said.replace(word, ""))
    assert validate_project(project).ok


# --- a template named by its words, not its name -------------------------------------------


def test_a_template_named_in_chinese_lists_the_templates_of_its_kind(
    project: Path,  # noqa: F811
) -> None:
    """Before: 'no template' and nothing else when no name was close: the user had to open
    templates.yaml to find what to write."""
    edit(project, "playbooks.yaml", "template: product_news", "template: 产品资讯")
    [error] = errors(project)
    line = line_of_text(project / "playbooks.yaml", "template: 产品资讯")
    assert (error.code, error.line) == ("unknown-template", line)
    assert error.expected is not None
    named = [choice.split(" (")[0] for choice in error.expected.split(", ")]
    assert "product_news" in named and "usage_tips" in named
    assert "product_news (本月新产品资讯)" in error.expected  # each id with its title
    assert "post_sale_check" not in named  # a task's template: not for a message step


def line_of_text(path: Path, text: str) -> int:
    """The first line of `path` holding `text`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)
