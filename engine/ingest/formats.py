"""Reading files into records, one at a time: CSV (UTF-8 or GB18030), JSON Lines, Parquet and
Excel (.xlsx, the first sheet; rows numbered as Excel numbers them).

Text files are UTF-8 (Excel's byte-order mark is fine); a CSV file may be GB18030 (GBK, as
Chinese Excel saves "CSV (逗号分隔)") when the caller says so (`encoding`). JSON Lines are
UTF-8 by the JSON standard. A record is a mapping of field names to raw values, numbered as a
person sees it: in a CSV file the header is line 1; in Parquet rows count from 1. A line that
is no record at all (malformed JSON, a JSON key given twice, the wrong number of CSV cells, a
line longer than LINE_CHARS) is an Unreadable, to be quarantined. DataError is raised only when
the file cannot be read at all: missing, of an unknown type, not in its encoding or without a
header.

A CSV cell written `="…"` is the text inside: exports write digits so (`="13800000000"`,
`="00123"`) for Excel to keep them as typed, not as a number; no value is `="…"` itself.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.encoding import GB18030, UTF8, first_bad_line, named, utf8_beyond_ascii
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import N_, _
from guanxi.engine.ingest.parquet_limits import (  # a line longer than LINE_CHARS: not parsed
    LINE_CHARS,
    pieces,
    refusal,
    text_columns,
)
from guanxi.engine.ingest.values import EARLIEST, EXACT_DIGITS, LATEST
from guanxi.engine.sheets import SheetError, cell_text, sheet_rows

EXCEL_TEXT = re.compile(r'="((?:[^"]|"")*)"')  # Excel's formula for a text: ="00123"
BATCH_ROWS = 10_000  # rows per transaction: fewer commits (each one syncs the disk)
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "xlsx",
}
HINTED = 20  # unknown columns given a "did you mean" hint, in a file or a batch of lines
BREAKS = ("\n", "\r")
GB18030_BOM = "\ufeff".encode(GB18030)
ENCODING_READ = {UTF8: "utf-8-sig", GB18030: GB18030}  # a byte-order mark dropped
JSON_PROBLEMS = (  # the json module's messages (without " at"), so that they are translated
    N_("Expecting value"),
    N_("Expecting property name enclosed in double quotes"),
    N_("Expecting ':' delimiter"),
    N_("Expecting ',' delimiter"),
    N_("Unterminated string starting"),
    N_("Invalid control character"),
    N_("Invalid \\escape"),
    N_("Invalid \\uXXXX escape"),
    N_("Extra data"),
    N_("Illegal trailing comma before end of object"),
    N_("Illegal trailing comma before end of array"),
)


class Unreadable(NamedTuple):
    """A line that is not a record at all (malformed JSON, wrong number of CSV cells)."""

    reason: str
    text: str


Record = Mapping[str, Any] | Unreadable


@dataclass
class Source:
    columns: tuple[str, ...] | None  # None: every record names its own fields (JSON Lines)
    records: Iterator[tuple[int, Record]]
    unit: str  # what row numbers count: "line" or "row"
    size: int
    position: Callable[[], int]


@contextmanager
def opened(path: Path, encoding: str = UTF8) -> Iterator[Source]:
    """The records of the file at `path`; a CSV file's text in `encoding` (UTF8 or GB18030,
    or a name of one: `gbk`), checked whole before the first record."""
    form, encoding = _format(path), named(encoding)
    if encoding != UTF8 and form != "csv":
        raise DataError(only_csv(path, encoding))
    with ExitStack() as stack:
        if form == "parquet":
            yield _parquet(path, stack)
            return
        if form == "xlsx":
            yield _xlsx(path)
            return
        _check_text(path, encoding, form)
        raw = stack.enter_context(path.open("rb"))
        if encoding == GB18030 and raw.read(len(GB18030_BOM)) != GB18030_BOM:
            raw.seek(0)
        wrapped = io.TextIOWrapper(raw, encoding=ENCODING_READ[encoding], newline="")
        text = stack.enter_context(wrapped)
        size = path.stat().st_size
        if form == "csv":
            yield _csv(path, text, size, raw.tell)
        else:
            yield Source(None, _json_lines(text), "line", size, raw.tell)


def _format(path: Path) -> str:
    if not path.exists():
        raise DataError(_("{path}: no such file").format(path=path))
    if not path.is_file():
        raise DataError(_("{path}: not a file").format(path=path))
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        if path.suffix:
            why = _(
                "{path}: cannot read '{suffix}' files; use .csv (UTF-8), .jsonl, .parquet or .xlsx"
            )
        else:
            why = _(
                "{path}: cannot read files without an extension;"
                " use .csv (UTF-8), .jsonl, .parquet or .xlsx"
            )
        raise DataError(why.format(path=path, suffix=path.suffix))
    return form


def only_csv(path: Path, encoding: str) -> str:
    """Why a file other than CSV cannot be read in `encoding`."""
    return _(
        "{path}: only a CSV file can be read as {encoding}; JSON Lines are UTF-8 by the JSON"
        " standard, and Parquet and Excel files say their own encoding"
    ).format(path=path, encoding=encoding.upper())


def _check_text(path: Path, encoding: str, form: str) -> None:
    """Fail before loading anything if some byte is not text in `encoding`, naming its line;
    or if a file to read as GB18030 is UTF-8 (it would be read as other characters)."""
    if encoding == GB18030 and utf8_beyond_ascii(path):
        raise DataError(
            _("{path}: the file is UTF-8 text, not GB18030: leave out --encoding").format(path=path)
        )
    line = first_bad_line(path, encoding)
    if line is None:
        return
    if encoding == GB18030:
        why = _(
            "{path}:{line}: not GBK/GB18030 text; save the file as 'CSV UTF-8' and leave out"
            " --encoding"
        )
    elif form == "csv" and first_bad_line(path, GB18030) is None:
        why = _(
            "{path}:{line}: not UTF-8 text; it looks like GBK/GB18030 (Excel's 'CSV (逗号分隔)'):"
            " add --encoding gb18030, or save it as 'CSV UTF-8'"
        )
    else:
        why = _("{path}:{line}: not UTF-8 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')")
    raise DataError(why.format(path=path, line=line))


def _csv(path: Path, text: io.TextIOWrapper, size: int, position: Callable[[], int]) -> Source:
    lines = _CsvLines(text)
    reader = csv.reader(lines)
    header = next((row for row in reader if row or lines.too_long), None)
    if lines.too_long:
        why = _("{path}:{line}: longer than {limit} characters: not read")
        raise DataError(why.format(path=path, line=reader.line_num, limit=f"{LINE_CHARS:,}"))
    if header is None:
        raise DataError(
            _("{path}: no header; the first line must name the columns").format(path=path)
        )
    columns = tuple(name.strip() for name in header)
    _no_column_twice(path, reader.line_num, columns)
    return Source(columns, _csv_records(reader, lines, columns), "line", size, position)


class _CsvLines:
    """The lines of a CSV text as csv.reader reads them, with a line longer than LINE_CHARS
    skipped without ever being held whole (a 100 MB line of commas cost a gigabyte as cells):
    an empty line stands in its place, so that lines keep their numbers, and `too_long` says
    that the record read is not one."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text
        self.too_long = False

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(LINE_CHARS + 1)
        if not line:
            raise StopIteration
        if len(line) <= LINE_CHARS or line.endswith(BREAKS):
            return line
        while (rest := self.text.readline(LINE_CHARS)) and not rest.endswith(BREAKS):
            pass
        self.too_long = True
        return "\n"


