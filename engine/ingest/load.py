"""Load customers and events from files into the store; quarantine what cannot be loaded.

    load_customers(store, ruleset, path, now) -> LoadReport     CSV, JSON Lines or Parquet
    load_events(store, ruleset, path, now)    -> LoadReport     CSV, JSON Lines or Parquet
    load_consents(store, ruleset, path, now)  -> LoadReport     consent records (engine/consent)

Each takes `encoding=GB18030` for a CSV file saved as GBK/GB18030 (engine/encoding.py).

- Every problem of a bad row is one quarantine record (kind, file by its whole path, row number,
  field, value, reason) and the row is not loaded. The quarantine is a log: each load adds its
  own records, stamped with the load's time; a file loaded again replaces its earlier records
  of the same values in the same rows, whichever language the reasons were written in (never
  those of a file of the same name in another folder), so a reload lists each bad row once.
  Records are written a batch at a time as the file is read, so a file of bad rows takes no
  more memory than good ones.
- A key (customer key, event id) repeated later in the same file is quarantined ("already on
  line N"): the first row is loaded, nothing is overwritten silently, and loading the file
  again changes nothing. An event id already stored with other content (another type,
  customer, time or field) is quarantined too (reused.py); the same event again is unchanged.
- A customer erased at their request (`guanxi customer erase`) is not loaded again, nor are
  their events: the row is quarantined with the date and receipt of the erasure, and with the
  customer's pseudonym in place of anything they gave.

DataError is raised only when the file cannot be read at all: missing, of an unknown type, not
in its encoding, without a header, without a column that every row needs (the key, a
required field), or a file of another kind (an events file given to load_customers: kinds.py).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from guanxi.adapters.base import address_fields
from guanxi.engine import consent
from guanxi.engine.encoding import UTF8
from guanxi.engine.i18n import _
from guanxi.engine.ingest import addresses
from guanxi.engine.ingest.consent_rows import reading_bank_values, refusing_near_ids
from guanxi.engine.ingest.established import mark_established
from guanxi.engine.ingest.formats import (
    BATCH_ROWS,
    Record,
    Source,
    Unreadable,
    opened,
    unknown_columns,
)
from guanxi.engine.ingest.future_events import refusing_future
from guanxi.engine.ingest.headers import customer_headers, event_headers, headed
from guanxi.engine.ingest.kinds import refusing_other_kinds
from guanxi.engine.ingest.lost_zeros import refusing_lost_zeros
from guanxi.engine.ingest.real_ids import keeping_stored_reals
from guanxi.engine.ingest.reused import reused_ids
from guanxi.engine.ingest.rows import (
    ENVELOPE,
    Check,
    Kept,
    Problem,
    customer_check,
    event_check,
)
from guanxi.engine.plan.cancelling import Canceller
from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy.erasure import ErasedIds
from guanxi.engine.ruleset.models import Schema
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store
from guanxi.engine.unseen import printable

Progress = Callable[[int, int], None]
"""Called after each batch with (done, total): bytes for text files, rows for Parquet."""

Write = Callable[[list[Row]], dict[str, int]]
Refuse = Callable[[Store, list[Row]], list[tuple[int, list[Problem]]]]
Noting = Callable[[Row], list[addresses.Refused]]
KEEP_PROBLEMS = 20
KEEP_WARNINGS = 100  # a file naming a million unknown fields gets the first ones and a count
VALUE_SHOWN = 200  # characters of a bad value kept in the quarantine


@dataclass
class LoadReport:
    """What one load did. `read` = `loaded` + `quarantined` (rows); `warned` of the `loaded`
    rows have a quarantine record all the same (a value left out, an address no message can
    go to); `problems` holds the first quarantine records of rows not loaded (a row can have
    several) for display, `warnings` the first KEEP_WARNINGS different warnings and
    `more_warnings` how many others there were."""

    kind: str
    source: str
    read: int = 0
    loaded: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    warned: int = 0
    problems: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    more_warnings: int = 0

    def counts(self) -> dict[str, int]:
        names = ("read", "loaded", "inserted", "updated", "unchanged", "quarantined", "warned")
        return {name: getattr(self, name) for name in names}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileCheck:
    """What loading a customers file would ignore or quarantine, found without a store."""

    unknown: list[str]  # columns (or JSON keys) the schema does not declare
    problems: list[tuple[int, str | None, Any, str]]  # row number, field, value, reason


def check_customer_file(
    schema: Schema, timezone: str, path: Path, encoding: str = UTF8
) -> FileCheck:
    """Every problem `load_customers` would quarantine in the file. Raises DataError when the
    file cannot be read at all."""
    found = FileCheck([], [])
    with opened(path, encoding) as source:
        source = headed(path, source, customer_headers(schema), [schema.key], encoding)
        unknown = dict.fromkeys(c for c in source.columns or () if c not in schema.fields)
        zone = zoneinfo.ZoneInfo(timezone)
        check = customer_check(schema, zone, source.columns, lambda _: None)
        seen: dict[Any, int] = {}
        for number, record in source.records:
            if isinstance(record, Unreadable):
                found.problems.append((number, None, record.text, record.reason))
                continue
            unknown.update(dict.fromkeys(k for k in record if k not in schema.fields))
            row, problems = check(record)
            if not problems:  # a quarantined row's id is not taken: a later good row loads
                first = seen.setdefault(row[schema.key], number)
                if first != number:
                    problems.append(repeated_key(schema.key, row[schema.key], first, source.unit))
            found.problems += [(number, *problem) for problem in problems]
    found.unknown = list(unknown)
    return found


def repeated_key(
    key: str, value: Any, first: int, unit: str, elsewhere: str | None = None
) -> Problem:
    """The problem of a row whose `key` has the `value` of the file's earlier `unit` (a line,
    or a row) `first`; or of the row `first` of the file `elsewhere` (of a folder of files,
    as Spark reads them)."""
    if elsewhere is not None:
        already = _("duplicate {field} '{value}': already on row {line} of '{file}'")
        name = PurePosixPath(elsewhere).name
        return (key, value, already.format(field=key, value=value, line=first, file=name))
    if unit == "line":
        already = _("duplicate {field} '{value}': already on line {line}")
    else:
        already = _("duplicate {field} '{value}': already on row {line}")
    return (key, value, already.format(field=key, value=value, line=first))


class _Load:
    """Checks records, writes good rows and quarantines bad ones, a batch at a time."""

    def __init__(self, kind: str, path: Path, store: Store, now: str, source: Source) -> None:
        self.report = LoadReport(kind, str(path))
        # records name the file by its whole path: a reload replaces the records of this file,
        # never those of a file of the same name loaded from another folder
        self.where = str(path.absolute())
        self.store, self.now, self.source = store, now, source
        self.seen: dict[Any, int] = {}  # key -> row number, to find keys given twice
        self.good: list[Row] = []
        self.lines: list[int] = []  # the row number of each of `good`
        self.bad: list[Row] = []
        self.refused: Refuse | None = None
        self.warned: set[str] = set()
        self.noting: Noting | None = None  # of rows loaded all the same
        self.noted: list[Row] = []  # their quarantine records, marked as loaded
        self.recorded = 0  # quarantine records this load wrote
        # the column naming a row's customer (the key of customers, customer_id of events
        # and consents): a quarantined row names them, for explain, the listing and erasure
        self.customer_key: str | None = None
        self.last_id = _last_quarantine_id(store)  # the records of this load come after it

    def warn(self, message: str) -> None:
        message = printable(message)  # names of columns come from the file
        if message in self.warned:
            return
        self.warned.add(message)
        if len(self.report.warnings) < KEEP_WARNINGS:
            self.report.warnings.append(message)
        else:
            self.report.more_warnings += 1

    def run(
        self,
        check: Check,
        key: str,
        write: Write,
        progress: Progress | None,
        refused: Refuse | None = None,
    ) -> LoadReport:
        """`refused`: the rows of a written batch the store kept unchanged but that must be
        quarantined after all (an event id stored with other content)."""
        self.refused = refused
        for number, record in self.source.records:
            self._take(number, record, check, key)
            if len(self.good) + len(self.bad) >= BATCH_ROWS:
                self._flush(write, progress)
        self._flush(write, progress)
        self._replace_earlier()
        return self.report

    def _replace_earlier(self) -> None:
        """Drop the records an earlier load of this file made of the same problems in the
        same rows: a file loaded again is listed once, not once a load."""
        if not self.recorded:
            return
        with self.store.transaction():
            self.store.execute(
                _EARLIER_SAME,
                {"kind": self.report.kind, "source": self.where, "last": self.last_id},
            )

    def _take(self, number: int, record: Record, check: Check, key: str) -> None:
        """Keep the record's row to write, or its problems to quarantine."""
        if isinstance(record, Unreadable):
            self._quarantine(number, [(None, record.text, record.reason)])
            return
        row, problems = check(record)
        customer = named_customer(row, self.customer_key, problems)
        if problems and all(isinstance(reason, Kept) for _f, _v, reason in problems):
            kept, problems = problems, []  # only values kept out: the row is loaded
        else:
            kept = []
        if not problems and key:
            self._first(number, key, row, problems)
        if problems:
            self._quarantine(number, problems, customer)
        else:
            self.good.append(row)
            self.lines.append(number)
            noted = len(self.noted)
            self._left_out(number, kept, customer)
            self._note(number, row, customer)
            self.report.warned += int(len(self.noted) > noted)

    def _left_out(self, number: int, kept: list[Problem], customer: str | None) -> None:
        """Warn of and record the values a loaded row was loaded without."""
        for name, _value, reason in kept:
            self.warn(left_out_warning(self.source.unit, number, str(name), reason))
        kind = self.report.kind
        self.noted += left_out_records(kind, self.where, number, kept, self.now, customer)

    def _note(self, number: int, row: Row, customer: str | None) -> None:
        """Warn of and record what the row is loaded with but the daemon would refuse."""
        if self.noting is None:
            return
        for refused in self.noting(row):
            self.warn(addresses.kept_warning(self.source.unit, number, refused))
            kept: list[Problem] = [(refused.field, refused.value, addresses.kept_reason(refused))]
            self.noted += quarantine_records(
                self.report.kind, self.where, number, kept, self.now, True, customer
            )

    def _first(self, number: int, key: str, row: Row, problems: list[Problem]) -> None:
        """A key seen earlier in this file is a problem: the first row wins."""
        first = self.seen.setdefault(row[key], number)
        if first != number:
            problems.append(repeated_key(key, row[key], first, self.source.unit))

    def _quarantine(
        self, number: int, problems: list[Problem], customer: str | None = None
    ) -> None:
        self.report.quarantined += 1
        kind, where, now = self.report.kind, self.where, self.now
        self.bad += quarantine_records(kind, where, number, problems, now, customer=customer)

    def _refused(self, counts: dict[str, int]) -> int:
        """Quarantine the written rows `self.refused` finds among those kept unchanged."""
        if self.refused is None or not counts.get("unchanged"):
            return 0
        found = self.refused(self.store, self.good)
        for position, problems in found:
            customer = named_customer(self.good[position], self.customer_key, problems)
            self._quarantine(self.lines[position], problems, customer)
        return len(found)

    def _flush(self, write: Write, progress: Progress | None) -> None:
        report = self.report
        with self.store.transaction():
            counts = write(self.good) if self.good else {}
            refused = self._refused(counts)
            if self.bad or self.noted:
                self.store.quarantine(self.bad + self.noted)
        self.recorded += len(self.bad) + len(self.noted)
        room = KEEP_PROBLEMS - len(report.problems)
        report.problems.extend(
            {k: r[k] for k in ("row_number", "field", "value", "reason")} for r in self.bad[:room]
        )
        report.loaded += len(self.good) - refused
        report.read = report.loaded + report.quarantined
        counts["unchanged"] = counts.get("unchanged", 0) - refused
        for name in ("inserted", "updated", "unchanged"):
            setattr(report, name, getattr(report, name) + counts.get(name, 0))
        self.good, self.lines, self.bad, self.noted = [], [], [], []
        if progress is not None:
            progress(self.source.position(), self.source.size)


