"""A snapshot's customers checked as `load` checks them, set-based, for DuckDB and Spark.

The Python checks (rows.py) take tens of microseconds a row: minutes for ten million
customers. So SQL generated from the same schema and limits (values.py) screens the rows first:
`clean` is true only for a row whose every value the Python checks would take unchanged (a
number written plainly and in bounds, text without spaces around it or invisible characters,
one of the allowed values, a date in range, ...). Every other row is doubtful, and is read
back and checked by rows.py itself: a bad one is rejected with its row number and reasons
exactly as load quarantines it; a good one comes back with the values load would store.
`clean` may doubt a good row (which is then only checked slowly) but never passes a bad one.
Text fields repeat their values (a branch, an occupation, a name): DuckDB tests each distinct
value once instead of each row's (a regular expression per row is most of the screen's cost),
and `clean` then names the few bad values found (BadValues).

    screen = snapshot_screen(store, ruleset, now, path)
    screen.clean(types, dialect[, bad[, stored]])
                                   SQL: the row is certainly good (types: column -> SQL type;
                                   stored: what a Parquet file's statistics prove, see
                                   parquet_statistics: a column proven in bounds is not tested)
    screen.checked_once(types, dialect)
                                   the text fields whose distinct values are tested once
                                   (distinct_values, then bad_values: the ones not clean)
    screen.typed(types, dialect)   SQL: a clean row's fields as their schema types
    screen.check(batches[, numbered])
                                   the doubtful rows (Arrow) -> the good ones (Arrow tables);
                                   the bad ones quarantined, counted in screen.rejected
    screen.shared_ids(relation, fingerprint, dialect), then
    screen.repeated_ids(relation, shared, fingerprint, dialect[, numbering])
                                   SQL: the good rows whose id an earlier good row has
    screen.reject_repeated(later, unit)
                                   quarantine those rows, as load does
    screen.stored_reals(), then
    screen.keeping_stored_reals(relation, columns, reals, dialect)
                                   SQL: a row naming 123 names the customer an earlier
                                   version stored as 123.0, as load keeps them (real_ids.py)

A CSV file is read by load's own reader (text_batches), so that its line numbers, and the
lines that are no record at all, are load's too.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow
import pyarrow.parquet
from sqlglot import exp

from guanxi.engine import not_text
from guanxi.engine.encoding import UTF8
from guanxi.engine.ingest import values
from guanxi.engine.ingest.formats import (
    BATCH_ROWS,
    Unreadable,
    arrow_records,
    columns_needed,
    opened,
)
from guanxi.engine.ingest.headers import customer_headers, fields_meant, renamed
from guanxi.engine.ingest.load import (
    KEEP_PROBLEMS,
    left_out_records,
    named_customer,
    quarantine_records,
    repeated_key,
    utc_text,
)
from guanxi.engine.ingest.lookalikes import missing_lookalikes
from guanxi.engine.ingest.real_ids import stored_as_reals
from guanxi.engine.ingest.rows import Check, Kept, Problem, customer_check
from guanxi.engine.ruleset.models import FieldSpec, Schema
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store
from guanxi.engine.unseen import UNSEEN_IN_ID

ROW = "_row"  # the row number column of a screened relation (CSV: the line number)
FILE = "_file"  # the file of each row, in a folder of Parquet files
SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}
ARROW_TYPES = {
    "string": pyarrow.string(),
    "integer": pyarrow.int64(),
    "number": pyarrow.float64(),
    "boolean": pyarrow.bool_(),
    "date": pyarrow.date32(),
    "datetime": pyarrow.timestamp("us"),
}
TEXT_TYPES = ("VARCHAR", "STRING")
WHOLE_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "INT", "BYTE", "SHORT", "LONG")
REAL_TYPES = ("FLOAT", "DOUBLE", "REAL")
PLAIN_NUMBER = r"-?[0-9]{1,15}(\.[0-9]{1,15})?"  # exact as a double, whichever parser reads it
PLAIN_WHOLE = "-?[0-9]{1,15}"
PLAIN_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
PLAIN_BOOLEAN = "[A-Za-z01是否]{1,5}"  # lower() of these is the same in Python and SQL
EXACT = 2**53  # whole numbers a double holds exactly
LISTED = 1_000  # bad values of a field written into the screen's SQL
PRINTABLE_ASCII = "[!-~]+"  # text nothing in rows.py changes or refuses (but for its length)
# the code points an Excel error or a missing-value word begins with, in either case (# N n \\)
PLACEHOLDER_STARTS = sorted(
    {ord(c) for w in not_text.EXCEL_ERRORS | not_text.MISSING_WRITTEN for c in (w[0], w[0].lower())}
)
# an id nothing in rows.py changes: printable ASCII and Chinese characters (CJK unified
# ideographs, which NFKC leaves as they are), as a branch 长沙分行 is written
PLAIN_ID = "[!-~\u3400-\u4dbf\u4e00-\u9fff]+"


Reject = Callable[[int, list[Problem]], None]


@dataclass(frozen=True)
class BadValues:
    """The text fields whose values were checked once per distinct value (a name or a branch
    repeats across millions of rows; testing each row's value is most of the screen's cost),
    and the values found that are not clean: at most LISTED a field (more: each row is tested
    as clean() tests it)."""

    checked: frozenset[str]
    found: Mapping[str, Sequence[str | None]]


@dataclass(frozen=True)
class Stored:
    """What the statistics of every row group of a Parquet file prove about one column of
    whole numbers ("whole"), real numbers ("real") or dates ("date"): whether it holds no
    NULL, and its lowest and highest value (None: no value, or not known). A real column's
    NaN is never counted in them: writers leave it out of the statistics."""

    family: str
    nulls: bool
    low: Any = None
    high: Any = None

    def within(self, low: Any = None, high: Any = None) -> bool:
        """Whether every value is known to lie between `low` and `high` (None: unbounded)."""
        if self.low is None or self.high is None:
            return False
        return (low is None or self.low >= low) and (high is None or self.high <= high)


class Screen:
    """Checks the customers of one snapshot: SQL for the clean rows, rows.py for the doubtful;
    the rejected rows go into the store's quarantine as load puts them there."""

    def __init__(
        self,
        schema: Schema,
        timezone: str,
        store: Store,
        source: str,
        at: str,
        encoding: str = UTF8,
    ):
        self.schema, self.zone = schema, zoneinfo.ZoneInfo(timezone)
        self.store, self.source, self.at = store, source, at
        self.encoding = encoding  # of a CSV snapshot
        self.rejected = 0
        self.problems: list[Row] = []  # the first few, for the report
        self.bad: list[Row] = []  # quarantine records not yet written

    def needs(self, path: Path, columns: Iterable[str]) -> None:
        """DataError, as load raises it, when the file lacks the key or a required field."""
        required = [self.schema.key, *(n for n, f in self.schema.fields.items() if f.required)]
        columns_needed(path, tuple(columns), required)

    def fields_meant(self, path: Path, columns: Iterable[str]) -> dict[str, str]:
        """Each column of a Parquet snapshot -> the field it means, as load names them (a
        column headed by a field's label: 客户编号 is customer_id)."""
        return fields_meant(path, columns, customer_headers(self.schema))

    def clean(
        self,
        types: Mapping[str, str],
        dialect: str,
        bad: BadValues | None = None,
        stored: Mapping[str, Stored] | None = None,
    ) -> str:
        """SQL true for a row of a relation with these columns (name -> SQL type) that rows.py
        would certainly accept unchanged; the fields `bad` checked are clean unless their
        value is one of the bad ones it found; what `stored` proves is not tested again."""
        tests = [
            column.clean_unless(bad) if bad and column.name in bad.checked else column.clean()
            for column in self._columns(types, dialect, stored or {})
        ]
        return f"COALESCE({' AND '.join(t for t in tests if t != 'TRUE') or 'TRUE'}, FALSE)"

    def checked_once(self, types: Mapping[str, str], dialect: str) -> list[str]:
        """The text fields that bad_values() checks: the string fields but the key (every
        key differs: a test of each distinct key would test each row, and hash them too)."""
        return [
            c.name
            for c in self._columns(types, dialect)
            if c.text and c.spec.type == "string" and c.name != self.schema.key
        ]

    def distinct_counts(self, names: Sequence[str], relation: str, dialect: str) -> str:
        """SQL: one row of the rows of `relation`, then each field's estimated number of
        distinct values (HyperLogLog: one cheap pass, no hash table of the values)."""
        estimates = "".join(f", approx_count_distinct({_q(n, dialect)})" for n in names)
        return f"SELECT COUNT(*){estimates} FROM {relation}"

    def distinct_values(self, name: str, relation: str, dialect: str) -> str:
        """SQL: the distinct values of the field `name` of `relation`."""
        return f"SELECT DISTINCT {_q(name, dialect)} FROM {relation}"

    def bad_values(self, name: str, relation: str, types: Mapping[str, str], dialect: str) -> str:
        """SQL: (field, value) for each value of the field `name` of `relation` (its distinct
        values: a table, since a filter on a query of them would be pushed below the DISTINCT
        and test every row) that is not clean."""
        (column,) = [c for c in self._columns(types, dialect) if c.name == name]
        return column.bad_values(relation)

    def typed(self, types: Mapping[str, str], dialect: str) -> str:
        """The select list of a clean row: each schema field the relation has, typed."""
        return ", ".join(f"{c.typed()} AS {c.c}" for c in self._columns(types, dialect))

    def arrow_schema(self, columns: Iterable[str], numbered: bool = False) -> pyarrow.Schema:
        """The schema of checked rows (`numbered`: with their ROW, then their FILE if
        `columns` has one, last)."""
        names = set(columns)
        specs = [(n, self._spec(n)) for n in self.schema.fields if n in names]
        fields = [(n, ARROW_TYPES[spec.type]) for n, spec in specs]
        if numbered:
            fields.append((ROW, pyarrow.int64()))
            fields += [(FILE, pyarrow.string())] if FILE in names else []
        return pyarrow.schema(fields)

    def _columns(
        self, types: Mapping[str, str], dialect: str, stored: Mapping[str, Stored] | None = None
    ) -> list[_Column]:
        known = stored or {}
        return [
            _Column(
                name, self._spec(name), types[name].upper(), dialect, self._read_as(name)
            ).proven(known.get(name))
            for name in self.schema.fields
            if name in types
        ]

    def _read_as(self, name: str) -> str:
        """How rows.py reads the text of field `name`: 'id', 'contact' or 'text'."""
        if name in self.schema.ids:
            return "id"
        return "contact" if name in self.schema.contacts else "text"

    def _spec(self, name: str) -> FieldSpec:
        spec = self.schema.fields[name]
        if name == self.schema.key:  # an identifier, required (rows.py's plan)
            return spec.model_copy(update={"type": "string", "required": True})
        return spec

    def check(
        self, batches: Iterable[pyarrow.RecordBatch], numbered: bool = False
    ) -> Iterator[pyarrow.Table]:
        """The doubtful rows (numbered in ROW) checked by rows.py: the good ones, typed (and
        `numbered`: with their ROW and FILE), a batch at a time; the bad ones rejected."""
        check: Check | None = None
        for batch in batches:
            columns = tuple(n for n in batch.schema.names if n not in (ROW, FILE))
            check = check or customer_check(self.schema, self.zone, columns, lambda _: None)
            good = [
                {**self._arrow_row(row), ROW: number, FILE: source}
                if numbered
                else self._arrow_row(row)
                for number, source, row in self._checked(batch, check)
            ]
            self.flush()
            arrow_schema = self.arrow_schema(batch.schema.names, numbered)
            yield pyarrow.Table.from_pylist(good, arrow_schema)
        self.flush()  # rows rejected before the first batch (a CSV line that is no record)

    def shared_ids(self, relation: str, fingerprint: str, dialect: str) -> str:
        """SQL: the hashes (`fingerprint`: SQL of an id's hash) of the ids that more than one
        row of `relation` has, as `hashed`. A hash table of numbers costs less than one of
        the ids and their rows (a quarter less at 2M rows), and only the rows of these hashes
        (none on most nights; two ids of the same hash at worst) are then compared by id."""
        return f"{self.fingerprints(relation, fingerprint, dialect)} GROUP BY 1 HAVING COUNT(*) > 1"

    def fingerprints(self, relation: str, fingerprint: str, dialect: str) -> str:
        """SQL: each row's id hashed (`fingerprint`), as `hashed`."""
        return (
            f"SELECT {fingerprint.format(_q(self.schema.key, dialect))} AS hashed FROM {relation}"
        )

    def repeated_ids(
        self,
        relation: str,
        shared: str,
        fingerprint: str,
        dialect: str,
        numbering: Sequence[str] = (ROW,),
    ) -> str:
        """SQL: the rows of `relation` whose id an earlier row has (the first wins, as in
        load; rows in the order of `numbering`: ROW, or FILE and ROW in a folder of files),
        looked for among the ids of the `shared` hashes only: each one's ROW, id and first
        row's ROW (and in a folder: its FILE and the first row's), as reject_repeated takes
        them."""
        key, order = _q(self.schema.key, dialect), ", ".join(numbering)
        window = f"OVER (PARTITION BY {key} ORDER BY {order})"
        candidates = (
            f"SELECT {key}, {order} FROM {relation} a"
            f" SEMI JOIN {shared} s ON {fingerprint.format(f'a.{key}')} = s.hashed"
        )
        firsts = ", ".join(f"FIRST_VALUE({c}) {window} AS first{c}" for c in numbering)
        shown = [ROW, key, f"first{ROW}", *[c for c in (FILE, f"first{FILE}") if FILE in numbering]]
        return (
            f"SELECT {', '.join(shown)} FROM (SELECT *, ROW_NUMBER() {window} AS nth, {firsts}"
            f" FROM ({candidates}) AS c) AS n WHERE nth > 1"
        )

    def reject_repeated(self, later: Iterable[Sequence[Any]], unit: str) -> None:
        """Reject each (row, id, first row[, file, first row's file]) whose id an earlier
        good row has, as load does: the first good row wins (`unit`: how the file counts, by
        line or by row)."""
        key = self.schema.key
        for number, value, first, *files in later:
            source, first_source = files or (None, None)
            elsewhere = first_source if first_source != source else None
            problem = repeated_key(key, value, first, unit, elsewhere)
            self.reject(number, [problem], source, str(value))
        self.flush()

    def stored_reals(self) -> pyarrow.Table | None:
        """The store's customers an earlier version stored under an id as a float export wrote
        it, by the digits the screen reads for it (`123` -> `123.0`; real_ids.py, the rule
        load keeps them by), as a small table (`digits`, `stored`); None: there are none."""
        stored = stored_as_reals(self.store, self.schema.key)
        if not stored:
            return None
        return pyarrow.table({"digits": list(stored), "stored": list(stored.values())})

    def keeping_stored_reals(
        self, relation: str, columns: Sequence[str], reals: str, dialect: str
    ) -> str:
        """SQL: the rows of `relation` (these `columns`), a row whose id is the digits of one
        of `reals` (stored_reals) named by that stored id, so that the night compares it with
        the customer the store holds instead of making a second one. One join with a table of
        a few rows: no row is read back into Python."""
        key = self.schema.key
        shown = [
            f"COALESCE(s.stored, r.{_q(key, dialect)})" if name == key else f"r.{_q(name, dialect)}"
            for name in columns
        ]
        selected = ", ".join(
            f"{value} AS {_q(name, dialect)}" for value, name in zip(shown, columns, strict=True)
        )
        return (
            f"SELECT {selected} FROM {relation} r"
            f" LEFT JOIN {reals} s ON r.{_q(key, dialect)} = s.digits"
        )

    def _checked(
        self, batch: pyarrow.RecordBatch, check: Check
    ) -> Iterator[tuple[int, str | None, Row]]:
        numbers = batch.column(ROW).to_pylist()
        files = batch.column(FILE).to_pylist() if FILE in batch.schema.names else None
        records = arrow_records(
            batch.drop_columns([c for c in (ROW, FILE) if c in batch.schema.names])
        )
        for i, record in enumerate(records):
            source = files[i] if files else None
            if isinstance(record, Unreadable):
                self.reject(numbers[i], [(None, record.text, record.reason)], source)
                continue
            row, problems = check(record)
            customer = named_customer(row, self.schema.key, problems)
            if problems and all(isinstance(reason, Kept) for _f, _v, reason in problems):
                self.left_out(numbers[i], problems, source, customer)  # as load keeps the row
                problems = []
            if problems:
                self.reject(numbers[i], problems, source, customer)
            else:
                yield numbers[i], source, row

    def left_out(
        self, number: int, kept: list[Problem], source: str | None, customer: str | None
    ) -> None:
        """Record the values a passed row goes on without, as load records them."""
        where = source or self.source
        self.bad += left_out_records("customers", where, number, kept, self.at, customer)

    def reject(
        self,
        number: int,
        problems: list[Problem],
        source: str | None = None,
        customer: str | None = None,
    ) -> None:
        """Reject a row, as load quarantines it (`source`: the file, when not the snapshot;
        `customer`: the row's, when its id was good)."""
        self.rejected += 1
        at = source or self.source
        records = quarantine_records("customers", at, number, problems, self.at, customer=customer)
        room = KEEP_PROBLEMS - len(self.problems)
        self.problems += [
            {k: r[k] for k in ("row_number", "field", "value", "reason")} for r in records[:room]
        ]
        self.bad += records
        if len(self.bad) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.bad:
            with self.store.transaction():
                self.store.quarantine(self.bad)
        self.bad = []

    def _arrow_row(self, row: Row) -> Row:
        """Dates and times as Arrow takes them: rows.py gives ISO text (datetimes in UTC)."""
        for name, value in row.items():
            kind = self._spec(name).type
            if value is not None and kind == "date":
                row[name] = dt.date.fromisoformat(value)
            elif value is not None and kind == "datetime":
                row[name] = dt.datetime.fromisoformat(value).replace(tzinfo=None)
        return row


