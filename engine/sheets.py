"""Excel workbooks (.xlsx), read as their CSV twins: one sheet's rows of cell values.

Business users keep decision tables and customer lists in Excel; saving as CSV is a step they
forget. A cell is read as Excel stores it: a number as a number, a date as a date (openpyxl
gives Python values); `cell_text` writes it as the CSV twin would have it. A row is numbered
as Excel numbers it, and a cell is named as Excel names it (B4).

A decision table's cells merged down a column (the same label or test for several rows, as
Excel users write it) are read as that value in each row; merged across columns, they would
leave the other columns' tests empty, which reads as "any value": SheetError names them.

A workbook is a zip archive: MAX_CELLS bounds how many cells one may hold, and MAX_UNPACKED
how large its parts may be once unpacked, checked before a byte is unpacked: a 300 KB file
whose one cell unpacks to 300 MB of text would otherwise cost openpyxl gigabytes of memory,
and a daemon reading it as a decision table would be killed for it. (zipfile never unpacks
more of a part than its header declares, so the declared sizes are what counts.)
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

from guanxi.engine.i18n import _

MAX_CELLS = 2_000_000  # ten thousand rows of two hundred columns
MAX_UNPACKED = 256_000_000  # bytes; MAX_CELLS cells unpack to under 100 MB as Excel saves them


class SheetError(Exception):
    """A workbook that cannot be read, or has no such sheet; the message says which."""

    def __init__(self, message: str, missing_sheet: bool = False) -> None:
        super().__init__(message)
        self.missing_sheet = missing_sheet


def sheet_rows(
    data: bytes, sheet: str | None = None, merged: bool = False
) -> Iterator[tuple[int, list[Any]]]:
    """The non-empty rows of the first sheet (or `sheet`): (row number, cell values); with
    `merged`, cells merged down a column each hold the merged value (see the docstring)."""
    import openpyxl

    _check_unpacked_size(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # a broken or foreign file: openpyxl and zipfile raise many kinds
        raise _unreadable() from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = ", ".join(book.sheetnames)
            message = _("the workbook has no sheet '{sheet}'; its sheets are: {names}")
            raise SheetError(message.format(sheet=sheet, names=names), missing_sheet=True)
        cells = 0
        worksheet = book[sheet or book.sheetnames[0]]
        fill = _merged_down(worksheet) if merged else {}
        tops: dict[tuple[int, int], Any] = {}
        for number, row in enumerate(_parsed(worksheet.iter_rows(min_row=1)), 1):
            values = _filled(number, [cell.value for cell in row], fill, tops)
            cells += len(values)
            if cells > MAX_CELLS:
                message = _("the sheet has more than {count} cells")
                raise SheetError(message.format(count=f"{MAX_CELLS:,}"))
            while values and values[-1] in (None, ""):
                values.pop()
            if values:
                yield number, values
    finally:
        book.close()


def _unreadable() -> SheetError:
    return SheetError(
        _("not a readable Excel workbook (.xlsx); in Excel, save it as 'Excel Workbook'")
    )


def _parsed(rows: Iterator[Any]) -> Iterator[Any]:
    """`rows`, read lazily: a damaged sheet (broken XML, a bad checksum, a number cell that
    is not a number) opens and breaks part way, with as many kinds of error as a broken file."""
    try:
        yield from rows
    except Exception:
        raise _unreadable() from None


Merged = dict[tuple[int, int], tuple[int, int]]  # (row, column) -> the merged range's top


def _merged_down(worksheet: Any) -> Merged:
    """Each cell under the top of a range merged down one column, and that top cell; a range
    across columns is a SheetError. A read-only sheet does not give its merged ranges: they
    are read from the sheet's XML (`<mergeCell ref="B3:B5"/>`)."""
    from openpyxl.utils.cell import range_boundaries

    fill: Merged = {}
    for ref in _merge_refs(worksheet):
        first_column, first_row, last_column, last_row = range_boundaries(ref)
        if first_column != last_column:
            message = _(
                "cells {cells} are merged across columns, which leaves the tests of all"
                " but the first empty (any value); unmerge them and fill each cell"
            )
            raise SheetError(message.format(cells=ref))
        for row in range(first_row + 1, last_row + 1):
            fill[(row, first_column)] = (first_row, first_column)
    return fill


def _merge_refs(worksheet: Any) -> Iterator[str]:
    with worksheet._get_source() as source:
        for _event, element in ElementTree.iterparse(source):
            if element.tag.endswith("}mergeCell") and element.get("ref"):
                yield str(element.get("ref"))
            element.clear()


def _filled(
    number: int, values: list[Any], fill: Merged, tops: dict[tuple[int, int], Any]
) -> list[Any]:
    """Row `number`'s values with each merged cell given its range's top value (`tops`:
    the top values read so far, kept from row to row)."""
    if not fill:
        return values
    tops.update({(number, c): v for c, v in enumerate(values, 1) if (number, c) in fill.values()})
    width = max([len(values)] + [column for row, column in fill if row == number])
    values = values + [None] * (width - len(values))
    for column in range(1, width + 1):
        top = fill.get((number, column))
        if top is not None:
            values[column - 1] = tops.get(top)
    return values


def _check_unpacked_size(data: bytes) -> None:
    """SheetError when the workbook's parts would unpack to more than MAX_UNPACKED bytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(part.file_size for part in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip archive: openpyxl says it is not a workbook
    if unpacked > MAX_UNPACKED:
        message = _("the workbook unpacks to {size} MB, more than the {limit} MB allowed: not read")
        size, limit = f"{unpacked / 1_000_000:,.0f}", f"{MAX_UNPACKED / 1_000_000:,.0f}"
        raise SheetError(message.format(size=size, limit=limit))


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
