"""How the CLI prints: diagnostics to stderr, data to stdout, JSON for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from guanxi.engine.diagnostics import Diagnostic, to_json
from guanxi.engine.report.model import Section, shown
from guanxi.engine.report.model import Table as DataTable

MAX_ROWS = 30  # the terminal shows this many rows of a table; files have them all


def print_diagnostics(diagnostics: Iterable[Diagnostic], lines: dict[str, list[str]]) -> None:
    for diagnostic in diagnostics:
        source = lines.get(diagnostic.file, [])
        line = source[diagnostic.line - 1] if 0 < diagnostic.line <= len(source) else None
        click.echo(diagnostic.render(line), err=True)


def print_diagnostics_json(diagnostics: list[Diagnostic]) -> None:
    click.echo(to_json(diagnostics))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def table(title: str, columns: list[str], rows: Iterable[Iterable[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*[str(v) for v in row])
    return result


def print_sections(sections: Iterable[Section]) -> None:
    """Report sections for people: each title, its notes, its tables (not the detail ones),
    at most MAX_ROWS rows of each."""
    out = console()
    for section in sections:
        out.print(f"\n[bold]{section.title}[/bold]")
        for note in section.notes():
            out.print(f"  {note}", markup=False, highlight=False)
        for data in section.tables():
            if not data.detail:
                out.print(rich_table(data))
                if len(data.rows) > MAX_ROWS:
                    out.print(f"  … {len(data.rows) - MAX_ROWS} more rows: --csv DIR or --json")


def rich_table(data: DataTable) -> Table:
    shown_table = Table(title=data.title or None, title_justify="left")
    for column in data.columns:
        shown_table.add_column(column.label, justify="left" if column.kind == "text" else "right")
    for row in data.rows[:MAX_ROWS]:
        cells = [shown(v, c.kind) for v, c in zip(row, data.columns, strict=True)]
        shown_table.add_row(*cells)
    return shown_table