def snapshot_screen(
    store: Store, ruleset: RuleSet, now: dt.datetime, path: Path, encoding: str = UTF8
) -> Screen:
    """The screen of one snapshot file (a CSV one in `encoding`), stamping its quarantine
    records with `now`."""
    timezone = ruleset.settings.timezone
    at = utc_text(now, zoneinfo.ZoneInfo(timezone))
    return Screen(ruleset.schema, timezone, store, str(path), at, encoding)


def text_batches(
    path: Path, reject: Reject, schema: Schema | None = None, encoding: str = UTF8
) -> Iterator[pyarrow.RecordBatch]:
    """A CSV file (in `encoding`) read as load reads it, a batch at a time: every cell as
    text, the line number in ROW, each column named by the field of `schema` it means. Lines
    that are no record at all go to `reject`."""
    with opened(path, encoding) as source:
        if schema is not None:
            source = renamed(path, source, customer_headers(schema))
        columns = source.columns or ()
        names = [c for c in dict.fromkeys(columns) if c]
        cells: dict[str, list[Any]] = {n: [] for n in (*names, ROW)}
        for number, record in source.records:
            if isinstance(record, Unreadable):
                reject(number, [(None, record.text, record.reason)])
                continue
            for name in names:
                cells[name].append(record[name])
            cells[ROW].append(number)
            if len(cells[ROW]) >= BATCH_ROWS:
                yield _text_batch(cells)
        yield _text_batch(cells)


