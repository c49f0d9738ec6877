"""One tick of the daemon: plan what is new, then dispatch everything that is due.

    1. plan the events not planned yet (`plan_new_events`);
    2. plan the recurring steps from where they are planned until (the earliest
       `planned_until` of the steps, or now) to now + `HORIZON`; re-planning a window
       plans nothing twice;
    3. `dispatch_once` again and again until a pass claims nothing (at most `max_passes`).

`now` is always given; nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from guanxi.adapters.base import Adapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.recurring import plan_recurring, planned_until
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store

HORIZON = dt.timedelta(days=31)


@dataclass
class TickReport:
    planned_events: int = 0  # follow-ups planned from new events
    planned_recurring: int = 0  # follow-ups planned for recurring steps
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # due, channel has no adapter
    passes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tick(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    now: dt.datetime,
    rng: random.Random,
    *,
    max_passes: int = 100,
    limit: int = 500,
) -> TickReport:
    """Plan new events and the recurring steps' coming window, then deliver what is due."""
    store.prepare(ruleset.schema)
    report = TickReport()
    report.planned_events = plan_new_events(store, ruleset, now).planned
    start = _recurring_start(store, ruleset, now)
    end = now + HORIZON
    if start is not None and start < end:
        report.planned_recurring = plan_recurring(store, ruleset, start, end, now).new
    for _ in range(max_passes):
        done = dispatch_once(store, ruleset, adapters, now, limit=limit, rng=rng)
        report.passes += 1
        report.claimed += done.claimed
        report.sent += done.sent
        report.retried += done.retried
        report.dead += done.dead
        report.lost += done.lost
        report.waiting = done.waiting
        if done.claimed == 0:
            break
    return report


def _recurring_start(store: Store, ruleset: RuleSet, now: dt.datetime) -> dt.datetime | None:
    """The earliest point some recurring step is not planned from; None without such steps."""
    starts = [
        planned_until(store, step.id) or now for step in ruleset.steps if step.schedule is not None
    ]
    return min(starts) if starts else None