def _no_column_twice(path: Path, line: int, columns: tuple[str, ...]) -> None:
    """DataError naming the first (by name) of the columns the header gives twice. Counted in
    one pass: a header of a hundred thousand columns is a file of under a megabyte."""
    repeated = sorted(c for c, count in Counter(columns).items() if c and count > 1)
    if repeated:
        raise DataError(
            _("{path}:{line}: column '{column}' appears twice").format(
                path=path, line=line, column=repeated[0]
            )
        )


def _csv_records(
    reader: Any, lines: _CsvLines, columns: tuple[str, ...]
) -> Iterator[tuple[int, Record]]:
    width = len(columns)
    while True:
        number = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            lines.too_long = False  # the record is unreadable either way
            yield number, Unreadable(_("not readable as CSV: {error}").format(error=error), "")
            continue
        if lines.too_long:
            lines.too_long = False
            reason = _("longer than {limit} characters: not read").format(limit=f"{LINE_CHARS:,}")
            yield number, Unreadable(reason, "")
        elif not any(cell.strip() for cell in cells):
            continue  # `,,,,` below the data, as Excel writes it: skipped as a sheet's empty rows
        elif len(cells) == width:
            yield number, dict(zip(columns, _excel_texts(cells), strict=True))
        else:
            reason = _("has {cells} cells, but the header has {columns} columns").format(
                cells=len(cells), columns=width
            )
            yield number, Unreadable(reason, ",".join(cells))