_EARLIER_SAME = (
    "DELETE FROM quarantine WHERE kind = :kind AND source = :source AND id <= :last"
    " AND EXISTS (SELECT 1 FROM quarantine AS q WHERE q.source = quarantine.source"
    " AND q.row_number = quarantine.row_number AND q.id > :last AND q.kind = quarantine.kind"
    " AND q.field IS NOT DISTINCT FROM quarantine.field"
    " AND q.value IS NOT DISTINCT FROM quarantine.value)"
)  # the same value of the same row again, whatever the reason says: in another language,
#    or in another version's words, it is the same problem


def _last_quarantine_id(store: Store) -> int:
    [row] = store.execute("SELECT max(id) AS last FROM quarantine")
    return int(row["last"] or 0)


def left_out_warning(unit: str, number: int, field: str, reason: str) -> str:
    """The load's warning of a row loaded without the value of `field`."""
    where = _("line {number}") if unit == "line" else _("row {number}")
    return _("{where}: loaded without its '{field}', which is left as stored: {reason}").format(
        where=where.format(number=number), field=field, reason=reason
    )


def left_out_records(
    kind: str, source: str, number: int, kept: list[Problem], at: str, customer: str | None
) -> list[Row]:
    """The quarantine records of the values a loaded row was loaded without (`Kept`)."""
    said = _("loaded without this value, left as stored: {reason}")
    left_out = [(name, value, said.format(reason=reason)) for name, value, reason in kept]
    return quarantine_records(kind, source, number, left_out, at, True, customer)


