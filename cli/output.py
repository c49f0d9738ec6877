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
