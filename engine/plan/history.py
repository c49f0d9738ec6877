"""A customer's follow-ups, every policy decision about them, and their recent events.

This is what `explain` adds for a relationship manager: why a message was suppressed, why a
task moved, which events were planned. Instants are stored in UTC and returned in the rule
project's time zone; rows come newest first, at most `limit` of each, with a count of the rest.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from guanxi.engine import consent
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store

FOLLOWUP_COLUMNS = (
    "id, key, step_id, kind, channel, template, priority, mandatory, purpose, owner,"
    " occurrence, event_id, planned_due_at, due_at, expires_at, status, policy, reason"
)


@dataclass(frozen=True)
class PolicyDecision:
    """One verdict about a follow-up, as `followup_decisions` keeps it."""

    at: dt.datetime
    status: str
    policy: str | None
    reason: str | None


@dataclass(frozen=True)
class FollowupHistory:
    """One follow-up of the customer; `step_channel` is what the step asks for (e.g.
    `preferred`), `channel` what the policy chose. `label` and `step_channel` are None when
    the current rule set no longer has the step."""

    id: int
    key: str
    step_id: str
    label: str | None
    kind: str
    channel: str
    step_channel: str | None
    template: str
    priority: int
    mandatory: bool
    purpose: str
    owner: str | None
    occurrence: str
    event_id: str | None
    planned_due_at: dt.datetime
    due_at: dt.datetime
    expires_at: dt.datetime | None
    status: str
    policy: str | None
    reason: str | None
    decisions: tuple[PolicyDecision, ...]
    consents: tuple[int, ...] = ()  # the consent records in force when it was due (ids)

    @property
    def moved(self) -> bool:
        """A policy changed the due time (quiet hours, business days, capacity)."""
        return self.due_at != self.planned_due_at


@dataclass(frozen=True)
class EventHistory:
    id: str
    type: str
    at: dt.datetime
    planned_at: dt.datetime | None  # None: not planned yet
    plan_error: str | None = None  # why it could not be planned (it is not tried again)
    too_old: str | None = None  # the steps whose window had closed when it was planned
    waiting: bool = False  # for the customer's first classification (plan/events.py)
    waits_for_first_run: bool = False  # the store's first: it waits however long that takes

    @property
    def planned(self) -> bool:
        return self.planned_at is not None


@dataclass(frozen=True)
class CustomerHistory:
    timezone: str
    followups: tuple[FollowupHistory, ...]
    more_followups: int  # how many older follow-ups were left out
    events: tuple[EventHistory, ...]
    more_events: int
    consents: tuple[Row, ...] = ()  # the consent ledger's records, oldest first

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, followup in zip(data["followups"], self.followups, strict=True):
            row["moved"] = followup.moved
        for row, event in zip(data["events"], self.events, strict=True):
            row["planned"] = event.planned
        return data


def customer_history(
    store: Store, ruleset: RuleSet, customer_id: str, limit: int = 50, events: int = 20
) -> CustomerHistory:
    """The customer's newest `limit` follow-ups (all statuses, latest due first) with their
    decisions in the order they were made, and the newest `events` events."""
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    params = {"id": customer_id}
    rows = store.execute(
        f"SELECT {FOLLOWUP_COLUMNS} FROM followups WHERE customer_id = :id"
        " ORDER BY due_at DESC, id DESC LIMIT :limit",
        {**params, "limit": limit},
    )
    decided = _decisions(store, [r["id"] for r in rows], zone)
    ledger = consent.history(store, customer_id)
    found = tuple(
        _followup(r, ruleset, decided.get(r["id"], ()), zone, _relied_on(ledger, r)) for r in rows
    )
    happened = store.execute(
        "SELECT id, type, at, planned_at, plan_error, too_old, waits_after FROM events"
        " WHERE customer_id = :id"
        " ORDER BY at DESC, id DESC LIMIT :limit",
        {**params, "limit": events},
    )
    return CustomerHistory(
        ruleset.settings.timezone,
        found,
        _count(store, "followups", customer_id) - len(found),
        tuple(_event(r, zone) for r in happened),
        _count(store, "events", customer_id) - len(happened),
        tuple(ledger),
    )


def _decisions(
    store: Store, ids: list[int], zone: zoneinfo.ZoneInfo
) -> dict[int, tuple[PolicyDecision, ...]]:
    if not ids:
        return {}
    marks = ", ".join(f":f{i}" for i in range(len(ids)))
    rows = store.execute(
        "SELECT followup_id, at, status, policy, reason FROM followup_decisions"
        f" WHERE followup_id IN ({marks}) ORDER BY at, id",
        {f"f{i}": value for i, value in enumerate(ids)},
    )
    found: dict[int, list[PolicyDecision]] = {}
    for row in rows:
        decision = PolicyDecision(
            _local(row["at"], zone), row["status"], row["policy"], row["reason"]
        )
        found.setdefault(row["followup_id"], []).append(decision)
    return {key: tuple(value) for key, value in found.items()}


def _relied_on(ledger: list[Row], followup: Row) -> tuple[int, ...]:
    found = consent.relied_on(ledger, followup["channel"], followup["purpose"], followup["due_at"])
    return tuple(row["id"] for row in found)


def _followup(
    row: Row,
    ruleset: RuleSet,
    decisions: Iterable[PolicyDecision],
    zone: zoneinfo.ZoneInfo,
    consents: tuple[int, ...],
) -> FollowupHistory:
    step = next((s.step for s in ruleset.steps if s.id == row["step_id"]), None)
    expires = row["expires_at"]
    return FollowupHistory(
        id=row["id"],
        key=row["key"],
        step_id=row["step_id"],
        label=step.label if step else None,
        kind=row["kind"],
        channel=row["channel"],
        step_channel=step.channel if step else None,
        template=row["template"],
        priority=row["priority"],
        mandatory=bool(row["mandatory"]),
        purpose=row["purpose"],
        owner=row["owner"],
        occurrence=row["occurrence"],
        event_id=row["event_id"],
        planned_due_at=_local(row["planned_due_at"], zone),
        due_at=_local(row["due_at"], zone),
        expires_at=_local(expires, zone) if expires else None,
        status=row["status"],
        policy=row["policy"],
        reason=row["reason"],
        decisions=tuple(decisions),
        consents=consents,
    )


def _event(row: Row, zone: zoneinfo.ZoneInfo) -> EventHistory:
    planned = row["planned_at"]
    return EventHistory(
        row["id"],
        row["type"],
        _local(row["at"], zone),
        _local(planned, zone) if planned else None,
        row["plan_error"],
        row["too_old"],
        row["waits_after"] is not None,
        row["waits_after"] == 0,
    )


def _count(store: Store, table: str, customer_id: str) -> int:
    rows = store.execute(
        f"SELECT count(*) AS n FROM {table} WHERE customer_id = :id", {"id": customer_id}
    )
    return int(rows[0]["n"])


def _local(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """A stored instant (ISO text; UTC when it names no zone) in the project's zone."""
    instant = dt.datetime.fromisoformat(text)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(zone)