def _excel_texts(cells: list[str]) -> list[str]:
    """`cells`, each written `="…"` as the text inside (one search for most rows)."""
    if '="' not in "".join(cells):
        return cells
    return [_excel_text(cell) for cell in cells]


def _excel_text(cell: str) -> str:
    found = EXCEL_TEXT.fullmatch(cell.strip())
    return found.group(1).replace('""', '"') if found else cell


def _json_lines(text: io.TextIOWrapper) -> Iterator[tuple[int, Record]]:
    for number, line in enumerate(_lines(text), start=1):
        if line is None:
            reason = _("longer than {limit} characters: not read").format(limit=f"{LINE_CHARS:,}")
            yield number, Unreadable(reason, "")
        elif line.strip():
            yield number, _json_record(line)


def _lines(text: io.TextIOWrapper) -> Iterator[str | None]:
    """Each line without its line break; None for a line too long, which is skipped without
    ever being held whole."""
    while line := text.readline(LINE_CHARS + 1):
        if len(line) <= LINE_CHARS or line.endswith(BREAKS):
            yield line.rstrip("\r\n")
            continue
        while (rest := text.readline(LINE_CHARS)) and not rest.endswith(BREAKS):
            pass
        yield None


class _KeyTwice(ValueError):
    """A JSON object gives one key twice: readers disagree on which value counts (Python
    keeps the last, others the first), so neither is taken."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        keys = [key for key, _value in pairs]
        raise _KeyTwice(next(key for n, key in enumerate(keys) if key in keys[:n]))
    return record


JSON = json.JSONDecoder(object_pairs_hook=_once_each)  # built once: as fast as json.loads


def _json_record(line: str) -> Record:
    try:
        record = JSON.decode(line)
    except _KeyTwice as twice:
        reason = _("key '{key}' is given twice; keep one of them").format(key=twice.key)
        return Unreadable(reason, line)
    except json.JSONDecodeError as error:
        reason = _("not valid JSON: {error} at column {column}").format(
            error=_(error.msg.removesuffix(" at")), column=error.colno
        )
        return Unreadable(reason, line)
    except RecursionError:
        return Unreadable(_("not readable: nested too deeply"), line)
    except ValueError:  # the only other: an integer beyond Python's 4,300 digits
        return Unreadable(_("not readable: a number of thousands of digits"), line)
    if isinstance(record, dict):
        return record
    return Unreadable(_("not a JSON object"), line)


def _parquet(path: Path, stack: ExitStack) -> Source:
    import pyarrow
    import pyarrow.parquet

    try:
        schema = pyarrow.parquet.read_schema(path)
        file = pyarrow.parquet.ParquetFile(path, read_dictionary=text_columns(schema))
    except (pyarrow.ArrowException, OSError) as error:
        raise DataError(
            _("{path}: not a readable Parquet file ({error})").format(path=path, error=error)
        ) from None
    stack.callback(file.close)
    refused = refusal(file)
    if refused is not None:
        raise DataError(f"{path}: {refused}")
    done = [0]

    def records() -> Iterator[tuple[int, Record]]:
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            for record in arrow_records(batch):
                done[0] += 1
                yield done[0], record

    columns = tuple(file.schema_arrow.names)
    return Source(columns, records(), "row", file.metadata.num_rows, lambda: done[0])


def _xlsx(path: Path) -> Source:
    """The first sheet of a workbook: its first non-empty row names the columns; cells keep
    the values Excel stores (numbers, dates), which the fields' readers take as they are."""
    try:
        rows = sheet_rows(path.read_bytes())
        header = next(rows, None)
    except SheetError as error:
        raise DataError(f"{path}: {error}") from None
    if header is None:
        raise DataError(
            _("{path}: no header; the first row must name the columns").format(path=path)
        )
    columns = tuple(cell_text(cell).strip() for cell in header[1])
    _no_column_twice(path, header[0], columns)
    size, finished = path.stat().st_size, [False]

    def records() -> Iterator[tuple[int, Record]]:
        try:
            for number, cells in rows:
                yield number, _sheet_record(columns, cells)
        except SheetError as error:
            raise DataError(f"{path}: {error}") from None
        finished[0] = True

    return Source(columns, records(), "row", size, lambda: size if finished[0] else 0)


