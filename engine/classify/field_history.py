"""The change of a field between classification runs (`change: balance`, `since: 30 days`),
and the field history it reads, in SQL and in Python.

History: each classification run keeps, for the fields change measures read, the value of
every customer whose value differs from the latest one kept (a first value included): one
row (field, customer, day of the run, run, value) in `field_history`. A night where nothing
changed writes nothing; a second run on the same day replaces that day's row. The value a run
saw on a day is then the latest row on or before that day, found by the primary key
(field, customer_id, day).

Then: `since: 30 days` reads the value as of today - 30 days (the latest run of that day or
before); `since: last run` the latest run of an earlier day (so a second run on one day
still compares with the day before). No row then: NULL (no value 30 days ago).

SQL: one relation of the store, a row per customer with history: `_fh_key` and `_fh_<i>` for
each look-up (a field as of a day: each change measure's then, and each kept field's latest
value, to know what to write), LEFT JOINed to the customers like the grouped events. DuckDB
and Spark are given it as a table fetched from the store. The classification query returns,
per kept field, the value (`_fh_value_<field>`) and whether to keep it (`_fh_new_<field>`);
the store writes those rows after the run, inside the run's transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import CompiledMeasure, FieldChange
from guanxi.engine.store import Store

HISTORY = "_fh"  # the alias of the history relation
HISTORY_KEY = "_fh_key"
STAGED = "_gx_history"  # rows to keep, copied from an engine outside the store
BATCH = 200_000


@dataclass(frozen=True)
class Lookup:
    """A field's value as of `day`: the latest row on or before it (`before`: strictly
    before it)."""

    field: str
    day: dt.date
    before: bool = False


def then_lookup(change: FieldChange, today: dt.date) -> Lookup:
    if change.days is None:
        return Lookup(change.field, today, before=True)
    return Lookup(change.field, today - dt.timedelta(days=change.days))


def lookups(ruleset: RuleSet, today: dt.date) -> list[Lookup]:
    """Every look-up of the classification: each measure's then, each kept field's latest."""
    wanted = [then_lookup(_change(m), today) for m in ruleset.change_measures]
    wanted += [Lookup(f, today) for f in ruleset.kept_fields]
    return list(dict.fromkeys(wanted))


def lookup_column(ruleset: RuleSet, lookup: Lookup, today: dt.date) -> str:
    return f"_fh_{lookups(ruleset, today).index(lookup)}"


def value_column(field: str) -> str:
    return f"_fh_value_{field}"


def new_column(field: str) -> str:
    return f"_fh_new_{field}"


# --- SQL ------------------------------------------------------------------------------------


def history_relation(ruleset: RuleSet, dialect: str, today: dt.date) -> str:
    """A row per customer with kept history: `_fh_key` and each look-up's value."""
    found = lookups(ruleset, today)
    parts = " UNION ALL ".join(_latest(i, x, dialect) for i, x in enumerate(found))
    columns = ", ".join(
        f"MAX(CASE WHEN _l = {i} THEN value END) AS {_quoted(f'_fh_{i}', dialect)}"
        for i in range(len(found))
    )
    return (
        f"SELECT customer_id AS {HISTORY_KEY}, {columns} FROM ({parts}) AS h GROUP BY customer_id"
    )


def _latest(index: int, lookup: Lookup, dialect: str) -> str:
    compare = "<" if lookup.before else "<="
    newest = "ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY day DESC)"
    return (
        f"SELECT {index} AS _l, customer_id, value FROM (SELECT customer_id, value, {newest}"
        f" AS _n FROM field_history WHERE field = {_text(lookup.field, dialect)}"
        f" AND day {compare} {_text(lookup.day.isoformat(), dialect)}) AS h{index}"
        " WHERE _n = 1"
    )


def joined_history(ruleset: RuleSet, table: str, relation: str, dialect: str, history: str) -> str:
    """`relation` (the customers of `table`, maybe joined already) with `history` (a table,
    or a query in parentheses) LEFT JOINed by the key."""
    key = _quoted(ruleset.schema.key, dialect)
    return f"{relation} LEFT JOIN {history} AS {HISTORY} ON {HISTORY}.{HISTORY_KEY} = {table}.{key}"


def source_columns(ruleset: RuleSet, dialect: str, today: dt.date, number: str) -> dict[str, str]:
    """The look-ups, and per kept field its value and whether the run keeps it (it differs
    from the latest kept value, NULL included), for the first stage."""
    count = len(lookups(ruleset, today))
    columns = {f"_fh_{i}": f"{HISTORY}.{_quoted(f'_fh_{i}', dialect)}" for i in range(count)}
    differs = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    for name in ruleset.kept_fields:
        value = f"CAST({_quoted(name, dialect)} AS {number})"
        latest = _quoted(lookup_column(ruleset, Lookup(name, today), today), dialect)
        columns[value_column(name)] = value
        columns[new_column(name)] = f"CASE WHEN {value} {differs} {latest} THEN 1 ELSE 0 END"
    return columns


def uses(ruleset: RuleSet, measure: CompiledMeasure, today: dt.date) -> set[str]:
    change = _change(measure)
    return {change.field, lookup_column(ruleset, then_lookup(change, today), today)}


