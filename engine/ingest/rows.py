"""Checking records against the schema: the row to store, and the problems that keep it out.

- A field the record does not give (no such column, no such JSON key) is left as stored; an
  empty value clears it.
- Every problem of a bad row is one (field, value, reason); the row is not loaded. Only a
  dash alone in an optional number field (`-`: zero, or no value?) keeps just its value out
  (a `Kept` reason): the row is loaded with that field left as stored, and the load says so.
- Columns or JSON keys the schema does not declare are ignored, with one warning each.
- Events: `id`, `type` (a declared event type), `customer_id` and `at` (a datetime); the other
  fields (or those of a nested `payload` object) are the payload, typed by the event's schema.
  `customer_id` is not checked against the customers table: events may arrive first.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from unicodedata import normalize

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ingest import instants, values
from guanxi.engine.ingest.formats import HINTED, Unreadable, hinted, unknown_columns
from guanxi.engine.ingest.headers import Headers
from guanxi.engine.ingest.values import Invalid
from guanxi.engine.not_text import is_missing_written
from guanxi.engine.ruleset.models import FieldSpec, Schema
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store.base import Row

ENVELOPE = ("id", "type", "customer_id", "at")
IDENTIFIERS = ("id", "customer_id")  # with the customers' ids: short, no invisible characters

Problem = tuple[str | None, Any, str]  # field (None: the whole row), value, reason


class Kept(str):
    """The reason of a problem that keeps only the value out, not the row: a dash in an
    optional number field (`-`: zero, or no value?) leaves the field as stored."""


Check = Callable[[Mapping[str, Any]], tuple[Row, list[Problem]]]
Warn = Callable[[str], None]


class _Field(NamedTuple):
    name: str
    convert: Callable[[Any], Any]
    required: bool
    values: Mapping[str, str] | None  # what a file may write (a name or a label) -> the name
    listed: str  # the allowed values, as a reason lists them
    lowest: float | None
    highest: float | None


def _plan(
    fields: Mapping[str, FieldSpec],
    zone: dt.tzinfo,
    required: Iterable[str] = (),
    identifiers: Iterable[str] = (),
    contacts: Iterable[str] = (),
) -> list[_Field]:
    """How to check each field: its converter, whether it is required, its allowed values."""
    converters: dict[str, Callable[[Any], Any]] = {
        "string": values.text,
        "integer": values.integer,
        "number": values.number,
        "boolean": values.boolean,
        "date": instants.Day(zone),  # a timestamp with a zone: its day in `zone`
        "datetime": values.Moment(zone),
    }
    always, ids, addresses = set(required), set(identifiers), set(contacts)
    return [
        _Field(
            name,
            _reader(name, spec, converters, ids, addresses),
            spec.required or name in always,
            spec.accepted_values(),
            _listed(spec),
            spec.min,
            spec.max,
        )
        for name, spec in fields.items()
    ]


def _reader(
    name: str,
    spec: FieldSpec,
    converters: Mapping[str, Callable[[Any], Any]],
    ids: set[str],
    contacts: set[str],
) -> Callable[[Any], Any]:
    if name in ids:
        return values.identifier
    if name in contacts and not spec.values:
        return values.contact
    return _converter(spec, converters)


def _converter(
    spec: FieldSpec, converters: Mapping[str, Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    if spec.type == "number" and spec.unit == values.YUAN:
        return values.money  # an amount: ¥5,000.00 as well
    listed = frozenset(v for v in spec.accepted_values() or () if is_missing_written(v))
    if listed:
        return _keeping(listed, converters[spec.type])
    return converters[spec.type]


def _keeping(listed: frozenset[str], convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, but a value that `values:` lists as written (`values: [none, active]`) is
    that value, though elsewhere the word means no value."""

    def read(value: Any) -> Any:
        if type(value) is str and value.strip() in listed:
            return value.strip()
        return convert(value)

    return read


def _listed(spec: FieldSpec) -> str:
    labels = spec.value_labels()
    return ", ".join(f"{v} ({labels[v]})" if v in labels else v for v in sorted(spec.values or ()))