def _text_batch(cells: dict[str, list[Any]]) -> pyarrow.RecordBatch:
    types = {name: pyarrow.int64() if name == ROW else pyarrow.string() for name in cells}
    batch = pyarrow.RecordBatch.from_arrays(
        [pyarrow.array(cells[n], types[n]) for n in cells], names=list(cells)
    )
    for values_of_column in cells.values():
        values_of_column.clear()
    return batch


class _Column:
    """The SQL for one column of the snapshot: whether its value is clean, and its value."""

    def __init__(self, name: str, spec: FieldSpec, sql_type: str, dialect: str, read_as: str):
        self.name, self.c, self.spec, self.dialect = name, _q(name, dialect), spec, dialect
        self.sql_type, self.identifier = sql_type, read_as == "id"
        self.contact = read_as == "contact"
        self.text = sql_type in TEXT_TYPES
        self.stored: Stored | None = None

    def proven(self, stored: Stored | None) -> _Column:
        """This column, knowing what the file's statistics prove of it (of its SQL type's
        family only: a column read as text is tested value by value)."""
        family = _family(self.sql_type)
        self.stored = stored if stored and family and stored.family == family else None
        return self

    def clean(self) -> str:
        value_clean = self.value_clean()
        if self.stored and not self.stored.nulls:
            return value_clean
        empty = f"{self.c} IS NULL" + (f" OR {self.c} = ''" if self.text else "")
        if self.spec.required:
            return f"(NOT ({empty}) AND {value_clean})"
        return "TRUE" if value_clean == "TRUE" else f"(({empty}) OR {value_clean})"

    def bad_values(self, relation: str) -> str:
        """SQL: (field, value) for each value of this column in `relation` that is not clean."""
        return (
            f"SELECT {self._literal(self.name)} AS field, {self.c} AS value"
            f" FROM {relation} WHERE NOT COALESCE({self.clean()}, FALSE)"
        )

    def clean_unless(self, bad: BadValues) -> str:
        """SQL true when the value is none of the bad ones that `bad` found in this column."""
        found = bad.found.get(self.name, ())
        listed = [v for v in found if v is not None]
        if len(found) > LISTED or any("\x00" in v for v in listed):  # no SQL literal holds NUL
            return self.clean()
        among = f"{self.c} IN ({', '.join(map(self._literal, listed))})"
        if None in found:
            return f"({self.c} IS NOT NULL AND NOT {among})" if listed else f"{self.c} IS NOT NULL"
        return f"({self.c} IS NULL OR NOT {among})" if listed else "TRUE"

    def value_clean(self) -> str:
        """SQL true when a non-empty value is certainly accepted as it is."""
        kind = self.spec.type
        if self.spec.values and kind != "string":
            return "FALSE"
        if self.text:
            return self._clean_text(kind)
        if kind == "string" and self.sql_type in WHOLE_TYPES:
            return "FALSE" if self.spec.values else "TRUE"  # 12 reads as '12' in both
        if kind in ("number", "integer") and self.sql_type in WHOLE_TYPES:
            return self._bounded(self._exact(), self.c)
        if kind == "number" and self.sql_type in REAL_TYPES:
            # false for nan and inf: kept where the statistics prove the bounds (not nan)
            return self._bounded(f"{self.c} - {self.c} = 0", self.c)
        if kind == "boolean" and self.sql_type == "BOOLEAN":
            return "TRUE"
        if kind == "date" and self.sql_type == "DATE":
            return self._in_dates(self.c)
        return "FALSE"  # datetimes take the project's time zone: rows.py reads them

    def _exact(self) -> str | None:
        """SQL true for a whole number a double holds exactly (None: the statistics prove it)."""
        return None if self._stored_within(1 - EXACT, EXACT - 1) else f"ABS({self.c}) < {EXACT}"

    def _stored_within(self, low: Any = None, high: Any = None) -> bool:
        return bool(self.stored and self.stored.within(low, high))

    def _clean_text(self, kind: str) -> str:
        if kind == "string":
            return self._clean_string()
        if kind == "number":
            cast = f"TRY_CAST({self.c} AS DOUBLE)"
            return self._bounded(self._matches(PLAIN_NUMBER), cast)
        if kind == "integer":
            cast = f"TRY_CAST({self.c} AS BIGINT)"
            return self._bounded(self._matches(PLAIN_WHOLE), cast)
        if kind == "boolean":
            words = ", ".join(self._literal(w) for w in values.BOOLEANS)
            return f"({self._matches(PLAIN_BOOLEAN)} AND LOWER({self.c}) IN ({words}))"
        if kind == "date":
            return f"({self._matches(PLAIN_DATE)} AND {self._in_dates(self._cast('DATE'))})"
        return "FALSE"

    def _clean_string(self) -> str:
        read = values.identifier if self.identifier else values.text
        if self.spec.values:  # one of them, as rows.py reads it: no search needed
            allowed = [v for v in self.spec.values if _reads_as_itself(read, v)]
            return f"{self.c} IN ({', '.join(map(self._literal, allowed)) or 'NULL'})"
        limit = values.ID_CHARS if self.identifier else values.TEXT_CHARS
        length = f"LENGTH({self.c}) <= {limit} AND {self._not_a_placeholder()}"
        if self.contact or self.identifier:  # 13800000000.0: rows.py reads the digits
            length += f" AND NOT {self._matches(values.WRITTEN_AS_REAL)}"
        if self.identifier:  # NFKC may change any other id (ＣＵＳＴ００１): rows.py reads it
            # 6.22848E+18, as Excel shows a long number: rows.py refuses it. An id with a +
            # is rare: rows.py reads every one, for a plain search instead of a pattern
            plus = f"NOT ({self.c} LIKE '%+%')"
            return f"({self._matches(PLAIN_ID)} AND {plus} AND {length})"
        # most ids, phones and e-mails: one plain match, no search for spaces and controls
        return (
            f"(CASE WHEN {self._matches(PRINTABLE_ASCII)} THEN {length}"
            f" ELSE {length} AND NOT {self._search(_doubtful_text())} END)"
        )

    def _not_a_placeholder(self) -> str:
        """SQL true for text that is no Excel error value nor a word for a missing value.
        Only text beginning as one of them does (#, N, n or \\) is put in capitals to be
        compared: half the cost of this test on ten million ids."""
        words = sorted(not_text.EXCEL_ERRORS | not_text.MISSING_WRITTEN)
        first = f"{'ascii' if self.dialect == 'spark' else 'ord'}({self.c})"
        starts = ", ".join(map(str, PLACEHOLDER_STARTS))
        listed = ", ".join(map(self._literal, words))
        return f"({first} NOT IN ({starts}) OR UPPER({self.c}) NOT IN ({listed}))"

    def typed(self) -> str:
        """SQL: a clean row's value as its field's type. Where no value is clean, a clean
        row's is empty: NULL, not a cast that Spark refuses to even plan (of a struct to a
        number), which would stop the night for the rows rows.py rejects anyway."""
        kind = self.spec.type
        if self.value_clean() == "FALSE":
            return f"CAST(NULL AS {self._type_name(SQL_TYPES[kind])})"
        if self.text and kind == "boolean":
            true = ", ".join(self._literal(w) for w, b in values.BOOLEANS.items() if b)
            return f"CASE WHEN {self.c} = '' THEN NULL ELSE LOWER({self.c}) IN ({true}) END"
        return self._cast(SQL_TYPES[kind])

    def _cast(self, sql_type: str) -> str:
        value = f"NULLIF({self.c}, '')" if self.text else self.c
        return f"TRY_CAST({value} AS {self._type_name(sql_type)})"

    def _type_name(self, sql_type: str) -> str:
        return exp.DataType.build(sql_type).sql(dialect=self.dialect)

    def _bounded(self, test: str | None, value: str) -> str:
        """`test` and the field's bounds, but those the statistics prove (a text column's
        value is cast: never proven)."""
        low, high = self.spec.min, self.spec.max
        tests = [test] if test else []
        if low is not None and not self._stored_within(low):
            tests.append(f"{value} >= {low!r}")
        if high is not None and not self._stored_within(high=high):
            tests.append(f"{value} <= {high!r}")
        return f"({' AND '.join(tests)})" if tests else "TRUE"

    def _in_dates(self, value: str) -> str:
        if self._stored_within(values.EARLIEST, values.LATEST):  # a DATE column's statistics
            return "TRUE"
        first, last = values.EARLIEST.isoformat(), values.LATEST.isoformat()
        return f"({value} BETWEEN DATE '{first}' AND DATE '{last}')"

    def _matches(self, pattern: str) -> str:
        if self.dialect == "spark":  # Java's $ also matches before a final line break
            whole = "^(?:" + pattern + ")\\z"
            return f"({self.c} RLIKE {self._literal(whole)})"
        return f"regexp_full_match({self.c}, {self._literal(pattern)})"

    def _search(self, pattern: str) -> str:
        if self.dialect == "spark":
            return f"({self.c} RLIKE {self._literal(pattern)})"
        return f"regexp_matches({self.c}, {self._literal(pattern)})"

    def _literal(self, text: str) -> str:
        return exp.Literal.string(text).sql(dialect=self.dialect)