def measure_sql(
    ruleset: RuleSet, measure: CompiledMeasure, dialect: str, today: dt.date, number: str
) -> str:
    """now - then, or (now - then) / |then| (NULL when then is 0)."""
    change = _change(measure)
    then = _quoted(lookup_column(ruleset, then_lookup(change, today), today), dialect)
    now = f"CAST({_quoted(change.field, dialect)} AS {number})"
    difference = f"({now} - {then})"
    if not change.percent:
        return difference
    return f"CASE WHEN {then} = 0 THEN NULL ELSE {difference} / ABS({then}) END"


def outputs(ruleset: RuleSet) -> list[str]:
    """The query's columns the store's history is written from."""
    return [c for f in ruleset.kept_fields for c in (value_column(f), new_column(f))]


def grouped_history(store: Store, ruleset: RuleSet, today: dt.date) -> pa.Table:
    """The store's history relation as an Arrow table, for an engine outside the store."""
    count = len(lookups(ruleset, today))
    fields = [pa.field(HISTORY_KEY, pa.string())]
    fields += [pa.field(f"_fh_{i}", pa.float64()) for i in range(count)]
    schema = pa.schema(fields)
    found = store.iter_rows(history_relation(ruleset, store.dialect, today))
    batches = []
    while rows := [tuple(row.values()) for row in itertools.islice(found, BATCH)]:
        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(columns[0], pa.string())]
        arrays += [pa.array([_number(v) for v in c], pa.float64()) for c in columns[1:]]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def keep_from_result(
    store: Store, ruleset: RuleSet, result: str, key: str, run_id: int, today: dt.date
) -> None:
    """The run's new values into field_history, from the store's own result table."""
    for name in ruleset.kept_fields:
        rows = (
            f"SELECT CAST({_quoted(key, store.dialect)} AS TEXT) AS customer_id,"
            f" {_quoted(value_column(name), store.dialect)} AS value FROM {result}"
            f" WHERE {_quoted(new_column(name), store.dialect)} = 1"
        )
        _keep(store, name, rows, run_id, today)


def keep_rows(
    store: Store,
    ruleset: RuleSet,
    fetch: Callable[[str, str], Iterable[Sequence[Sequence[Any]]]],
    run_id: int,
    today: dt.date,
) -> None:
    """The run's new values into field_history from an engine outside the store: `fetch`
    (a field's value and new-flag columns) gives batches of (key, value) rows to keep."""
    for name in ruleset.kept_fields:
        store.execute(f"DROP TABLE IF EXISTS {_temp(store.dialect)}")
        store.execute(f"CREATE TEMP TABLE {STAGED} (customer_id TEXT, value DOUBLE PRECISION)")
        for batch in fetch(value_column(name), new_column(name)):
            store.copy_rows(STAGED, ("customer_id", "value"), batch)
        _keep(store, name, f"SELECT customer_id, value FROM {STAGED}", run_id, today)
        store.execute(f"DROP TABLE {_temp(store.dialect)}")


def _temp(dialect: str) -> str:
    return f"{'temp' if dialect == 'sqlite' else 'pg_temp'}.{STAGED}"


def _keep(store: Store, name: str, rows: str, run_id: int, today: dt.date) -> None:
    store.execute(
        "INSERT INTO field_history (field, customer_id, day, run_id, value)"
        f" SELECT :field, k.customer_id, :day, :run, k.value FROM ({rows}) AS k WHERE true"
        " ON CONFLICT (field, customer_id, day)"
        " DO UPDATE SET value = excluded.value, run_id = excluded.run_id",
        {"field": name, "day": today.isoformat(), "run": run_id},
    )


def _quoted(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _text(value: str, dialect: str) -> str:
    return exp.Literal.string(value).sql(dialect=dialect)


def _change(measure: CompiledMeasure) -> FieldChange:
    assert measure.change is not None, measure.name
    return measure.change


# --- Python ---------------------------------------------------------------------------------


Kept = Mapping[str, Any]  # field, day (ISO date text or a date), value: a field_history row


def kept_then(rows: Iterable[Kept], lookup: Lookup) -> Kept | None:
    """The row kept as of the look-up's day (None: nothing kept by then)."""
    found = [
        r
        for r in rows
        if r["field"] == lookup.field
        and (day_of(r) < lookup.day if lookup.before else day_of(r) <= lookup.day)
    ]
    return max(found, key=day_of) if found else None


def change_value(
    measure: CompiledMeasure, now: Any, history: Sequence[Kept], today: dt.date
) -> Any:
    """The measure's value from the customer's value `now` and their kept history (the same
    as the SQL's)."""
    change = _change(measure)
    row = kept_then(history, then_lookup(change, today))
    then = None if row is None else _number(row["value"])
    now = _number(now)
    if now is None or then is None:
        return None
    if not change.percent:
        return now - then
    return None if then == 0 else (now - then) / abs(then)


def day_of(row: Kept) -> dt.date:
    day = row["day"]
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))


def stored_history(store: Store, ruleset: RuleSet, customer_id: str) -> list[dict[str, Any]]:
    """One customer's kept values of the fields change measures read, oldest first."""
    fields = ruleset.kept_fields
    if not fields:
        return []
    marks = ", ".join(f":f{i}" for i in range(len(fields)))
    return store.execute(
        "SELECT field, day, run_id, value FROM field_history WHERE customer_id = :c"
        f" AND field IN ({marks}) ORDER BY field, day",
        {"c": customer_id, **{f"f{i}": f for i, f in enumerate(fields)}},
    )
