"""What a business user meant but a rule file spells otherwise, each refused at its place with
the text to write instead: NULL as an operand, a Chinese word for an operator, Excel's LIKE
wildcards, a field's label or a bare value for its name, numbers in Chinese numerals or with a
multiplier, and policies that would silently never hold (quiet hours, a cap over no time)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import language
from guanxi.engine.language import parse_condition
from guanxi.engine.language.mistakes import WORD_OPERATORS
from guanxi.engine.language.numbers import NumberSpelling, cell_number, chinese_number
from guanxi.engine.ruleset import validate_project

RULES = Path(__file__).parent.parent / "rules"
FIELDS = {
    "balance": "number",
    "kind": "string",
    "name": "string",
    "存款": "number",
    "opened_on": "date",
}


def refused(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, FIELDS)
    return caught.value


def pointed_at(text: str, error: ConditionError) -> str:
    return text[error.offset : error.offset + error.length]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("balance = NULL", "write balance IS NULL"),
        ("NULL = balance", "write balance IS NULL"),
        ("balance <> NULL", "write balance IS NOT NULL"),
        ("balance != NULL AND kind = 'a'", "write balance IS NOT NULL"),
        ("kind IN ('a', NULL)", "add OR kind IS NULL"),
        ("kind NOT IN ('a', NULL)", "add OR kind IS NULL"),
        ("balance > (NULL)", "balance IS NULL"),
        ("balance BETWEEN 1 AND NULL", "COALESCE(balance, 0)"),
        ("balance + NULL >= 5", "COALESCE(balance, 0)"),
        ("name LIKE NULL", "write name IS NULL"),
        ("balance IS NULL OR kind = NULL", "write kind IS NULL"),
        ("balance >= 20万 AND kind <> NULL", "write kind IS NOT NULL"),
    ],
)
def test_null_as_an_operand_is_refused_at_that_null(text: str, hint: str) -> None:
    error = refused(text)
    assert error.code == "null-comparison"
    assert pointed_at(text, error) == "NULL"
    assert "IS" not in text[: error.offset].split()[-1:]  # not the NULL of an IS NULL
    assert error.hint is not None and hint in error.hint


@pytest.mark.parametrize(
    "text",
    [
        "balance IS NULL",
        "balance IS NOT NULL AND NOT kind IS NULL",
        "COALESCE(balance, NULL) > 1",
        "kind = 'NULL'",
        "kind IN ('a', 'b') OR kind IS NULL",
    ],
)
def test_null_tested_with_is_or_as_a_value_is_accepted(text: str) -> None:
    assert parse_condition(text, FIELDS).text == text


@given(
    operator=st.sampled_from(["=", "<>", "!=", "<", "<=", ">", ">="]),
    null_first=st.booleans(),
    value=st.none() | st.integers(-5, 5) | st.floats(-1e6, 1e6),
)
def test_what_is_refused_is_never_true_in_sqlite(
    operator: str, null_first: bool, value: float | None
) -> None:
    """The refusal is right: SQLite finds the comparison true for no value at all."""
    text = f"NULL {operator} balance" if null_first else f"balance {operator} NULL"
    assert refused(text).code == "null-comparison"
    sql = parse_condition("balance IS NULL", FIELDS).sql("sqlite").replace(" IS NULL", "")
    row = sqlite3.connect(":memory:").execute(
        f"SELECT {text.replace('balance', sql)} IS TRUE FROM (SELECT ? AS balance)", (value,)
    )
    assert row.fetchone() == (0,)


@pytest.mark.parametrize("word", sorted(WORD_OPERATORS))
def test_every_chinese_operator_word_is_pointed_at_with_its_operator(word: str) -> None:
    text = f"balance >= 1 {word} kind = 'a'"
    error = refused(text)
    assert (error.code, pointed_at(text, error)) == ("chinese-word", word)
    assert error.hint is not None and WORD_OPERATORS[word] in error.hint


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("balance 大于 100", "大于"),
        ("balance 大于等于 100", "大于等于"),
        ("余额大于100", "大于"),  # a label and the word, without spaces
        ("balance 不为空", "不为空"),
        ("(balance > 1 或者 balance < 0) 且 kind = 'a'", "或者"),
    ],
)
def test_the_word_is_found_wherever_it_is_written(text: str, word: str) -> None:
    error = refused(text)
    assert (error.code, pointed_at(text, error)) == ("chinese-word", word)


def test_chinese_in_quotes_or_as_a_field_name_is_no_operator() -> None:
    assert parse_condition("kind = '大于' OR name LIKE '%且%'", FIELDS)
    assert parse_condition("存款 > 100", FIELDS).fields == {"存款"}
    named = {**FIELDS, "至少持有产品数x": "number"}  # starts with 至少, a word for >=
    assert parse_condition("至少持有产品数x >= 3", named).fields == {"至少持有产品数x"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


WHEN = "balance = 0 AND COALESCE(wealth_balance, 0) = 0"  # the dormant tier's condition begins so


def edited(project: Path, new: str) -> list[Diagnostic]:
    path = project / "tiers.yaml"
    text = path.read_text(encoding="utf-8")
    assert WHEN in text
    path.write_text(text.replace(WHEN, new), encoding="utf-8")
    return validate_project(project).diagnostics


def col_of(text: str) -> int:
    """The column `text` starts at on the line of the dormant tier's condition."""
    line = next(x for x in (RULES / "tiers.yaml").read_text().splitlines() if WHEN in x)
    return line.index(WHEN) + 1 + text


