"""`guanxi run`: the daemon. APScheduler (BlockingScheduler, the project's time zone) runs

    dispatch        every `tick_every`: plan new events, deliver what is due
    plan:<step>     on each `every:` step's own schedule: plan its coming month
    classify        on `classify_every` / `classify_at`: re-sort every customer, plan the
                    `on_enter` / `on_leave` steps of those who moved (none with
                    `classify_every: never`, when a batch engine classifies)
    reload          every `reload_every`: pick up edits to the rule project (reload.py)
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

Hot reload, edits to the rule project or (`rules: {mode: releases}`) a newly live release,
is reload.py's; the claims given back when the daemon stops, claims.py's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
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
from guanxi.engine.daemon.claims import Leases
from guanxi.engine.daemon.health import HealthServer, Metrics
from guanxi.engine.daemon.leader import leadership
from guanxi.engine.daemon.reload import Ready, Reloader
from guanxi.engine.daemon.running import Starter, dispatch_settings, worker_name
from guanxi.engine.daemon.shadow import Shadow, shadow_rules
from guanxi.engine.daemon.tick import FailingChannels, TickReport, plan_ahead, tick
from guanxi.engine.dispatch.claim import CLAIMABLE
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.privacy import retention
from guanxi.engine.privacy.files import adapter_files
from guanxi.engine.releases.ledger import Release
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from guanxi.engine.timing import parse_time_of_day

# dispatch_settings and worker_name live in running.py; other modules import them from here
__all__ = ["Daemon", "classification_missed", "dispatch_settings", "worker_name"]

log = logging.getLogger("guanxi.daemon")
STATE_EVERY = 60.0  # seconds between the store queries behind the due/suppressed gauges


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
        start = Starter(store, clock, folder, self.overrides, self.worker)
        self.running = start(ruleset)
        self.metrics = Metrics(self.running.tick_every.total_seconds())
        self.metrics.reloaded("started", ruleset.hash)
        self.reloader = Reloader(
            rules,
            store,
            self.metrics,
            in_use=lambda: self.running.ruleset,
            start=start,
            release=release,
            cache=cache,
        )
        self.shadow = self._start_shadow(ruleset)
        self.port = ruleset.settings.daemon.port if port is None else port
        self.scheduler = BlockingScheduler(
            timezone=ruleset.calendar.zone,
            executors={"default": DebugExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
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
        self.reloader.drop_ready()
        self.running.adapters.close()
        if self.shadow is not None:
            self.shadow.close()
        if health is not None:
            health.stop()
        log.info("guanxi daemon stopped", extra={"released": released})

    def release_claims(self) -> int:
        """Give back the follow-ups this process still holds; how many."""
        return self.leases.give_back(self.store)

    # --- hot reload (reload.py) ---------------------------------------------------------

    @property
    def release(self) -> Release | None:
        """In releases mode, the release whose rules run; else None."""
        return self.reloader.release

    def rules_changed(self) -> bool:
        """Whether the rules to take may differ from those last looked at (cheap)."""
        return self.reloader.changed()

    def rules_wait(self) -> bool:
        """Whether other rules are ready to be swapped in. Asked before each dispatch pass and
        each send (see reload.py)."""
        return self.reloader.waiting()

    def reload_if_changed(self) -> bool:
        """Swap in the rule project (or in releases mode the live release) if it changed and
        is valid; True if swapped."""
        ready = self.reloader.take()
        if ready is None:
            return False
        self._take(ready)
        return True

    def _take(self, ready: Ready) -> None:
        """Put the rules `ready` in place of those in use, on their own schedules."""
        old, self.running = self.running, ready.running
        old.adapters.close()
        if self.scheduler.running:
            self._schedule()
        self.reloader.taken(ready, old.ruleset)

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
            mark_sends=True,
        )
        if report.held_restored:
            log.warning(
                "the store was restored from a backup: follow-ups that may have been sent"
                " before are held until 'guanxi followups release-restored'",
                extra={"held": report.held_restored},
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

    # --- helpers ------------------------------------------------------------------------

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
        self._shadow_ok(shadow)
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
        self._shadow_ok(self.shadow)

    def _shadow_ok(self, shadow: Shadow) -> None:
        self.metrics.shadow = {"status": "ok", "ruleset": shadow.ruleset.hash}

    def _shadow_failed(self, job: str, error: Exception) -> None:
        self.metrics.shadow = {
            "status": "failing",
            "job": job,
            "error": f"{type(error).__name__}: {error}",
        }
        log.exception("shadow run failed; the live rules go on", extra={"job": job})

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
        self._schedule_rules(running.ruleset, zone, self.classify_now, self.plan_step, "")
        retention_settings = running.ruleset.settings.retention
        if retention_settings.windows():
            at = parse_time_of_day(retention_settings.at)
            self.scheduler.add_job(
                self._guarded(self.retention_now),
                CronTrigger(hour=at.hour, minute=at.minute, timezone=zone),
                id="retention",
            )
        if self.shadow is not None:
            candidate = self.shadow.ruleset
            self._schedule_rules(
                candidate, zone, self.shadow_classify, self.shadow_plan_step, "shadow:"
            )

    def _schedule_rules(
        self,
        ruleset: RuleSet,
        zone: dt.tzinfo,
        classify: Callable[[], object],
        plan_step: Callable[[str], object],
        prefix: str,
    ) -> None:
        """The classification and recurring steps of `ruleset`, on its own schedules; job ids
        begin with `prefix`."""
        schedule = ruleset.settings.classify_schedule()
        if schedule is not None:
            self.scheduler.add_job(
                self._guarded(classify), schedule.trigger(zone), id=f"{prefix}classify"
            )
        for step in ruleset.steps:
            if step.schedule is not None:
                self.scheduler.add_job(
                    self._guarded(plan_step),
                    step.schedule.trigger(zone),
                    args=[step.id],
                    id=f"{prefix}plan:{step.id}",
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
