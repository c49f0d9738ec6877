"""A timestamp with a time zone (an instant) in a date field, read in the rule project's zone.

Parquet files often hold dates as timestamps: pandas writes them without a zone (a wall-clock
time), Java, Spark and Hive adjust them to UTC, some writers name a zone. An instant falls on
one day in one zone and on another elsewhere (midnight in Shanghai is 16:00 the day before in
UTC), and the day the bank's staff mean is the one in the rule project's time zone
(`timezone:` in guanxi.yaml, as datetime fields take it). So an instant, whichever zone the
file, DuckDB or Spark gives it, is taken in that zone: a date when it falls on midnight
there, otherwise refused with the value shown there; so is an instant written as text with
its offset (`2026-11-20 00:00:00+08:00`, as a CSV export writes one). A timestamp without a
zone is read as written (values.date): midnight is the day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.ingest import values


class NotMidnight(values.Invalid):
    """An instant that is not midnight in the project's zone; `value`: it as shown there,
    which the quarantine keeps in place of the value as the file's reader zoned it."""

    def __init__(self, reason: str, value: str) -> None:
        super().__init__(reason)
        self.value = value


class Day:
    """Reads a date field's value (values.date), an instant taken in `zone`."""

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone
        self.name = getattr(zone, "key", None) or str(zone)

    def __call__(self, value: Any) -> str | None:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return self.instant(value)
        try:
            return values.date(value)
        except values.Invalid:
            moment = _with_offset(value)
            if moment is None:
                raise
            return self.instant(moment)  # its text, as a CSV export writes an instant

    def instant(self, value: dt.datetime) -> str | None:
        if not values.EARLIEST.year <= value.year <= values.LATEST.year:
            return values.date(value.replace(tzinfo=None))  # refused before a shift overflows
        local = value.astimezone(self.zone)
        if values.at_midnight(local):
            return values.date(local.replace(tzinfo=None))
        shown = str(local)  # 2026-06-01 08:00:00+08:00 (pandas' too, with its nanoseconds)
        reason = _(
            "{value} is a time of day, not a date: a timestamp in a date field is a date only"
            " at midnight in {zone}, the rule project's time zone (timezone: in guanxi.yaml)"
        )
        raise NotMidnight(reason.format(value=values.quoted(shown), zone=self.name), shown)


def _with_offset(value: Any) -> dt.datetime | None:
    """`2026-11-20 00:00:00+08:00`, `2026-11-19T16:00:00Z`: the instant a text with an offset
    writes (None: no such text)."""
    if type(value) is not str:
        return None
    try:
        moment = values.Moment.parse(value.strip())
    except values.Invalid:
        return None
    return moment if moment.tzinfo is not None else None
