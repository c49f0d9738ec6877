"""One simulated run: the daemon's work on a copy of the store, on a virtual clock.

    at the start   the rule set is swapped in, as the daemon swaps in an edited rule project:
                   what the store holds stays (customers' tiers and levels, the follow-ups
                   already planned); the recurring steps are planned as the daemon plans them
                   when it starts (`plan_ahead`), and one tick delivers what is already due
    each hour      the daemon's jobs whose schedules fire in it, at their time: the
                   classification (`classify_every`/`classify_at`, then the steps its moves
                   trigger), and each `every:` step (`plan_ahead` for that step); then the
                   staged events of the hour arrive, and one tick at the end of the hour
                   plans them and delivers what is due (`tick`, as the daemon's dispatch job)

So the rule set sorts customers at its first scheduled classification, as it would live.
Every channel delivers to one RecordingAdapter stamped by the virtual clock: nothing leaves
the process. It checks each message's recipient as the channel's live adapter (guanxi.yaml's
`delivery:`) would before sending: what the daemon would refuse is dead here too, and listed
with its reason (`Ran.refused`), never counted as delivered. The daemon ticks every
`tick_every`; the simulation ticks once an hour, so a follow-up is delivered within the hour
it falls due, and an hour in which no job fires, no event arrives and nothing falls due is
skipped, since the daemon's ticks would find nothing to do. The contact policy and capacity
decide each follow-up as it is planned, as live.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guanxi.adapters.base import Adapter, UnknownAdapterError, address_fields
from guanxi.adapters.recording import Recorded, RecordingAdapter, Refused
from guanxi.adapters.registry import adapter_class
from guanxi.engine.classify import classify, classify_snapshot
from guanxi.engine.classify.shifts import ladder_lines, shift_warnings
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.delivery import channels_of
from guanxi.engine.daemon.running import dispatch_settings
from guanxi.engine.daemon.tick import TickReport, plan_ahead, tick
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.recurring import occurrences
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.feed import Feed
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

HOUR = dt.timedelta(hours=1)
Progress = Callable[[int, int], None]
"""Called after each simulated hour with (hours done, hours in all)."""


@dataclass(frozen=True)
class Window:
    """The simulated period: `days` whole days from local midnight of `first`."""

    first: dt.date
    days: int
    zone: dt.tzinfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), tzinfo=self.zone)

    @property
    def end(self) -> dt.datetime:
        last = self.first + dt.timedelta(days=self.days)
        return dt.datetime.combine(last, dt.time(), tzinfo=self.zone)

    def hours(self) -> list[dt.datetime]:
        """The end of each simulated hour, in UTC (a day with a clock change has 23 or 25)."""
        start, end = self.start.astimezone(dt.UTC), self.end.astimezone(dt.UTC)
        return [start + HOUR * n for n in range(1, int((end - start) / HOUR) + 1)]

    def dates(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=n) for n in range(self.days)]


@dataclass(frozen=True)
class Job:
    """A daemon job that fires at `at`: the classification (step None) or planning a step."""

    at: dt.datetime
    step: str | None

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return self.at, self.step or ""  # the classification first when both fire at once


@dataclass
class Counts:
    """What a run did, summed over its ticks and jobs."""

    ticks: int = 0
    classifications: int = 0
    events_fed: int = 0
    planned_transitions: int = 0
    held_back_on_baseline: int = 0  # on_enter follow-ups the store's first classification held back
    held_back_established: int = 0  # and the first of customers loaded as established
    cancelled_undone: int = 0  # follow-ups cancelled because a later night undid their move
    planned_recurring: int = 0
    planned_events: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # by phase

    @contextlib.contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the seconds spent inside to `phase` (a monotonic timer: durations only)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began
            self.seconds[phase] = self.seconds.get(phase, 0.0) + spent

    def add_tick(self, report: TickReport) -> None:
        self.ticks += 1
        self.planned_events += report.planned_events
        self.planned_recurring += report.planned_recurring
        self.sent += report.sent
        self.retried += report.retried
        self.dead += report.dead
        self.expired += report.expired

    def to_dict(self) -> dict[str, Any]:
        seconds = {phase: round(s, 3) for phase, s in sorted(self.seconds.items())}
        return {**vars(self), "seconds": seconds}


@dataclass(frozen=True)
class Delivery:
    """One follow-up the recording adapter was given, on the local day of the virtual clock."""

    key: str
    customer_id: str
    step_id: str
    channel: str
    kind: str
    owner: str | None
    day: dt.date
    backlog: bool  # it was due before the start

    @classmethod
    def of(cls, record: Recorded, window: Window) -> Delivery:
        message, metadata = record.message, record.message.metadata
        due = str(metadata.get("due_at") or iso(window.start))
        return cls(
            message.key,
            message.customer_id,
            message.step_id,
            message.channel,
            message.kind,
            metadata.get("owner"),
            record.at.astimezone(window.zone).date(),
            due < iso(window.start),
        )


@dataclass(frozen=True)
class Refusal:
    """One follow-up the live adapter would refuse to send, on the local day it fell due,
    and why (the reason without its key: one line stands for one kind of refusal)."""

    customer_id: str
    channel: str
    day: dt.date
    reason: str

    @classmethod
    def of(cls, refused: Refused, window: Window) -> Refusal:
        message = refused.message
        reason = refused.reason.replace(message.key, "…")
        day = refused.at.astimezone(window.zone).date()
        return cls(message.customer_id, message.channel, day, reason)


@dataclass
class Ran:
    """A run as it happened: what was delivered, what was done, the last night, and the
    nights that emptied a group or moved most customers into one (shifts.py)."""

    deliveries: list[Delivery]
    counts: Counts
    last_night: dt.datetime | None  # when the last classification ran
    shifts: list[Night] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


@dataclass(frozen=True)
class Night:
    """A warning of one night's classification."""

    at: dt.datetime
    warning: Diagnostic


