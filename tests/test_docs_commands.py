"""Every `guanxi …` command line that README.md and docs/ show is one the CLI accepts: the
command exists, each option exists, each choice is valid, the required arguments are there.
Parsed only (click's parser and each parameter's type), nothing runs."""

from __future__ import annotations

import re
import shlex
from itertools import chain
from pathlib import Path

import click
import pytest

from guanxi.cli.main import cli

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(guanxi [^`\n]+)`")
SHELL_SPLIT = re.compile(r"\s*(?:&&|\|\||;|(?<!\\)\|(?=\s))\s*")
SUBSTITUTION = re.compile(r"\$\((guanxi [^)]*)\)")
REDIRECT = re.compile(r"\s*(?:\d?>>?|<)\s*(?:&\d|\S+)")
# A word standing for a value the reader fills in: DIR, FILE, ID, N|P%, <path>, ….
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_0-9]*(?:\|[A-Z%_0-9]+)*|<[^>]+>|\.\.\.|…)$")


def fenced_lines(text: str) -> list[str]:
    """The lines of every code block, continuation lines joined, comments and prompts gone."""
    lines: list[str] = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip().removeprefix("$ ")
            if line:
                lines.append(line)
    return lines


def command_pieces(line: str) -> list[str]:
    """The `guanxi …` commands of one shell line: each side of && | ; and inside $(…)."""
    inner = SUBSTITUTION.findall(line)
    line = SUBSTITUTION.sub("VALUE", line)
    pieces = []
    for piece in chain(SHELL_SPLIT.split(line), inner):
        piece = REDIRECT.sub("", piece).strip()
        piece = re.sub(r"^(?:[A-Z_]+=\S*\s+)+", "", piece)  # GUANXI_ACTOR=… guanxi …
        piece = re.sub(r"^\S*/(?=guanxi )", "", piece)  # ExecStart=/srv/…/bin/guanxi …
        if piece.startswith("guanxi "):
            pieces.append(piece)
    return pieces


def shown_commands() -> list[tuple[str, str, bool]]:
    """(where, the command as shown, whether it is whole) for every `guanxi …` in the
    documents. Code blocks and synopses ([--json]) are whole command lines; a command named
    in a sentence (`guanxi events post`, `guanxi simulate --baseline`) may leave out its
    required arguments and an option's value."""
    found: list[tuple[str, str, bool]] = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in fenced_lines(text):
            found += [(doc.name, piece, True) for piece in command_pieces(line)]
        for line in FENCE.sub("", text).splitlines():
            for match in INLINE.findall(line):
                shown = REDIRECT.sub("", match.replace("\\|", "|")).strip()
                synopsis = "[" in shown or line.startswith(f"| `{match}` |")  # the table's
                found.append((doc.name, shown, synopsis))
    return found


def variants(shown: str) -> list[list[str]]:
    """The command lines a synopsis stands for: brackets dropped, one line per alternative
    of `a|b|c` (the i-th line takes each choice's i-th alternative)."""
    words = shlex.split(shown.replace("[", " ").replace("]", " "))[1:]
    widest = max((len(word.split("|")) for word in words), default=1)
    lines = []
    for i in range(widest):
        line: list[str] = []
        for word in words:
            if word in ("...", "…"):
                continue
            options = word.split("|")
            if PLACEHOLDER.match(word):
                line.append(word)
            elif all(option.startswith("-") for option in options):
                line += options  # [--json|--csv]: each option exists
            else:
                line.append(options[min(i, len(options) - 1)])
        lines.append(line)
    return lines


def check(command: click.Command, words: list[str], path: str, whole: bool) -> None:
    """Parse words as click would for this command, without running it."""
    context = click.Context(command, info_name=path)
    parser = command.make_parser(context)
    try:
        values, rest, _order = parser.parse_args(list(words))
    except click.BadOptionUsage as error:
        if whole or "requires an argument" not in error.message:
            raise
        values, rest, _order = parser.parse_args([*words, "VALUE"])  # the option named
    if {"--help", "-h", "--version"} & set(words):
        return  # answered before any command is needed
    for param in command.params:
        given = values.get(param.name)
        if not isinstance(given, (str, bool, list, tuple)):  # not given (None, click's UNSET)
            if param.required and whole:
                raise click.MissingParameter(ctx=context, param=param)
            continue
        for value in given if isinstance(given, (list, tuple)) else [given]:
            a_path = isinstance(param.type, (click.Path, click.File))  # may not exist here
            if isinstance(value, str) and not PLACEHOLDER.match(value) and not a_path:
                param.type.convert(value, param, context)
    if isinstance(command, click.Group):
        if not rest:
            if whole:
                raise click.UsageError(f"{path}: which command?")
            return
        sub = command.get_command(context, rest[0])
        if sub is None:
            raise click.UsageError(f"{path}: no command {rest[0]!r}")
        check(sub, rest[1:], f"{path} {rest[0]}", whole)
    elif rest:
        raise click.UsageError(f"{path}: unexpected {rest}")


SHOWN = shown_commands()


def test_the_documents_show_commands() -> None:
    assert len(SHOWN) > 100
    assert ("README.md", "guanxi init my-rules", True) in SHOWN


@pytest.mark.parametrize("where, shown, whole", SHOWN, ids=[f"{w}: {s}" for w, s, _ in SHOWN])
def test_each_command_shown_parses(where: str, shown: str, whole: bool) -> None:
    for words in variants(shown):
        try:
            check(cli, words, "guanxi", whole)
        except click.ClickException as error:
            pytest.fail(f"{where}: {shown}\n  {' '.join(words)}\n  {error.format_message()}")