@pytest.mark.parametrize(
    ("when", "at", "hint"),
    [
        (
            "存款余额 IS NOT NULL AND total_assets < 100",
            0,
            "a condition names a field by its name, not its label: balance (存款余额)",
        ),
        (
            "余额 IS NOT NULL AND total_assets < 100",
            0,
            "not its label: balance (存款余额), loan_balance (贷款余额), wealth_balance (理财余额)",
        ),
        (
            "balance IS NOT NULL AND 总资产 < 100",
            24,
            "a condition names a field by its name, not its label: total_assets (总资产)",
        ),
        (
            "balance IS NOT NULL AND kind <> personal",
            32,
            "a text value is written in single quotes: kind = 'personal'",
        ),
        (
            'balance IS NOT NULL AND kind <> "personal"',
            32,
            "double quotes name a field; a text value is in single quotes: kind = 'personal'",
        ),
        (
            "balance IS NOT NULL AND kind <> 个人",
            32,
            "in single quotes: '个人'",
        ),
        (  # a label half remembered: 月均交易笔数
            "月交易笔数 >= 10 AND total_assets < 100",
            0,
            "the fields whose labels are nearest: monthly_txn_count (月均交易笔数)",
        ),
        (
            "贷款额 > 0 AND total_assets < 100",
            0,
            "the fields whose labels are nearest: loan_balance (贷款余额)",
        ),
    ],
)
def test_a_label_or_a_bare_value_is_answered_with_what_to_write(
    project: Path, when: str, at: int, hint: str
) -> None:
    [diagnostic] = edited(project, when)
    assert (diagnostic.code, diagnostic.col) == ("unknown-field", col_of(at))
    assert diagnostic.hint is not None and hint in diagnostic.hint


def test_the_mistakes_are_explained_in_chinese(project: Path) -> None:
    with language("zh"):
        [word] = edited(project, "balance != NULL AND total_assets 小于 100")
    assert (word.code, word.col) == ("chinese-word", col_of(33))
    assert (word.message, word.hint) == (
        "「小于」是中文词语，条件里要写成运算符 <",
        "把「小于」改成 <，例如 balance < 100",
    )
    tiers = project / "tiers.yaml"
    tiers.write_text(tiers.read_text().replace("total_assets 小于 100", "total_assets < 100"))
    with language("zh"):
        [null] = validate_project(project).diagnostics
    assert (null.code, null.col) == ("null-comparison", col_of(11))
    assert (null.message, null.hint) == (
        "与 NULL 比较永远不为真，与 NULL 计算永远没有值，对每个客户都是如此",
        "要找出这个值不为空的客户，请写 balance IS NOT NULL",
    )


