"""What became of each claimed follow-up, and how a whole batch of that is written at once.

    sent         status 'sent'
    retry        status 'pending' again with next_attempt_at = now + back-off (with jitter, at
                 least the receiver's Retry-After, up to a day); 'dead' once `max_attempts`
                 are used
    dead         status 'dead' with the error as reason (permanent or render error, attempts
                 used up); URL credentials masked out of it, as in the ledger
    expired      status 'expired': past its bound on lateness, nothing sent
    suppressed   status 'suppressed' with the policy and reason, and the verdict kept in
                 followup_decisions as the planner keeps its own

`record` writes a batch's ledger rows, new statuses and verdicts in one transaction, after
every send of the batch. A process that dies before that commit leaves its follow-ups claimed:
once the lease runs out a later pass claims them again and sends them with the same
idempotency key, which receivers de-duplicate. So a crash costs a duplicate attempt, never a
lost follow-up. An outcome is written only while its claim still holds (a claim whose lease
ran out may have been taken over); the ledger keeps the attempt either way.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from guanxi.adapters.base import AdapterError, Receipt, RetryableError
from guanxi.engine.dispatch import ledger
from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy.secrets import mask_secrets
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_array_rows, json_item, unindexed
from guanxi.engine.unseen import printable

# An outcome as `_finish` reads it from its JSON array: column → SQL type.
OUTCOME_COLUMNS = {
    "id": "BIGINT",
    "status": "TEXT",
    "attempts": "INTEGER",
    "next_at": "TEXT",
    "policy": "TEXT",
    "reason": "TEXT",
    "lease_until": "TEXT",
}


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


class Outcome(NamedTuple):
    """A claimed follow-up's new status and the ledger entry of the attempt behind it."""

    row: Row
    status: str  # sent, pending, dead, expired or suppressed
    entry: ledger.Entry
    attempts: int
    next_at: dt.datetime | None = None
    policy: str | None = None
    reason: str | None = None
    at: dt.datetime | None = None  # when it was decided (sent, refused), if not the pass's now


MAX_RETRY_AFTER = dt.timedelta(days=1)  # the longest a receiver's Retry-After holds a retry back

TOO_LATE = "too late to send: its bound on lateness (expires_at) had passed"


def expired(row: Row, at: dt.datetime | None = None) -> Outcome:
    """Past its bound on lateness (at `at`): expired (not dead: no delivery failed), nothing
    sent."""
    entry = ledger.Entry(row["id"], row["key"], 0, "expired", error=TOO_LATE)
    return Outcome(row, "expired", entry, row["attempts"], None, "expiry", TOO_LATE, at)


@dataclass(frozen=True)
class Attempts:
    """How one attempt's result becomes an outcome, at `now`."""

    now: dt.datetime
    max_attempts: int
    backoff: Backoff
    rng: random.Random

    def outcome(
        self, row: Row, adapter: str, result: Receipt | AdapterError, at: dt.datetime | None = None
    ) -> Outcome:
        """The outcome of the attempt made at `at` (else at `now`). What the receiver said
        (its id, its error) is written with invisible characters escaped: a NUL from a gateway
        would make PostgreSQL refuse the whole batch's outcomes."""
        attempt = int(row["attempts"]) + 1
        followup_id, key = row["id"], row["key"]
        if isinstance(result, Receipt):
            receipt = None if result.external_id is None else printable(result.external_id)
            sent = ledger.Entry(followup_id, key, attempt, "sent", adapter, None, receipt)
            return Outcome(row, "sent", sent, attempt, at=at)
        error = printable(str(result))
        if isinstance(result, RetryableError) and attempt < self.max_attempts:
            next_at = (at or self.now) + self._delay(attempt, result)
            retry = ledger.Entry(followup_id, key, attempt, "retry", adapter, error)
            return Outcome(row, "pending", retry, attempt, next_at, at=at)
        dead = ledger.Entry(followup_id, key, attempt, "dead", adapter, error)
        return Outcome(row, "dead", dead, attempt, reason=error, at=at)

    def _delay(self, attempt: int, error: RetryableError) -> dt.timedelta:
        delay = self.backoff.delay(attempt, self.rng)
        if error.retry_after is not None:
            delay = max(delay, receivers_wait(error.retry_after))
        return delay


def receivers_wait(seconds: float) -> dt.timedelta:
    """A receiver's Retry-After, at most MAX_RETRY_AFTER: a wait of forever, or of more
    years than a date holds, must neither fail the batch nor park a follow-up for good."""
    if math.isnan(seconds) or seconds <= 0:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(seconds, MAX_RETRY_AFTER.total_seconds()))


def record(
    store: Store, outcomes: Sequence[Outcome], now: dt.datetime, worker: str | None = None
) -> set[int]:
    """Write `outcomes` of the dispatcher `worker` in one transaction (see the module); the
    ids whose claim held."""
    if not outcomes:
        return set()
    with store.transaction():
        ledger.record_dated(store, ((o.entry, o.at or now) for o in outcomes), worker)
        held = _finish(store, outcomes, now)
        suppressed = [o for o in outcomes if o.status == "suppressed" and o.row["id"] in held]
        _decisions(store, suppressed, now)
    return held


def _finish(store: Store, outcomes: Sequence[Outcome], now: dt.datetime) -> set[int]:
    """Move each follow-up on, only while the claim that read it still holds it. (`unindexed`
    keeps SQLite from scanning every claimed row for each outcome: it looks each outcome's
    row up by id instead.)"""
    values = [
        [o.row["id"], o.status, o.attempts, iso(o.next_at) if o.next_at else None, o.policy,
         mask_secrets(o.reason) if o.reason else None, o.row["lease_until"]]
        for o in outcomes
    ]  # fmt: skip
    dialect = store.dialect
    listed = ", ".join(
        f"{json_item(i, dialect, sql_type)} AS {name}"
        for i, (name, sql_type) in enumerate(OUTCOME_COLUMNS.items())
    )
    status, lease = (unindexed(f"followups.{c}", dialect) for c in ("status", "lease_until"))
    changed = store.execute(
        "UPDATE followups SET status = o.status, attempts = o.attempts, lease_until = NULL,"
        " next_attempt_at = o.next_at, policy = coalesce(o.policy, followups.policy),"
        " reason = coalesce(o.reason, followups.reason), updated_at = :now"
        f" FROM (SELECT {listed} FROM {json_array_rows('outcomes', dialect)}) AS o"
        f" WHERE followups.id = o.id AND {status} = 'claimed'"
        f" AND {lease} = o.lease_until RETURNING followups.id",
        {"outcomes": json.dumps(values, ensure_ascii=False), "now": iso(now)},
    )
    return {row["id"] for row in changed}


def _decisions(store: Store, suppressed: Sequence[Outcome], now: dt.datetime) -> None:
    """Keep each send-time verdict in followup_decisions, as the planner keeps its own."""
    store.execute_many(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        " VALUES (:id, :at, 'suppressed', :policy, :reason)",
        [{"id": o.row["id"], "at": iso(now), "policy": o.policy, "reason": o.reason}
         for o in suppressed],
    )  # fmt: skip
