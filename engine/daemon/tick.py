"""One tick of the daemon: plan what is new, then dispatch everything that is due.

    1. plan the events not planned yet (`plan_new_events`; the daemon's leader does this);
    2. plan the recurring steps from where they are planned until (the earliest
       `planned_until` of the steps, or now) to now + `HORIZON`; re-planning a window
       plans nothing twice (the daemon does this on each step's own schedule instead);
    3. `dispatch_once` again and again until a pass claims nothing (at most `max_passes`),
       each pass at the time `clock` gives when it starts: a tick may run for minutes, and
       a batch claimed late in it is leased, and decided (consent, quiet hours, caps,
       expiry), for the moment it is claimed, not for the tick's start; and each of its
       messages again (consent, quiet hours, expiry) at `instant`, right before it is sent;
       when `new_rules()` says, then, that other rules wait, the pass sends nothing more and
       gives its unsent claims back, and `stop()` ends the tick before the next pass.

When planning raises, what is already due is still delivered before the error is raised;
the report says which stage raised (the daemon's health check shows it). A tick that ran
through may still need a person (`TickReport.trouble`): events that could not be planned, or
a channel on which every send failed (an adapter down, the outbox's disk full); the health
check shows that as failing too.
`now` (and `clock` and `instant`, when given) come from the caller; nothing here reads the
time itself.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from guanxi.adapters.base import Adapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.dispatch.dispatch import Backoff, DispatchReport
from guanxi.engine.dispatch.restored import hold_if_restored, note_sends
from guanxi.engine.i18n import ngettext
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.recurring import plan_recurring, planned_until
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store

HORIZON = dt.timedelta(days=31)


@dataclass
class TickReport:
    stage: str = ""  # the stage running; once a tick raised, the one that raised
    planned_events: int = 0  # follow-ups planned from new events
    planned_recurring: int = 0  # follow-ups planned for recurring steps
    failed_events: int = 0  # events that could not be planned (see plan/events.py)
    too_old_events: int = 0  # events that came after a step's window had closed
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0  # past their bound on lateness: not sent
    lost: int = 0
    given_back: int = 0  # claims released unsent because other rules wait
    held_restored: int = 0  # held: the store was restored and they may have gone out already
    waiting: dict[str, int] = field(default_factory=dict)  # due, channel has no adapter
    suppressed: dict[str, int] = field(default_factory=dict)  # policy → refused at send time
    deferred: dict[str, int] = field(default_factory=dict)  # policy → deferred at send time
    cancelled: dict[str, int] = field(default_factory=dict)  # policy → cancelled at send time
    passes: int = 0
    sent_on: set[str] = field(default_factory=set)  # channels that delivered something
    send_errors: dict[str, str] = field(default_factory=dict)  # channel → last failed send

    def add(self, done: DispatchReport) -> None:
        """Count one dispatch pass in."""
        self.passes += 1
        self.claimed += done.claimed
        self.sent += done.sent
        self.retried += done.retried
        self.dead += done.dead
        self.expired += done.expired
        self.lost += done.lost
        self.given_back += done.given_back
        self.waiting = done.waiting
        for policy, n in done.suppressed.items():
            self.suppressed[policy] = self.suppressed.get(policy, 0) + n
        for policy, n in done.deferred.items():
            self.deferred[policy] = self.deferred.get(policy, 0) + n
        for policy, n in done.cancelled.items():
            self.cancelled[policy] = self.cancelled.get(policy, 0) + n
        self.sent_on |= done.sent_on
        self.send_errors.update(done.send_errors)

    def to_dict(self) -> dict[str, Any]:
        """What the tick did (not where it is)."""
        done = asdict(self)
        for kept_apart in ("stage", "sent_on", "send_errors"):
            del done[kept_apart]
        return done

    def failing_channels(self) -> dict[str, str]:
        """The channels on which sends failed in this tick and none went through, each with
        its last error."""
        return {c: e for c, e in sorted(self.send_errors.items()) if c not in self.sent_on}

    def tried_to_send(self) -> bool:
        return bool(self.sent_on or self.send_errors)

    def trouble(self, failing: Mapping[str, str] | None = None) -> Trouble | None:
        """What a person must look at after a tick that ran through: the channels on which
        every send failed (`failing`, kept across ticks; else this tick's), else the events
        that could not be planned; None when there is nothing."""
        failing = self.failing_channels() if failing is None else failing
        if failing:
            said = ngettext(
                "channel {channels}: no send went through, the last error: {error}",
                "channels {channels}: no send went through, the last error: {error}",
                len(failing),
            )
            error = list(failing.values())[-1]
            return Trouble("dispatch", said.format(channels=", ".join(failing), error=error))
        if self.failed_events:
            said = ngettext(
                "{count} event could not be planned (its reason: guanxi explain CUSTOMER)",
                "{count} events could not be planned (their reasons: guanxi explain CUSTOMER)",
                self.failed_events,
            )
            return Trouble("plan_events", said.format(count=f"{self.failed_events:,}"))
        return None


@dataclass
class FailingChannels:
    """The channels on which no send has gone through since one failed, each with its last
    error. Kept across ticks: a failed send waits out a back-off, and the ticks in between
    try nothing on its channel, which says nothing of whether the channel works again."""

    errors: dict[str, str] = field(default_factory=dict)

    def after(self, report: TickReport) -> dict[str, str]:
        """Taken in the sends of the tick `report`: the channels failing now."""
        for channel in report.sent_on:
            self.errors.pop(channel, None)
        self.errors.update(report.failing_channels())
        return dict(sorted(self.errors.items()))


class Trouble(NamedTuple):
    """A tick that ran through but needs a person: the stage, and what to tell them."""

    stage: str
    reason: str


@dataclass(frozen=True)
class DispatchSettings:
    """How dispatch passes claim and retry (guanxi.yaml `daemon:`)."""

    limit: int = 500
    lease: dt.timedelta = dt.timedelta(minutes=5)
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    max_passes: int = 100
    worker: str | None = None  # who the ledger names as the dispatcher (host:pid)


def tick(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    now: dt.datetime,
    rng: random.Random,
    *,
    settings: DispatchSettings = DispatchSettings(),
    plan_events: bool = True,
    recurring: bool = True,
    stop: Callable[[], bool] = lambda: False,
    report: TickReport | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    instant: Callable[[], dt.datetime] | None = None,
    new_rules: Callable[[], bool] = lambda: False,
    mark_sends: bool = False,
) -> TickReport:
    """Plan (with `plan_events`) new events and (with `recurring`) the recurring steps' coming
    window, then deliver what is due; between dispatch passes, `stop()` ends the tick early.
    `clock`: the time of each dispatch pass (a real or shifted clock); without it every pass
    is at `now` (a virtual clock that stands still while a tick runs). `instant`: the time
    right before each send, `clock` unless given (the daemon's `clock` notes a lease each
    call). `new_rules`: asked right before each send, whether other rules wait (see the
    module). `mark_sends` (the live daemon's ticks): count the passes that claimed something
    beside the store, and first hold what may have gone out already when the store was
    restored from a backup (dispatch/restored.py).

    `report`, when given, is filled in as the tick goes: after a tick that raised, it tells
    what was done and which stage raised. When planning raises, what is due is delivered all
    the same, then the planning error is raised."""
    report = TickReport() if report is None else report
    report.stage = "prepare"
    store.prepare(ruleset.schema)
    failed = _plan(store, ruleset, now, plan_events, recurring, report)
    failed_stage, report.stage = report.stage, "dispatch"
    passes = clock if clock is not None else lambda: now
    timing = _Clocks(passes, instant or passes, new_rules, mark_sends)
    _dispatch(store, ruleset, adapters, timing, rng, settings, stop, report)
    if failed is not None:
        report.stage = failed_stage
        raise failed
    return report


def _plan(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    plan_events: bool,
    recurring: bool,
    report: TickReport,
) -> Exception | None:
    """Plan what `plan_events` and `recurring` ask for; what a stage raises is returned (the
    stage in `report.stage`), to be raised once what is due has been delivered."""
    try:
        if plan_events:
            report.stage = "plan_events"
            planned = plan_new_events(store, ruleset, now)
            report.planned_events, report.failed_events = planned.planned, planned.failed
            report.too_old_events = planned.too_old
        if recurring:
            report.stage = "plan_recurring"
            report.planned_recurring = plan_ahead(store, ruleset, now)
    except Exception as error:
        return error
    return None


class _Clocks(NamedTuple):
    passes: Callable[[], dt.datetime]  # the time of a dispatch pass
    sends: Callable[[], dt.datetime]  # the time right before a send
    new_rules: Callable[[], bool]  # asked right before a send: do other rules wait?
    mark_sends: bool  # count the passes beside the store, to tell a restore from a backup


def _dispatch(
    store: Store,
    ruleset: RuleSet,
    adapters: Mapping[str, Adapter],
    clocks: _Clocks,
    rng: random.Random,
    settings: DispatchSettings,
    stop: Callable[[], bool],
    report: TickReport,
) -> None:
    """Dispatch passes, each at `clocks.passes()`, until one claims nothing, `stop()` says so
    or `max_passes` ran."""
    if clocks.mark_sends:
        zone = ruleset.settings.timezone
        report.held_restored = hold_if_restored(store, clocks.passes(), zone)
    for _ in range(settings.max_passes):
        if stop():
            break
        now = clocks.passes()
        done = dispatch_once(
            store,
            ruleset,
            adapters,
            now,
            limit=settings.limit,
            lease=settings.lease,
            max_attempts=settings.max_attempts,
            backoff=settings.backoff,
            rng=rng,
            worker=settings.worker,
            clock=clocks.sends,
            new_rules=clocks.new_rules,
        )
        report.add(done)
        if done.claimed == 0:
            break
        if clocks.mark_sends:
            note_sends(store, now)


def plan_ahead(
    store: Store, ruleset: RuleSet, now: dt.datetime, only: Collection[str] | None = None
) -> int:
    """Plan the recurring steps (those in `only`, when given) from where they are planned
    until to now + HORIZON; how many follow-ups are new. Nothing is planned twice."""
    steps = [s.id for s in ruleset.steps if s.schedule is not None]
    steps = [s for s in steps if only is None or s in only]
    if not steps:
        return 0
    start = min(planned_until(store, step) or now for step in steps)
    end = now + HORIZON
    if start >= end:
        return 0
    return plan_recurring(store, ruleset, start, end, now, only=steps).new
