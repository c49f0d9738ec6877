"""Maintain the translation catalog with Babel: extract -> update -> compile.

    python scripts/i18n.py            # all three: after changing or adding a message
    python scripts/i18n.py check      # exit 1 if the catalog lacks or misses a message

extract: every `_()`, `N_()`, `ngettext()` in engine/, cli/, adapters/ and the report
template, click's own messages, and the help text of every command and option (read by
walking the click command tree); written to engine/i18n/locale/guanxi.pot.
update: merges the template into locale/zh_CN/LC_MESSAGES/guanxi.po (new messages come in
untranslated, changed ones fuzzy: translate them, then remove the fuzzy flag).
compile: writes guanxi.mo beside it, which is what guanxi reads at run time.
docs: fills the Chinese column of docs/diagnostics.md from the catalog.

Run it where `guanxi` imports from this checkout (`pip install -e .[test]`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "engine" / "i18n" / "locale"
TEMPLATE = LOCALE / "guanxi.pot"
PO = LOCALE / "zh_CN" / "LC_MESSAGES" / "guanxi.po"
MO = PO.with_suffix(".mo")
DIAGNOSTICS_DOC = ROOT / "docs" / "diagnostics.md"
HEADER, RULE = "| code | what it means | 说明 |", "| --- | --- | --- |"
SOURCES = ("engine", "cli", "adapters")
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
METHODS = [("**.py", "python"), ("**.html", "jinja2.ext:babel_extract")]
PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)s")


def source_messages() -> Iterator[tuple[str | tuple[str, str], str, int]]:
    """(msgid, file, line) of every marked message in our code and in click's."""
    for folder in SOURCES:
        for file, line, message, _comments, _context in extract_from_dir(
            ROOT / folder, METHODS, keywords=KEYWORDS
        ):
            yield message, f"{folder}/{file}", line
    click_dir = Path(click.__file__).parent
    for file, line, message, _comments, _context in extract_from_dir(
        click_dir, [("**.py", "python")], keywords=KEYWORDS
    ):
        yield message, f"click/{file}", line


def help_messages() -> Iterator[tuple[str, str, int]]:
    """(msgid, "help:guanxi/COMMAND", 0) for every help text of the `guanxi` command tree."""
    from guanxi.cli.lang import LANG_HELP, texts
    from guanxi.cli.main import cli

    yield LANG_HELP, "cli/lang.py", 0
    root = click.Context(cli, info_name="guanxi", **cli.context_settings)  # as `guanxi` has
    pending: list[tuple[click.Context, click.Command]] = [(root, cli)]
    while pending:
        ctx, command = pending.pop()
        for _owner, _attribute, msgid in texts(command):
            yield msgid, "help:" + ctx.command_path.replace(" ", "/"), 0
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    pending.append((click.Context(sub, parent=ctx, info_name=name), sub))


def extract() -> Catalog:
    catalog = Catalog(project="guanxi", domain="guanxi", charset="utf-8")
    messages = [*source_messages(), *help_messages()]
    for message, file, line in messages:
        if not (message[0] if isinstance(message, tuple) else message):
            continue
        flags = ("python-brace-format",) if _placeholders(message) else ()
        catalog.add(message, locations=[(file, line)], flags=flags)
    return catalog


def keep_date(template: Catalog) -> None:
    """The template's creation date stays that of the last template with the same messages,
    so running the script without a change to a message changes no file."""
    if not TEMPLATE.exists():
        return
    with TEMPLATE.open("rb") as file:
        before = read_po(file)
    if {m.id for m in before} == {m.id for m in template}:
        template.creation_date = before.creation_date


def _placeholders(message: str | tuple[str, str]) -> set[str]:
    texts = message if isinstance(message, tuple) else (message,)
    return {p for text in texts for p in PLACEHOLDER.findall(text)}


def update(template: Catalog) -> Catalog:
    with PO.open("rb") as file:
        catalog = read_po(file, locale="zh_CN", domain="guanxi")
    catalog.update(template, update_header_comment=False)
    catalog.obsolete.clear()
    return catalog


def write(template: Catalog, catalog: Catalog) -> None:
    with TEMPLATE.open("wb") as file:
        write_po(file, template, width=100, omit_header=False, sort_output=True)
    with PO.open("wb") as file:
        write_po(file, catalog, width=100, sort_output=True)
    with MO.open("wb") as file:
        write_mo(file, catalog)


def problems(catalog: Catalog, template: Catalog) -> list[str]:
    """What is wrong with the catalog for the messages in `template`: missing, untranslated,
    fuzzy, or with placeholders that differ from the msgid's."""
    found = []
    for wanted in template:
        if not wanted.id:
            continue
        message = catalog.get(wanted.id)
        found += _message_problems(wanted.id, message)
    return found


def _message_problems(msgid: object, message: Message | None) -> list[str]:
    if message is None:
        return [f"not in the catalog: {msgid!r}"]
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    if message.fuzzy or not all(strings):
        return [f"untranslated or fuzzy: {msgid!r}"]
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    wanted = {p for text in ids for p in PLACEHOLDER.findall(text)}
    # a plural form may drop a placeholder that only the other English form uses
    plural = isinstance(message.id, tuple)
    for string in strings:
        found = set(PLACEHOLDER.findall(string))
        if not (found <= wanted if plural else found == wanted):
            return [f"placeholders differ: {msgid!r}"]
    return []


def diagnostics_doc(text: str) -> str:
    """docs/diagnostics.md with each code's row ending in its Chinese description."""
    from guanxi.engine.diagnostics import CODES, describe
    from guanxi.engine.i18n import language

    lines = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| code |"):
            line = HEADER
        elif line.startswith("| --- |"):
            line = RULE
        elif line.startswith("| `") and cells[0].strip("`") in CODES:
            with language("zh"):
                chinese = describe(cells[0].strip("`"))
            line = f"| {cells[0]} | {cells[1]} | {chinese} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    os.environ["GUANXI_LANG"] = "en"
    template = extract()
    keep_date(template)
    catalog = update(template)
    if argv[1:] == ["check"]:
        found = problems(catalog, template)
        print("\n".join(found) or "the catalog is complete")
        return 1 if found else 0
    write(template, catalog)
    doc = DIAGNOSTICS_DOC.read_text(encoding="utf-8")
    DIAGNOSTICS_DOC.write_text(diagnostics_doc(doc), encoding="utf-8")
    left = problems(catalog, template)
    print(f"{len(template)} messages; {len(left)} to translate in {PO.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
