"""A new user's third round on a Chinese keyboard: amounts said in parts (1亿5千万) or in
Chinese numerals with their yuan (二十万元), a share in Chinese numerals (七十%), a date
without its year (1月1日), a playbook's time and day said in words (10点, 5号), text copied
from Word with its non-breaking spaces, and a rule file Notepad saved as 'Unicode' (UTF-16).
Each is named at its place with what to write; --fix repairs what it can."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from guanxi.engine.i18n import language
from guanxi.engine.language import parse_condition
from guanxi.engine.ruleset import validate_project
from guanxi.engine.ruleset.fix import fix_project
from tests.test_chinese_keyboard import (
    FIELDS,
    RULES,
    edit,
    errors,
    line_of,
    project,  # noqa: F401  (the fixture)
    refused,
)
from tests.test_new_user_audit import invoke

NBSP = "\u00a0"

# --- amounts said as a banker says them ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("share >= 1亿5千万", "write 150000000 or 1.5亿"),  # never 'leave out 5千万: write 1亿'
        ("share >= 1亿5000万", "write 150000000 or 1.5亿"),
        ("share >= 3万5千", "write 35000 or 3.5万"),
        ("share >= 3千5百", "write 3500"),
    ],
)
def test_an_amount_said_in_parts_is_answered_with_the_whole_amount(text: str, hint: str) -> None:
    error = refused(text)
    assert (error.code, error.hint) == ("number-format", hint)
    assert text[error.offset : error.offset + error.length] == text.split(">= ")[1]


def test_the_amount_written_as_told_is_the_amount_said() -> None:
    told = refused("share >= 1亿5千万").hint
    assert told is not None
    for written in told.removeprefix("write ").split(" or "):
        condition = parse_condition(f"share >= {written}", FIELDS)
        assert Decimal(condition.plain.split(">= ")[1]) == 150_000_000


@pytest.mark.parametrize(("written", "number"), [("二十万元", 200000), ("三千万元", 30000000)])
def test_chinese_numerals_with_their_yuan_are_answered_with_the_digits(
    project: Path,  # noqa: F811
    written: str,
    number: int,
) -> None:
    edit(project, "tiers.yaml", "total_assets >= 20万 OR", f"total_assets >= {written} OR")
    [error] = errors(project)
    line = line_of("tiers.yaml", "      (total_assets >= 20万 OR")
    assert (error.line, error.col) == (line, 24)
    assert error.hint == f"write the number in digits: {number}"  # not 'put it in quotes'


def test_a_share_in_chinese_numerals_with_a_percent_sign_gets_its_percent() -> None:
    error = refused("share >= 七十%")
    assert (error.code, error.hint, error.offset, error.length) == (
        "number-format",
        "write 70%",
        9,
        3,
    )


# --- a date without its year ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("opened_on < 1月1日", "DATE 'YYYY-01-01'"),  # never 'leave out 月1日: write 1'
        ("opened_on < DATE '12月31日'", "DATE 'YYYY-12-31'"),
        ("opened_on < '3月1号'", "DATE 'YYYY-03-01'"),
    ],
)
def test_a_day_without_its_year_asks_for_the_year(text: str, literal: str) -> None:
    error = refused(text)
    assert error.hint == f"a date needs its year: write {literal}, YYYY being the year"
    with language("zh"):
        assert "年份" in str(refused(text).hint)


def test_a_scenario_day_without_its_year_asks_for_the_year(project: Path) -> None:  # noqa: F811
    edit(project, "tests/tiers_and_levels.yaml", 'today: "2026-09-29"', "today: 9月29日")
    [error] = errors(project)
    assert (error.code, error.col) == ("invalid-value", 12)
    assert error.hint == "a date needs its year: write YYYY-09-29, YYYY being the year"


# --- a playbook's time and day of the month said in words ----------------------------------


@pytest.mark.parametrize(
    ("said", "time"),
    [("10点", "10:00"), ("上午10点", "10:00"), ("下午3点半", "15:30"), ("9点30分", "09:30"),
     ("凌晨2点", "02:00"), ("凌晨12点", "00:00"), ("傍晚6点", "18:00"), ("早晨7点半", "07:30")],
)  # fmt: skip
def test_a_time_said_in_words_is_answered_with_the_time_to_write(
    project: Path,  # noqa: F811
    said: str,
    time: str,
) -> None:
    edit(project, "playbooks.yaml", 'at: "10:00"', f"at: {said}")
    [error] = errors(project)
    line = line_of("playbooks.yaml", '      at: "10:00"')
    assert (error.code, error.line, error.col) == ("invalid-time", line, 11)
    assert error.hint == f"write '{time}'"


def test_the_nights_time_said_in_words_is_pointed_at_where_it_is_written(
    project: Path,  # noqa: F811
) -> None:
    """classify_at was blamed on classify_every, the line above it."""
    edit(project, "guanxi.yaml", 'classify_at: "02:00"', "classify_at: 凌晨2点")
    [error] = errors(project)
    line = line_of("guanxi.yaml", 'classify_at: "02:00"')
    assert (error.code, error.line, error.col) == ("invalid-time", line, 14)
    assert error.hint == "write '02:00'"


@pytest.mark.parametrize("said", ["5号", "5日", "五", "五号", "每月5日"])
def test_a_day_of_the_month_said_in_words_is_answered_with_its_number(
    project: Path,  # noqa: F811
    said: str,
) -> None:
    edit(project, "playbooks.yaml", "day: 5", f"day: {said}")
    with language("zh"):
        [error] = errors(project)
    assert (error.code, error.line, error.col) == (
        "invalid-value",
        line_of("playbooks.yaml", "      day: 5"),
        12,
    )
    assert "每个月都有" not in error.message  # the 5th is in every month: it is the writing
    assert error.hint == "只写日期的数字：day: 5"


# --- text copied from Word: non-breaking spaces --------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "col"),
    [
        ("    label: 有价值客户", f"{NBSP * 4}label: 有价值客户", 1),  # the indentation
        ("    label: 有价值客户", f"    label:{NBSP}有价值客户", 11),  # after a key's colon
        ("  - name: valuable", f"  -{NBSP}name: valuable", 4),  # after a list dash
    ],
)
def test_a_non_breaking_space_from_word_is_named_and_fixed(
    project: Path,  # noqa: F811
    old: str,
    new: str,
    col: int,
) -> None:
    """Before: 'indented more than the line above' a line further down, or 'the key has no
    ':'', and --fix repaired nothing."""
    line = line_of("tiers.yaml", old)
    edit(project, "tiers.yaml", old, new)
    with language("zh"):
        found = errors(project)
    assert [(d.code, d.line, d.col) for d in found][:1] == [("full-width", line, col)]
    assert "不间断空格" in found[0].message and "--fix" in str(found[0].hint)
    fix_project(project)
    assert errors(project) == []
    assert (project / "tiers.yaml").read_text("utf-8") == (RULES / "tiers.yaml").read_text("utf-8")


