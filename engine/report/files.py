"""CSV output: one file per table, for Excel.

UTF-8 with a byte-order mark, so Excel shows 中文 labels instead of mojibake; numbers are
plain (shares as fractions, 0.913), a missing value is an empty cell.

Cells come from customer data, and Excel runs a cell that starts with = + - @ (or a tab or
carriage return before them) as a formula: `=HYPERLINK(…)` in a manager's id would be a
live link in the bank's spreadsheet. Such a text cell is written with a leading single quote,
which Excel shows as text (OWASP, "CSV injection"); a plain number such as -12.5 is left as
it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from guanxi.engine.report.model import Section, Table

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def write_csv(sections: Iterable[Section], folder: Path) -> list[Path]:
    """Every table of the sections (a report's, a simulation's), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_table(table, folder) for s in sections for table in s.tables()]


def write_table(table: Table, folder: Path) -> Path:
    path = folder / f"{table.name}.csv"
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([cell(c.label) for c in table.columns])
            writer.writerows([cell(v) for v in row] for row in table.rows)
    except OSError as error:
        error.filename = error.filename or str(path)  # a failed write does not say which file
        raise
    return path


def cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None, floats rounded, formulas written as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str):
        return as_text(value)
    return value


def as_text(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text, never runs it as a formula."""
    if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
