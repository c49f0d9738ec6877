"""Event ids already stored with other content.

An event id names one event. A stored event is never changed, so an event given again under
a stored id is left alone: unchanged when it is the same event, and otherwise a problem to
quarantine, since keeping either silently would lose the other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.ingest.rows import Problem
from guanxi.engine.ingest.values import quoted
from guanxi.engine.store.base import Row, Store, event_values

COMPARED = ("type", "customer_id", "at")
IDS_PER_QUERY = 500  # well under the bound parameters SQLite and PostgreSQL take

Difference = tuple[str, Any, Any]  # what differs: its name, the stored value, the given one


def reused_ids(store: Store, rows: Sequence[Row]) -> list[tuple[int, list[Problem]]]:
    """(position in `rows`, problems) of each row whose id is stored with other content."""
    stored = _stored_events(store, [row["id"] for row in rows])
    found: list[tuple[int, list[Problem]]] = []
    for position, row in enumerate(rows):
        kept = stored.get(row["id"])
        differing = [name for name, *_values in _differences(kept, row)] if kept else []
        if differing:
            found.append((position, [("id", row["id"], reused_reason(row["id"], differing))]))
    return found


def stored_differences(store: Store, row: Row) -> list[Difference]:
    """What differs between `row` and the event stored under its id (none when no event is
    stored under it, or the same one)."""
    kept = _stored_events(store, [row["id"]]).get(row["id"])
    return _differences(kept, row) if kept is not None else []


def reused_reason(event_id: str, differing: list[str]) -> str:
    return _(
        "event id {id} is already stored with another {fields}: an event id names one event and"
        " a stored event is never changed; give this event an id of its own, or take the line"
        " out if it is the stored event"
    ).format(id=quoted(event_id), fields=", ".join(differing))


def _stored_events(store: Store, ids: list[str]) -> dict[str, Row]:
    stored: dict[str, Row] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        names = {f"id{n}": event_id for n, event_id in enumerate(chunk)}
        placeholders = ", ".join(f":{name}" for name in names)
        sql = f"SELECT id, type, customer_id, at, payload FROM events WHERE id IN ({placeholders})"
        stored.update((row["id"], row) for row in store.execute(sql, names))
    return stored


def _differences(stored: Row, row: Row) -> list[Difference]:
    """What differs, as stored: envelope fields, then payload fields."""
    [(_id, *envelope, payload, _loaded)] = event_values([row])
    given = dict(zip(COMPARED, envelope, strict=True))
    differing = [(name, stored[name], given[name]) for name in COMPARED]
    differing += _payload_differences(json.loads(stored["payload"]), json.loads(payload))
    return [(name, kept, new) for name, kept, new in differing if kept != new]


def _payload_differences(stored: dict[str, Any], given: dict[str, Any]) -> list[Difference]:
    return [
        (name, stored.get(name), given.get(name)) for name in sorted(stored.keys() | given.keys())
    ]