def quarantine_records(
    kind: str,
    source: str,
    number: int,
    problems: list[Problem],
    at: str,
    loaded: bool = False,
    customer: str | None = None,
) -> list[Row]:
    """The quarantine records of one row: one for each of its problems; `loaded` when the row
    is loaded all the same (its problems are warnings); `customer`: the row's (named_customer)."""
    return [
        {
            "kind": kind,
            "source": source,
            "row_number": number,
            "field": name,
            "value": None if value is None else printable(str(value)[:VALUE_SHOWN]),
            "reason": printable(reason),
            "at": at,
            "loaded": int(loaded),
            "customer_id": customer,
        }
        for name, value, reason in problems
    ]


def named_customer(row: Row, key: str | None, problems: list[Problem]) -> str | None:
    """The customer a checked row names: its `key` when no problem is of the key itself (an
    unreadable id names nobody, nor does an erased customer's row, which keeps only their
    pseudonym); None for a row of no customer (`key` None)."""
    if key is None or row.get(key) is None or any(name == key for name, _v, _r in problems):
        return None
    return str(row[key])


def load_customers(
    store: Store,
    ruleset: RuleSet,
    path: Path | str,
    now: dt.datetime,
    progress: Progress | None = None,
    encoding: str = UTF8,
    established: bool = False,
) -> LoadReport:
    """Load customers from CSV, JSON Lines or Parquet, inserting or updating by key. With
    `established`, those not classified yet are marked as established (established.py)."""
    path, schema = Path(path), ruleset.schema
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    with opened(path, encoding) as source:
        source = refusing_other_kinds(path, source, "customers", ruleset)
        required = [schema.key, *(n for n, f in schema.fields.items() if f.required)]
        source = headed(path, source, customer_headers(schema), required, encoding)
        store.prepare(schema)
        load = _Load("customers", path, store, utc_text(now, zone), source)
        load.customer_key = schema.key
        kinds = addresses.address_kinds(address_fields(ruleset.policies))
        load.noting = _addresses_noted(kinds)
        for warning in unknown_columns(source.columns or (), schema.fields):
            load.warn(warning)
        check = _customer_rows(
            store, ruleset, schema, customer_check(schema, zone, source.columns, load.warn)
        )
        check = addresses.as_meant(check, kinds)
        upsert = _stamped(store.upsert_customers, {"_loaded_at": load.now})
        consents = consent.ColumnChanges(store, ruleset.policies, schema, path.name, now)

        def write(rows: list[Row]) -> dict[str, int]:
            consents(rows, load.lines)  # before the rows overwrite the columns they compare
            if not established:
                return upsert(rows)
            with store.transaction():
                counts = upsert(rows)
                mark_established(store, (row[schema.key] for row in rows), load.now)
            return counts

        return load.run(check, schema.key, write, progress)


