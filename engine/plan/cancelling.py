"""`cancel_on:` — the pending follow-ups of a customer that an event makes moot (a resolved
complaint needs no call-back, feedback on the product sold no after-sales call).

The planner cancels when it plans an event; a load of events cancels as soon as it stores
them too (`guanxi load events`, `guanxi events post`): the leader plans new events only
between ticks, and a tick sending a burst may run for minutes, so a call-back due meanwhile
would reach the manager after the complaint was resolved. Cancelling twice changes nothing:
only pending follow-ups are cancelled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso, record_decisions
from guanxi.engine.ruleset.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_array_rows, json_item, json_texts, unindexed


@dataclass
class Canceller:
    """Cancels, at `now`, what the events given to `cancel` make moot."""

    store: Store
    ruleset: RuleSet
    now: dt.datetime
    cancellers: dict[str, list[str]] = field(init=False)  # event type → steps it cancels
    cancel_same: dict[str, tuple[str, ...]] = field(init=False)
    cancelled_by: str = field(init=False)

    def __post_init__(self) -> None:
        self.cancellers = cancellers(self.ruleset)
        self.cancel_same = {
            s.id: tuple(s.step.cancel_same) for s in self.ruleset.steps if s.step.cancel_same
        }
        self.cancelled_by = _("{type} event {id} at {time}")

    def cancel(self, events: Sequence[Row], of_events_only: bool = False) -> int:
        """Cancel the pending follow-ups `events` make moot (with `of_events_only`, only
        those an event planned); how many.

        The events cancel in their order: a follow-up goes to the first event that makes it
        moot (of its customer, with one of the steps it cancels, not earlier than the
        follow-up's own event).
        """
        cancelling = [
            (e, self.cancellers[e["type"]]) for e in events if e["type"] in self.cancellers
        ]
        if not cancelling:
            return 0
        pending = self._pending({e["customer_id"] for e, _steps in cancelling})
        decisions: list[dict[str, Any]] = []
        done: set[int] = set()
        for event, steps in cancelling:
            reason = self._cancelled_by(event)
            for row in pending.get(event["customer_id"], []):
                if row["at"] is None and of_events_only:
                    continue
                moot = row["step_id"] in steps and (row["at"] is None or row["at"] <= event["at"])
                if moot and row["id"] not in done and self._same(row, event):
                    done.add(row["id"])
                    decisions.append(self._decision(row["id"], reason))
        cancelled = self._still_pending(decisions)
        kept = [d for d in decisions if d["followup_id"] in cancelled]
        record_decisions(self.store, kept)
        return len(kept)

    def cancel_by_stored(self, customers: set[Any]) -> int:
        """Cancel the event follow-ups of `customers` that events stored already make moot:
        files loaded out of order (a complaint's resolution in one loaded before the
        complaint's) cancel what the later file plans, as one file would; how many."""
        if not customers or not self.cancellers:
            return 0
        d = self.store.dialect
        events = self.store.execute(
            "SELECT id, type, customer_id, at, payload FROM events"
            f" WHERE customer_id IN ({json_texts('customers', d)})"
            f" AND type IN ({json_texts('types', d)}) ORDER BY at, id",
            {"customers": _json_list(customers), "types": _json_list(self.cancellers)},
        )
        return self.cancel(events, of_events_only=True)

    def cancelled_steps(self) -> set[str]:
        """The steps some event cancels."""
        return {step for steps in self.cancellers.values() for step in steps}

    def _still_pending(self, decisions: list[dict[str, Any]]) -> set[int]:
        """Cancel the decided follow-ups that are still pending (a dispatcher may have
        claimed one since they were read); their ids."""
        if not decisions:
            return set()
        d = self.store.dialect
        id_, reason = json_item(0, d, "BIGINT"), json_item(1, d)
        rows = self.store.execute(
            "UPDATE followups SET status = 'cancelled', policy = 'cancel_on',"
            " reason = c.reason, updated_at = :at"
            f" FROM (SELECT {id_} AS id, {reason} AS reason FROM {json_array_rows('c', d)}) AS c"
            f" WHERE followups.id = c.id AND {unindexed('followups.status', d)} = 'pending'"
            " RETURNING followups.id",
            {
                "at": iso(self.now),
                "c": json.dumps(
                    [[x["followup_id"], x["reason"]] for x in decisions], ensure_ascii=False
                ),
            },
        )
        return {row["id"] for row in rows}

    def _same(self, followup: Row, event: Row) -> bool:
        """`cancel_same:` — the cancelling event names what the follow-up's event named (the
        same product); a value missing on either side is no match, as NULL = x is not true."""
        fields = self.cancel_same.get(followup["step_id"], ())
        if not fields:
            return True
        mine = json.loads(followup["event_payload"] or "{}")
        theirs = _payload(event)
        return all(mine.get(f) is not None and mine.get(f) == theirs.get(f) for f in fields)

    def _cancelled_by(self, event: Row) -> str:
        """The reason of a follow-up `event` cancels, its time in the project's zone, as bank
        staff read every time."""
        local = dt.datetime.fromisoformat(event["at"]).astimezone(self.ruleset.calendar.zone)
        return self.cancelled_by.format(type=event["type"], id=event["id"], time=minutes(local))

    def _pending(self, customers: set[Any]) -> dict[Any, list[Row]]:
        """The pending follow-ups of any step some event cancels, by customer, by due time."""
        steps = sorted({s for found in self.cancellers.values() for s in found})
        d = self.store.dialect
        rows = self.store.execute(  # look follow-ups up by customer, not by status
            "SELECT f.id, f.customer_id, f.step_id, e.at, e.payload AS event_payload"
            " FROM followups f"
            " LEFT JOIN events e ON e.id = f.event_id"
            f" WHERE f.customer_id IN ({json_texts('customers', d)})"
            f" AND {unindexed('f.status', d)} = 'pending'"
            f" AND {unindexed('f.step_id', d)} IN ({json_texts('steps', d)})"
            " ORDER BY f.due_at, f.id",
            {"customers": _json_list(customers), "steps": _json_list(steps)},
        )
        found: dict[Any, list[Row]] = {}
        for row in rows:
            found.setdefault(row["customer_id"], []).append(row)
        return found

    def _decision(self, followup_id: int, reason: str) -> dict[str, Any]:
        return {
            "followup_id": followup_id,
            "at": iso(self.now),
            "status": "cancelled",
            "policy": "cancel_on",
            "reason": reason,
        }


def cancellers(ruleset: RuleSet) -> dict[str, list[str]]:
    """For each event type, the steps whose pending follow-ups it cancels."""
    found: dict[str, list[str]] = {}
    for step in ruleset.steps:
        for event_type in step.step.cancel_on:
            found.setdefault(event_type, []).append(step.id)
    return found


def minutes(local: dt.datetime) -> str:
    """`local` as `%Y-%m-%d %H:%M` (strftime is slow; it writes a year before 1000 unpadded)."""
    if local.year < 1000:
        return f"{local:%Y-%m-%d %H:%M}"
    return local.replace(tzinfo=None).isoformat(" ", "minutes")


def _payload(event: Row) -> dict[str, Any]:
    """An event's payload: JSON text as stored, a mapping as loaded."""
    payload = event["payload"] or {}
    return dict(json.loads(payload) if isinstance(payload, str) else payload)


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps([str(v) for v in values], ensure_ascii=False)