@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("大于 30", "write '> 30' in place of '大于'"),
        ("不超过30", "write '<= 30' in place of '不超过'"),
        ("不等于 30", "write 'not 30' in place of '不等于'"),
    ],
)
def test_a_table_cell_with_a_chinese_comparison_gets_the_cell_to_write(
    project: Path, cell: str, hint: str
) -> None:
    table = project / "strategies.csv"
    table.write_text(table.read_text(encoding="utf-8").replace(",[25..45],", f",{cell},", 1))
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.hint) == ("decision-table", 3, hint)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("balance > 5千", "write 5000"),  # 5千 is five thousand: never 'leave out 千'
        ("balance > 1.5千", "write 1500"),
        ("balance > 3百万", "write 3000000"),
        ("balance > 2k", "write 2000"),
        ("balance > 50元", "leave out '元': write 50"),
    ],
)
def test_a_multiplier_glued_to_a_number_is_written_out_not_dropped(text: str, hint: str) -> None:
    error = refused(text)
    assert (error.code, error.hint) == ("number-format", hint)


@pytest.mark.parametrize(
    ("cell", "hint"),
    [("8千", "write 8000"), ("2千万", "write 20000000"), ("8万", None)],
)
def test_a_table_cell_with_a_multiplier_gets_the_number(cell: str, hint: str | None) -> None:
    if hint is None:
        assert cell_number(cell) == "80000"
        return
    with pytest.raises(NumberSpelling) as caught:
        cell_number(cell)
    assert caught.value.hint == hint


@pytest.mark.parametrize(
    ("text", "number"),
    [("二十万", 200000), ("三万五千", 35000), ("一亿二千万", 120000000), ("一百零五", 105),
     ("十五", 15), ("两千", 2000), ("万", None), ("大于", None), ("五万元", None)],
)  # fmt: skip
def test_chinese_numerals_are_read_for_the_hint(text: str, number: int | None) -> None:
    assert chinese_number(text) == number


def test_a_number_in_chinese_numerals_is_answered_with_its_digits(project: Path) -> None:
    [diagnostic] = edited(project, "balance IS NOT NULL AND total_assets < 二十万")
    assert (diagnostic.code, diagnostic.col) == ("unknown-field", col_of(39))
    assert diagnostic.hint == "write the number in digits: 200000"


def test_a_date_compared_with_a_number_is_told_how_dates_are_written() -> None:
    error = refused("balance > 1 AND DAYS_SINCE(opened_on) > 1 AND opened_on > 2020-01-01")
    assert (error.code, error.hint) == ("type-mismatch", "write DATE '2020-01-01'")


@pytest.mark.parametrize(
    ("text", "char", "hint"),
    [
        ("name LIKE '张*'", "*", "write name LIKE '张%'"),
        ("name LIKE '%科技?'", "?", "write name LIKE '%科技_'"),
        ("kind = 'a' OR name LIKE 'O''*'", "*", "write name LIKE 'O''%'"),
    ],
)
def test_excel_wildcards_in_like_are_refused_with_the_pattern_to_write(
    text: str, char: str, hint: str
) -> None:
    error = refused(text)
    assert (error.code, pointed_at(text, error), error.hint) == ("like-wildcard", char, hint)


def test_what_like_is_refused_for_matches_no_one_in_sqlite() -> None:
    """The refusal is right: SQLite's LIKE takes * as itself, so '张*' finds no 张三."""
    row = sqlite3.connect(":memory:").execute("SELECT '张三' LIKE '张*', '张三' LIKE '张%'")
    assert row.fetchone() == (0, 1)