def load_events(
    store: Store,
    ruleset: RuleSet,
    path: Path | str,
    now: dt.datetime,
    progress: Progress | None = None,
    encoding: str = UTF8,
    refuse_future: bool = False,
) -> LoadReport:
    """Load events from CSV, JSON Lines or Parquet; an event id already stored is left alone.
    With `refuse_future`, an event dated after `now` is quarantined (future_events.py)."""
    path, schema = Path(path), ruleset.schema
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    with opened(path, encoding) as source:
        source = refusing_other_kinds(path, source, "events", ruleset)
        source = headed(path, source, event_headers(schema), ENVELOPE, encoding)
        store.prepare(schema)
        load = _Load("events", path, store, utc_text(now, zone), source)
        load.customer_key = "customer_id"
        check = keeping_stored_reals(
            event_check(schema, zone, load.warn), store, schema.key, "customer_id"
        )
        check = refusing_lost_zeros(check, store, schema.key, "customer_id")
        check = refusing_erased(check, store, "customer_id")
        if refuse_future:
            check = refusing_future(check, now, zone)
        write = _taking_effect(
            store, ruleset, _stamped(store.insert_events, {"loaded_at": load.now}), now
        )
        with store.bulk_writes():
            return load.run(check, "id", write, progress, refused=reused_ids)


