"""The README is the front door: it names every command, and every command explains itself."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import click

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