def _check(
    plan: list[_Field], record: Mapping[str, Any], row: Row, problems: list[Problem]
) -> None:
    """Convert the fields of `record` into `row`; what does not fit goes to `problems`.

    This loop runs for every field of every row, so it is kept flat.
    """
    for name, convert, required, allowed, listed, lowest, highest in plan:
        if name not in record:
            if required:
                problems.append((name, None, _("required, but missing")))
            continue
        raw = record[name]
        try:
            value = convert(raw)
        except Invalid as error:
            kept = type(error) is values.NoNumber and not required
            shown = error.value if type(error) is instants.NotMidnight else raw  # in our zone
            problems.append((name, shown, Kept(error) if kept else str(error)))
            continue
        if value is None:
            if required:
                problems.append((name, raw, _("required, but empty")))
        elif allowed is not None and value not in allowed:
            why = _("{value} is not one of: {allowed}")
            problems.append((name, raw, why.format(value=values.quoted(value), allowed=listed)))
        elif lowest is not None and value < lowest:
            problems.append((name, raw, _below(value, lowest, raw)))
        elif highest is not None and value > highest:
            problems.append(
                (
                    name,
                    raw,
                    _("{value} is above {highest}, the highest value allowed").format(
                        value=_number(value), highest=_number(highest)
                    ),
                )
            )
        row[name] = value if allowed is None else allowed.get(value, value)


def _below(value: float, lowest: float, raw: Any) -> str:
    """Why `value` (read from `raw`) is refused under `lowest`; an amount in parentheses is
    said to be the negative it is (`(1,234.00)`, as the accounting format writes -1234)."""
    below = _("{value} is below {lowest}, the lowest value allowed").format(
        value=_number(value), lowest=_number(lowest)
    )
    if isinstance(raw, str) and values.ACCOUNTING_NEGATIVE.search(normalize("NFKC", raw)):
        return _(
            "{written} is {value}: an amount in parentheses is negative, as the accounting"
            " format writes it; {below}"
        ).format(written=values.quoted(raw.strip()), value=_number(value), below=below)
    return below


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else str(value)


class _CustomerCheck:
    """The schema's fields; those a CSV or Parquet file has no column for are skipped."""

    def __init__(
        self, schema: Schema, zone: dt.tzinfo, columns: tuple[str, ...] | None, warn: Warn
    ) -> None:
        plan = _plan(schema.fields, zone, [schema.key], schema.ids, schema.contacts)
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
            for warning in unknown_columns(sorted(extra), self.known):
                self.warn(warning.replace("column", "field", 1))