def test_quiet_hours_that_end_when_they_start_are_refused(project: Path) -> None:
    """From 21:00 to 21:00 holds at no time: messages would go out at 3 a.m. without a word."""
    policies = project / "policies.yaml"
    text = policies.read_text(encoding="utf-8")
    assert 'end: "08:30"' in text
    policies.write_text(text.replace('end: "08:30"', 'end: "21:00"'), encoding="utf-8")
    [diagnostic] = validate_project(project).diagnostics
    assert (Path(diagnostic.file).name, diagnostic.code) == ("policies.yaml", "invalid-time")
    assert diagnostic.message.startswith("quiet hours that end when they start (21:00)")


def test_a_cap_over_no_time_is_refused(project: Path) -> None:
    """A cap per 0 days counts no earlier message, so it never holds back one."""
    policies = project / "policies.yaml"
    text = policies.read_text(encoding="utf-8")
    assert "max: 2, per: 7 days" in text
    policies.write_text(text.replace("max: 2, per: 7 days", "max: 2, per: 0 days"))
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.message) == (
        "invalid-duration",
        "a cap per 0 days counts no earlier message: it would never hold",
    )


def test_quiet_hours_written_the_wrong_way_round_are_warned(project: Path) -> None:
    """start: '08:30', end: '21:00' keeps every message for the night: start and end swapped."""
    policies = project / "policies.yaml"
    text = policies.read_text(encoding="utf-8")
    written = 'quiet_hours: {start: "21:00", end: "08:30"}'
    assert written in text
    policies.write_text(text.replace(written, 'quiet_hours: {start: "08:30", end: "21:00"}'))
    validation = validate_project(project)
    [diagnostic] = validation.diagnostics
    assert (diagnostic.code, diagnostic.severity, diagnostic.col) == (
        "quiet-hours-by-day",
        "warning",
        22,
    )
    assert diagnostic.message == (
        "quiet hours from 08:30 to 21:00 hold all through the working day: messages would go"
        " out only between 21:00 and 08:30, at night"
    )
    assert diagnostic.hint == "are start and end swapped? write start: '21:00', end: '08:30'"


@pytest.mark.parametrize(
    ("start", "end"),
    [("21:00", "08:30"), ("12:00", "14:00"), ("20:00", "10:00"), ("00:00", "09:00")],
)
def test_quiet_hours_that_leave_the_day_open_are_not_warned(
    project: Path, start: str, end: str
) -> None:
    """Nights, a lunch break (午休), a long night: messages still go out by day."""
    policies = project / "policies.yaml"
    text = policies.read_text(encoding="utf-8")
    quiet = f'quiet_hours: {{start: "{start}", end: "{end}"}}'
    policies.write_text(text.replace('quiet_hours: {start: "21:00", end: "08:30"}', quiet))
    assert validate_project(project).diagnostics == []