def parquet_statistics(path: Path) -> dict[str, Stored]:
    """What the statistics of a Parquet file's row groups prove about its columns of numbers
    and dates: of a column only when every row group has them (writers may leave them out),
    and nothing about a file with nested columns (whose leaves are not its columns)."""
    try:
        metadata = pyarrow.parquet.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except (pyarrow.ArrowException, OSError):  # DuckDB read it: its reader decides
        return {}
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    names = schema.names
    leaves = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if leaves != names or len(set(names)) != len(names):
        return {}
    found = {}
    for i, field in enumerate(schema):
        family = _arrow_family(field.type)
        stored = _stored(family, [g.column(i) for g in groups]) if family else None
        if stored:
            found[field.name] = stored
    return found


def _stored(family: str, chunks: list[Any]) -> Stored | None:
    """What the statistics of a column's chunks (one a row group) prove (None: nothing)."""
    lows, highs, nulls = [], [], False
    for chunk in chunks:
        statistics = chunk.statistics
        if statistics is None or not statistics.has_null_count:
            return None
        nulls = nulls or statistics.null_count > 0
        if statistics.has_min_max:
            try:
                lows.append(statistics.min)
                highs.append(statistics.max)
            except (OverflowError, ValueError):  # a date beyond Python's: not proven
                return None
        elif statistics.null_count != chunk.num_values:  # values, but no bounds
            return None
    if not all(_plain_bound(family, value) for value in (*lows, *highs)):
        return None
    return Stored(family, nulls, min(lows, default=None), max(highs, default=None))


