"""The deliveries ledger: one row for every attempt at a follow-up, with its idempotency key
and the dispatcher (`worker`, host:pid) that made it.

outcome   sent        the adapter acknowledged it (external_id: the receiver's id)
          retry       a retryable error; the follow-up is pending again until next_attempt_at
          dead        dead-lettered by this attempt: permanent error, render error or
                      attempts used up
          expired     past its bound on lateness when claimed (attempt 0, nothing sent)
          suppressed  the contact policy, checked again at send time, no longer allows it
                      (attempt 0, nothing sent; error: the reason)
          cancelled   its step is no longer in the rules in force for the customer, found
                      at send time (attempt 0, nothing sent; error: the reason)
          requeued    `retry_dead` put a dead letter back in the queue (attempts reset)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy.secrets import mask_secrets
from guanxi.engine.store.base import Store

Outcome = Literal["sent", "retry", "dead", "expired", "suppressed", "cancelled", "requeued"]

# an Entry's fields, then when and by whom
COLUMNS = (
    "followup_id",
    "key",
    "attempt",
    "outcome",
    "adapter",
    "error",
    "external_id",
    "at",
    "worker",
)


class Entry(NamedTuple):
    """One attempt at the follow-up `followup_id` (whose idempotency key is `key`)."""

    followup_id: int
    key: str
    attempt: int
    outcome: Outcome
    adapter: str | None = None
    error: str | None = None
    external_id: str | None = None


def record(
    store: Store,
    followup: Mapping[str, Any],
    *,
    attempt: int,
    at: dt.datetime,
    outcome: Outcome,
    adapter: str | None = None,
    error: str | None = None,
    external_id: str | None = None,
) -> None:
    """Append one attempt to the ledger (inside the caller's transaction)."""
    entry = Entry(followup["id"], followup["key"], attempt, outcome, adapter, error, external_id)
    record_all(store, [entry], at)


def record_all(
    store: Store, entries: Iterable[Entry], at: dt.datetime, worker: str | None = None
) -> None:
    """Append attempts to the ledger, all made at `at` by `worker` (inside the caller's
    transaction); URL credentials are masked out of the errors."""
    record_dated(store, ((entry, at) for entry in entries), worker)


def record_dated(
    store: Store, dated: Iterable[tuple[Entry, dt.datetime]], worker: str | None = None
) -> None:
    """Append attempts to the ledger, each made at its own time by `worker` (inside the
    caller's transaction); URL credentials are masked out of the errors."""
    rows = ((*_masked(entry), iso(at), worker) for entry, at in dated)
    store.copy_rows("deliveries", COLUMNS, rows)


def _masked(entry: Entry) -> Entry:
    return entry._replace(error=mask_secrets(entry.error)) if entry.error else entry


def attempts(store: Store, followup_id: int) -> list[dict[str, Any]]:
    """Every ledger row of a follow-up, oldest first."""
    return store.execute(
        "SELECT * FROM deliveries WHERE followup_id = :id ORDER BY id", {"id": followup_id}
    )
