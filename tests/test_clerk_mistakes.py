"""Mistakes a bank clerk makes in rule files, each caught at its column with what to write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from guanxi.engine.ruleset.load import validate_project

RULES = Path(__file__).parent.parent / "rules"
DORMANT = "balance = 0 AND"


def changed(tmp_path: Path, file: str, old: str, new: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def problems(folder: Path) -> list[tuple[str, int, int, str, str | None]]:
    return [
        (d.code, d.line, d.col, d.message, d.hint)
        for d in validate_project(folder).diagnostics
        if d.severity == "error"
    ]


def test_a_value_with_a_space_around_it_is_an_error_at_its_quote(tmp_path: Path) -> None:
    """Values are read without spaces around them: '长沙支行 ' would empty the tier."""
    folder = changed(
        tmp_path, "tiers.yaml", DORMANT, f"{DORMANT} branch IN ('长沙支行 ', '　株洲支行') AND"
    )
    line = next(
        n for n, text in enumerate((folder / "tiers.yaml").read_text("utf-8").splitlines(), 1)
        if "长沙支行" in text
    )  # fmt: skip
    column = (folder / "tiers.yaml").read_text("utf-8").splitlines()[line - 1].index("'长沙") + 1
    found = problems(folder)
    assert [(code, at, hint) for code, at, _col, _m, hint in found] == [
        ("padded-value", line, "write '长沙支行'"),
        ("padded-value", line, "write '株洲支行'"),
    ]
    assert found[0][2] == column
    assert "no branch is ever '长沙支行 '" in found[0][3]


def test_a_value_without_spaces_around_it_is_fine(tmp_path: Path) -> None:
    folder = changed(tmp_path, "tiers.yaml", DORMANT, f"{DORMANT} branch <> '长沙 支行' AND")
    assert problems(folder) == []


def test_yes_or_no_after_a_comparison_is_a_true_or_false_value(tmp_path: Path) -> None:
    """`consent_sms = 否` meant FALSE: 是/否 there are values, not the operator =."""
    folder = changed(tmp_path, "tiers.yaml", DORMANT, f"consent_sms = 否 AND {DORMANT}")
    [(code, _line, _col, message, hint)] = problems(folder)
    assert code == "chinese-word"
    assert message == "'否' is a true/false value here: a condition writes it as FALSE"
    assert hint == "write FALSE in place of '否', e.g. consent_sms = FALSE"


@pytest.mark.parametrize(
    ("cell", "hint"),
    [
        ("8万以上", "write >= 8万 (以上 counts 8万 in), or > 8万"),
        ("5万以下", "write <= 5万 (以下 counts 5万 in), or < 5万"),
        ("8万元以上", "write >= 8万 (以上 counts 8万 in), or > 8万"),  # what it counts between
        ("8万元及以下", "write <= 8万 (及以下 counts 8万 in), or < 8万"),
        ("满8万", "write >= 8万 (满 counts 8万 in), or > 8万"),
        (">= 8万元", "leave out '元': write 8万"),
    ],
)
def test_a_decision_table_threshold_as_a_banker_says_it_gets_its_rewrite(
    tmp_path: Path, cell: str, hint: str
) -> None:
    folder = changed(tmp_path, "strategies.csv", ">= 8万", cell)
    [(code, line, _col, _message, found)] = problems(folder)
    assert (code, line, found) == ("number-format", 3, hint)


@pytest.mark.parametrize("cell", ["8万-20万", "8 万 ~ 20万", "8万至20万"])
def test_a_range_of_amounts_in_a_table_cell_gets_the_range_to_write(
    tmp_path: Path, cell: str
) -> None:
    folder = changed(tmp_path, "strategies.csv", ">= 8万", cell)
    [(code, line, _col, _message, found)] = problems(folder)
    assert (code, line) == ("decision-table", 3)
    assert found == "write '[8万..20万]' (8万 to 20万, both included)"
