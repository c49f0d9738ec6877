"""Rule-file mistakes typed on a Chinese keyboard: shares said in words (百分之七十, 7成),
dates as written in Chinese (2026年3月1日, 2026/3/1), a full-width space after a key's colon,
and a decision-table row whose cells were typed apart with '，' or lost one. Each is caught at
its place with the text that means what the user meant; a table date Excel rewrote is read as
its day."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import language
from guanxi.engine.language import parse_condition
from guanxi.engine.language.numbers import NumberSpelling, cell_number
from guanxi.engine.ruleset import validate_project
from guanxi.engine.ruleset.fix import fix_project

RULES = Path(__file__).resolve().parent.parent / "rules"
FIELDS = {"share": "number", "opened_on": "date"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy, ignore=shutil.ignore_patterns("*.db*"))
    return copy


def refused(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text, FIELDS)
    return caught.value


def edit(project: Path, file: str, old: str, new: str) -> Path:
    path = project / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def errors(project: Path) -> list[Diagnostic]:
    return [d for d in validate_project(project).diagnostics if d.severity == "error"]


def line_of(file: str, text: str) -> int:
    """The line of the default rules' `file` that starts with `text` (its first)."""
    lines = (RULES / file).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(text))


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("share >= 7成", "write 70%"),  # seven tenths, never 'leave out 成: write 7'
        ("share >= 七成", "write 70%"),
        ("share >= 7.5成", "write 75%"),
        ("share >= 百分之七十", "write 70%"),  # not an unknown field to put in quotes
        ("share >= 百分之70", "write 70%"),
        ("share >= 百分之7.5", "write 7.5%"),
    ],
)
def test_a_share_said_in_words_is_answered_with_its_percent(text: str, hint: str) -> None:
    error = refused(text)
    assert (error.code, error.hint) == ("number-format", hint)
    assert text[error.offset : error.offset + error.length] == text.split(">= ")[1]


def test_the_percent_written_as_told_means_the_share_said() -> None:
    told = refused("share >= 7成").hint
    assert told is not None
    written = parse_condition(f"share >= {told.removeprefix('write ')}", FIELDS)
    assert written.evaluate({"share": 0.7}) and not written.evaluate({"share": 0.69})


@pytest.mark.parametrize(
    ("cell", "hint"), [("5成", "write 50%"), ("百分之五", "write 5%"), ("百分之五十", "write 50%")]
)
def test_a_table_cell_with_a_share_in_words_gets_its_percent(cell: str, hint: str) -> None:
    with pytest.raises(NumberSpelling) as caught:
        cell_number(cell)
    assert caught.value.hint == hint


@pytest.mark.parametrize(
    ("written", "hint"), [("百分之五", "write 5%"), ("5成", "write 50%"), ("五", "digits: 5")]
)
def test_top_percent_in_words_is_answered_with_the_number(
    project: Path, written: str, hint: str
) -> None:
    edit(project, "tiers.yaml", "top_percent: 5", f"top_percent: {written}")
    [error] = errors(project)
    line = line_of("tiers.yaml", "  top_percent: 5")
    assert (error.code, error.line, error.col) == ("wrong-type", line, 16)
    assert error.hint is not None and error.hint.endswith(hint)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("opened_on < 2026年3月1日", "number-format"),  # never 'leave out 年3月1日: write 2026'
        ("opened_on < 2026/3/1", "type-mismatch"),  # a division of numbers
        ("opened_on < '2026年3月1日'", "type-mismatch"),
        ("opened_on < '2026-03-01'", "type-mismatch"),
        ("opened_on < DATE '2026/3/1'", "condition-syntax"),
        ("opened_on < DATE '2026.3.1'", "condition-syntax"),
    ],
)
def test_a_date_written_the_chinese_way_is_answered_with_its_date_literal(
    text: str, code: str
) -> None:
    error = refused(text)
    assert (error.code, error.hint) == (code, "write DATE '2026-03-01'")


def test_a_date_that_is_no_day_is_answered_with_its_months_days() -> None:
    hint = "month 2 of 2026 has only 28 days: its last day is 2026-02-28"
    assert refused("opened_on < DATE '2026/2/30'").hint == hint


