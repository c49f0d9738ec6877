"""Claiming due follow-ups in one write transaction, so two dispatchers never claim the same
row; a claim whose lease ran out (its dispatcher died) is claimed again. In SQLite the
transaction holds the database's write lock; in PostgreSQL each dispatcher locks the rows it
reads with `FOR UPDATE SKIP LOCKED`, so several daemons claim side by side, each passing over
the rows another is claiming.

A `screen` (the contact policy at send time, see recheck) decides the claimed rows inside the
same transaction and takes back those it defers or suppresses. `give_back` releases the
claims a batch stopped sending when other rules wait (see instant), for their next claim.

Order: claims whose lease ran out come first (they were at the head of the queue already),
then pending follow-ups by priority (highest first), earliest due time, id.

A pass reads what it claims, not the whole queue. The queue index (pending follow-ups by
channel, priority and due time) hands out each (channel, priority) level's due rows in order,
and the levels themselves are found by skipping through it, one seek a level. Sorting every
due row at each pass instead made a burst (a monthly message to a million customers, claimed
500 at a time) quadratic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple

from guanxi.engine.plan.followups import iso
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import indexed_by, json_texts, skip_locked

DUE = "due_at <= :now AND (next_attempt_at IS NULL OR next_attempt_at <= :now)"
LAPSED = "status = 'claimed' AND lease_until < :now"
# What a pass may claim, as one condition (what the daemon's due gauge counts); claiming
# itself reads the pending ones level by level instead.
CLAIMABLE = f"((status = 'pending' AND {DUE}) OR ({LAPSED}))"


def _queue(dialect: str) -> str:
    return indexed_by("followups", "followups_queue", dialect)


def _channels(dialect: str) -> str:
    return f"channel IN ({json_texts('channels', dialect)})"


def _levels_sql(dialect: str) -> str:
    """Every (channel, priority) with pending follow-ups: the channels by skipping from one
    to the next in the queue index, then each channel's priorities from the highest down."""
    queue = _queue(dialect)
    return f"""
WITH RECURSIVE
  channels(channel) AS (
    SELECT min(channel) FROM {queue} WHERE status = 'pending'
    UNION ALL
    SELECT (SELECT min(channel) FROM {queue} WHERE status = 'pending' AND channel > c.channel)
    FROM channels c WHERE c.channel IS NOT NULL),
  levels(channel, priority) AS (
    SELECT channel, (SELECT max(priority) FROM {queue}
                     WHERE status = 'pending' AND channel = c.channel)
    FROM channels c WHERE c.channel IS NOT NULL
    UNION ALL
    SELECT channel, (SELECT max(priority) FROM {queue}
                     WHERE status = 'pending' AND channel = l.channel AND priority < l.priority)
    FROM levels l WHERE l.priority IS NOT NULL)
SELECT channel, priority FROM levels WHERE priority IS NOT NULL
"""


Screen = Callable[[Sequence[Row]], Collection[int]]  # claimed rows → the ids taken back


class Level(NamedTuple):
    channel: str
    priority: int


def claim(
    store: Store,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    channels: Collection[str] | None = None,
    screen: Screen | None = None,
) -> list[Row]:
    """Claim up to `limit` due follow-ups (see the module for the order) until `now + lease`;
    only those of `channels` when given, and not those `screen` takes back. The claimed
    rows, in that order."""
    with store.transaction():
        ids = _lapsed(store, now, limit, channels)
        ids += _due(store, now, limit - len(ids), channels)
        rows = store.execute(
            "UPDATE followups SET status = 'claimed', lease_until = :lease_until,"
            f" updated_at = :now WHERE id IN ({json_texts('ids', store.dialect, 'BIGINT')})"
            " RETURNING *",
            {"ids": json.dumps(ids), "now": iso(now), "lease_until": iso(now + lease)},
        )
        taken_back = set(screen(rows)) if screen is not None else set()
    position = {followup_id: i for i, followup_id in enumerate(ids)}
    kept = (row for row in rows if row["id"] not in taken_back)
    return sorted(kept, key=lambda row: position[row["id"]])


