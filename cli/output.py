"""How the CLI prints: diagnostics to stderr, data to stdout, JSON for machines.

Customer and event data is printed as text, never obeyed: a name holding an escape sequence
could recolour or clear the screen, set the window title, plant a hidden link or turn a line
around (bidirectional overrides). Every text the console prints goes through `printable`,
which shows such characters as escapes (`\x1b`, `\u202e`), and data in a table is never read
as rich markup (`[link=…]`). Lines printed with `echo` get the same treatment.

Personal data is masked on the way out too, when the command showing it set a masker (see
`guanxi.cli.masking`): in console text (not in its markup tags), lines, JSON and CSV.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import RE_TAGS, escape
from rich.text import Text

from guanxi.cli.failures import FULL_ERRNOS, SIZE_ERRNOS
from guanxi.cli.fit import Col, FitTable, number, text
from guanxi.cli.masking import shown, shown_data
from guanxi.engine.bidi import BIDI_CONTROLS
from guanxi.engine.i18n import _

if TYPE_CHECKING:
    from guanxi.engine.diagnostics import Diagnostic
    from guanxi.engine.report.model import Section
    from guanxi.engine.report.model import Table as DataTable

MAX_ROWS = 30  # the terminal shows this many rows of a table; files have them all
# What steers a terminal instead of showing: C0 controls but tab and newline, DEL, C1
# controls, and the bidirectional marks, embeddings, overrides and isolates.
STEERING = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def printable(text: str) -> str:
    """`text` with every character that would steer the terminal shown as its escape."""
    return STEERING.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


class SafeConsole(Console):
    """A rich console that passes every text it prints, whatever its source, through
    `printable` (tables and titles included: rich turns each string into text here)."""

    def render_str(self, text: str, **options: Any) -> Text:
        markup = options.get("markup")
        masked = _shown_markup(text) if markup or (markup is None and self._markup) else shown(text)
        return super().render_str(printable(masked), **options)


def _shown_markup(text: str) -> str:
    """Markup with its text masked and its tags (`[bold]`) left as they are."""
    parts, start = [], 0
    for tag in RE_TAGS.finditer(text):
        if len(tag[2]) % 2:  # an escaped bracket (`\[…]`): data, not a tag
            continue
        parts += [shown(text[start : tag.start()]), tag[0]]
        start = tag.end()
    return "".join([*parts, shown(text[start:])])


def echo(text: str, err: bool = False) -> None:
    """`click.echo` for a line that holds data."""
    click.echo(printable(shown(text)), err=err)


def print_diagnostics(diagnostics: Iterable[Diagnostic], lines: dict[str, list[str]]) -> None:
    for diagnostic in diagnostics:
        source = lines.get(diagnostic.file, [])
        line = source[diagnostic.line - 1] if 0 < diagnostic.line <= len(source) else None
        echo(diagnostic.render(line), err=True)


def print_diagnostics_json(diagnostics: list[Diagnostic]) -> None:
    from guanxi.engine.diagnostics import to_json

    click.echo(to_json(diagnostics))


def print_json(data: Any) -> None:
    click.echo(json_text(shown_data(data)))


def json_text(data: Any) -> str:
    """JSON as RFC 8259 has it, which JavaScript, jq and a database's JSON type read: a number
    that is not finite (a measure past the largest double is infinite) is null, as JavaScript
    writes it, not the `Infinity` only Python reads."""
    return json.dumps(_finite(data), ensure_ascii=False, indent=2, default=str, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def console(width: int | None = None) -> Console:
    return SafeConsole(file=sys.stdout, soft_wrap=True, width=width)


def table(title: str, columns: Sequence[Col | str], rows: Iterable[Iterable[Any]]) -> FitTable:
    """A table of data that fits the terminal without cutting a value (see `guanxi.cli.fit`;
    a plain column name is text that may wrap); its cells are never read as markup."""
    return FitTable(title, columns, rows)


def print_sections(sections: Iterable[Section]) -> None:
    """Report sections for people: each title, its notes, its tables (not the detail ones),
    at most MAX_ROWS rows of each."""
    out = console()
    for section in sections:
        out.print(f"\n[bold]{escape(section.title)}[/bold]")
        for note in section.notes():
            out.print(f"  {note}", markup=False, highlight=False)
        for data in section.tables():
            if not data.detail:
                out.print(rich_table(data))
                if len(data.rows) > MAX_ROWS:
                    more = _("… {count} more rows: --csv DIR or --json")
                    out.print("  " + more.format(count=len(data.rows) - MAX_ROWS))


def rich_table(data: DataTable) -> FitTable:
    """A report's table for the terminal: text may wrap, numbers stay whole."""
    from guanxi.engine.report.model import shown

    columns = [text(c.label) if c.kind == "text" else number(c.label) for c in data.columns]
    rows = [
        [shown(v, c.kind) for v, c in zip(row, data.columns, strict=True)]
        for row in data.rows[:MAX_ROWS]
    ]
    return FitTable(data.title, columns, rows)


def output_options(command: Any) -> Any:
    """--table (the default), --json or --csv, given to the command as `output`."""
    for flag, value, explained in reversed(FORMATS):
        command = click.option(flag, "output", flag_value=value, default=value == "table",
                               help=explained)(command)  # fmt: skip
    return command


FORMATS = (
    ("--table", "table", "Print a table for people (the default)."),
    ("--json", "json", "Print JSON for programs."),
    (
        "--csv",
        "csv",
        "Print CSV for Excel (UTF-8 with a BOM; ISO times in the project's zone; plain numbers),"
        " e.g. --csv > list.csv.",
    ),
)


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write the file a user named (--html, --csv FILE, -o, --junit) with `write`, its folder
    made first, as --csv DIR makes its folder."""
    with named_write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)


def write_tables(sections: Iterable[Section], folder: Path) -> list[Path]:
    """--csv DIR: one file per table of the sections (a report's, a simulation's)."""
    from guanxi.engine.report import write_csv

    with named_write_errors(folder, the_failing_file=True):
        return write_csv(sections, folder)


@contextlib.contextmanager
def named_write_errors(path: Path, *, the_failing_file: bool = False) -> Iterator[None]:
    """A file that cannot be written (one open in Excel, read-only) is one line naming it
    (`path`, or with `the_failing_file` the one of the folder `path` that failed), not a
    traceback; a full disk is left to guanxi.cli.failures, which says so."""
    try:
        yield
    except OSError as error:
        if error.errno in FULL_ERRNOS + SIZE_ERRNOS:
            raise
        raise click.ClickException(
            _("cannot write {file}: {error}").format(
                file=(the_failing_file and error.filename) or path, error=_write_refused(error)
            )
        ) from None


def _write_refused(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return _("not allowed; is it open in another program such as Excel, or read-only?")
    if error.errno == errno.EISDIR:
        return _("it is a folder")
    return error.strerror or str(error)


def print_csv(columns: Sequence[str], rows: Iterable[Iterable[Any]]) -> None:
    """CSV on standard output, as bytes: UTF-8 with a byte-order mark, which is how Excel
    knows the file is UTF-8 (without it Excel reads it in the Windows code page and 中文 turns
    to mojibake), whatever the terminal's own encoding. Text that Excel would run as a formula
    is written as text (see guanxi.engine.csv_cells)."""
    import csv
    import io

    from guanxi.engine.csv_cells import cell

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([cell(shown_data(v)) for v in row] for row in rows)
    stream = click.get_binary_stream("stdout")
    stream.write(buffer.getvalue().encode("utf-8-sig"))
    stream.flush()