def load_consents(
    store: Store,
    ruleset: RuleSet,
    path: Path | str,
    now: dt.datetime,
    progress: Progress | None = None,
    encoding: str = UTF8,
) -> LoadReport:
    """Add the consent records of a CSV, JSON Lines, Parquet or Excel file to the ledger
    (engine/consent.py). A record the ledger already holds is not added again; a row for
    all purposes adds one for each (counted as records)."""
    path, schema = Path(path), consent.file_schema(ruleset.policies)
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    with opened(path, encoding) as source:
        source = refusing_other_kinds(path, source, "consents", ruleset)
        required = [name for name, spec in schema.fields.items() if spec.required]
        source = headed(path, source, customer_headers(schema), required, encoding)
        store.prepare(ruleset.schema)
        load = _Load("consents", path, store, utc_text(now, zone), source)
        load.customer_key = schema.key
        for warning in unknown_columns(source.columns or (), schema.fields):
            load.warn(warning)

        def effective(given: str | None) -> dt.datetime:
            return dt.datetime.fromisoformat(given) if given else now

        def write(rows: list[Row]) -> dict[str, int]:
            records = consent.each_purpose(
                consent.Record(**{**row, "evidence": row.get("evidence") or f"{path.name}:{line}",
                                  "effective_at": iso(effective(row.get("effective_at")))})
                for row, line in zip(rows, load.lines, strict=True)
            )  # fmt: skip
            added = consent.append_new(store, records, now)
            return {"inserted": added, "unchanged": len(records) - added}

        check = customer_check(schema, zone, source.columns, load.warn)
        check = _customer_rows(store, ruleset, schema, check)
        check = refusing_near_ids(check, store, ruleset.schema.key, schema.key)
        return load.run(reading_bank_values(check, ruleset.policies), "", write, progress)


def _customer_rows(store: Store, ruleset: RuleSet, schema: Schema, check: Check) -> Check:
    """`check` of rows keyed by a customer: an id stored as a real kept (real_ids.py), one
    that lost its leading zeros (lost_zeros.py) and an erased customer refused."""
    kept = keeping_stored_reals(check, store, ruleset.schema.key, schema.key)
    kept = refusing_lost_zeros(kept, store, ruleset.schema.key, schema.key)
    return refusing_erased(kept, store, schema.key)


def _addresses_noted(kinds: dict[str, str]) -> Noting | None:
    """What a customer row's address fields (`kinds`) hold that the daemon would refuse
    (addresses.py)."""
    return (lambda row: addresses.address_problems(row, kinds)) if kinds else None


def refusing_erased(check: Check, store: Store, key: str) -> Check:
    """`check`, and a row of an erased customer is refused (with their pseudonym only)."""
    erased = ErasedIds(store)
    if not erased:
        return check

    def checked(record: Any) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        receipt = erased.receipt_of(row.get(key) if row.get(key) is not None else record.get(key))
        if receipt is None:
            return row, problems
        return {}, [(key, receipt["pseudonym"], erased_reason(receipt))]

    return checked


def erased_reason(receipt: Row) -> str:
    return _(
        "erased on {date} (receipt {receipt}) at the customer's request: take them out of the file"
    ).format(date=str(receipt["at"])[:10], receipt=receipt["receipt"])


def _taking_effect(store: Store, ruleset: RuleSet, write: Write, now: dt.datetime) -> Write:
    """`write` of events that, in the same transaction, adds the consent records of their
    consent events and cancels what their `cancel_on:` events make moot: both count from
    the moment the events are stored, not once the leader plans them, which may be minutes
    later (consent.record_events, plan/cancelling.py)."""
    canceller = Canceller(store, ruleset, now)
    acting = {*consent.EVENT_TYPES, *canceller.cancellers}

    def written(rows: list[Row]) -> dict[str, int]:
        if not any(row["type"] in acting for row in rows):
            return write(rows)
        with store.transaction():
            counts = write(rows)
            consent.record_events(store, rows, ruleset.policies, now)
            canceller.cancel(rows)
        return counts

    return written


def _stamped(write: Write, stamp: Row) -> Write:
    def stamped(rows: list[Row]) -> dict[str, int]:
        for row in rows:
            row.update(stamp)
        return write(rows)

    return stamped


def utc_text(moment: dt.datetime, zone: dt.tzinfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC).isoformat()