def test_a_non_breaking_space_where_a_space_is_read_alike_is_no_error(
    project: Path,  # noqa: F811
) -> None:
    """In a condition and after a name it is read as the space it looks like: no error."""
    edit(project, "tiers.yaml", "contribution_pct >= 70%", f"contribution_pct{NBSP}>={NBSP}70%")
    edit(project, "tiers.yaml", "  - name: valuable\n", f"  - name: valuable{NBSP}\n")
    assert errors(project) == []


# --- a rule file Notepad saved as 'Unicode' ------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_rule_file_saved_as_utf16_is_named_with_how_to_save_it(
    project: Path,  # noqa: F811
    encoding: str,
) -> None:
    path = project / "levels.yaml"
    mark = "\ufeff".encode(encoding)
    path.write_bytes(mark + path.read_text("utf-8").encode(encoding))
    with language("zh"):
        [error] = errors(project)
    assert error.file.endswith("levels.yaml")
    assert (error.line, error.col, error.code) == (1, 1, "not-utf8")
    assert "UTF-16" in error.message and "记事本" in error.message
    assert error.hint is not None and "UTF-8" in error.hint
    shown = invoke("validate", str(project)).output
    first = (RULES / "levels.yaml").read_text("utf-8").splitlines()[0]
    assert f"1 | {first}" in shown  # the line as written, not its bytes read as UTF-8


# --- one alternative of an OR that can never be true ---------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "loan_balance >= 100万 AND loan_balance < 5万",  # the bounds swapped
        "loan_balance > 10 AND loan_balance < 5",
    ],
)
def test_an_alternative_that_can_never_be_true_is_warned_at_its_rule(
    project: Path,  # noqa: F811
    typed: str,
) -> None:
    """Before: no word, since the tier still matched by its other alternatives."""
    edit(project, "tiers.yaml", "OR loan_balance >= 20万", f"OR {typed}")
    with language("zh"):
        result = validate_project(project)
    [warning] = [d for d in result.diagnostics if d.code == "never-true-part"]
    assert (warning.line, warning.severity) == (line_of("tiers.yaml", "  - name: high_"), "warning")
    assert "不可能同时成立" in warning.message and "loan_balance <" in warning.message
    assert [d for d in result.diagnostics if d.severity == "error"] == []