@pytest.mark.parametrize(
    ("zone", "hint"),
    [
        ("UTC+8", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("GMT+08:00", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("Asia/Beijing", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("北京时间", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("东八区", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("上海", "write 'Asia/Shanghai' (China's time, UTC+8)"),
        ("UTC+9", "write the zone of a place, not an offset: e.g. 'Asia/Shanghai' for UTC+8"),
        ("Asia/Shangai", "did you mean 'Asia/Shanghai'?"),
    ],
)
def test_a_time_zone_as_people_write_it_is_answered_with_its_name(
    project: Path, zone: str, hint: str
) -> None:
    """Never 'did you mean UTC?' for UTC+8, nor 'Asia/Brunei' for Asia/Beijing."""
    settings = project / "guanxi.yaml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("timezone: Asia/Shanghai", f'timezone: "{zone}"'), "utf-8")
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.hint) == ("unknown-timezone", hint)


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ('"low_value"', "double quotes name a field; a text value is in single quotes:"),
        ("low_value", "a text value is written in single quotes:"),
    ],
)
def test_a_tier_written_as_a_field_is_answered_with_quotes_not_a_near_field(
    project: Path, written: str, hint: str
) -> None:
    """low_value is a tier, not a misspelt lifetime_value: the value in single quotes."""
    levels = project / "levels.yaml"
    text = levels.read_text(encoding="utf-8")
    assert "when: tier = 'low_value' AND value_ratio >= 1" in text
    levels.write_text(text.replace("tier = 'low_value' AND value_ratio >= 1", f"tier = {written}"))
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.hint) == ("unknown-field", f"{hint} tier = 'low_value'")


@pytest.mark.parametrize("unit", ["万元", "万", "亿元", "千元"])
def test_an_amount_counted_in_wan_is_refused(project: Path, unit: str) -> None:
    """A balance in 万元 would make `balance >= 20万` ask for 20万 万元 (20亿) without a word."""
    schema = project / "schema.yaml"
    text = schema.read_text(encoding="utf-8")
    written = "unit: 元, min: 0, label: 存款余额"
    assert written in text
    schema.write_text(text.replace(written, written.replace("元", unit, 1)), encoding="utf-8")
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.message, diagnostic.hint) == (
        "invalid-value",
        f"guanxi does not scale amounts by a unit of {unit}: a condition's 20万 is 200000, so"
        f" 'balance >= 20万' would ask for 200000 {unit}",
        "write unit: 元 and give balance in 元 in the customer files",
    )


def test_a_mistake_at_the_end_of_a_folded_line_is_found_at_its_place(project: Path) -> None:
    """In `when: >-` a line's last word is followed by a space in the value, not in the file:
    it is still pointed at, not at the line of `when:`."""
    tiers = project / "tiers.yaml"
    text = tiers.read_text(encoding="utf-8")
    line = "      balance = 0 AND COALESCE(wealth_balance, 0) = 0 AND COALESCE(loan_balance, 0) = 0"
    assert f"{line}\n      AND (days_idle" in text
    tiers.write_text(text.replace(line, f"{line} AND days_idle >= 半年"), encoding="utf-8")
    [diagnostic] = validate_project(project).diagnostics
    number = text.splitlines().index(line) + 1
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == (
        "unknown-field",
        number,
        len(line) + len(" AND days_idle >= ") + 1,
    )


def test_dates_written_without_quotes_are_the_dates_written(project: Path) -> None:
    """YAML reads `today: 2026-11-02` as a date, which a scenario refused as "not text":
    a date is read from its text, quoted or not."""
    scenarios = project / "tests" / "tiers_and_levels.yaml"
    text = scenarios.read_text(encoding="utf-8")
    for written in ('today: "2026-11-02"', 'last_txn_date: "2025-12-01"'):
        assert written in text
        text = text.replace(written, written.replace('"', ""))
    scenarios.write_text(text, encoding="utf-8")
    validation = validate_project(project)
    assert validation.diagnostics == []
    assert validation.ruleset is not None
    [file] = [f for f in validation.ruleset.scenarios if f.file.endswith("tiers_and_levels.yaml")]
    scenario = file.scenarios[0]
    assert scenario.customer is not None
    assert (scenario.today, scenario.customer["last_txn_date"]) == ("2026-11-02", "2025-12-01")


def test_a_scenario_naming_a_step_by_its_label_is_answered_with_its_id(project: Path) -> None:
    scenarios = project / "tests" / "tiers_and_levels.yaml"
    text = scenarios.read_text(encoding="utf-8")
    written = "no_followups: [passive_invite_feedback, responsible_post_sale_call]"
    assert written in text
    scenarios.write_text(text.replace(written, "no_followups: [售后邀请反馈]"), encoding="utf-8")
    [diagnostic] = validate_project(project).diagnostics
    assert (diagnostic.code, diagnostic.hint) == (
        "unknown-step",
        "write 'passive_invite_feedback' (售后邀请反馈)",
    )