class _EventCheck:
    """The envelope (id, type, customer_id, at) and the payload typed by the event type."""

    def __init__(self, schema: Schema, zone: dt.tzinfo, warn: Warn, fast: bool = True) -> None:
        text, moment = FieldSpec(type="string", label=""), FieldSpec(type="datetime", label="")
        specs = {"id": text, "type": text, "customer_id": text, "at": moment}
        self.envelope = _plan(specs, zone, required=ENVELOPE, identifiers=IDENTIFIERS)
        self.payloads = {name: _plan(spec.fields, zone) for name, spec in schema.events.items()}
        self.headers = {name: Headers.of(spec.fields) for name, spec in schema.events.items()}
        self.names = {name: frozenset(spec.fields) for name, spec in schema.events.items()}
        self.types = {s.label: n for n, s in schema.events.items()}  # 销售 -> sale
        self.types.update({n: n for n in schema.events})
        self.warn = warn
        self.unknown: set[tuple[str, str]] = set()  # (type, field) warned of already
        self.fast = fast
        self.shapes: dict[tuple[tuple[str, ...], str], _Shape | None] = {}

    def __call__(self, record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        shape = self._shape(record) if self.fast else None
        if shape is not None:
            row = _fast_row(self.envelope, shape, record)
            if row is not None:
                return row, []
        return self.checked(record)

    def _shape(self, record: Mapping[str, Any]) -> _Shape | None:
        """The shape of a record like the ones before it (same keys, same event type), or
        None when its keys or type need the full checks."""
        kind = record.get("type")
        if type(kind) is not str:
            return None
        key = (tuple(record), kind)
        shape = self.shapes.get(key, _UNKNOWN)
        if shape is _UNKNOWN:
            shape = self._new_shape(key[0], kind)
            if len(self.shapes) >= KNOWN_SHAPES:
                self.shapes.clear()
            self.shapes[key] = shape
        return shape

    def _new_shape(self, keys: tuple[str, ...], given: str) -> _Shape | None:
        """How the fast path reads records with these keys and this type: only when the full
        checks would neither rename nor warn about a key, nor miss a required field."""
        kind = self.types.get(given)
        if kind is None or "payload" in keys or any(n not in keys for n in ENVELOPE):
            return None
        try:
            if values.text(given) != given:
                return None  # spaces around it: the full checks strip them
        except Invalid:
            return None
        payload = tuple(k for k in keys if k not in ENVELOPE)
        probe = dict.fromkeys(payload)
        if self.headers[kind].record(probe) is not probe:
            return None  # a key headed by a label (or ambiguous): the full checks rename it
        if not self.names[kind].issuperset(payload):
            return None  # an unknown key: the full checks warn about it
        plan = self.payloads[kind]
        if any(f.required and f.name not in payload for f in plan):
            return None
        return _Shape(kind, tuple(f for f in plan if f.name in payload))

    def checked(self, record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        """The full checks of one record."""
        row: Row = {}
        problems: list[Problem] = []
        _check(self.envelope, record, row, problems)
        if row.get("type"):  # an event type by name or by label (销售)
            row["type"] = self.types.get(row["type"], row["type"])
        kind = str(row.get("type") or "")
        plan = self.payloads.get(kind)
        if kind and plan is None:
            hint = did_you_mean(kind, self.payloads)
            reason = _("unknown event type {type}").format(type=values.quoted(kind)) + hinted(hint)
            problems.append(("type", kind, reason))
        payload = self._payload(kind, plan, record, problems) if plan is not None else {}
        row["payload"] = {k: v for k, v in payload.items() if v is not None}
        return row, problems

    def _payload(
        self, kind: str, plan: list[_Field], record: Mapping[str, Any], problems: list[Problem]
    ) -> Row:
        """The payload fields (headed by name or label) checked against the event's schema."""
        fields = self.headers[kind].record(_payload_fields(record))
        if isinstance(fields, Unreadable):
            problems.append((None, None, fields.reason))
            return {}
        payload: Row = {}
        _check(plan, fields, payload, problems)
        if not self.names[kind].issuperset(fields):
            self._unknown(kind, fields, plan)
        return payload

    def _unknown(self, kind: str, fields: Mapping[str, Any], plan: list[_Field]) -> None:
        """Warn once of each field an event type lacks (a hint costs a comparison with every
        name), with a hint for the first HINTED."""
        names = [f.name for f in plan]
        for name, value in fields.items():
            if name not in names and value not in (None, "") and (kind, name) not in self.unknown:
                self.unknown.add((kind, name))
                close = len(self.unknown) <= HINTED
                hint = hinted(did_you_mean(name, names)) if close else ""
                ignored = _("ignored field '{name}' of '{type}' events: not in the schema")
                self.warn(ignored.format(name=name, type=kind) + hint)


class _Shape(NamedTuple):
    """Records of one event type with the same keys: the payload fields they give."""

    kind: str
    payload: tuple[_Field, ...]


_UNKNOWN = _Shape("", ())  # not worked out yet (None: the full checks)
KNOWN_SHAPES = 1_000


def _fast_row(envelope: list[_Field], shape: _Shape, record: Mapping[str, Any]) -> Row | None:
    """The row the full checks would make of a record of a known shape, or None when some
    value is not plainly good (the full checks then say why). Values are converted by the
    same readers; only the bookkeeping is skipped."""
    try:
        row: Row = {}
        for name, convert, _required, _allowed, _listed, _lowest, _highest in envelope:
            value = convert(record[name])
            if value is None:
                return None  # required, but empty
            row[name] = value
        row["type"] = shape.kind
        payload: Row = {}
        for name, convert, required, allowed, _listed, lowest, highest in shape.payload:
            value = convert(record[name])
            if value is None:
                if required:
                    return None
                continue  # left out of the payload, as the full checks leave it
            if (
                (allowed is not None and value not in allowed)
                or (lowest is not None and value < lowest)
                or (highest is not None and value > highest)
            ):
                return None
            payload[name] = value if allowed is None else allowed[value]
    except Invalid:
        return None
    row["payload"] = payload
    return row


def _payload_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in record.items() if k not in ENVELOPE and k != "payload"}
    nested = record.get("payload")
    if isinstance(nested, dict):
        fields.update(nested)
    return fields


def customer_check(
    schema: Schema, zone: dt.tzinfo, columns: tuple[str, ...] | None, warn: Warn
) -> Check:
    """Checks customer records of a file with these `columns` (None: JSON Lines)."""
    return _CustomerCheck(schema, zone, columns, warn)


def event_check(schema: Schema, zone: dt.tzinfo, warn: Warn, fast: bool = True) -> Check:
    """Checks event records; `fast`: records of a usual shape skip the bookkeeping of the
    full checks (same rows, same problems: the full checks decide every doubtful one)."""
    return _EventCheck(schema, zone, warn, fast)


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
