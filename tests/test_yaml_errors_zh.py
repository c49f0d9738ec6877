"""A YAML syntax error in a rule file, the commonest mistake, reads in Chinese under
GUANXI_LANG=zh: none of the YAML parser's own English words are left in the message or the
hint, and the place (path:line:col) is the same as in English. The English text stays as it
was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from tests.test_validate_golden import RULES

LINE = "      label: 售后邀请反馈\n"  # the first step's label in rules/playbooks.yaml
# The words ruamel.yaml writes its complaints in
PARSER_WORDS = re.compile(
    r"\b(expected|found|but|while|scanning|parsing|allowed|here|could|not|find|character|"
    r"cannot|start|token|duplicate|document|node|content|block|end|mapping|sequence|entries|"
    r"values|keys|scalar|alias|undefined|escape|unknown|unexpected|stream|alphabetic|numeric|"
    r"indentation|indicator|another|single|value|list|item)\b",
    re.IGNORECASE,
)
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# name: (what replaces LINE, or is added at the end; the line and column of the error,
# counted from LINE's line or from the end; the English message)
CASES = {
    "missing_colon": (
        "      label 售后邀请反馈\n",
        0,
        7,
        "'label 售后邀请反馈' has no ':' after its key",
    ),
    "bad_indent": (
        "     label: 售后邀请反馈\n",
        0,
        6,
        "this line is indented less than the lines above it in the same block "
        "(5 spaces instead of 6)",
    ),
    "tab": ("\tlabel: 售后邀请反馈\n", 0, 1, "a tab is used for indentation"),
    "duplicate_key": (
        LINE + "      label: 回访\n",
        1,
        7,
        "the key 'label' is given twice in this block",
    ),
    "unclosed_quote": (
        '      label: "售后邀请反馈\n',
        0,
        14,
        'the quote " opened here is not closed on its line',
    ),
    "stray_dash": ("      label: - 售后邀请反馈\n", 0, 14, "sequence entries are not allowed here"),
    "dash_in_brackets": (
        "      label: [- 售后邀请反馈]\n",
        0,
        15,
        "expected the node content, but found a list item ('- ')",
    ),
    "undefined_alias": ("      label: *vip\n", 0, 14, "found undefined alias 'vip'"),
    "anchor_without_name": (
        "      label: & 售后\n",
        0,
        15,
        "expected alphabetic or numeric character, but found ' '",
    ),
    "unknown_escape": ('      label: "售后\\q"\n', 0, 18, "found unknown escape character 'q'"),
    "no_space_after_colon": (
        "      label:售后邀请反馈\n",
        0,
        12,
        "a space is missing after the ':' of 'label'",
    ),
    "second_document": ("---\nplaybooks: {}\n", None, 1, "but found another document"),
}


def default_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    return project


def broken_project(tmp_path: Path, case: str) -> tuple[Path, int]:
    """The default project with the case's mistake in playbooks.yaml; the error's line."""
    project = default_project(tmp_path)
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    broken, offset, _col, _english = CASES[case]
    if offset is None:  # added at the end
        playbooks.write_text(text + broken, encoding="utf-8")
        return project, text.count("\n") + 1
    playbooks.write_text(text.replace(LINE, broken, 1), encoding="utf-8")
    return project, text[: text.index(LINE)].count("\n") + 1 + offset


def validate(project: Path, language: str) -> str:
    result = CliRunner().invoke(cli, ["validate", str(project)], env={"GUANXI_LANG": language})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    return result.stderr.replace(str(project), "<project>")


def said(stderr: str) -> list[str]:
    """The message and hint lines, without the quoted text they show from the file."""
    lines = [line for line in stderr.splitlines() if "错误[" in line or "提示" in line]
    return [QUOTED.sub("", line.split("]: ", 1)[-1]) for line in lines]


@pytest.mark.parametrize("case", CASES)
def test_a_yaml_mistake_reads_in_chinese(tmp_path: Path, case: str) -> None:
    project, line = broken_project(tmp_path, case)
    stderr = validate(project, "zh")
    col = CASES[case][2]
    assert f"<project>/playbooks.yaml:{line}:{col}: 错误[" in stderr
    assert len(said(stderr)) == 2  # a message and a hint
    assert [PARSER_WORDS.findall(text) for text in said(stderr)] == [[], []]


@pytest.mark.parametrize("case", CASES)
def test_the_english_message_stays_as_it_was(tmp_path: Path, case: str) -> None:
    project, line = broken_project(tmp_path, case)
    stderr = validate(project, "en")
    col, english = CASES[case][2:]
    assert f"<project>/playbooks.yaml:{line}:{col}: error[" in stderr
    assert f"]: {english}\n" in stderr


def test_a_token_the_parser_names_is_named_in_chinese(tmp_path: Path) -> None:
    project, _line = broken_project(tmp_path, "dash_in_brackets")
    assert "这里应该有内容，却遇到了一个列表项（'- '）" in validate(project, "zh")


def test_a_control_character_is_shown_where_it_is(tmp_path: Path) -> None:
    """A character YAML refuses (a bell pasted in) is reported at its line and column, not
    as a character count at 1:1."""
    project = default_project(tmp_path)
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    line = text[: text.index(LINE)].count("\n") + 1
    playbooks.write_text(text.replace(LINE, "      label: 售后\a邀请反馈\n", 1), encoding="utf-8")
    english, chinese = validate(project, "en"), validate(project, "zh")
    at = f"<project>/playbooks.yaml:{line}:16: "
    assert f"{at}error[yaml-syntax]: an invisible control character (U+0007)" in english
    assert "<unicode string>" not in english
    assert f"{at}错误[yaml-syntax]: 这里有一个看不见的控制字符（U+0007）" in chinese
    assert [PARSER_WORDS.findall(text) for text in said(chinese)] == [[], []]


def test_a_list_dash_without_its_space_is_pointed_at_with_the_line_to_write(
    tmp_path: Path,
) -> None:
    project = default_project(tmp_path)
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    item = "    - id: passive_invite_feedback\n"
    playbooks.write_text(text.replace(item, item.replace("- id", "-id"), 1), encoding="utf-8")
    line = text[: text.index(item)].count("\n") + 1
    stderr = validate(project, "en")
    assert (
        f"<project>/playbooks.yaml:{line}:5: error[yaml-syntax]: a space is missing after" in stderr
    )
    assert "hint: write - id: passive_invite_feedback" in stderr
    assert [PARSER_WORDS.findall(text) for text in said(validate(project, "zh"))] == [[], []]
