"""The follow-up row and how rows get into the store exactly once.

A follow-up's idempotency key is `step:customer:occurrence`, where the occurrence is the
event id, the period (`2026-12`, `2026-Q4`, `2026-W49`, `2026-12-05`) or the classification
run. It does not include the rule-set hash, so replaying the same events or re-running the
same month under an edited rule set plans nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from guanxi.engine.store.base import Store

Status = Literal[
    "pending",
    "suppressed",
    "cancelled",
    "claimed",
    "sent",
    "failed",
    "dead",
    "expired",
    "held_out",
]
"""`dead`: delivery failed; `expired`: past its bound on lateness (`expires:`), never sent;
`held_out`: in an experiment's control group (plan/experiments), never sent."""
COLUMNS = (
    "key",
    "customer_id",
    "step_id",
    "level",
    "kind",
    "channel",
    "template",
    "priority",
    "mandatory",
    "purpose",
    "owner",
    "occurrence",
    "event_id",
    "payload",
    "planned_due_at",
    "due_at",
    "expires_at",
    "status",
    "policy",
    "reason",
    "batch",
    "ruleset_hash",
    "created_at",
    "updated_at",
)


def followup_key(step_id: str, customer_id: str, occurrence: str) -> str:
    """`step:customer:occurrence`, the customer's `%` and `:` written `%25` and `%3A`: else
    customer `A` after event `B:E1` and customer `A:B` after event `E1` would share a key,
    and the second notice would never be planned. Ids without them (all but a few) are kept
    as they are; the keys planned before the escaping were rewritten by the store's
    migration m029 (store/base.py ESCAPED_KEYS)."""
    return f"{step_id}:{key_part(customer_id)}:{occurrence}"


def key_part(customer_id: str) -> str:
    return customer_id.replace("%", "%25").replace(":", "%3A")


def new_batch() -> str:
    """A name for one planning call; the policy pass works on one batch at a time."""
    return uuid.uuid4().hex[:12]


def step_values(step: Any) -> dict[str, Any]:
    """The columns of a follow-up that its step's rule gives (a ruleset Step): what, how,
    with which text, in which order, whether mandatory, for which purpose."""
    return {
        "kind": step.do,
        "channel": step.channel,
        "template": step.template,
        "priority": step.priority,
        "mandatory": int(step.mandatory),
        "purpose": step.purpose,
    }


def iso(instant: dt.datetime) -> str:
    """UTC, second precision, sortable as text: how every instant is stored."""
    utc = instant.astimezone(dt.UTC)
    if utc.year < 1000:  # strftime writes such a year without its leading zeros
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{utc.replace(tzinfo=None).isoformat(timespec='seconds')}Z"  # strftime is slower


@dataclass(frozen=True)
class Followup:
    customer_id: str
    step_id: str
    level: str | None
    kind: str
    channel: str
    template: str
    priority: int
    mandatory: bool
    purpose: str
    owner: str | None
    occurrence: str
    due_at: dt.datetime
    expires_at: dt.datetime | None
    ruleset_hash: str
    event_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    status: Status = "pending"
    policy: str | None = None
    reason: str | None = None

    @property
    def key(self) -> str:
        return followup_key(self.step_id, self.customer_id, self.occurrence)

    def row(self, batch: str, now: str) -> dict[str, Any]:
        """The row of COLUMNS to insert; `now` as `iso` writes it."""
        data = {name: getattr(self, name) for name in _FIELDS}
        due = iso(self.due_at)
        data.update(
            key=self.key,
            mandatory=int(self.mandatory),
            payload=_PAYLOAD_JSON.encode(dict(self.payload)),
            planned_due_at=due,
            due_at=due,
            expires_at=iso(self.expires_at) if self.expires_at else None,
            batch=batch,
            created_at=now,
            updated_at=now,
        )
        return data


_FIELDS = tuple(f.name for f in fields(Followup))
# json.dumps(…, ensure_ascii=False, default=str) makes a new encoder on every call
_PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def insert_followups(
    store: Store, followups: Iterable[Followup], batch: str, now: dt.datetime
) -> int:
    """Insert new follow-ups; a key already planned is left alone. Returns how many are new."""
    names = ", ".join(COLUMNS)
    marks = ", ".join(f":{c}" for c in COLUMNS)
    sql = f"INSERT INTO followups ({names}) VALUES ({marks}) ON CONFLICT (key) DO NOTHING"
    before = _count(store, batch)
    with store.transaction():
        written = iso(now)
        store.execute_many(sql, (followup.row(batch, written) for followup in followups))
    return _count(store, batch) - before


def _count(store: Store, batch: str) -> int:
    rows = store.execute("SELECT count(*) AS n FROM followups WHERE batch = :b", {"b": batch})
    return int(rows[0]["n"])


LATE_WHEN_PLANNED = "too late when planned: its window had closed before it could be planned"


def past_bound(expires_at: str | dt.datetime | None, now: dt.datetime) -> bool:
    """Already past its bound on lateness, so never to be sent: compared as the store holds
    instants (ISO text in UTC), by the planner and by dispatch alike."""
    if expires_at is None:
        return False
    return (expires_at if isinstance(expires_at, str) else iso(expires_at)) <= iso(now)


def expire_late(store: Store, batch: str, now: dt.datetime) -> int:
    """Record the follow-ups of `batch` already past their bound on lateness as `expired`,
    never pending: no dispatcher may send them. Returns how many."""
    expired = store.execute(
        "UPDATE followups SET status = 'expired', policy = 'expiry', reason = :reason,"
        " updated_at = :now WHERE batch = :batch AND status = 'pending'"
        " AND expires_at IS NOT NULL AND expires_at <= :now RETURNING id",
        {"batch": batch, "now": iso(now), "reason": LATE_WHEN_PLANNED},
    )
    record_decisions(store, (_expiry(row["id"], now) for row in expired))
    return len(expired)


def _expiry(followup_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "followup_id": followup_id,
        "at": iso(now),
        "status": "expired",
        "policy": "expiry",
        "reason": LATE_WHEN_PLANNED,
    }


def record_decisions(store: Store, decisions: Iterable[Mapping[str, Any]]) -> None:
    """Keep every policy verdict (followup_id, at, status, policy, reason) for explain."""
    sql = (
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        " VALUES (:followup_id, :at, :status, :policy, :reason)"
    )
    with store.transaction():
        for decision in decisions:
            store.execute(sql, decision)
