"""One dispatch pass: claim a batch of due follow-ups, render and send each, record the outcome.

    sent              status 'sent'
    RetryableError    status 'pending' again with next_attempt_at = now + back-off (with jitter,
                      at least the receiver's Retry-After); 'dead' once `max_attempts` are used
    PermanentError    status 'dead' at once (RenderError included)
    past expires_at   status 'dead', reason 'expired', nothing sent

Every attempt goes into the deliveries ledger with the idempotency key. A follow-up whose
channel has no adapter is not claimed: it stays pending and is counted in `waiting`. `now` is
always given; nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.adapters.base import Adapter, PermanentError, RetryableError
from guanxi.engine.dispatch import ledger
from guanxi.engine.dispatch.claim import claim, waiting
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: `base * 2**(attempt-1)`, at most `cap`, times a random factor in
    [1 - jitter, 1]."""

    base: dt.timedelta = dt.timedelta(seconds=30)
    cap: dt.timedelta = dt.timedelta(hours=1)
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> dt.timedelta:
        seconds = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** (attempt - 1))
        return dt.timedelta(seconds=seconds * (1 - self.jitter * rng.random()))


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # the lease ran out before the outcome was written; the ledger has it
    waiting: dict[str, int] = field(default_factory=dict)  # due, channel has no adapter


def dispatch_once(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    now: dt.datetime,
    *,
    limit: int = 500,
    lease: dt.timedelta = dt.timedelta(minutes=5),
    max_attempts: int = 5,
    backoff: Backoff = Backoff(),
    rng: random.Random | None = None,
) -> DispatchReport:
    """Claim up to `limit` due follow-ups of the channels in `adapters` and deliver them."""
    rng = rng or random.Random(0)
    report = DispatchReport(waiting=waiting(store, now, adapters))
    rows = claim(store, now, limit, lease, channels=adapters)
    report.claimed = len(rows)
    for row in rows:
        status = _deliver(
            store, ruleset, adapters[row["channel"]], row, now, max_attempts, backoff, rng
        )
        if status is None:
            report.lost += 1
        elif status == "sent":
            report.sent += 1
        elif status == "pending":
            report.retried += 1
        else:
            report.dead += 1
    return report


def _deliver(
    store: Store,
    ruleset: RuleSet,
    adapter: Adapter,
    row: Row,
    now: dt.datetime,
    max_attempts: int,
    backoff: Backoff,
    rng: random.Random,
) -> str | None:
    """Send one claimed follow-up; the status it ends in, or None when the claim was lost."""
    if row["expires_at"] is not None and row["expires_at"] <= iso(now):
        with store.transaction():
            ledger.record(store, row, attempt=0, at=now, outcome="dead", error="expired")
            return _finish(store, row, now, "dead", reason="expired")
    attempt = int(row["attempts"]) + 1
    today = now.astimezone(ruleset.calendar.zone).date()  # templates speak the bank's date
    try:
        message = adapter.render(
            row, _customer(store, ruleset, row), ruleset.templates, today=today
        )
        receipt = adapter.send(message)
    except RetryableError as error:
        if attempt >= max_attempts:
            return _conclude(store, row, now, attempt, adapter, "dead", error=str(error))
        delay = backoff.delay(attempt, rng)
        if error.retry_after is not None:
            delay = max(delay, dt.timedelta(seconds=error.retry_after))
        return _conclude(store, row, now, attempt, adapter, "retry", str(error), now + delay)
    except PermanentError as error:
        return _conclude(store, row, now, attempt, adapter, "dead", error=str(error))
    return _conclude(store, row, now, attempt, adapter, "sent", external_id=receipt.external_id)


def _conclude(
    store: Store,
    row: Row,
    now: dt.datetime,
    attempt: int,
    adapter: Adapter,
    outcome: ledger.Outcome,
    error: str | None = None,
    next_at: dt.datetime | None = None,
    external_id: str | None = None,
) -> str | None:
    """Record the attempt in the ledger and move the follow-up on, in one transaction:
    sent → sent, retry → pending until `next_at`, dead → dead with the error as reason."""
    with store.transaction():
        ledger.record(
            store,
            row,
            attempt=attempt,
            at=now,
            outcome=outcome,
            adapter=adapter.name,
            error=error,
            external_id=external_id,
        )
        status = "pending" if outcome == "retry" else outcome
        reason = error if outcome == "dead" else None
        return _finish(store, row, now, status, attempts=attempt, next_at=next_at, reason=reason)


def _finish(
    store: Store,
    row: Row,
    now: dt.datetime,
    status: str,
    *,
    attempts: int | None = None,
    next_at: dt.datetime | None = None,
    reason: str | None = None,
) -> str | None:
    """Write the outcome, only while this claim still holds the row."""
    changed = store.execute(
        "UPDATE followups SET status = :status, attempts = :attempts, lease_until = NULL,"
        " next_attempt_at = :next_at, reason = coalesce(:reason, reason), updated_at = :now"
        " WHERE id = :id AND status = 'claimed' AND lease_until = :lease_until RETURNING id",
        {
            "status": status,
            "attempts": row["attempts"] if attempts is None else attempts,
            "next_at": iso(next_at) if next_at else None,
            "reason": reason,
            "now": iso(now),
            "id": row["id"],
            "lease_until": row["lease_until"],
        },
    )
    return status if changed else None


def _customer(store: Store, ruleset: RuleSet, row: Row) -> dict[str, Any]:
    key = '"' + ruleset.schema.key.replace('"', '""') + '"'
    found = store.execute(f"SELECT * FROM customers WHERE {key} = :id", {"id": row["customer_id"]})
    return found[0] if found else {ruleset.schema.key: row["customer_id"]}


def retry_dead(store: Store, followup_id: int, now: dt.datetime) -> bool:
    """Put a dead letter back in the queue with its attempts reset; False if it is not dead."""
    with store.transaction():
        rows = store.execute(
            "UPDATE followups SET status = 'pending', attempts = 0, next_attempt_at = NULL,"
            " lease_until = NULL, updated_at = :now WHERE id = :id AND status = 'dead'"
            " RETURNING id, key",
            {"id": followup_id, "now": iso(now)},
        )
        for row in rows:
            ledger.record(store, row, attempt=0, at=now, outcome="requeued")
    return bool(rows)
