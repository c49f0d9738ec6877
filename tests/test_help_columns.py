"""Chinese help fits the terminal: click counts characters, a Chinese character takes two
columns, so help is measured in columns (cli/widths.py)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.cli.widths import CLOSING, ColumnsTextWrapper, bind_columns, columns, short_help

COMMANDS = [[], ["tasks", "done"], ["load", "customers"], ["validate"], ["quarantine", "list"]]


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_line_fits_the_terminal_in_chinese_and_english(
    command: list[str], width: int
) -> None:
    for lang in ("zh", "en"):
        runner = CliRunner(env={"COLUMNS": str(width)})
        result = runner.invoke(cli, ["--lang", lang, *command, "--help"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(map(columns, lines)) <= width, [line for line in lines if columns(line) > width]


def test_a_wrapped_option_help_goes_on_under_its_first_line() -> None:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(cli, ["--lang", "zh", "tasks", "done", "-h"])
    lines = result.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  --outcome"))
    text = lines[first].index("结果")  # the option's text starts in this column (all ASCII before)
    following = lines[first + 1]
    assert following[:text].strip() == "" and following[text] != " ", (lines[first], following)


bind_columns()  # the wrapper measures in columns, whichever test of the file runs first
TEXT = st.text(alphabet=st.sampled_from("ab 客户经理，。（）-"), min_size=1, max_size=200)


@given(TEXT, st.integers(min_value=10, max_value=80))
@example("aaaaa。。。", 10)  # the cut moved back: "aaaa" / "a。。。"
def test_wrapped_text_keeps_every_character_and_fits(text: str, width: int) -> None:
    lines = ColumnsTextWrapper(width, replace_whitespace=False).wrap(text)
    assert all(columns(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    # a line starts with 。 only where a run of such marks and the character before it are
    # wider than a line: no cut could keep them together
    starts = [(before, line) for before, line in pairwise(lines) if line[:1] in CLOSING]
    assert all(columns(_run_across(before, line)) > width for before, line in starts), starts


def _run_across(before: str, after: str) -> str:
    """The run of closing marks (spaces among them) across a line break, with the character
    before the run."""
    marks = CLOSING + " "
    head = before.rstrip(marks)
    return head[-1:] + before[len(head) :] + after[: len(after) - len(after.lstrip(marks))]


@given(TEXT, st.integers(min_value=10, max_value=80))
def test_a_short_help_fits_its_limit(text: str, limit: int) -> None:
    assert columns(short_help(text, limit)) <= limit