def test_a_scenario_day_written_the_chinese_way_is_answered_with_its_iso_text(
    project: Path,
) -> None:
    file = "tests/tiers_and_levels.yaml"
    edit(project, file, 'today: "2026-09-29"', "today: 2026年9月29日")
    edit(project, file, 'at: "2026-09-29T15:00:00+08:00"', 'at: "2026/9/29 15:00"')
    found = errors(project)
    assert [(d.code, d.hint) for d in found] == [
        ("invalid-value", "write 2026-09-29"),
        ("invalid-value", "write 2026-09-29T15:00"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "col"),
    [
        ("  top_percent: 5", "  top_percent:\u30005", 15),
        ("    label: 睡眠客户", "    label:\u3000睡眠客户", 11),
    ],
)
def test_a_full_width_space_after_a_keys_colon_is_named_at_that_space(
    project: Path, old: str, new: str, col: int
) -> None:
    line = line_of("tiers.yaml", old)
    edit(project, "tiers.yaml", old, new)
    with language("zh"):
        [error] = errors(project)
        message = error.message
    assert (error.code, error.line, error.col) == ("full-width", line, col)
    assert "全角空格" in message  # not "the key has no ':'": the colon is there
    fix_project(project)
    assert errors(project) == []
    assert old in (project / "tiers.yaml").read_text(encoding="utf-8")


CORPORATE = {
    "kind": "corporate",
    "tier": "valuable",
    "annual_income": 30_000_000,
    "credit_rating": "AA",
    "assets_to_income": 0.01,
}
GROWTH = ",personal,not dormant,"  # the kind and tier cells of strategies.csv's first growth row


def test_a_full_width_comma_typed_between_cells_is_a_separator(project: Path) -> None:
    path = edit(project, "strategies.csv", GROWTH, ",personal，not dormant,")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == ("full-width", 3, 54)
    fix_project(project)
    assert errors(project) == []
    assert path.read_text(encoding="utf-8") == (RULES / "strategies.csv").read_text("utf-8")


def test_a_row_that_lost_a_cell_is_refused_and_its_text_left_alone(project: Path) -> None:
    path = edit(project, "strategies.csv", GROWTH, ",personal,")
    typed = path.read_text(encoding="utf-8")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == ("decision-table", 3, 1)
    assert error.message == "this row has 13 cells, fewer than the header's 14 columns"
    fix_project(project)  # the description's 、，： are text: no column is known to repair
    assert path.read_text(encoding="utf-8") == typed


@pytest.mark.parametrize("written", ["2020-01-01", "2020/1/1", "2020年1月1日", "2020.1.1"])
def test_a_table_date_excel_rewrote_means_that_day(project: Path, written: str) -> None:
    edit(project, "strategies.csv", "tenure_years", "opened_on")
    edit(project, "strategies.csv", ",< 5,", f",< {written},")
    result = validate_project(project)
    assert [d for d in result.diagnostics if d.severity == "error"] == []
    assert result.ruleset is not None and result.ruleset.strategies is not None
    [rule] = [r for r in result.ruleset.strategies.rules if r.origin.line == 4]
    assert rule.condition is not None
    assert rule.condition.evaluate({**CORPORATE, "opened_on": dt.date(2019, 12, 31)})
    assert not rule.condition.evaluate({**CORPORATE, "opened_on": dt.date(2020, 1, 1)})


def test_a_table_date_day_or_month_first_is_refused_at_its_cell(project: Path) -> None:
    edit(project, "strategies.csv", "tenure_years", "opened_on")
    edit(project, "strategies.csv", ",< 5,", ",< 1/3/2020,")
    [error] = errors(project)
    assert (error.code, error.line, error.col) == ("decision-table", 4, 92)
    assert error.hint == "write the year first: 2026-03-01 or 2026/3/1"


def test_simulations_difference_is_told_in_chinese() -> None:
    from collections import Counter
    from typing import Any, cast

    from guanxi.engine.simulate.compare import Comparison, DifferenceSection

    def notes(classified: list[str], delivered: list[str]) -> list[str]:
        runs = cast(Any, None)
        compared = Comparison(runs, runs, [], Counter(), classified, delivered)
        return DifferenceSection(compared, cast(Any, None)).notes()

    with language("zh"):
        assert notes([], []) == ["没有变化：同样的客户在同样的日期得到同样的跟进"]
        [said] = notes(["C1"], ["C1", "C2"])
    assert said.startswith("受影响的客户 2 位") and "nothing" not in said
