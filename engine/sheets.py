"""Excel workbooks (.xlsx), read as their CSV twins: one sheet's rows of cell values.

Business users keep decision tables and customer lists in Excel; saving as CSV is a step they
forget. A cell is read as Excel stores it: a number as a number, a date as a date (openpyxl
gives Python values); `cell_text` writes it as the CSV twin would have it. A row is numbered
as Excel numbers it, and a cell is named as Excel names it (B4).

A workbook is a zip archive: MAX_CELLS bounds what one may unpack, so a small file cannot
expand into gigabytes of rows.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

from guanxi.engine.i18n import _

MAX_CELLS = 2_000_000  # ten thousand rows of two hundred columns


class SheetError(Exception):
    """A workbook that cannot be read, or has no such sheet; the message says which."""


def sheet_rows(data: bytes, sheet: str | None = None) -> Iterator[tuple[int, list[Any]]]:
    """The non-empty rows of the first sheet (or `sheet`): (row number, cell values)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a broken or foreign file: openpyxl and zipfile raise many kinds
        raise SheetError(
            _("not a readable Excel workbook (.xlsx); in Excel, save it as 'Excel Workbook'")
        ) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            raise SheetError(
                _("the workbook has no sheet '{sheet}'; its sheets are: {names}").format(
                    sheet=sheet, names=names
                )
            )
        cells = 0
        for number, row in enumerate(book[sheet or book.sheetnames[0]].iter_rows(min_row=1), 1):
            values = [cell.value for cell in row]
            cells += len(values)
            if cells > MAX_CELLS:
                raise SheetError(
                    _("the sheet has more than {limit} cells").format(limit=f"{MAX_CELLS:,}")
                )
            while values and values[-1] in (None, ""):
                values.pop()
            if values:
                yield number, values
    finally:
        book.close()


def cell_text(value: Any) -> str:
    """A cell's value as its CSV twin writes it: 100000 (not 100000.0), 2026-11-03, true."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def cell_name(row: int, column: int) -> str:
    """Excel's name of a cell: column 2 of row 4 is B4."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{letters}{row}"
