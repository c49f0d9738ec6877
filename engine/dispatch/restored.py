"""A store restored from a backup sends nothing twice.

A backup holds as pending what was sent after it was taken: restored, the daemon would send
it again, under the same key, and a receiver that does not drop a repeated key (a mail
server, most SMS gateways, the managers' task inbox, which the restore emptied too) would
give the customer a second copy.

So a store knows itself (a random `store_id` in `store_marks`, which a backup copies) and
counts the dispatch passes that claimed something (`sends`). After each such pass the count is
written in the store, then in a small file beside it (`guanxi.db.sends`, which a restore of the
store file leaves alone) with the pass's time. A store whose count is behind its file's is a
restored one: the passes the file counts beyond it may have sent what the store holds as
pending. Before the next pass, every follow-up still to send that was due by the file's last
pass (it may have gone out then) is held, `suppressed` with the policy `restored`, and the
store notes when and how many; so is, at every later pass, one planned again for such a time
(the day's events loaded again, a night classified again, whose moves the store forgot).
`guanxi health` shows them, and `guanxi followups release-restored` puts them back in the
queue once the receivers' logs show they were not sent. A follow-up due later was not due at
any pass the store forgot: it goes out as usual.

A PostgreSQL store has no one place beside it that every daemon sees, so it keeps no file:
pg_restore (into a new database, or with --clean) makes its tables anew, and the store keeps
the id PostgreSQL gave its follow-ups table (`tables`), which the dump carries back unchanged.
Not knowing the last pass it forgot, it holds everything due by the moment it finds the
restore. (A data-only restore into the tables it has is not found.) `now` is given; nothing
here reads the time itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
import zoneinfo
from pathlib import Path
from typing import NamedTuple

from guanxi.engine.clock import local_time
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso
from guanxi.engine.store.base import STORE_MARKS, Store

POLICY = "restored"
STILL_TO_SEND = "status IN ('pending', 'claimed')"


class Mark(NamedTuple):
    """What the file beside a store says: the store's id, its count of passes, the last one's
    time."""

    store_id: str
    sends: int
    sent_at: str


class Restore(NamedTuple):
    """A restore found (`at`): what was due by `due_by` may have been sent before it; the
    follow-ups held waiting for an operator, and when an operator last released them."""

    at: str
    due_by: str
    held: int
    released_at: str | None = None


def mark_path(store: Store) -> Path | None:
    """The file beside a SQLite store that counts its passes; None for another store."""
    return Path(f"{store.location}.sends") if store.dialect == "sqlite" else None


def note_sends(store: Store, now: dt.datetime) -> None:
    """Count a dispatch pass at `now` that claimed something: in the store, then in its file."""
    path = mark_path(store)
    if path is None:
        return
    with store.transaction():
        store_id = _store_id(store)
        sends = _sends(store) + 1
        _put(store, "sends", str(sends))
    _write(path, Mark(store_id, sends, iso(now)))


def hold_if_restored(store: Store, now: dt.datetime, zone: str) -> int:
    """Find a restore and hold what may have been sent before it, its reason telling times in
    `zone`: at once what is still to send, and later what is planned again for a time the
    forgotten passes covered (events loaded again, a night run again); how many follow-ups it
    held now."""
    restore = last_restore(store)
    if restore is None and _forgotten(store, now) is None:
        return 0  # read alone: most ticks find nothing
    with store.transaction():
        due_by = _forgotten(store, now, lock=True)
        if due_by is not None:
            restore = Restore(iso(now), due_by, 0)
            _remember(store)
        if restore is None:
            return 0
        held = _hold(store, restore, now, zone)
        if held or due_by is not None:
            now_held = restore._replace(held=restore.held + held)
            _put(store, "restored", json.dumps(now_held._asdict()))
    return held


def _forgotten(store: Store, now: dt.datetime, lock: bool = False) -> str | None:
    """When the store was restored: the time by which what it forgot was due (a SQLite store's
    last pass it forgot; for PostgreSQL, whose restore makes its tables anew, `now`). `lock`
    (in a transaction): one daemon of several finds it, the others wait and find it found."""
    path = mark_path(store)
    if path is None:
        kept = _value(store, "tables", lock)
        if kept is None:  # a store from before this: its tables are the ones to compare to
            with store.transaction():
                _put(store, "tables", _tables(store))
        return iso(now) if kept is not None and kept != _tables(store) else None
    mark = _read(path)
    return mark.sent_at if mark is not None and _behind(store, mark) else None


def _remember(store: Store) -> None:
    """The restored store is the one to compare to from now on: its count is its file's, its
    tables are these."""
    path = mark_path(store)
    mark = _read(path) if path is not None else None
    if mark is not None:
        _put(store, "sends", str(mark.sends))
    elif path is None:
        _put(store, "tables", _tables(store))


def _tables(store: Store) -> str:
    """The id PostgreSQL gave the follow-ups table when it was made: pg_restore makes it anew."""
    [row] = store.execute("SELECT CAST(CAST('followups' AS regclass) AS oid) AS made")
    return str(row["made"])


def last_restore(store: Store) -> Restore | None:
    """The last restore found, if any: its follow-ups held wait for an operator."""
    found = _value(store, "restored")
    return Restore(**json.loads(found)) if found is not None else None


def release_restored(store: Store, now: dt.datetime) -> int:
    """Put the follow-ups a restore held back in the queue; how many."""
    with store.transaction():
        released = store.execute(
            "UPDATE followups SET status = 'pending', policy = NULL, reason = NULL,"
            " lease_until = NULL, updated_at = :now"
            " WHERE status = 'suppressed' AND policy = :policy RETURNING id",
            {"now": iso(now), "policy": POLICY},
        )
        restore = last_restore(store)
        if restore is not None:
            done = restore._replace(held=0, released_at=iso(now))
            _put(store, "restored", json.dumps(done._asdict()))
    return len(released)


def _behind(store: Store, mark: Mark) -> bool:
    """Whether the store is the one the file counts for, with fewer passes than it counts."""
    return mark.store_id == _value(store, "store_id") and mark.sends > _sends(store)


def _hold(store: Store, restore: Restore, now: dt.datetime, zone: str) -> int:
    """Hold what is still to send and was due by `restore.due_by`; after a release, only what
    was planned since."""
    due_by = local_time(dt.datetime.fromisoformat(restore.due_by), zoneinfo.ZoneInfo(zone))
    reason = _(
        "the store was restored from a backup: this was due by {due_by} and may have been sent"
        " before the restore; check the receivers, then 'guanxi followups release-restored'"
        " sends what they did not get"
    ).format(due_by=due_by)
    values = {"due_by": restore.due_by, "now": iso(now), "policy": POLICY, "reason": reason}
    since = "" if restore.released_at is None else " AND created_at > :released_at"
    held = store.execute(
        "UPDATE followups SET status = 'suppressed', policy = :policy, reason = :reason,"
        f" lease_until = NULL, updated_at = :now WHERE {STILL_TO_SEND} AND due_at <= :due_by"
        f"{since} RETURNING id",
        {**values, "released_at": restore.released_at},
    )
    store.execute_many(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        " VALUES (:id, :now, 'suppressed', :policy, :reason)",
        [{**values, "id": row["id"]} for row in held],
    )
    return len(held)


def _store_id(store: Store) -> str:
    """The store's id, made at its first pass."""
    found = _value(store, "store_id")
    if found is not None:
        return found
    made = uuid.uuid4().hex
    _put(store, "store_id", made)
    return made


