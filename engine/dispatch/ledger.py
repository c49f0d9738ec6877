"""The deliveries ledger: one row for every attempt at a follow-up, with its idempotency key.

outcome   sent       the adapter acknowledged it (external_id: the receiver's id)
          retry      a retryable error; the follow-up is pending again until next_attempt_at
          dead       dead-lettered by this attempt: permanent error, render error,
                     attempts used up, or past expiry (attempt 0 when nothing was sent)
          requeued   `retry_dead` put a dead letter back in the queue (attempts reset)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from guanxi.engine.plan.followups import iso
from guanxi.engine.store.base import Store

Outcome = Literal["sent", "retry", "dead", "requeued"]


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
    store.execute(
        "INSERT INTO deliveries (followup_id, key, attempt, at, adapter, outcome, error,"
        " external_id) VALUES (:followup_id, :key, :attempt, :at, :adapter, :outcome, :error,"
        " :external_id)",
        {
            "followup_id": followup["id"],
            "key": followup["key"],
            "attempt": attempt,
            "at": iso(at),
            "adapter": adapter,
            "outcome": outcome,
            "error": error,
            "external_id": external_id,
        },
    )


def attempts(store: Store, followup_id: int) -> list[dict[str, Any]]:
    """Every ledger row of a follow-up, oldest first."""
    return store.execute(
        "SELECT * FROM deliveries WHERE followup_id = :id ORDER BY id", {"id": followup_id}
    )
