"""The README is the front door: it names every command, and every command explains itself."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from guanxi.cli.main import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "guanxi") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the lazy ones too, imported here
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


def test_every_command_has_help() -> None:
    missing = [path for path, command in commands(cli) if not (command.help or "").strip()]
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    leaves = [path for path, command in commands(cli) if not isinstance(command, click.Group)]
    assert [path for path in leaves if f"`{path}" not in README] == []


def command_table() -> list[str]:
    """The rows of the table of commands: from its header up to the first line not a row."""
    rows = README.split("| command | what it does |\n| --- | --- |\n", 1)[1]
    return list(itertools.takewhile(lambda line: line.startswith("|"), rows.splitlines()))


def test_every_command_has_a_row_in_the_command_table() -> None:
    """One table, no blank line cutting it (the rows after one showed as text), and a row
    for every command."""
    table = command_table()
    leaves = [path for path, command in commands(cli) if not isinstance(command, click.Group)]
    missing = [p for p in leaves if not any(re.match(f"\\| `{p}[ `]", row) for row in table)]
    assert missing == []


def test_the_quick_start_has_the_two_commands() -> None:
    assert "pip install -e . && guanxi demo" in README
    assert "pip install -e '.[test]' && python -m pytest" in README


def block_command_lines() -> list[str]:
    """What follows `guanxi` on each line of the README's code blocks that runs it: after a
    prompt (`$ `), environment variables, a cron line's `cd … &&` or systemd's ExecStart."""
    found, inside = [], False
    starts = r"^(?:\$ |.*\bcd \S+ && (?:venv/bin/)?|ExecStart=\S*/)?(?:[A-Z_]+=\S+\s+)*guanxi (.*)"
    for line in README.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and (match := re.match(starts, line)):
            found.append(match.group(1))
    return found


def words_of(command_line: str) -> list[str]:
    """The arguments, without a trailing comment, redirection or `&&`, nor `[optional]` parts."""
    command_line = re.split(r"\s(?:#|&&|>>?|2>&1)(?:\s|$)", command_line)[0]
    return shlex.split(re.sub(r"\[[^]]*\]", "", command_line))


def parse(args: list[str]) -> None:
    """Parse as `guanxi` would, down to the command, without running it."""
    context = cli.make_context("guanxi", args)
    command: click.Command = cli
    while isinstance(command, click.Group):
        given = [*context._protected_args, *context.args]
        name, found, rest = command.resolve_command(context, given)
        assert name is not None and found is not None, given
        command, context = found, found.make_context(name, rest, parent=context)


def test_every_command_line_of_the_readme_parses() -> None:
    """A command shown to be run has only options and arguments that exist."""
    lines = block_command_lines()
    assert len(lines) > 30
    failing = []
    for line in lines:
        try:
            parse(words_of(line))
        except click.ClickException as error:
            failing.append(f"guanxi {line}: {error.format_message()}")
    assert failing == []


def named_command(words: list[str]) -> click.Command:
    """The command that the words name (`load customers`), the group's own options skipped."""
    command: click.Command = cli
    words = iter(words)
    for word in words:
        if word == "--lang":
            next(words, None)
        elif isinstance(command, click.Group) and word in command.list_commands(click.Context(cli)):
            command = command.get_command(click.Context(cli), word) or command
        elif isinstance(command, click.Group) and not word.startswith("-"):
            break
    return command


def test_every_option_the_readme_gives_a_command_exists() -> None:
    """In the prose and the table of commands too: `guanxi simulate … --keep DIR`."""
    spans = re.findall(r"`(?:[A-Z_]+=\S+\s+)*guanxi ([^`]+)`", README)
    assert len(spans) > 100
    unknown = []
    for span in spans:
        command = named_command(re.findall(r"[^\s\[\]|]+", span))
        names = {name for param in command.params for name in [*param.opts, *param.secondary_opts]}
        names |= {"--help", "-h", "--lang", "--version"}
        options = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", span)
        unknown += [f"guanxi {span}: {option}" for option in options if option not in names]
    assert unknown == []


def test_the_quoted_scenario_run_counts_the_default_projects_scenarios() -> None:
    """`guanxi test rules` after an edit: its closing line counts every shipped scenario."""
    scenarios = sum(
        len(yaml.safe_load(path.read_text(encoding="utf-8"))["scenarios"])
        for path in (Path(__file__).parent.parent / "rules" / "tests").glob("*.yaml")
    )
    quoted = re.search(r"\$ guanxi test rules .*?\n(\d+) passed, (\d+) failed", README, re.S)
    assert quoted is not None
    assert int(quoted[1]) + int(quoted[2]) == scenarios


def quoted_output(command: str) -> str:
    """The lines a code block of the README quotes after `$ COMMAND` (its comment aside)."""
    block = README.split(f"$ {command}", 1)[1].split("\n", 1)[1]
    return block.split("```", 1)[0]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_quoted_validate_mistake_is_what_validate_prints(
    lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`balance` typed `balanse` in the default project's dormant tier: file, line, column,
    the line itself and the hint as `guanxi validate rules` prints them today."""
    shutil.copytree(Path(__file__).parent.parent / "rules", tmp_path / "rules")
    tiers = tmp_path / "rules" / "tiers.yaml"
    text = tiers.read_text(encoding="utf-8")
    assert text.count("      balance = 0 AND COALESCE(wealth_balance") == 1
    tiers.write_text(text.replace("      balance = 0 AND", "      balanse = 0 AND"), "utf-8")
    monkeypatch.chdir(tmp_path)
    command = "guanxi validate rules" if lang == "en" else "guanxi --lang zh validate rules"
    result = CliRunner().invoke(cli, ["--lang", lang, "validate", "rules"])
    assert result.exit_code == 1
    assert result.output == quoted_output(command)
