"""Events during a simulation: replayed from a file, or drawn from the store's history.

Both kinds are staged first, in a scratch store beside the copies (its `events` table); each
hour of virtual time, the staged events up to that hour go into the run's copy, where the next
tick plans them as the daemon plans events that arrive. The run and its baseline are fed the
same staged events.

- `--events FILE` is read with `load_events`: bad lines are quarantined (in the scratch store)
  and counted. An event before the start arrives at the start; one after the end never does.
- `--synthetic-events` draws sales and complaints from the store's history, the events of the
  180 days before the start: for each day and type, how many from a Poisson law with the
  history's mean for that weekday, and each one a copy of a history event drawn at random
  (its customer, payload and time of day) moved to that day. Who bought often buys often,
  and the same seed draws the same events.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guanxi.engine.ingest import LoadReport, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store

SYNTHETIC_TYPES = ("sale", "complaint")
HISTORY = dt.timedelta(days=180)


@dataclass(frozen=True)
class Rate:
    """How often one event type happened in the history, and how many were drawn."""

    type: str
    history: int  # events of the type in the history
    days: int  # the days that history spans
    per_weekday: tuple[float, ...]  # mean events a day, Monday first
    drawn: int

    @property
    def per_day(self) -> float:
        return self.history / self.days if self.days else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "history": self.history,
            "days": self.days,
            "per_day": round(self.per_day, 3),
            "per_weekday": [round(r, 3) for r in self.per_weekday],
            "drawn": self.drawn,
        }


@dataclass
class Feed:
    """The staged events, and where they came from."""

    staging: Store
    loaded: LoadReport | None = None  # --events FILE
    rates: list[Rate] = field(default_factory=list)  # --synthetic-events
    seed: int | None = None

    def into(self, store: Store, after: dt.datetime | None, until: dt.datetime) -> int:
        """Insert the staged events of (after, until] into `store`; how many are new there
        (an id the store already holds is left alone)."""
        where = "at <= :until" + ("" if after is None else " AND at > :after")
        rows = self.staging.execute(
            f"SELECT id, type, customer_id, at, payload FROM events WHERE {where} ORDER BY at, id",
            {"until": _text(until), "after": None if after is None else _text(after)},
        )
        if not rows:
            return 0
        arrived = _text(until)
        fed = [{**r, "payload": json.loads(r["payload"]), "loaded_at": arrived} for r in rows]
        return store.insert_events(fed)["inserted"]

    def count(self, before: dt.datetime) -> int:
        """Staged events up to `before` (those after it are never fed)."""
        rows = self.staging.execute(
            "SELECT count(*) AS n FROM events WHERE at < :before", {"before": _text(before)}
        )
        return int(rows[0]["n"])


def stage(
    staging: Store,
    ruleset: RuleSet,
    start: dt.datetime,
    days: int,
    events: tuple[Path, str] | None,
    synthetic: tuple[Store, int] | None,
) -> Feed:
    """Stage the events of a simulation from `start` for `days`: with `events`, those of that
    file (read in that encoding), and with `synthetic` (the store whose history to draw
    from, the seed) drawn ones."""
    staging.prepare(ruleset.schema)
    staging.execute("CREATE INDEX IF NOT EXISTS events_at ON events (at)")
    feed = Feed(staging)
    if events is not None:
        path, encoding = events
        feed.loaded = load_events(staging, ruleset, path, start, encoding=encoding)
    if synthetic is not None:
        history, feed.seed = synthetic
        feed.rates = draw(history, staging, ruleset, start, days, feed.seed)
    return feed


def draw(
    history: Store, into: Store, ruleset: RuleSet, start: dt.datetime, days: int, seed: int
) -> list[Rate]:
    """Draw sales and complaints for `days` from `start` into `into`; the rates used."""
    rng = random.Random(seed)
    zone = ruleset.calendar.zone
    first = start.astimezone(zone).date()
    types = [t for t in SYNTHETIC_TYPES if t in ruleset.schema.events]
    past = {t: _history(history, t, start) for t in types}
    spans = {t: _weekday_means(rows, first, zone) for t, rows in past.items()}
    drawn: Counter[str] = Counter()
    rows: list[Row] = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        for kind in types:
            _, per_weekday = spans[kind]
            for _ in range(poisson(rng, per_weekday[day.weekday()])):
                source = past[kind][int(rng.random() * len(past[kind]))]
                drawn[kind] += 1
                rows.append(_moved(source, kind, day, zone, f"sim{seed}-{kind}-{drawn[kind]}"))
    into.insert_events(rows)
    return [Rate(t, len(past[t]), *spans[t], drawn[t]) for t in types]


def _history(store: Store, kind: str, start: dt.datetime) -> list[Row]:
    return store.execute(
        "SELECT customer_id, at, payload FROM events WHERE type = :type AND at >= :since"
        " AND at < :start ORDER BY at, id",
        {"type": kind, "since": _text(start - HISTORY), "start": _text(start)},
    )


def _weekday_means(
    rows: list[Row], first: dt.date, zone: dt.tzinfo
) -> tuple[int, tuple[float, ...]]:
    """(days the history spans, mean events a day for each weekday): from the day of the
    earliest event to the day before `first`."""
    if not rows:
        return 0, (0.0,) * 7
    days = [_local(r["at"], zone).date() for r in rows]
    begin = min(days)
    span = (first - begin).days
    weekdays = Counter((begin + dt.timedelta(days=n)).weekday() for n in range(span))
    happened = Counter(day.weekday() for day in days)
    return span, tuple(happened[w] / weekdays[w] if weekdays[w] else 0.0 for w in range(7))


def _moved(source: Row, kind: str, day: dt.date, zone: dt.tzinfo, event_id: str) -> Row:
    """A copy of a history event on `day`, at the same time of day."""
    at = dt.datetime.combine(day, _local(source["at"], zone).time(), tzinfo=zone)
    return {
        "id": event_id,
        "type": kind,
        "customer_id": source["customer_id"],
        "at": _text(at),
        "payload": json.loads(source["payload"] or "{}"),
    }


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's method for small means, the normal law for large ones."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _local(text: str, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(zone)


def _text(moment: dt.datetime) -> str:
    """An instant as the events table keeps it (UTC ISO text, as the loader writes it)."""
    return moment.astimezone(dt.UTC).isoformat()
