"""Load customers and events from files into the store; quarantine what cannot be loaded.

    load_customers(store, ruleset, path, now) -> LoadReport     CSV, JSON Lines or Parquet
    load_events(store, ruleset, path, now)    -> LoadReport     CSV, JSON Lines or Parquet

How values are read (business users ask about these, so they are decided here once):

- Files are UTF-8 (Excel's byte-order mark is fine). Spaces around a value are removed; an
  empty cell, a JSON null and a missing JSON key all mean "no value".
- A field the file does not give (no such column, no such JSON key) is left as stored; an
  empty cell clears it. A file with only `customer_id` and `name` therefore adds partial
  customers and renames known ones without touching their balances.
- integer, number: `1234`, `-12.5`, `1e3`. Thousands separators are accepted only in groups of
  three (`1,234,567.50`, as Excel exports); any other comma (`1,5`, `12,3x4`) is rejected, since
  `1,5` may be a decimal comma. An integer may be written `3.0` but not `3.5`; nan and inf are
  rejected.
- boolean: true/false, yes/no, 1/0, 是/否, in any letter case.
- date: `YYYY-MM-DD`, a real calendar day. datetime: `YYYY-MM-DDTHH:MM[:SS[.ffffff]]` (a space
  for the T is fine) with an optional offset (`+08:00`, `Z`); without one the time is in the
  project's time zone. Datetimes are stored as UTC ISO text.
- A field with `values:` must take one of them exactly (letter case counts).
- Every problem of a bad row is one quarantine record (kind, file, row number, field, value,
  reason) and the row is not loaded. Row numbers are the lines a person sees: in a CSV file
  the header is line 1; in Parquet they count rows from 1. The quarantine is a log: each load
  adds its own records, stamped with the load's time.
- A key (customer key, event id) repeated later in the same file is quarantined ("already on
  line N"): the first row is loaded, nothing is overwritten silently, and loading the file
  again changes nothing.
- Columns or JSON keys the schema does not declare are ignored, with one warning each.
- Events: `id`, `type` (a declared event type), `customer_id` and `at` (a datetime); the other
  fields (or those of a nested `payload` object) are the payload, typed by the event's schema.
  `customer_id` is not checked against the customers table: events may arrive first.

DataError is raised only when the file cannot be read at all: missing, of an unknown type, not
UTF-8, without a header, or without a column that every row needs (the key, a required field).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.errors import DataError
from guanxi.engine.ruleset.models import FieldSpec, Schema
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store

Progress = Callable[[int, int], None]
"""Called after each batch with (done, total): bytes for text files, rows for Parquet."""

BATCH_ROWS = 10_000  # rows per transaction: fewer commits (each one syncs the disk)
KEEP_PROBLEMS = 20
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
ENVELOPE = ("id", "type", "customer_id", "at")
BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "是": True,
    "否": False,
}
GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", re.ASCII)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)
VALUE_SHOWN = 200  # characters of a bad value kept in the quarantine


@dataclass
class LoadReport:
    """What one load did. `read` = `loaded` + `quarantined` (rows); `problems` holds the first
    quarantine records (a row can have several) for display."""

    kind: str
    source: str
    read: int = 0
    loaded: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    problems: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        names = ("read", "loaded", "inserted", "updated", "unchanged", "quarantined")
        return {name: getattr(self, name) for name in names}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- values --------------------------------------------------------------------------------


class Invalid(ValueError):
    """A value that does not fit its field; the message is the quarantine reason."""


def _shown(value: Any) -> str:
    return f"'{value.strip()}'" if isinstance(value, str) else json.dumps(value, default=str)


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"expected text, got {_shown(value)}")


def _number(value: Any) -> float | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            if not GROUPED_NUMBER.fullmatch(text):
                raise Invalid(f"'{text}' is not a number") from None
            number = float(text.replace(",", ""))
        if "_" in text or not math.isfinite(number):
            raise Invalid(f"'{text}' is not a number")
        return number
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        raise Invalid(f"{value} is not a number")
    raise Invalid(f"expected a number, got {_shown(value)}")


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return _in_range(value)
    if type(value) is str:
        try:
            number = int(value)
        except ValueError:
            pass
        else:
            if "_" not in value:
                return _in_range(number)
    try:
        real = _number(value)
    except Invalid:
        raise Invalid(f"{_shown(value)} is not a whole number") from None
    if real is None:
        return None
    if not real.is_integer():
        raise Invalid(f"{_shown(value)} is not a whole number")
    return _in_range(int(real))


def _in_range(number: int) -> int:
    if -(2**63) <= number < 2**63:
        return number
    raise Invalid(f"{number} is too large")


def _boolean(value: Any) -> bool | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        if text.lower() in BOOLEANS:
            return BOOLEANS[text.lower()]
        raise Invalid(f"'{text}' is not true or false (write true/false, yes/no, 1/0 or 是/否)")
    if value is None:
        return None
    if type(value) is bool or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise Invalid(f"expected true or false, got {_shown(value)}")


def _date(value: Any) -> str | None:
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        if not DATE.fullmatch(text):
            raise Invalid(f"'{text}' is not a date written YYYY-MM-DD")
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise Invalid(f"'{text}' is not a real calendar date") from None
        return text
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None:
        return None
    raise Invalid(f"expected a date, got {_shown(value)}")


class _Moment:
    """Reads a datetime; one without an offset is in `zone`. Gives UTC ISO text."""

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone

    def __call__(self, value: Any) -> str | None:
        if type(value) is str:
            text = value.strip()
            if not text:
                return None
            moment = self._parse(text)
        elif isinstance(value, dt.datetime):
            moment = value
        elif value is None:
            return None
        else:
            raise Invalid(f"expected a date and time, got {_shown(value)}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(dt.UTC).isoformat()

    @staticmethod
    def _parse(text: str) -> dt.datetime:
        if not DATETIME.fullmatch(text):
            raise Invalid(
                f"'{text}' is not a date and time written YYYY-MM-DDTHH:MM:SS"
                " (optionally with an offset such as +08:00)"
            )
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            raise Invalid(f"'{text}' is not a real date and time") from None


# --- checking rows ---------------------------------------------------------------------------

Problem = tuple[str | None, Any, str]  # field (None: the whole row), value, reason
Check = Callable[[Mapping[str, Any]], tuple[Row, list[Problem]]]
Write = Callable[[list[Row]], dict[str, int]]
Warn = Callable[[str], None]


class _Field(NamedTuple):
    name: str
    convert: Callable[[Any], Any]
    required: bool
    values: frozenset[str] | None


def _plan(
    fields: Mapping[str, FieldSpec], zone: dt.tzinfo, required: Iterable[str] = ()
) -> list[_Field]:
    """How to check each field: its converter, whether it is required, its allowed values."""
    converters: dict[str, Callable[[Any], Any]] = {
        "string": _text,
        "integer": _integer,
        "number": _number,
        "boolean": _boolean,
        "date": _date,
        "datetime": _Moment(zone),
    }
    always = set(required)
    return [
        _Field(
            name,
            converters[spec.type],
            spec.required or name in always,
            frozenset(spec.values) if spec.values else None,
        )
        for name, spec in fields.items()
    ]


def _check(
    plan: list[_Field], record: Mapping[str, Any], row: Row, problems: list[Problem]
) -> None:
    """Convert the fields of `record` into `row`; what does not fit goes to `problems`.

    This loop runs for every field of every row, so it is kept flat.
    """
    for name, convert, required, values in plan:
        if name not in record:
            if required:
                problems.append((name, None, "required, but missing"))
            continue
        raw = record[name]
        try:
            value = convert(raw)
        except Invalid as error:
            problems.append((name, raw, str(error)))
            continue
        if value is None:
            if required:
                problems.append((name, raw, "required, but empty"))
        elif values is not None and value not in values:
            problems.append((name, raw, f"'{value}' is not one of: {', '.join(sorted(values))}"))
        row[name] = value


class _CustomerCheck:
    """The schema's fields; those a CSV or Parquet file has no column for are skipped."""

    def __init__(
        self, schema: Schema, zone: dt.tzinfo, columns: tuple[str, ...] | None, warn: Warn
    ) -> None:
        plan = _plan(schema.fields, zone, required=[schema.key])
        self.plan = [f for f in plan if columns is None or f.name in columns]
        self.known = set(schema.fields)
        self.json_lines = columns is None
        self.unknown: set[str] = set()
        self.warn = warn

    def __call__(self, record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        row: Row = {}
        problems: list[Problem] = []
        _check(self.plan, record, row, problems)
        if self.json_lines:
            self._unknown_keys(record)
        return row, problems

    def _unknown_keys(self, record: Mapping[str, Any]) -> None:
        """JSON Lines: each line names its own fields; warn once about each unknown one."""
        extra = record.keys() - self.known - self.unknown
        if extra:
            self.unknown.update(extra)
            for warning in _unknown_columns(sorted(extra), self.known):
                self.warn(warning.replace("column", "field", 1))


class _EventCheck:
    """The envelope (id, type, customer_id, at) and the payload typed by the event type."""

    def __init__(self, schema: Schema, zone: dt.tzinfo, warn: Warn) -> None:
        text, moment = FieldSpec(type="string", label=""), FieldSpec(type="datetime", label="")
        specs = {"id": text, "type": text, "customer_id": text, "at": moment}
        self.envelope = _plan(specs, zone, required=ENVELOPE)
        self.payloads = {name: _plan(spec.fields, zone) for name, spec in schema.events.items()}
        self.warn = warn

    def __call__(self, record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        row: Row = {}
        problems: list[Problem] = []
        _check(self.envelope, record, row, problems)
        kind = str(row.get("type") or "")
        plan = self.payloads.get(kind)
        if kind and plan is None:
            hint = did_you_mean(kind, self.payloads)
            problems.append(("type", kind, f"unknown event type '{kind}'" + _hint(hint)))
        payload: Row = {}
        if plan is not None:
            fields = _payload_fields(record)
            _check(plan, fields, payload, problems)
            self._unknown(kind, fields, plan)
        row["payload"] = {k: v for k, v in payload.items() if v is not None}
        return row, problems

    def _unknown(self, kind: str, fields: Mapping[str, Any], plan: list[_Field]) -> None:
        names = [f.name for f in plan]
        for name, value in fields.items():
            if name not in names and value not in (None, ""):
                hint = _hint(did_you_mean(name, names))
                self.warn(f"ignored field '{name}' of '{kind}' events: not in the schema{hint}")


def check_event(ruleset: RuleSet, record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
    """One event as given on the command line or over the wire: the row to store and the
    problems that keep it out (field, value, reason)."""
    return check_event_record(ruleset.schema, ruleset.settings.timezone, record)


def check_event_record(
    schema: Schema, timezone: str, record: Mapping[str, Any]
) -> tuple[Row, list[Problem]]:
    """`check_event` before there is a rule set (while the rule project is checked)."""
    return _EventCheck(schema, zoneinfo.ZoneInfo(timezone), lambda _: None)(record)


def check_customer(
    schema: Schema, timezone: str, record: Mapping[str, Any]
) -> tuple[Row, list[Problem]]:
    """One customer given as a mapping (a scenario's): the row to store and the problems that
    would quarantine it (field, value, reason). Unknown fields are left out of the row."""
    return _CustomerCheck(schema, zoneinfo.ZoneInfo(timezone), None, lambda _: None)(record)


@dataclass
class FileCheck:
    """What loading a customers file would ignore or quarantine, found without a store."""

    unknown: list[str]  # columns (or JSON keys) the schema does not declare
    problems: list[tuple[int, str | None, Any, str]]  # row number, field, value, reason


def check_customer_file(schema: Schema, timezone: str, path: Path) -> FileCheck:
    """Every problem `load_customers` would quarantine in the file. Raises DataError when the
    file cannot be read at all."""
    found = FileCheck([], [])
    with _open(path) as source:
        _columns_needed(path, source.columns, [schema.key])
        found.unknown = [c for c in source.columns or () if c not in schema.fields]
        zone = zoneinfo.ZoneInfo(timezone)
        check = _CustomerCheck(schema, zone, source.columns, lambda _: None)
        seen: dict[Any, int] = {}
        for number, record in source.records:
            if isinstance(record, _Unreadable):
                found.problems.append((number, None, record.text, record.reason))
                continue
            found.unknown += [
                k for k in record if k not in schema.fields and k not in found.unknown
            ]
            row, problems = check(record)
            first = seen.setdefault(row.get(schema.key), number)
            if not problems and first != number:
                reason = f"duplicate {schema.key} '{row[schema.key]}': already on line {first}"
                problems.append((schema.key, row[schema.key], reason))
            found.problems += [(number, *problem) for problem in problems]
    return found


def _payload_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in record.items() if k not in ENVELOPE and k != "payload"}
    nested = record.get("payload")
    if isinstance(nested, dict):
        fields.update(nested)
    return fields


def _hint(hint: str | None) -> str:
    return f" ({hint})" if hint else ""


# --- reading files ---------------------------------------------------------------------------


class _Unreadable(NamedTuple):
    """A line that is not a record at all (malformed JSON, wrong number of CSV cells)."""

    reason: str
    text: str


Record = Mapping[str, Any] | _Unreadable


@dataclass
class _Source:
    columns: tuple[str, ...] | None  # None: every record names its own fields (JSON Lines)
    records: Iterator[tuple[int, Record]]
    unit: str  # what row numbers count: "line" or "row"
    size: int
    position: Callable[[], int]


@contextmanager
def _open(path: Path) -> Iterator[_Source]:
    form = _format(path)
    with ExitStack() as stack:
        if form == "parquet":
            yield _parquet(path, stack)
            return
        _check_utf8(path)
        raw = stack.enter_context(path.open("rb"))
        text = stack.enter_context(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
        size = path.stat().st_size
        if form == "csv":
            yield _csv(path, text, size, raw.tell)
        else:
            yield _Source(None, _json_lines(text), "line", size, raw.tell)


def _format(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        kind = f"'{path.suffix}' files" if path.suffix else "files without an extension"
        raise DataError(f"{path}: cannot read {kind}; use .csv (UTF-8), .jsonl or .parquet")
    return form


def _check_utf8(path: Path) -> None:
    """Fail before loading anything if some byte is not UTF-8, naming its line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                line += chunk[: max(0, error.start - pending)].count(b"\n")
                break
            line += chunk.count(b"\n")
        else:
            try:
                decoder.decode(b"", final=True)
                return
            except UnicodeDecodeError:
                pass
    raise DataError(
        f"{path}:{line}: not UTF-8 text; save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )


def _csv(path: Path, text: io.TextIOWrapper, size: int, position: Callable[[], int]) -> _Source:
    reader = csv.reader(text)
    header = next((row for row in reader if row), None)
    if header is None:
        raise DataError(f"{path}: no header; the first line must name the columns")
    columns = tuple(name.strip() for name in header)
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise DataError(f"{path}:{reader.line_num}: column '{repeated[0]}' appears twice")
    return _Source(columns, _csv_records(reader, columns), "line", size, position)


def _csv_records(reader: Any, columns: tuple[str, ...]) -> Iterator[tuple[int, Record]]:
    width = len(columns)
    while True:
        number = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield number, _Unreadable(f"not readable as CSV: {error}", "")
            continue
        if len(cells) == width:
            yield number, dict(zip(columns, cells, strict=True))
        elif cells:
            reason = f"has {len(cells)} cells, but the header has {width} columns"
            yield number, _Unreadable(reason, ",".join(cells))


def _json_lines(text: io.TextIOWrapper) -> Iterator[tuple[int, Record]]:
    for number, line in enumerate(text, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            reason = f"not valid JSON: {error.msg.removesuffix(' at')} at column {error.colno}"
            yield number, _Unreadable(reason, line)
            continue
        if isinstance(record, dict):
            yield number, record
        else:
            yield number, _Unreadable("not a JSON object", line)


def _parquet(path: Path, stack: ExitStack) -> _Source:
    import pyarrow
    import pyarrow.parquet

    try:
        file = pyarrow.parquet.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from None
    stack.callback(file.close)
    done = [0]

    def records() -> Iterator[tuple[int, Record]]:
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            for record in batch.to_pylist():
                done[0] += 1
                yield done[0], record

    columns = tuple(file.schema_arrow.names)
    return _Source(columns, records(), "row", file.metadata.num_rows, lambda: done[0])


def _columns_needed(path: Path, columns: tuple[str, ...] | None, needed: Iterable[str]) -> None:
    if columns is None:
        return
    for name in needed:
        if name not in columns:
            hint = _hint(did_you_mean(name, [c for c in columns if c]))
            raise DataError(f"{path}: no column '{name}', which every row needs{hint}")


def _unknown_columns(columns: Iterable[str], known: Iterable[str]) -> list[str]:
    names = list(known)
    warnings = []
    for column in columns:
        if column not in names:
            hint = _hint(did_you_mean(column, names)) if column else ""
            label = f"column '{column}'" if column else "a column without a name"
            warnings.append(f"ignored {label}: the schema does not declare it{hint}")
    return warnings


# --- loading ---------------------------------------------------------------------------------


class _Load:
    """Checks records, writes good rows and quarantines bad ones, a batch at a time."""

    def __init__(self, kind: str, path: Path, store: Store, now: str, source: _Source) -> None:
        self.report = LoadReport(kind, str(path))
        self.store, self.now, self.source = store, now, source
        self.seen: dict[Any, int] = {}  # key -> row number, to find keys given twice
        self.good: list[Row] = []
        self.bad: list[Row] = []

    def warn(self, message: str) -> None:
        if message not in self.report.warnings:
            self.report.warnings.append(message)

    def run(self, check: Check, key: str, write: Write, progress: Progress | None) -> LoadReport:
        for number, record in self.source.records:
            if isinstance(record, _Unreadable):
                self._quarantine(number, [(None, record.text, record.reason)])
                continue
            row, problems = check(record)
            if not problems:
                self._first(number, key, row, problems)
            if problems:
                self._quarantine(number, problems)
            else:
                self.good.append(row)
            if len(self.good) + len(self.bad) >= BATCH_ROWS:
                self._flush(write, progress)
        self._flush(write, progress)
        return self.report

    def _first(self, number: int, key: str, row: Row, problems: list[Problem]) -> None:
        """A key seen earlier in this file is a problem: the first row wins."""
        first = self.seen.setdefault(row[key], number)
        if first != number:
            reason = f"duplicate {key} '{row[key]}': already on {self.source.unit} {first}"
            problems.append((key, row[key], reason))

    def _quarantine(self, number: int, problems: list[Problem]) -> None:
        self.report.quarantined += 1
        for name, value, reason in problems:
            shown = None if value is None else str(value)[:VALUE_SHOWN]
            self.bad.append(
                {
                    "kind": self.report.kind,
                    "source": self.report.source,
                    "row_number": number,
                    "field": name,
                    "value": shown,
                    "reason": reason,
                    "at": self.now,
                }
            )

    def _flush(self, write: Write, progress: Progress | None) -> None:
        report = self.report
        with self.store.transaction():
            counts = write(self.good) if self.good else {}
            if self.bad:
                self.store.quarantine(self.bad)
        room = KEEP_PROBLEMS - len(report.problems)
        report.problems.extend(
            {k: r[k] for k in ("row_number", "field", "value", "reason")} for r in self.bad[:room]
        )
        report.loaded += len(self.good)
        report.read = report.loaded + report.quarantined
        for name in ("inserted", "updated", "unchanged"):
            setattr(report, name, getattr(report, name) + counts.get(name, 0))
        self.good, self.bad = [], []
        if progress is not None:
            progress(self.source.position(), self.source.size)


def load_customers(
    store: Store,
    ruleset: RuleSet,
    path: Path | str,
    now: dt.datetime,
    progress: Progress | None = None,
) -> LoadReport:
    """Load customers from CSV, JSON Lines or Parquet, inserting or updating by key."""
    path, schema = Path(path), ruleset.schema
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    with _open(path) as source:
        required = [schema.key, *(n for n, f in schema.fields.items() if f.required)]
        _columns_needed(path, source.columns, required)
        store.prepare(schema)
        load = _Load("customers", path, store, _utc(now, zone), source)
        for warning in _unknown_columns(source.columns or (), schema.fields):
            load.warn(warning)
        check = _CustomerCheck(schema, zone, source.columns, load.warn)
        write = _stamped(store.upsert_customers, {"_loaded_at": load.now})
        return load.run(check, schema.key, write, progress)


def load_events(
    store: Store,
    ruleset: RuleSet,
    path: Path | str,
    now: dt.datetime,
    progress: Progress | None = None,
) -> LoadReport:
    """Load events from CSV, JSON Lines or Parquet; an event id already stored is left alone."""
    path, schema = Path(path), ruleset.schema
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    with _open(path) as source:
        _columns_needed(path, source.columns, ENVELOPE)
        store.prepare(schema)
        load = _Load("events", path, store, _utc(now, zone), source)
        check = _EventCheck(schema, zone, load.warn)
        write = _stamped(store.insert_events, {"loaded_at": load.now})
        return load.run(check, "id", write, progress)


def _stamped(write: Write, stamp: Row) -> Write:
    def stamped(rows: list[Row]) -> dict[str, int]:
        for row in rows:
            row.update(stamp)
        return write(rows)

    return stamped


def _utc(moment: dt.datetime, zone: dt.tzinfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC).isoformat()
