"""`guanxi run`: the daemon. APScheduler (BlockingScheduler, the project's time zone) runs

    dispatch        every `tick_every`: plan new events, deliver what is due
    plan:<step>     on each `every:` step's own schedule: plan its coming month
    classify        on `classify_every` / `classify_at`: re-sort every customer, plan the
                    `on_enter` / `on_leave` steps of those who moved (none with
                    `classify_every: never`, when a batch engine classifies)
    reload          every `reload_every`: pick up edits to the rule project
    retention       each night at `retention.at`, when guanxi.yaml gives a window: remove the
                    records past it, one batch per kind per run; while some are left it runs
                    again a second later, so that dispatch ticks go on in between
    shadow:…        with `shadow: DIR`, the candidate's classification and `every:` steps on its
                    own schedules; its ticks follow the dispatch job's (see shadow.py)

Jobs run one at a time in the scheduler's own thread (APScheduler's DebugExecutor), so the
store's connection never crosses threads and classification never races a dispatch.

Several daemons may share a PostgreSQL store: each dispatches (claims never overlap), and
only the leader (leader.py) plans and classifies. A daemon that takes the lead, at its start
or when the leader died, first catches up: the recurring steps' coming month, and the
classification if a scheduled one was missed since the last run.

SIGTERM/SIGINT stop claiming; the batch in flight is finished, claims still held by this
process are released, adapters and the store are closed, and `run()` returns.

Hot reload: a valid edit is swapped in whole (new rule-set hash, adapters and schedules); an
invalid one is logged with its diagnostics and the last good rule set stays. Whether other
rules wait (`rules_wait`) is asked before each dispatch pass and right before each send: a
stat of the rule files, or one indexed query for the live release. Rules that changed are
validated and started there, once per change, so only rules that will be swapped in stop
anything. Then the batch in flight sends nothing more: what it sent is recorded, its other
claims are given back (pending, no attempt counted; the log says how many), the tick claims
no further batch and reloads, and the next tick claims them again under the new rules. A
lowered cap, widened quiet hours or a withdrawn step thus hold from the send after they are
seen, not from the end of a batch of hundreds on a slow channel.

With `rules: {mode: releases}` (a `cache` folder given) the daemon runs the live release of
the store instead (engine/releases): edits to the folder are not used, only said once in the
log; a newly approved release (or a rollback) is swapped in the same way at the next check.

Rules that should run but cannot (an edit with errors, a live release that does not load or
whose adapters cannot start, no release live) leave the daemon on the rules it runs, and
failing (job `reload`) in `guanxi health` and /healthz until rules are taken again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from guanxi.engine.classify.chosen import classify_chosen
from guanxi.engine.classify.shifts import shift_warnings
from guanxi.engine.clock import Clock
from guanxi.engine.daemon import heartbeat
from guanxi.engine.daemon.delivery import Adapters, build_adapters
from guanxi.engine.daemon.health import HealthServer, Metrics, described
from guanxi.engine.daemon.leader import leadership
from guanxi.engine.daemon.shadow import Shadow, shadow_rules
from guanxi.engine.daemon.tick import (
    DispatchSettings,
    FailingChannels,
    TickReport,
    plan_ahead,
    tick,
)
from guanxi.engine.diagnostics import Diagnostic, summary
from guanxi.engine.dispatch.claim import CLAIMABLE
from guanxi.engine.dispatch.dispatch import Backoff
from guanxi.engine.errors import ReleaseError
from guanxi.engine.i18n import _, ngettext
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.privacy import retention
from guanxi.engine.privacy.files import adapter_files
from guanxi.engine.releases.ledger import Release, live, live_id
from guanxi.engine.releases.live import released_ruleset, unreleased
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store.base import Store
from guanxi.engine.timing import parse_interval, parse_time_of_day

log = logging.getLogger("guanxi.daemon")
STATE_EVERY = 60.0  # seconds between the store queries behind the due/suppressed gauges
RELOAD = "reload"  # the failing job while the rules that should run cannot be used


@dataclass
class Running:
    """One rule set in use: its adapters and how it dispatches."""

    ruleset: RuleSet
    adapters: Adapters
    dispatch: DispatchSettings
    tick_every: dt.timedelta
    reload_every: dt.timedelta


@dataclass
class Ready:
    """Rules validated and started, waiting to be swapped in once the batch in flight has
    stopped; in releases mode, with the release they come from."""

    running: Running
    release: Release | None = None


@dataclass
class Leases:
    """The lease ends this process has claimed under, so that it can give back its own
    claims (and only those) when it stops."""

    ends: list[str] = field(default_factory=list)

    def add(self, end: str) -> None:
        self.ends = [*self.ends[-99:], end]


def dispatch_settings(ruleset: RuleSet, worker: str | None = None) -> DispatchSettings:
    daemon = ruleset.settings.daemon
    backoff = Backoff(parse_interval(daemon.retry_after), parse_interval(daemon.retry_cap))
    return DispatchSettings(
        limit=daemon.batch,
        lease=parse_interval(daemon.lease),
        max_attempts=daemon.max_attempts,
        backoff=backoff,
        worker=worker,
    )


def worker_name() -> str:
    """This process as the deliveries ledger names its dispatcher: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Daemon:
    """Runs the rule project at `rules` against `store` until stopped.

    `folder` is where adapters write their files by default (next to the store); `overrides`
    replaces adapter options (`{"outbox": {"path": …}}`); `port` overrides `daemon.port`.
    `release`: the live release `ruleset` comes from, in releases mode, whose files are
    written to the folder `cache`."""

    def __init__(
        self,
        rules: Path,
        ruleset: RuleSet,
        store: Store,
        clock: Clock,
        *,
        folder: Path,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        port: int | None = None,
        rng: random.Random | None = None,
        release: Release | None = None,
        cache: Path | None = None,
    ) -> None:
        self.rules, self.store, self.clock = rules, store, clock
        self.folder, self.overrides = folder, dict(overrides or {})
        self.rng = rng or random.Random()
        self.stopping = threading.Event()
        self.leases = Leases()
        self.worker = worker_name()
        self.started_at = clock.now()
        self.leadership = leadership(store)
        self.running = self._start_rules(ruleset)
        self.metrics = Metrics(self.running.tick_every.total_seconds())
        self.metrics.reloaded("started", ruleset.hash)
        self.shadow = self._start_shadow(ruleset)
        self.port = ruleset.settings.daemon.port if port is None else port
        self.scheduler = BlockingScheduler(
            timezone=ruleset.calendar.zone,
            executors={"default": DebugExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.release, self.cache = release, cache
        self._refused: int | None = None  # a release that would not load: logged once
        self._ready: Ready | None = None  # rules to swap in once the tick has stopped
        # in releases mode the first check compares the folder with the release
        self._fingerprint: Fingerprint = () if cache else fingerprint(rules)
        self._state_at = 0.0
        self._stopper: threading.Thread | None = None
        self._beaten = False  # the first beat forgets the daemons that failed to start here
        self.failing_channels = FailingChannels()

    # --- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or `stop()`); returns after a clean shutdown."""
        health = HealthServer(self.metrics, self.port).start() if self.port is not None else None
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info(
                "guanxi daemon started",
                extra={
                    "ruleset": self.running.ruleset.hash,
                    "release": self.release.id if self.release else None,
                    "port": health.port if health else None,
                    "tick_every": self.running.tick_every.total_seconds(),
                },
            )
            self._guarded(self.lead)()
            self._schedule()
            if not self.stopping.is_set():
                self.scheduler.start()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            self._shutdown(health)

    def stop(self) -> None:
        """Stop claiming; the scheduler ends once the job in flight returns.

        The scheduler is shut down from another thread: it waits there for the job store's
        lock, which the scheduler's own thread holds while a job runs, so the job in flight
        is never pulled from under it (a signal arrives in the middle of one)."""
        self.stopping.set()
        if self.scheduler.running and self._stopper is None:
            self._stopper = threading.Thread(target=self.scheduler.shutdown, args=(False,))
            self._stopper.start()

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(number).name})
        self.stop()

    def _shutdown(self, health: HealthServer | None) -> None:
        if self._stopper is not None:
            self._stopper.join()
        released = self.release_claims()
        with contextlib.suppress(Exception):  # a store that is gone: the row goes stalled
            heartbeat.record_stop(self.store, self.worker, self.clock.now())
        self.leadership.release()
        self._drop_ready()
        self.running.adapters.close()
        if self.shadow is not None:
            self.shadow.close()
        if health is not None:
            health.stop()
        log.info("guanxi daemon stopped", extra={"released": released})

    def release_claims(self) -> int:
        """Give back the follow-ups this process still holds; how many."""
        if not self.leases.ends:
            return 0
        marks = ", ".join(f":l{i}" for i in range(len(self.leases.ends)))
        with self.store.transaction():
            rows = self.store.execute(
                "UPDATE followups SET status = 'pending', lease_until = NULL"
                f" WHERE status = 'claimed' AND lease_until IN ({marks}) RETURNING id",
                {f"l{i}": end for i, end in enumerate(self.leases.ends)},
            )
        return len(rows)

    # --- the jobs -----------------------------------------------------------------------

    def dispatch_tick(self) -> TickReport:
        """Plan new events, then deliver what is due, pass after pass, until nothing is due
        or the daemon stops. A tick that raises turns the health check to failing."""
        self.metrics.tick_started()
        report = TickReport()
        try:
            self._tick(report)
        except Exception as error:
            self.metrics.tick_failed(report.stage, error, report)
            self._log_tick(report)
            self._beat()
            raise
        trouble = report.trouble(self.failing_channels.after(report))
        if trouble is None:
            self.metrics.tick_done(report)
        else:
            self.metrics.tick_failed(trouble.stage, trouble.reason, report)
            log.warning("tick needs a person", extra=trouble._asdict())
        self._log_tick(report)
        self._beat()
        return report

    def _beat(self) -> None:
        """Write this daemon's state for `guanxi health`; a store that cannot take it (the
        very fault that failed the tick, often) is logged, never raised."""
        failure, jobs = self.metrics.failures()
        every = self.running.tick_every.total_seconds()
        beat = heartbeat.Beat(self.worker, self.started_at, self.clock.now(), every, failure, jobs)
        try:
            heartbeat.record(self.store, beat)
            if not self._beaten:
                heartbeat.forget_failed_starts(self.store, self.worker)
                self._beaten = True
        except Exception:
            log.warning("could not record the daemon's health in the store", exc_info=True)

    def _tick(self, report: TickReport) -> None:
        report.stage = "leadership"
        leader = self.lead()
        now = self.clock.now()
        running = self.running
        tick(
            self.store,
            running.ruleset,
            running.adapters,
            now,
            self.rng,
            settings=running.dispatch,
            plan_events=leader,
            recurring=False,
            stop=self._stop_claiming,
            report=report,
            clock=self._pass_time,
            instant=self.clock.now,
            new_rules=self.rules_wait,
        )
        if self.rules_wait():  # the tick stopped: the next one runs the new rules
            log.info(
                "new rules wait: the tick stopped sending and gave back its unsent claims",
                extra={"passes": report.passes, "given_back": report.given_back},
            )
            self._guarded(self.reload_if_changed)()
        if leader:
            self._in_shadow("tick", lambda shadow: shadow.tick(now))
        report.stage = "store_state"
        self._update_state(now)

    def _stop_claiming(self) -> bool:
        """Asked before each dispatch pass: stop when the daemon stops, or when other rules
        wait to be taken (a lowered cap, moved quiet hours, a withdrawn step must not wait
        for the next tick while this one claims batch after batch under the old rules)."""
        return self.stopping.is_set() or self.rules_wait()

    def _pass_time(self) -> dt.datetime:
        """The time of one dispatch pass; the lease it claims under is noted, so that
        `release_claims` can give its claims back."""
        at = self.clock.now()
        self.leases.add(iso(at + self.running.dispatch.lease))
        return at

    def plan_step(self, step_id: str) -> int:
        """An `every:` step's schedule fired: plan its coming month (the leader does)."""
        if not self.lead():
            return 0
        planned = plan_ahead(self.store, self.running.ruleset, self.clock.now(), only=[step_id])
        self.metrics.planned("recurring", planned)
        log.info("planned recurring step", extra={"step": step_id, "planned": planned})
        return planned

    def classify_now(self) -> None:
        """Re-sort every customer; plan the follow-ups their moves trigger (the leader does)."""
        if self.lead():
            self._classify()

    def retention_now(self) -> bool:
        """Remove one batch per kind past its retention window (the leader does); True when
        some are left, and then the job is run again in a second."""
        settings = self.running.ruleset.settings.retention
        if not settings.windows() or not self.lead():
            return False
        archive = self.folder / settings.archive_folder if settings.archive == "parquet" else None
        outbox = adapter_files(self.running.ruleset, self.folder) + self.running.adapters.files()
        reports, left = retention.apply(
            self.store, settings, self.clock.now(), archive, 1, files=list(dict.fromkeys(outbox))
        )
        removed = {r.kind: r.removed for r in reports if r.removed}
        if removed:
            log.info("retention", extra={"removed": removed, "more": left})
        if left and self.scheduler.running:
            self.scheduler.add_job(
                self._guarded(self.retention_now),
                "date",
                run_date=dt.datetime.now(self.running.ruleset.calendar.zone)
                + dt.timedelta(seconds=1),
                id="retention-more",
                replace_existing=True,
            )
        return left

    def shadow_classify(self) -> None:
        """The shadow's classification schedule fired: it re-sorts every customer (the leader)."""
        if self.lead():
            self._in_shadow("classify", lambda shadow: shadow.classify(self.clock.now()))

    def shadow_plan_step(self, step_id: str) -> None:
        """One of the shadow's `every:` steps fired: it plans the step's coming month."""
        if self.lead():
            self._in_shadow(f"plan:{step_id}", lambda s: s.plan_step(step_id, self.clock.now()))

    def lead(self) -> bool:
        """Whether this daemon leads now; on taking the lead, catch up first."""
        leader = self.leadership.held()
        if leader != self.metrics.leader:
            self.metrics.leader = leader
            log.info("took the lead" if leader else "lost the lead", extra={"worker": self.worker})
            if leader:
                self._catch_up()
        return leader

    def _classify(self) -> None:
        now, ruleset = self.clock.now(), self.running.ruleset
        planner = TransitionPlanner(self.store, ruleset, now)  # commits with the run
        report, reason = classify_chosen(self.store, ruleset, now, after=planner)
        if reason is not None:
            log.warning("classified inside the store", extra={"reason": str(reason)})
        for warning in shift_warnings(report, ruleset, {}):
            log.warning(
                "classification moved customers",
                extra={"diagnostic": warning.headline(), "hint": warning.hint},
            )
        moves = planner.planned
        self.metrics.planned("transitions", moves.new)
        log.info(
            "classified",
            extra={
                "customers": report.customers,
                "changed": report.changed,
                "planned": moves.new,
                # the store's first classification, or established customers' first
                "held_back_on_baseline": moves.not_planned,
                "cancelled": moves.cancelled,  # follow-ups whose move this run undid
            },
        )

    def rules_changed(self) -> bool:
        """Whether the rules to take may differ from those last looked at: the rule project's
        files changed since, or (releases mode) the live release is neither the one in use
        (or ready to be) nor one refused. Cheap: the files' sizes and times, or one query."""
        if self.cache is None:
            return fingerprint(self.rules) != self._fingerprint
        release = live_id(self.store)
        if release is None:  # none live: what was ready is not to be taken
            return self._ready is not None
        looked_at = self._ready.release if self._ready else self.release
        return release not in (looked_at.id if looked_at else None, self._refused)

    def rules_wait(self) -> bool:
        """Whether other rules are ready to be swapped in. Asked before each dispatch pass and
        each send: rules that changed are validated and started here, once per change, so
        that a batch stops only for rules that will be taken; those that cannot be are said
        (log, health) and the rules in use go on."""
        if self.rules_changed():
            self._look()
        return self._ready is not None

    def reload_if_changed(self) -> bool:
        """Swap in the rule project (or in releases mode the live release) if it changed and
        is valid; True if swapped."""
        if self._ready is None or self.rules_changed():
            self._look()
        ready, self._ready = self._ready, None
        return ready is not None and self._take(ready)

    def _look(self) -> None:
        """Look afresh at the rules to take: ready them when they differ from those in use."""
        self._drop_ready()
        if self.cache is not None:
            self._ready = self._release_ready(self.cache)
        else:
            self._ready = self._folder_ready()

    def _drop_ready(self) -> None:
        if self._ready is not None:
            self._ready.running.adapters.close()
            self._ready = None

    def _folder_ready(self) -> Ready | None:
        """The edited rule project, started; None when unchanged, invalid (logged) or the same
        rules as those in use."""
        current = fingerprint(self.rules)
        if current == self._fingerprint:
            return None
        self._fingerprint = current
        result = validate_project(self.rules)
        if result.ruleset is None:
            self._reject(result.diagnostics, result.lines)
            return None
        if result.ruleset.hash == self.running.ruleset.hash:
            self.metrics.job_done(RELOAD)  # the broken edit was undone
            return None
        running = self._start(result.ruleset)
        return None if running is None else Ready(running)

    def _release_ready(self, cache: Path) -> Ready | None:
        """The live release, started; None when it is the one in use, is refused, or has the
        rules in use (then it is taken at once: nothing to swap)."""
        self._note_unreleased_edits()
        release = live(self.store)
        if release is None:
            if self.release is not None:
                self._rules_refused(_("no release is live in the store"))
            return None
        if release.id == (self.release.id if self.release else None):
            self.metrics.job_done(RELOAD)  # still live, or live again
            return None
        ruleset = self._released(release, cache) if release.id != self._refused else None
        if ruleset is None:
            return None
        if ruleset.hash == self.running.ruleset.hash:
            self._adopt(release)
            return None
        running = self._start(ruleset)
        if running is None:
            self._refused = release.id
            return None
        return Ready(running, release)

    def _released(self, release: Release, cache: Path) -> RuleSet | None:
        """The rules of `release`; None (refused: logged once, failing in health) when they
        do not load."""
        try:
            return released_ruleset(self.store, release, cache)
        except ReleaseError as error:
            self._refused = release.id
            log.error("release not used", extra={"release": release.id, "error": str(error)})
            self.metrics.reloaded("rejected")
            problem = _("release {id} is live but cannot be used: {error}")
            self._rules_refused(problem.format(id=release.id, error=error))
            return None

    def _adopt(self, release: Release) -> None:
        self.release = release
        self.metrics.job_done(RELOAD)
        log.info("release is live", extra={"release": release.id, "ruleset": release.hash})

    def _rules_refused(self, problem: str) -> None:
        """The rules that should run cannot be used: failing (job `reload`), with the rules
        that still run, until a reload takes rules."""
        if self.release is not None:
            running = _("the daemon still runs release {id}").format(id=self.release.id)
        else:
            running = _("the daemon still runs the last good rules")
        self.metrics.job_failed(RELOAD, _("{problem}; {running}").format(
            problem=problem, running=running
        ))  # fmt: skip

    def _note_unreleased_edits(self) -> None:
        """Say once, each time the folder changes, that its edits are not released."""
        current = fingerprint(self.rules)
        if current == self._fingerprint or self.release is None:
            return
        self._fingerprint = current
        if unreleased(self.rules, self.store, self.release):
            log.warning(
                "the rule project has changes that are not released; they are not used until"
                " another person approves a release of them",
                extra={"folder": str(self.rules), "release": self.release.id},
            )

    # --- helpers ------------------------------------------------------------------------

    def _start_rules(self, ruleset: RuleSet) -> Running:
        self.store.prepare(ruleset.schema)
        adapters = build_adapters(ruleset, self.store, self.folder, self.overrides, self.clock)
        daemon = ruleset.settings.daemon
        return Running(
            ruleset,
            adapters,
            dispatch_settings(ruleset, self.worker),
            parse_interval(daemon.tick_every),
            parse_interval(daemon.reload_every),
        )

    def _start_shadow(self, ruleset: RuleSet) -> Shadow | None:
        """The shadow run `shadow:` names, or None (none named, or it cannot start: logged)."""
        rules = shadow_rules(self.rules, ruleset)
        if rules is None:
            return None
        try:
            shadow = Shadow.start(
                rules, self.store, ruleset.schema, self.clock.now(), dispatch_settings
            )
        except Exception as error:
            self._shadow_failed("start", error)
            return None
        self.metrics.shadow = {"status": "ok", "ruleset": shadow.ruleset.hash}
        log.info("shadow run started", extra={"rules": str(rules), "ruleset": shadow.ruleset.hash})
        return shadow

    def _in_shadow(self, job: str, work: Callable[[Shadow], object]) -> None:
        """Run one of the shadow's jobs; what it raises is logged, never raised."""
        if self.shadow is None:
            return
        try:
            work(self.shadow)
        except Exception as error:
            self._shadow_failed(job, error)
            return
        self.metrics.shadow = {"status": "ok", "ruleset": self.shadow.ruleset.hash}

    def _shadow_failed(self, job: str, error: Exception) -> None:
        self.metrics.shadow = {
            "status": "failing",
            "job": job,
            "error": f"{type(error).__name__}: {error}",
        }
        log.exception("shadow run failed; the live rules go on", extra={"job": job})

    def _start(self, ruleset: RuleSet) -> Running | None:
        """`ruleset` started beside the rules in use; None (logged, failing in health) when
        it cannot start (a new adapter that cannot), and the old rules stay."""
        try:
            return self._start_rules(ruleset)
        except Exception as error:
            log.error("new rules not used", extra={"ruleset": ruleset.hash, "error": str(error)})
            self.metrics.reloaded("rejected")
            problem = _("the new rules cannot start: {error}").format(error=described(error))
            self._rules_refused(problem)
            return None

    def _take(self, ready: Ready) -> bool:
        """Put the rules `ready` in place of those in use; True."""
        old, self.running = self.running, ready.running
        old.adapters.close()
        self.metrics.reloaded("ok", self.running.ruleset.hash)
        self.metrics.job_done(RELOAD)
        if self.scheduler.running:
            self._schedule()
        log.info(
            "rules reloaded",
            extra={"ruleset": self.running.ruleset.hash, "previous": old.ruleset.hash},
        )
        if ready.release is not None:
            self._adopt(ready.release)
        return True

    def _reject(self, diagnostics: list[Diagnostic], lines: dict[str, list[str]]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        shown = summary(errors, lines)  # bounded: a hostile project cannot flood the log
        self.metrics.reloaded("rejected")
        problem = ngettext(
            "the rule project has {count} error (guanxi validate {folder})",
            "the rule project has {count} errors (guanxi validate {folder})",
            len(errors),
        )
        self._rules_refused(problem.format(count=len(errors), folder=self.rules))
        log.error(
            "rule project has errors; still using the last good rules",
            extra={
                "ruleset": self.running.ruleset.hash,
                "errors": len(errors),
                "diagnostics": shown,
            },
        )

    def _catch_up(self) -> None:
        """Do what was missed while no daemon led: every recurring step's coming month, and a
        scheduled classification that did not run."""
        now = self.clock.now()
        planned = plan_ahead(self.store, self.running.ruleset, now)
        self.metrics.planned("recurring", planned)
        if planned:
            log.info("planned recurring steps", extra={"planned": planned})
        if classification_missed(self.store, self.running.ruleset, now):
            log.info("catching up a missed classification")
            self._classify()
        self._in_shadow("catch up", lambda shadow: shadow.catch_up(now, classification_missed))

    def _schedule(self) -> None:
        """(Re)create every job from the rule set in use."""
        running = self.running
        zone = running.ruleset.calendar.zone
        self.scheduler.remove_all_jobs()
        self.scheduler.add_job(
            self._guarded(self.dispatch_tick),
            IntervalTrigger(seconds=running.tick_every.total_seconds(), timezone=zone),
            id="dispatch",
            next_run_time=dt.datetime.now(zone),
        )
        self.scheduler.add_job(
            self._guarded(self.reload_if_changed),
            IntervalTrigger(seconds=running.reload_every.total_seconds(), timezone=zone),
            id="reload",
        )
        schedule = running.ruleset.settings.classify_schedule()
        if schedule is not None:
            self.scheduler.add_job(
                self._guarded(self.classify_now), schedule.trigger(zone), id="classify"
            )
        retention_settings = running.ruleset.settings.retention
        if retention_settings.windows():
            at = parse_time_of_day(retention_settings.at)
            self.scheduler.add_job(
                self._guarded(self.retention_now),
                CronTrigger(hour=at.hour, minute=at.minute, timezone=zone),
                id="retention",
            )
        for step in running.ruleset.steps:
            if step.schedule is not None:
                self.scheduler.add_job(
                    self._guarded(self.plan_step),
                    step.schedule.trigger(zone),
                    args=[step.id],
                    id=f"plan:{step.id}",
                )
        if self.shadow is not None:
            self._schedule_shadow(self.shadow.ruleset, zone)

    def _schedule_shadow(self, ruleset: RuleSet, zone: dt.tzinfo) -> None:
        """The shadow's classification and recurring steps, on its own schedules."""
        schedule = ruleset.settings.classify_schedule()
        if schedule is not None:
            self.scheduler.add_job(
                self._guarded(self.shadow_classify), schedule.trigger(zone), id="shadow:classify"
            )
        for step in ruleset.steps:
            if step.schedule is not None:
                self.scheduler.add_job(
                    self._guarded(self.shadow_plan_step),
                    step.schedule.trigger(zone),
                    args=[step.id],
                    id=f"shadow:plan:{step.id}",
                )

    def _guarded(self, job: Any) -> Any:
        """A job that logs its failure instead of ending the daemon; skipped once stopping."""

        def guarded(*args: Any) -> None:
            if self.stopping.is_set():
                return
            name = ":".join([job.__name__, *map(str, args)])  # plan_step:proactive_news
            tracked = job.__name__ != "dispatch_tick"  # a tick's failure is kept on its own
            try:
                job(*args)
            except Exception as error:
                log.exception("job failed", extra={"job": job.__name__})
                if tracked:
                    self.metrics.job_failed(name, error)
            else:
                if tracked:
                    self.metrics.job_done(name)

        guarded.__name__ = job.__name__
        return guarded

    def _log_tick(self, report: TickReport) -> None:
        if report.claimed or report.planned_events or report.failed_events:
            counts = {k: v for k, v in report.to_dict().items() if v and k != "passes"}
            log.info("tick", extra=counts)

    def _update_state(self, now: dt.datetime) -> None:
        """Refresh the due and suppressed gauges, at most once a minute."""
        if time.monotonic() - self._state_at < STATE_EVERY and self._state_at:
            return
        self._state_at = time.monotonic()
        due = self.store.execute(
            f"SELECT count(*) AS n FROM followups WHERE {CLAIMABLE}", {"now": iso(now)}
        )
        suppressed = self.store.execute(
            "SELECT coalesce(policy, 'unknown') AS policy, count(*) AS n FROM followups"
            " WHERE status = 'suppressed' GROUP BY 1"
        )
        dead, _oldest = heartbeat.dead_letters(self.store)
        self.metrics.store_state(
            int(due[0]["n"]), {r["policy"]: int(r["n"]) for r in suppressed}, dead
        )


def classification_missed(store: Store, ruleset: RuleSet, now: dt.datetime) -> bool:
    """Whether the classification schedule fired between the store's last run and `now`
    (never when there was no run yet: the first classification is the operator's)."""
    schedule = ruleset.settings.classify_schedule()
    [row] = store.execute("SELECT max(started_at) AS last FROM classification_runs")
    if schedule is None or row["last"] is None:
        return False
    zone = ruleset.calendar.zone
    last = dt.datetime.fromisoformat(row["last"]).astimezone(zone)
    due = schedule.trigger(zone).get_next_fire_time(None, last + dt.timedelta(seconds=1))
    return due is not None and due <= now


RULE_FILES = (".yaml", ".yml", ".csv")


Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Name, size and modification time of every rule file of the project."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        hidden = any(p.startswith((".", "__")) for p in relative.parts)
        if path.suffix in RULE_FILES and path.is_file() and not hidden:
            stat = path.stat()
            found.append((str(relative), stat.st_size, stat.st_mtime_ns))
    return tuple(found)