def _plain_bound(family: str, value: Any) -> bool:
    """Whether a statistic is a value of its family that compares as SQL does (not NaN)."""
    if family == "date":
        return type(value) is dt.date
    kind = int if family == "whole" else float
    return type(value) is kind and value == value


def _arrow_family(kind: pyarrow.DataType) -> str | None:
    if pyarrow.types.is_signed_integer(kind):
        return "whole"
    if kind in (pyarrow.float32(), pyarrow.float64()):
        return "real"
    return "date" if kind == pyarrow.date32() else None


def _family(sql_type: str) -> str | None:
    if sql_type in WHOLE_TYPES:
        return "whole"
    if sql_type in REAL_TYPES:
        return "real"
    return "date" if sql_type == "DATE" else None


@functools.cache
def _doubtful_text() -> str:
    """A regular expression (RE2 and Java alike) found in text that rows.py would not keep as
    it is: a space it strips at either end, an invisible character (line breaks included:
    rows.py decides those), a short word of letters NFKC may turn into a word for a missing
    value (ＮＵＬＬ typed in full width), or a character Python writes in capitals as two
    (ﬁ as FI: #ﬁELD! is Excel's #FIELD! to Python, not to SQL's UPPER)."""
    spaces = "".join(_escaped(c) for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    plane = [*range(0xD800), *range(0xE000, 0x10000)]  # the ids' unseen characters are all here
    unseen = "".join(_escaped(c) for c in map(chr, plane) if UNSEEN_IN_ID.match(c))
    alike = "".join(map(_escaped, missing_lookalikes()))
    missing = f"^[{alike}]{{1,{not_text.LONGEST_MISSING}}}$"
    expanding = "".join(_escaped(c) for c in map(chr, range(0x10000)) if len(c.upper()) > 1)
    return f"^[{spaces}]|[{spaces}]$|[{unseen}]|{missing}|[{expanding}]"


def _reads_as_itself(read: Callable[[Any], Any], value: str) -> bool:
    try:
        return bool(read(value) == value)
    except values.Invalid:
        return False


def _escaped(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"


def quoted(name: str, dialect: str) -> str:
    """`name` (a field's) as a quoted identifier of `dialect`'s SQL."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


_q = quoted  # as this module's SQL writes it