def daemon_jobs(ruleset: RuleSet, window: Window) -> list[Job]:
    """The daemon's classification and planning jobs that fire in the window."""
    zone, start, end = ruleset.calendar.zone, window.start, window.end
    schedule = ruleset.settings.classify_schedule()
    found = []
    if schedule is not None:
        found += [Job(at, None) for at in occurrences("classify", schedule, zone, start, end)]
    for step in ruleset.steps:
        if step.schedule is not None:
            fires = occurrences(step.id, step.schedule, zone, start, end)
            found += [Job(at, step.id) for at in fires]
    return found


def live_checks(ruleset: RuleSet, channels: set[str]) -> dict[str, type[Adapter]]:
    """channel → the class of the adapter that delivers it live, whose recipient check the
    simulation applies; a channel whose adapter is not installed is left out (validate and
    the daemon say so)."""
    delivery = ruleset.settings.delivery
    found: dict[str, type[Adapter]] = {}
    for channel in channels:
        with contextlib.suppress(UnknownAdapterError):
            found[channel] = adapter_class(delivery.channels.get(channel, delivery.default).adapter)
    return found


def run(
    store: Store,
    ruleset: RuleSet,
    window: Window,
    feed: Feed | None,
    snapshot: Path | None = None,
    progress: Progress | None = None,
) -> Ran:
    """Simulate `window` on `store` (a copy) under `ruleset`, with the events of `feed`; with
    `snapshot` (its customers as Parquet), classify on DuckDB; see the module docstring."""
    return _Run(store, ruleset, window, feed, snapshot).run(progress)