def _sheet_record(columns: tuple[str, ...], cells: list[Any]) -> Record:
    if len(cells) > len(columns):
        reason = _("has {cells} cells, but the header has {columns} columns").format(
            cells=len(cells), columns=len(columns)
        )
        return Unreadable(reason, ",".join(cell_text(c) for c in cells))
    values = [_as_excel_keeps(cell) for cell in cells]
    return dict(zip(columns, [*values, *[None] * (len(columns) - len(cells))], strict=True))


def _as_excel_keeps(cell: Any) -> Any:
    """A number cell is a real, however the file writes it: openpyxl gives plain digits
    (6222021234567891) as an int, which past EXACT_DIGITS digits is read as the real it is, so
    that an id or phone typed there is quarantined as one written 6.22202123456789E+15 is
    (past the largest double it stays an int, too large for any field)."""
    if type(cell) is int and 10**EXACT_DIGITS <= abs(cell) <= sys.float_info.max:
        return float(cell)
    return cell


def arrow_records(batch: Any) -> Iterator[Record]:
    """The batch's rows as records, a slice of rows at a time (parquet_limits.py): a row
    longer than LINE_CHARS is unreadable; when some date or time is beyond what Python can
    hold (year 10000), row by row, so that only the rows holding one are unreadable."""
    for piece in pieces(batch):
        if piece is None:
            reason = _("longer than {limit} characters: not read").format(limit=f"{LINE_CHARS:,}")
            yield Unreadable(reason, "")
            continue
        try:
            yield from piece.to_pylist()
        except (OverflowError, ValueError):
            yield from [_parquet_row(piece.slice(i, 1)) for i in range(piece.num_rows)]


def _parquet_row(row: Any) -> Record:
    try:
        return dict(row.to_pylist()[0])
    except (OverflowError, ValueError):
        bad = [name for name in row.schema.names if _overflows(row.column(name))]
        reason = _(
            "{value} is not a plausible date: dates from {earliest} to {latest}"
            " are accepted (is the year mistyped?)"
        ).format(value=f"'{', '.join(bad)}'", earliest=EARLIEST, latest=LATEST)
        return Unreadable(reason, "")


def _overflows(column: Any) -> bool:
    try:
        column.to_pylist()
    except (OverflowError, ValueError):
        return True
    return False


HEADER_SEARCH = 10  # rows read to find a header that rows above it (a title) pushed down


def first_rows(path: Path, encoding: str = UTF8) -> Iterator[tuple[int, list[str]]]:
    """The first HEADER_SEARCH non-empty rows of a CSV or Excel file as text cells, numbered
    as a load numbers them; none for other formats (their columns are named by the format)."""
    form = FORMATS.get(path.suffix.lower())
    if form == "xlsx":
        rows = ((n, [cell_text(c) for c in cells]) for n, cells in sheet_rows(path.read_bytes()))
        yield from itertools.islice(rows, HEADER_SEARCH)
    elif form == "csv":
        with path.open(encoding=ENCODING_READ[named(encoding)], newline="") as text:
            reader = csv.reader(text)
            cells = (row for row in reader if any(c.strip() for c in row))
            for row in itertools.islice(cells, HEADER_SEARCH):
                yield reader.line_num, row


def columns_needed(path: Path, columns: tuple[str, ...] | None, needed: Iterable[str]) -> None:
    """Raise DataError when a file with a header lacks a column that every row needs."""
    if columns is None:
        return
    for name in needed:
        if name not in columns:
            hint = hinted(did_you_mean(name, [c for c in columns if c]))
            needs = _("{path}: no column '{name}', which every row needs")
            raise DataError(needs.format(path=path, name=name) + hint)


def unknown_columns(columns: Iterable[str], known: Iterable[str]) -> list[str]:
    """A warning for each column `known` lacks; only the first HINTED have a 'did you mean'
    (each costs a comparison with every known name, and a file may bring a million)."""
    names = list(known)
    warnings: list[str] = []
    for column in columns:
        if column not in names:
            close = bool(column) and len(warnings) < HINTED
            hint = hinted(did_you_mean(column, names)) if close else ""
            if column:
                why = _("ignored column '{column}': the schema does not declare it")
            else:
                why = _("ignored a column without a name: the schema does not declare it")
            warnings.append(why.format(column=column) + hint)
    return warnings


def hinted(hint: str | None) -> str:
    return f" ({hint})" if hint else ""
