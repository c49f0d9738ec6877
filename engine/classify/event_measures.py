"""Measures over the customer's events (`count: complaint`, `in_last: 90 days`), in SQL and
in Python.

A window of N days is today and the N - 1 days before, as days in the project's time zone:
an event counts when it happened from the start of the first day up to the end of today
(events after today do not count, whatever their time). Both ends are instants computed
here from `today`, so the query compares the stored UTC text with two constants.

Days since the newest event: whole days from the event's day to today in the project's
time zone, counted as the day starts between the event and the start of today (exact for
zones without daylight saving, as Asia/Shanghai).

SQL: one grouped aggregate over the events table — a conditional aggregate per measure over
the events of the types used, at most as old as the widest window — LEFT JOINed to the
customers; a customer without events gets 0 for count and sum, NULL for the others.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from guanxi.engine.language.to_python import coerce
from guanxi.engine.language.to_sql import to_sql
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure, EventMeasure
from guanxi.engine.store import Store
from guanxi.engine.store.dialect import double_sum, sum_of_doubles

EVENTS = "_ev"  # the alias of the grouped events relation
EVENT_KEY = "_ev_key"
DAY = 86_400
BATCH = 200_000  # rows of grouped events fetched at a time


def column(measure: CompiledMeasure) -> str:
    """The aggregate's column in the grouped events relation."""
    return f"_ev_{measure.name}"


def day_start(ruleset: RuleSet, day: dt.date) -> dt.datetime:
    """The instant (UTC) the day starts in the project's time zone."""
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def stored(instant: dt.datetime) -> str:
    """An instant as the events table keeps it (ingest: UTC ISO text)."""
    return instant.astimezone(dt.UTC).isoformat()


def window(ruleset: RuleSet, events: EventMeasure, today: dt.date) -> tuple[str | None, str]:
    """The first instant that counts (None: no window) and the first that no longer does."""
    end = stored(day_start(ruleset, today + dt.timedelta(days=1)))
    if events.days is None:
        return None, end
    return stored(day_start(ruleset, today - dt.timedelta(days=events.days - 1))), end


# --- SQL ------------------------------------------------------------------------------------


def events_relation(ruleset: RuleSet, dialect: str, today: dt.date) -> str:
    """The grouped events of the customers: `_ev_key` and a `_ev_<measure>` per measure."""
    measures = ruleset.event_measures
    types = sorted({_events(m).event_type for m in measures})
    starts = [window(ruleset, _events(m), today)[0] for m in measures]
    end = window(ruleset, _events(measures[0]), today)[1]
    where = [f"type IN ({', '.join(_text(t, dialect) for t in types)})", f"at < {_text(end)}"]
    if None not in starts:
        where.append(f"at >= {_text(min(s for s in starts if s is not None))}")
    aggregates = [
        f"{_aggregate(ruleset, m, dialect, today)} AS {_quoted(column(m), dialect)}"
        for m in measures
    ]
    return (
        f"SELECT customer_id AS {EVENT_KEY}, {', '.join(aggregates)}"
        f" FROM {_events_table(ruleset, dialect)} WHERE {' AND '.join(where)}"
        " GROUP BY customer_id"
    )


def _events_table(ruleset: RuleSet, dialect: str) -> str:
    """The events table; with `where:` filters, with a column `_f_<type>_<field>` for each
    event field they test, read from the payload."""
    # SQLite would walk the (customer_id, at) index to group, fetching each event's row
    # from the table out of order; reading the table through once and sorting is faster
    table = "events NOT INDEXED" if dialect == "sqlite" else "events"
    tested = sorted(
        {(_events(m).event_type, n) for m in ruleset.event_measures for n in _filtered(m)}
    )
    if not tested:
        return table
    columns = [
        f"{_payload_value(ruleset, kind, n, dialect)} AS {_quoted(_field_column(kind, n), dialect)}"
        for kind, n in tested
    ]
    return f"(SELECT customer_id, type, at, payload, {', '.join(columns)} FROM {table}) AS e"


def _filtered(measure: CompiledMeasure) -> frozenset[str]:
    where = _events(measure).where
    return where.fields if where is not None else frozenset()