class _Run:
    def __init__(
        self,
        store: Store,
        ruleset: RuleSet,
        window: Window,
        feed: Feed | None,
        snapshot: Path | None,
    ) -> None:
        self.store, self.ruleset, self.window, self.feed = store, ruleset, window, feed
        self.snapshot = snapshot
        self.clock = FixedClock(window.start)
        fields = address_fields(ruleset.policies)
        channels = channels_of(store, ruleset)
        checks = live_checks(ruleset, channels)
        self.recorder = RecordingAdapter(clock=self.clock.now, address_fields=fields, checks=checks)
        self.adapters = {channel: self.recorder for channel in channels}
        self.settings = dispatch_settings(ruleset)
        self.rng = random.Random(0)  # back-off jitter; the recording adapter never fails
        self.counts = Counts()
        self.last_night: dt.datetime | None = None
        self.delivered: list[Delivery] = []
        self.refused: list[Refusal] = []
        self.shifts: list[Night] = []
        self.lines = ladder_lines(ruleset)

    def run(self, progress: Progress | None) -> Ran:
        start = self.window.start
        with self.counts.timed("plan recurring"):
            self.counts.planned_recurring += plan_ahead(self.store, self.ruleset, start)
        jobs = deque(sorted(self.jobs(), key=lambda j: j.order))
        hours = self.window.hours()
        previous: dt.datetime | None = None
        for done, moment in enumerate([start, *hours]):
            ran = False
            while jobs and jobs[0].at <= moment:
                self.do(jobs.popleft())
                ran = True
            arrived = self.arrive(previous, moment)
            if previous is None or ran or arrived or self.due(moment):
                self.tick(moment)
            previous = moment
            if progress is not None and done:
                progress(done, len(hours))
        self.recorder.close()
        return Ran(self.delivered, self.counts, self.last_night, self.shifts, self.refused)

    def jobs(self) -> list[Job]:
        return daemon_jobs(self.ruleset, self.window)

    def do(self, job: Job) -> None:
        self.clock.at = job.at
        if job.step is None:
            with self.counts.timed("classify"):
                self.classify(job.at)
            return
        with self.counts.timed("plan recurring"):
            planned = plan_ahead(self.store, self.ruleset, job.at, only=[job.step])
        self.counts.planned_recurring += planned

    def classify(self, now: dt.datetime) -> None:
        """Re-sort every customer and plan the steps their moves trigger (the daemon's job)."""
        planner = TransitionPlanner(self.store, self.ruleset, now)
        if self.snapshot is not None and isinstance(self.store, SQLiteStore):
            report = classify_snapshot(self.store, self.ruleset, now, self.snapshot, after=planner)
        else:
            report = classify(self.store, self.ruleset, now, after=planner)
        warnings = shift_warnings(report, self.ruleset, self.lines)
        self.shifts += [Night(now, warning) for warning in warnings]
        moves = planner.planned
        self.counts.classifications += 1
        self.counts.planned_transitions += moves.new
        if moves.baseline:
            self.counts.held_back_on_baseline += moves.not_planned
        else:
            self.counts.held_back_established += moves.not_planned
        self.counts.cancelled_undone += moves.cancelled
        self.last_night = now

    def arrive(self, after: dt.datetime | None, until: dt.datetime) -> int:
        """The staged events of (after, until] arrive in the copy."""
        if self.feed is None:
            return 0
        with self.counts.timed("events arrive"):
            fed = self.feed.into(self.store, after, until)
        self.counts.events_fed += fed
        return fed

    def due(self, now: dt.datetime) -> bool:
        """Whether a follow-up is due (every claim ends within its tick: no lease runs out)."""
        rows = self.store.execute(
            "SELECT 1 AS due FROM followups WHERE status = 'pending' AND due_at <= :now"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= :now) LIMIT 1",
            {"now": iso(now)},
        )
        return bool(rows)

    def tick(self, now: dt.datetime) -> None:
        self.clock.at = now
        with self.counts.timed("tick"):
            report = tick(
                self.store,
                self.ruleset,
                self.adapters,
                now,
                self.rng,
                settings=self.settings,
                recurring=False,
            )
        self.counts.add_tick(report)
        self.delivered += [Delivery.of(record, self.window) for record in self.recorder.take()]
        self.refused += [Refusal.of(r, self.window) for r in self.recorder.take_refused()]
