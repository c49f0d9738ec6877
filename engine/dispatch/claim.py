"""Claiming due follow-ups: one `BEGIN IMMEDIATE` transaction, so two dispatchers never
claim the same row; a claim whose lease ran out (its dispatcher died) is claimed again."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Collection, Iterator

from guanxi.engine.plan.followups import iso
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.sqlite import SQLiteStore

# A follow-up is claimable when it is pending, due and past its back-off, or when it is
# claimed under a lease that has run out.
CLAIMABLE = (
    "((status = 'pending' AND due_at <= :now"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= :now))"
    " OR (status = 'claimed' AND lease_until < :now))"
)
CHANNELS = "channel IN (SELECT value FROM json_each(:channels))"


@contextlib.contextmanager
def immediate(store: Store) -> Iterator[None]:
    """A write transaction that takes the database's write lock at once (SQLite)."""
    if not isinstance(store, SQLiteStore):
        raise NotImplementedError(f"claiming is not available for the {store.dialect} store")
    conn = store.db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


def claim(
    store: Store,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    channels: Collection[str] | None = None,
) -> list[Row]:
    """Claim up to `limit` due follow-ups (highest priority, then earliest due) until
    `now + lease`; only those of `channels` when given. The claimed rows, in that order."""
    where = CLAIMABLE + (f" AND {CHANNELS}" if channels is not None else "")
    sql = (
        "UPDATE followups SET status = 'claimed', lease_until = :lease_until, updated_at = :now"
        f" WHERE id IN (SELECT id FROM followups WHERE {where}"
        " ORDER BY priority DESC, due_at, id LIMIT :limit) RETURNING *"
    )
    parameters = {
        "now": iso(now),
        "lease_until": iso(now + lease),
        "limit": limit,
        "channels": json.dumps(sorted(channels or ())),
    }
    with immediate(store):
        rows = store.execute(sql, parameters)
    return sorted(rows, key=lambda r: (-r["priority"], r["due_at"], r["id"]))


def waiting(store: Store, now: dt.datetime, channels: Collection[str]) -> dict[str, int]:
    """Due follow-ups of channels that have no adapter: channel → how many."""
    sql = (
        f"SELECT channel, count(*) AS n FROM followups WHERE {CLAIMABLE}"
        f" AND NOT {CHANNELS} GROUP BY channel ORDER BY channel"
    )
    rows = store.execute(sql, {"now": iso(now), "channels": json.dumps(sorted(channels))})
    return {r["channel"]: int(r["n"]) for r in rows}