def give_back(store: Store, rows: Sequence[Row], now: dt.datetime) -> int:
    """Release the claims of `rows` (one claim's, not sent): pending again with their attempts
    and back-off as they were, to be claimed and decided afresh; only while that claim still
    holds them. How many were given back."""
    if not rows:
        return 0
    with store.transaction():
        given = store.execute(
            "UPDATE followups SET status = 'pending', lease_until = NULL, updated_at = :now"
            f" WHERE id IN ({json_texts('ids', store.dialect, 'BIGINT')})"
            " AND status = 'claimed' AND lease_until = :lease_until RETURNING id",
            {
                "ids": json.dumps([row["id"] for row in rows]),
                "now": iso(now),
                "lease_until": rows[0]["lease_until"],
            },
        )
    return len(given)


def waiting(store: Store, now: dt.datetime, channels: Collection[str]) -> dict[str, int]:
    """Due follow-ups of channels that have no adapter: channel → how many."""
    counts: Counter[str] = Counter()
    for level in levels(store):
        if level.channel not in channels:
            counts[level.channel] += _due_count(store, now, level)
    lapsed = store.execute(
        f"SELECT channel, count(*) AS n FROM followups WHERE {LAPSED}"
        f" AND NOT {_channels(store.dialect)}"
        " GROUP BY channel",
        {"now": iso(now), "channels": json.dumps(sorted(channels))},
    )
    counts.update({row["channel"]: int(row["n"]) for row in lapsed})
    return {channel: counts[channel] for channel in sorted(counts) if counts[channel]}


def levels(store: Store) -> list[Level]:
    """Every (channel, priority) that has pending follow-ups."""
    rows = store.execute(_levels_sql(store.dialect))
    return [Level(row["channel"], row["priority"]) for row in rows]


def _lapsed(
    store: Store, now: dt.datetime, limit: int, channels: Collection[str] | None
) -> list[int]:
    """Claims whose lease ran out, up to `limit`, highest priority and earliest due first."""
    served = f" AND {_channels(store.dialect)}" if channels is not None else ""
    rows = store.execute(
        f"SELECT id FROM followups WHERE {LAPSED}{served}"
        f" ORDER BY priority DESC, due_at, id LIMIT :limit{skip_locked(store.dialect)}",
        {"now": iso(now), "limit": limit, "channels": json.dumps(sorted(channels or ()))},
    )
    return [row["id"] for row in rows]


def _due(store: Store, now: dt.datetime, limit: int, channels: Collection[str] | None) -> list[int]:
    """Up to `limit` due pending follow-ups: level by level from the highest priority, each
    priority's channels merged by due time."""
    taken: list[int] = []
    served = [v for v in levels(store) if channels is None or v.channel in channels]
    served.sort(key=lambda level: -level.priority)
    for _, same in itertools.groupby(served, key=lambda level: level.priority):
        wanted = limit - len(taken)
        if wanted <= 0:
            break
        found = [row for level in same for row in _due_rows(store, now, level, wanted)]
        found.sort(key=lambda row: (row["due_at"], row["id"]))
        taken += [row["id"] for row in found[:wanted]]
    return taken


def _due_rows(store: Store, now: dt.datetime, level: Level, limit: int) -> list[Row]:
    return store.execute(
        f"SELECT id, due_at FROM {_queue(store.dialect)} WHERE status = 'pending'"
        f" AND channel = :channel AND priority = :priority AND {DUE}"
        f" ORDER BY due_at, id LIMIT :limit{skip_locked(store.dialect)}",
        {**level._asdict(), "now": iso(now), "limit": limit},
    )


def _due_count(store: Store, now: dt.datetime, level: Level) -> int:
    [row] = store.execute(
        f"SELECT count(*) AS n FROM {_queue(store.dialect)} WHERE status = 'pending'"
        " AND channel = :channel"
        f" AND priority = :priority AND {DUE}",
        {**level._asdict(), "now": iso(now)},
    )
    return int(row["n"])