def _field_column(kind: str, name: str) -> str:
    return f"_f_{kind}_{name}"


def _payload_value(ruleset: RuleSet, kind: str, name: str, dialect: str) -> str:
    if ruleset.schema.events[kind].fields[name].type != "string":
        return _payload_number(name, dialect)
    if dialect == "sqlite":
        return f"json_extract(payload, {_text('$.' + json.dumps(name, ensure_ascii=False))})"
    return f"CAST(payload AS JSONB) ->> {_text(name, dialect)}"


def _where_sql(measure: CompiledMeasure, dialect: str, today: dt.date) -> str:
    """The measure's `where:`, reading the columns of _events_table."""
    events = _events(measure)
    assert events.where is not None

    def renamed(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            return exp.column(_field_column(events.event_type, node.name), quoted=True)
        return node

    return f"({to_sql(events.where.tree.transform(renamed), dialect, today)})"


def joined_source(ruleset: RuleSet, source: str, dialect: str, events: str) -> str:
    """`source` (the customers) with `events` (the grouped events: a table, or a query in
    parentheses) LEFT JOINed by the key."""
    key = _quoted(ruleset.schema.key, dialect)
    return f"{source} LEFT JOIN {events} AS {EVENTS} ON {EVENTS}.{EVENT_KEY} = {source}.{key}"


def grouped_events(store: Store, ruleset: RuleSet, today: dt.date) -> pa.Table:
    """The store's grouped events (events_relation) as an Arrow table, for an engine that
    classifies outside the store: the key and each aggregate (days_since's as the newest
    event's instant, text)."""
    fields = [pa.field(EVENT_KEY, pa.string())]
    for measure in ruleset.event_measures:
        days = _events(measure).aggregate == "days_since"
        fields.append(pa.field(column(measure), pa.string() if days else pa.float64()))
    schema = pa.schema(fields)
    found = store.iter_rows(events_relation(ruleset, store.dialect, today))
    batches = []
    while rows := [tuple(row.values()) for row in itertools.islice(found, BATCH)]:
        columns = [[_plain(v) for v in c] for c in zip(*rows, strict=True)]
        arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def _plain(value: Any) -> Any:
    """A count or sum as a float (PostgreSQL gives Decimal and int), text as it is."""
    return value if value is None or isinstance(value, str) else float(value)


def measure_sql(ruleset: RuleSet, measure: CompiledMeasure, dialect: str, today: dt.date) -> str:
    """The measure's value from its aggregate column."""
    events, found = _events(measure), _quoted(column(measure), dialect)
    if events.aggregate in ("count", "sum"):
        return f"COALESCE({found}, 0)"
    if events.aggregate == "days_since":
        start = int(day_start(ruleset, today).timestamp())
        # whole days: integer division (never of a negative: no event counts after today)
        divide = {"duckdb": "//", "spark": "DIV"}.get(dialect, "/")
        return f"(({start} - {_epoch(found, dialect)}) + {DAY - 1}) {divide} {DAY}"
    return found


def _aggregate(ruleset: RuleSet, measure: CompiledMeasure, dialect: str, today: dt.date) -> str:
    events = _events(measure)
    start, _end = window(ruleset, events, today)
    counted = f"type = {_text(events.event_type, dialect)}"
    counted += f" AND at >= {_text(start)}" if start is not None else ""
    counted += f" AND {_where_sql(measure, dialect, today)}" if events.where else ""
    if events.aggregate == "count":
        return f"SUM(CASE WHEN {counted} THEN 1 ELSE 0 END)"
    if events.aggregate == "days_since":
        return f"MAX(CASE WHEN {counted} THEN at END)"
    value = f"CASE WHEN {counted} THEN {_payload_number(str(events.field), dialect)} END"
    if events.aggregate == "sum":
        return double_sum(value, dialect)
    return f"{events.aggregate.upper()}({value})"


def _payload_number(field: str, dialect: str) -> str:
    if dialect == "sqlite":
        path = "$." + json.dumps(field, ensure_ascii=False)
        return f"CAST(json_extract(payload, {_text(path)}) AS REAL)"
    return f"CAST(CAST(payload AS JSONB) ->> {_text(field, dialect)} AS DOUBLE PRECISION)"


def _epoch(instant: str, dialect: str) -> str:
    """Whole seconds since 1970 of an ISO instant (text), rounded down."""
    if dialect == "sqlite":
        return f"unixepoch({instant})"
    if dialect == "duckdb":
        return f"CAST(FLOOR(epoch(CAST({instant} AS TIMESTAMPTZ))) AS BIGINT)"
    if dialect == "spark":
        return f"CAST(FLOOR(unix_micros(CAST({instant} AS TIMESTAMP)) / 1000000) AS BIGINT)"
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM CAST({instant} AS TIMESTAMPTZ))) AS BIGINT)"