def _sends(store: Store) -> int:
    return int(_value(store, "sends") or 0)


def _value(store: Store, name: str, lock: bool = False) -> str | None:
    """A value of `store_marks`; `lock`, on PostgreSQL: its row locked to the transaction's end
    (SQLite's transaction holds the whole store already)."""
    locked = " FOR UPDATE" if lock and store.dialect == "postgres" else ""
    sql = f"SELECT value FROM {STORE_MARKS} WHERE name = :name{locked}"
    rows = store.execute(sql, {"name": name})
    return str(rows[0]["value"]) if rows else None


def _put(store: Store, name: str, value: str) -> None:
    store.execute(
        f"INSERT INTO {STORE_MARKS} (name, value) VALUES (:name, :value)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        {"name": name, "value": value},
    )


def _read(path: Path) -> Mark | None:
    """The file's mark; None when there is none or it is not one (a store's first pass, a
    file edited by hand): a missing mark finds no restore."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        data = json.loads(path.read_text("utf-8"))
        return Mark(str(data["store"]), int(data["sends"]), str(data["sent_at"]))
    return None


def _write(path: Path, mark: Mark) -> None:
    """Replace the file whole: a crash leaves the old mark or the new one."""
    data = {"store": mark.store_id, "sends": mark.sends, "sent_at": mark.sent_at}
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data), "utf-8")
    os.replace(temporary, path)