def test_an_alternative_outside_the_schemas_bounds_is_warned(project: Path) -> None:  # noqa: F811
    edit(project, "tiers.yaml", "balance = 0 AND", "balance = 0 AND (age > 200 OR age < 10) AND")
    [warning] = [d for d in validate_project(project).diagnostics if d.code == "never-true-part"]
    assert "'age > 200'" in warning.message and "0 to 150" in warning.message


# --- a tier renamed, its old name still written elsewhere ----------------------------------


def test_a_renamed_tier_gets_its_order_written_and_every_old_name_named(
    project: Path,  # noqa: F811
) -> None:
    """Before: 'list each of dormant, high_value_added, valued, low_value once, from the
    lowest to the highest', a list not in that order."""
    edit(project, "tiers.yaml", "  - name: valuable\n", "  - name: worthy\n")
    found = errors(project)
    left_out = next(d for d in found if d.message.startswith("'order:' leaves out"))
    assert left_out.hint == (
        "if 'valuable' was renamed 'worthy': write order: [dormant, low_value, worthy,"
        " high_value_added]"
    )
    edit(project, "tiers.yaml", "low_value, valuable,", "low_value, worthy,")
    places = {(d.file.split("/rules/")[-1], d.line) for d in errors(project)}
    assert (
        "levels.yaml",
        line_of("levels.yaml", "    when: tier IN ('high_value_added', 'v"),
    ) in places
    assert len(places) >= 5  # levels, playbooks and scenarios: each old name, none silently


# --- signs as a sentence or Word writes them -----------------------------------------------


@pytest.mark.parametrize(("text", "sign"), [("share => 70%", ">="), ("share =< 70%", "<=")])
def test_a_comparison_sign_the_other_way_round_is_answered_with_the_sign(
    text: str, sign: str
) -> None:
    """Before: 'expected: )' for =>, and a value missing after the next AND for =<."""
    error = refused(text)
    assert (error.code, error.hint, error.offset, error.length) == (
        "condition-syntax",
        f"write {sign}",
        6,
        2,
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("lifetime_value / relationship_cost", "lifetime_value ÷ relationship_cost"),
        (
            "COALESCE(annual_contribution, 0) * COALESCE",
            "COALESCE(annual_contribution, 0) × COALESCE",
        ),
    ],
)
def test_a_multiplication_or_division_sign_is_named_and_fixed(
    project: Path,  # noqa: F811
    old: str,
    new: str,
) -> None:
    """Before: 'an AND or OR may be missing' at the word after the sign, and no --fix."""
    line = line_of("tiers.yaml", f"    expr: {old}")
    edit(project, "tiers.yaml", old, new)
    [error] = errors(project)
    sign = next(i for i, c in enumerate(new) if c in "÷×")
    assert (error.code, error.line, error.col) == ("full-width", line, len("    expr: ") + sign + 1)
    fix_project(project)
    assert (project / "tiers.yaml").read_text("utf-8") == (RULES / "tiers.yaml").read_text("utf-8")


@pytest.mark.parametrize(
    ("said", "share"), [("百分之十", "10%"), ("一成", "10%"), ("百分之7.5", "7.5%")]
)
def test_a_holdout_said_in_words_is_answered_with_its_percent(
    project: Path,  # noqa: F811
    said: str,
    share: str,
) -> None:
    """Before: the general 'e.g. 10%', whatever share was said."""
    edit(project, "playbooks.yaml", "holdout: 10%", f"holdout: {said}")
    [error] = errors(project)
    assert (error.code, error.line) == (
        "invalid-value",
        line_of("playbooks.yaml", "      holdout: 10%"),
    )
    assert error.hint == f"write {share}"


@pytest.mark.parametrize(
    ("said", "hint"),
    [
        ("每月5日", "write 'every: month' and 'day: 5'"),
        ("每个月28号", "write 'every: month' and 'day: 28'"),
        ("每周一", "write 'every: week' and 'day: mon'"),
    ],
)
def test_a_period_said_with_its_day_is_answered_with_both_keys(
    project: Path,  # noqa: F811
    said: str,
    hint: str,
) -> None:
    """Before: 'use day, week, month, quarter or a cron expression'."""
    edit(project, "playbooks.yaml", "every: month", f"every: {said}")
    [error] = errors(project)
    line = line_of("playbooks.yaml", "      every: month")
    assert (error.code, error.line, error.col, error.hint) == ("invalid-cron", line, 14, hint)
