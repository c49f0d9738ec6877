"""Reading one value of a field: text, numbers, true/false, dates and times.

How values are read (business users ask about these, so they are decided here once):

- Spaces around a value are removed; an empty cell, a JSON null and a missing JSON key all
  mean "no value".
- string: at most TEXT_CHARS characters (an id: ID_CHARS). Line breaks and tabs are fine in
  text; other invisible control characters (NUL, escape, ...) and broken characters (a JSON
  `\\ud800` escape) are rejected: a store cannot keep them all, and a person cannot see them.
- integer, number: `1234`, `-12.5`, `1e3`. Thousands separators are accepted only in groups of
  three (`1,234,567.50`, as Excel exports); any other comma (`1,5`, `12,3x4`) is rejected, since
  `1,5` may be a decimal comma. An integer may be written `3.0` but not `3.5`; nan and inf are
  rejected. A field's `min:` and `max:` bound it (a balance is never negative).
- boolean: true/false, yes/no, 1/0, 是/否, in any letter case.
- date: `YYYY-MM-DD`, a real calendar day. datetime: `YYYY-MM-DDTHH:MM[:SS[.ffffff]]` (a space
  for the T is fine) with an optional offset (`+08:00`, `Z`); without one the time is in the
  project's time zone. Datetimes are stored as UTC ISO text. Both lie between EARLIEST and
  LATEST.
- A field with `values:` must take one of them exactly (letter case counts).

A value that does not fit raises Invalid, whose message is the quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

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
TEXT_CHARS = 4_000  # a long complaint note fits; a pasted document or a runaway cell does not
ID_CHARS = 64  # customer keys and event ids: bank ids are far shorter, and they are indexed
# Invisible characters no text needs: C0 and C1 controls but tab, line feed and carriage return
# (a note may have lines), and lone UTF-16 surrogates (JSON `\ud800`), which are not text at
# all. PostgreSQL refuses NUL and surrogates outright; SQLite would keep what no one can see.
UNSEEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
UNSEEN_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Dates and times outside these are slips (0202 for 2020), a spreadsheet's day zero
# (1899-12-30) or a placeholder for "never" (9999-12-31). Planning adds delays and years to
# them, which must stay far from the years 1 and 9999 where Python's dates end.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)
SHOWN_CHARS = 40  # of a value quoted in a reason


class Invalid(ValueError):
    """A value that does not fit its field; the message is the quarantine reason."""


def printable(text: str) -> str:
    """`text` with every invisible character written as an escape (`\\x00`), so that it can be
    stored and shown."""
    return UNSEEN_IN_ID.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def quoted(text: str) -> str:
    """A value as a reason quotes it: printable, and cut short when long."""
    return f"'{_cut(printable(text))}'"


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def shown(value: Any) -> str:
    if isinstance(value, str):
        return quoted(value.strip())
    return _cut(printable(json.dumps(value, ensure_ascii=False, default=str)))


def _reader(unseen: re.Pattern[str], limit: int) -> Callable[[Any], str | None]:
    """Reads text of at most `limit` characters without `unseen` ones (the usual case: one
    length and one search)."""

    def read(value: Any) -> str | None:
        if type(value) is not str:
            return _text(value)
        value = value.strip()
        if len(value) <= limit and not unseen.search(value):
            return value or None
        raise Invalid(_why_not_text(value, unseen, limit))

    return read


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise Invalid(f"expected text, got {shown(value)}")


def _why_not_text(value: str, unseen: re.Pattern[str], limit: int) -> str:
    if len(value) > limit:
        return f"{len(value):,} characters long; at most {limit:,} are allowed here"
    bad = unseen.search(value)
    assert bad is not None  # not too long, so `read` found one
    char = bad.group()
    kind = "a broken character" if "\ud800" <= char <= "\udfff" else "an invisible character"
    return f"contains {kind} (U+{ord(char):04X}) at character {bad.start() + 1}; remove it"


text = _reader(UNSEEN_IN_TEXT, TEXT_CHARS)
identifier = _reader(UNSEEN_IN_ID, ID_CHARS)


def number(value: Any) -> float | None:
    if type(value) is str:
        written = value.strip()
        if not written:
            return None
        try:
            result = float(written)
        except ValueError:
            if not GROUPED_NUMBER.fullmatch(written):
                raise Invalid(f"{quoted(written)} is not a number") from None
            result = float(written.replace(",", ""))
        if "_" in written or not math.isfinite(result):
            raise Invalid(f"{quoted(written)} is not a number")
        return result
    if value is None:
        return None
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
        raise Invalid(f"{value} is not a number")
    raise Invalid(f"expected a number, got {shown(value)}")


def integer(value: Any) -> int | None:
    if type(value) is int:
        return _in_range(value)
    if type(value) is str:
        try:
            whole = int(value)
        except ValueError:
            pass
        else:
            if "_" not in value:
                return _in_range(whole)
    try:
        real = number(value)
    except Invalid:
        raise Invalid(f"{shown(value)} is not a whole number") from None
    if real is None:
        return None
    if not real.is_integer():
        raise Invalid(f"{shown(value)} is not a whole number")
    return _in_range(int(real))


def _in_range(whole: int) -> int:
    if -(2**63) <= whole < 2**63:
        return whole
    raise Invalid(f"{_cut(str(whole))} is too large")


def boolean(value: Any) -> bool | None:
    if type(value) is str:
        written = value.strip()
        if not written:
            return None
        if written.lower() in BOOLEANS:
            return BOOLEANS[written.lower()]
        raise Invalid(
            f"{quoted(written)} is not true or false (write true/false, yes/no, 1/0 or 是/否)"
        )
    if value is None:
        return None
    if type(value) is bool or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise Invalid(f"expected true or false, got {shown(value)}")


def date(value: Any) -> str | None:
    if type(value) is str:
        written = value.strip()
        if not written:
            return None
        if not DATE.fullmatch(written):
            raise Invalid(f"{quoted(written)} is not a date written YYYY-MM-DD")
        try:
            day = dt.date.fromisoformat(written)
        except ValueError:
            raise Invalid(f"{quoted(written)} is not a real calendar date") from None
        return _plausible(day, written).isoformat()
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return _plausible(value.date(), value.date()).isoformat()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return _plausible(value, value).isoformat()
    if value is None:
        return None
    raise Invalid(f"expected a date, got {shown(value)}")


def _plausible(day: dt.date, given: Any) -> dt.date:
    if EARLIEST <= day <= LATEST:
        return day
    raise Invalid(
        f"{quoted(str(given))} is not a plausible date: dates from {EARLIEST} to {LATEST}"
        " are accepted (is the year mistyped?)"
    )


class Moment:
    """Reads a datetime; one without an offset is in `zone`. Gives UTC ISO text."""

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone

    def __call__(self, value: Any) -> str | None:
        if type(value) is str:
            written = value.strip()
            if not written:
                return None
            moment = self._parse(written)
        elif isinstance(value, dt.datetime):
            moment, written = value, value.isoformat()
        elif value is None:
            return None
        else:
            raise Invalid(f"expected a date and time, got {shown(value)}")
        if not EARLIEST.year <= moment.year <= LATEST.year:  # before the shift to UTC,
            _plausible(moment.date(), written)  # which could overflow
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(dt.UTC).isoformat()

    @staticmethod
    def _parse(written: str) -> dt.datetime:
        if not DATETIME.fullmatch(written):
            raise Invalid(
                f"{quoted(written)} is not a date and time written YYYY-MM-DDTHH:MM:SS"
                " (optionally with an offset such as +08:00)"
            )
        try:
            return dt.datetime.fromisoformat(written)
        except ValueError:
            raise Invalid(f"{quoted(written)} is not a real date and time") from None