def _quoted(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _text(value: str, dialect: str = "sqlite") -> str:
    return exp.Literal.string(value).sql(dialect=dialect)


def _events(measure: CompiledMeasure) -> EventMeasure:
    assert measure.events is not None, measure.name
    return measure.events


# --- Python ---------------------------------------------------------------------------------


Event = Mapping[str, Any]  # type, at (UTC ISO text), payload (a dict, or JSON text)


def counted_events(
    ruleset: RuleSet, measure: CompiledMeasure, events: Iterable[Event], today: dt.date
) -> list[Event]:
    """The events the measure reads, oldest first."""
    spec = _events(measure)
    start, end = window(ruleset, spec, today)
    matches = _matcher(ruleset, spec, today)
    return sorted(
        (
            e
            for e in events
            if e["type"] == spec.event_type
            and _at(e) < _moment(end)
            and (start is None or _at(e) >= _moment(start))
            and matches(e)
        ),
        key=_at,
    )


def _matcher(ruleset: RuleSet, spec: EventMeasure, today: dt.date) -> Any:
    """Whether an event's fields satisfy the measure's `where:` (always, without one)."""
    if spec.where is None:
        return lambda event: True
    test = spec.where.compile(today)
    types = {n: f.type for n, f in ruleset.schema.events[spec.event_type].fields.items()}

    def matches(event: Event) -> bool:
        payload = _payload(event)
        return test({n: coerce(payload.get(n), types[n]) for n in types}) is True

    return matches


def event_value(
    ruleset: RuleSet, measure: CompiledMeasure, events: Iterable[Event], today: dt.date
) -> Any:
    """The measure's value over the customer's `events` (the same as the SQL's)."""
    spec = _events(measure)
    found = counted_events(ruleset, measure, events, today)
    if spec.aggregate == "count":
        return len(found)
    if spec.aggregate == "days_since":
        if not found:
            return None
        start = int(day_start(ruleset, today).timestamp())
        return (start - int(_at(found[-1]).timestamp()) + DAY - 1) // DAY
    values = [v for v in (_payload(e).get(str(spec.field)) for e in found) if v is not None]
    if spec.aggregate == "sum":
        total = sum_of_doubles(float(v) for v in values)
        return 0 if total is None else total
    if not values:
        return None
    return float(max(values) if spec.aggregate == "max" else min(values))


def _payload(event: Event) -> Mapping[str, Any]:
    payload = event.get("payload") or {}
    return json.loads(payload) if isinstance(payload, str) else payload


def _at(event: Event) -> dt.datetime:
    return _moment(event["at"])


def _moment(value: str | dt.datetime) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def stored_events(
    store: Store, ruleset: RuleSet, customer_id: str, today: dt.date
) -> list[dict[str, Any]]:
    """One customer's events that some event measure may read, oldest first."""
    measures = ruleset.event_measures
    if not measures:
        return []
    types = sorted({_events(m).event_type for m in measures})
    marks = ", ".join(f":t{i}" for i in range(len(types)))
    rows = store.execute(
        f"SELECT id, type, at, payload FROM events WHERE customer_id = :c AND type IN ({marks})"
        " AND at < :end ORDER BY at, id",
        {
            "c": customer_id,
            "end": window(ruleset, _events(measures[0]), today)[1],
            **{f"t{i}": t for i, t in enumerate(types)},
        },
    )
    return [{**r, "payload": _payload(r)} for r in rows]
