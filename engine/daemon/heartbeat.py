"""What each daemon last did, kept in the store, for `guanxi health`.

A daemon's `/healthz` ends with its process, and `run --once` from cron has none; so every
dispatch tick (and every `--once`) writes one row per dispatcher into `daemon_health`: when it
started, when its last tick ended, whether that tick raised (the stage and the error, personal
data masked) and which scheduled jobs are failing. `guanxi health` reads the rows from any
machine that reaches the store and judges each:

    ok          its last tick succeeded, and it came on time
    failing     its last tick raised, or ran through with a channel on which every send
                failed or with events that could not be planned; or a scheduled job
                (classify, plan:…, retention) raised; or the rules it should take could
                not be used (`reload`: a rule project with errors, a live release that does
                not load); or it could not start (stage `release` or `start`: the process
                ended; a daemon started on the same machine afterwards replaces its row)
    stalled     no tick for three intervals, or (`guanxi health --max-age`) for longer than
                the operator allows, and no clean stop: killed, hung, its machine gone, or
                the cron line of `run --once` gone (with `--every`, its rows have the interval
                cron runs it at; without, only --max-age tells)
    stopped     stopped cleanly (SIGTERM), or started again since on the same machine

A stalled row tells how long it has been silent (`silent_seconds`) and how far past the
silence allowed it is (`late_seconds`). Beside them, the dead letters waiting for someone
(`followups list --status dead`). Rows of daemons stopped (or silent) for longer than
KEEP are forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.daemon.health import STALLED_AFTER, described
from guanxi.engine.daemon.tick import Trouble
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.dispatch.restored import Restore, last_restore
from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy.personal import mask_text
from guanxi.engine.store.base import Row, Store

KEEP = dt.timedelta(days=7)
ERROR_CHARS = 1000  # an error kept is cut to this
START_STAGES = ("release", "start")  # a daemon that failed in these never ran


@dataclass(frozen=True)
class Beat:
    """One dispatcher's state after a tick: `failure` is the last tick's (failed_stage,
    error, failed_ticks in a row) or None; `failed_jobs` maps a job to its error."""

    worker: str
    started_at: dt.datetime
    at: dt.datetime
    tick_every: float | None  # seconds; None for one tick from cron
    failure: Mapping[str, Any] | None = None
    failed_jobs: Mapping[str, str] = field(default_factory=dict)


def record(store: Store, beat: Beat) -> None:
    """Write `beat` as its worker's row, and forget the rows silent for longer than KEEP."""
    failure = beat.failure or {}
    with store.transaction():
        store.execute(
            "INSERT INTO daemon_health (worker, started_at, at, tick_every, status,"
            " failed_stage, error, failed_ticks, failed_jobs) VALUES (:worker, :started, :at,"
            " :every, :status, :stage, :error, :failed, :jobs) ON CONFLICT (worker) DO UPDATE"
            " SET at = excluded.at, tick_every = excluded.tick_every, status = excluded.status,"
            " failed_stage = excluded.failed_stage, error = excluded.error,"
            " failed_ticks = excluded.failed_ticks, failed_jobs = excluded.failed_jobs,"
            " stopped_at = NULL",
            {
                "worker": beat.worker,
                "started": iso(beat.started_at),
                "at": iso(beat.at),
                "every": beat.tick_every,
                "status": "failing" if failure else "ok",
                "stage": failure.get("failed_stage"),
                "error": _kept(failure.get("error")),
                "failed": int(failure.get("failed_ticks", 0)),
                "jobs": json.dumps({k: _kept(v) for k, v in beat.failed_jobs.items()}),
            },
        )
        store.execute("DELETE FROM daemon_health WHERE at < :old", {"old": iso(beat.at - KEEP)})


def record_once(
    store: Store,
    at: dt.datetime,
    stage: str,
    error: Exception | str | None,
    every: dt.timedelta | None = None,
) -> None:
    """`run --once` ran a tick at `at` (on this machine; one row for all its runs), which
    raised `error` in `stage` (or ran through with a trouble, `error` its text) or succeeded
    (None); cron runs it `every` so often, if said."""
    failure = None if error is None else {"failed_stage": stage, "error": described(error)}
    seconds = every.total_seconds() if every else None
    record(store, Beat(once_worker(), at, at, seconds, failure))


def once_worker() -> str:
    """The name of every `run --once` on this machine: one row for all its runs."""
    return f"{socket.gethostname()}:once"


def once_dispatch_failure(store: Store) -> Trouble | None:
    """The channels failing at this machine's last `run --once`, as it left them: a run that
    tried no send (the retries wait out their back-off) has nothing to say otherwise."""
    rows = store.execute(
        "SELECT error FROM daemon_health WHERE worker = :worker AND status = 'failing'"
        " AND failed_stage = 'dispatch'",
        {"worker": once_worker()},
    )
    return Trouble("dispatch", rows[0]["error"]) if rows else None


def record_failed_start(
    store: Store, worker: str, at: dt.datetime, stage: str, error: Exception, every: float
) -> None:
    """The daemon `worker` (ticking `every` seconds) could not start at `at`: failing in
    `stage` (one of START_STAGES) until a daemon starts on the same machine."""
    failure = {"failed_stage": stage, "error": described(error)}
    record(store, Beat(worker, at, at, every, failure))


def forget_failed_starts(store: Store, worker: str) -> None:
    """The daemon `worker` runs: the rows of daemons that could not start on its machine
    before it are forgotten (those processes ended; this one stands in for them)."""
    host = worker.rpartition(":")[0]
    rows = store.execute(
        "SELECT worker FROM daemon_health WHERE status = 'failing' AND failed_stage IN"
        " (:release, :start) AND worker <> :worker",
        {"release": START_STAGES[0], "start": START_STAGES[1], "worker": worker},
    )
    gone = [r["worker"] for r in rows if _daemon_on(host, str(r["worker"]))]
    with store.transaction():
        for name in gone:
            store.execute("DELETE FROM daemon_health WHERE worker = :name", {"name": name})


def _daemon_on(host: str, worker: str) -> bool:
    """Whether `worker` names a daemon (not a `run --once`) on `host`."""
    where, _colon, process = worker.rpartition(":")
    return where == host and process != "once"


def record_stop(store: Store, worker: str, at: dt.datetime) -> None:
    """The worker stopped cleanly at `at`."""
    with store.transaction():
        store.execute(
            "UPDATE daemon_health SET stopped_at = :at WHERE worker = :worker",
            {"at": iso(at), "worker": worker},
        )


def _kept(error: str | None) -> str | None:
    return None if error is None else mask_text(str(error))[:ERROR_CHARS]


@dataclass(frozen=True)
class Health:
    """The dispatchers as `guanxi health` judges them, and the dead letters."""

    daemons: list[dict[str, Any]]
    dead_letters: int
    oldest_dead: str | None
    max_dead: int | None = None
    max_age: dt.timedelta | None = None
    rules_problem: Diagnostic | None = None  # the rule project's first error: a person fixes it
    restored: Restore | None = None  # follow-ups a restore held: a person checks them

    @property
    def running(self) -> int:
        return sum(d["status"] != "stopped" for d in self.daemons)

    @property
    def healthy(self) -> bool:
        """A dispatcher runs, none fails or stalls, the dead letters are within bounds, and
        the rule project has no error."""
        troubled = any(d["status"] in ("failing", "stalled") for d in self.daemons)
        too_many = self.max_dead is not None and self.dead_letters > self.max_dead
        broken = self.rules_problem is not None or self.restored is not None
        return bool(self.running) and not troubled and not too_many and not broken

    def to_dict(self) -> dict[str, Any]:
        found = {
            "healthy": self.healthy,
            "daemons": self.daemons,
            "dead_letters": self.dead_letters,
            "oldest_dead_letter": self.oldest_dead,
        }
        if self.max_age is not None:
            found["max_age_seconds"] = self.max_age.total_seconds()
        if self.rules_problem is not None:
            found["rules_problem"] = self.rules_problem.as_json()
        if self.restored is not None:
            found["restored"] = self.restored._asdict()
        return found


def health(
    store: Store,
    now: dt.datetime,
    max_dead: int | None = None,
    max_age: dt.timedelta | None = None,
) -> Health:
    """Each dispatcher's row judged at `now` (see the module), none allowed more than
    `max_age` of silence, and the dead letters."""
    rows = store.execute(
        "SELECT worker, started_at, at, tick_every, status, failed_stage, error, failed_ticks,"
        " failed_jobs, stopped_at FROM daemon_health ORDER BY at DESC, worker"
    )
    count, oldest = dead_letters(store)
    daemons = [_judged(row, rows, now, max_age) for row in rows]
    restore = last_restore(store)
    held = restore if restore is not None and restore.held else None
    return Health(daemons, count, oldest, max_dead, max_age, restored=held)


def dead_letters(store: Store) -> tuple[int, str | None]:
    """How many follow-ups are dead letters (failed for good), and when the oldest died."""
    [dead] = store.execute(
        "SELECT count(*) AS n, min(updated_at) AS oldest FROM followups WHERE status = 'dead'"
    )
    return int(dead["n"]), dead["oldest"]


def _judged(
    row: Row, rows: list[Row], now: dt.datetime, max_age: dt.timedelta | None
) -> dict[str, Any]:
    jobs = json.loads(row["failed_jobs"] or "{}")
    silent = now - dt.datetime.fromisoformat(row["at"])
    allowed = _allowed_silence(row, max_age)
    status = _status(row, jobs, rows, silent > allowed if allowed else False)
    judged = {**row, "failed_jobs": jobs, "status": status}
    if status == "stalled" and allowed:
        judged["silent_seconds"] = round(silent.total_seconds())
        judged["late_seconds"] = round((silent - allowed).total_seconds())
    return {k: v for k, v in judged.items() if v not in (None, {}) or k == "status"}


def _allowed_silence(row: Row, max_age: dt.timedelta | None) -> dt.timedelta | None:
    """How long the row may go without a tick: three of its intervals, at most `max_age`;
    None when neither is known (a `run --once` without `--every`, no --max-age)."""
    every = row["tick_every"]
    limits = [dt.timedelta(seconds=STALLED_AFTER * float(every))] if every is not None else []
    limits += [max_age] if max_age is not None else []
    return min(limits, default=None)


def _status(row: Row, jobs: Mapping[str, str], rows: list[Row], late: bool) -> str:
    if row["stopped_at"] is not None:
        return "stopped"
    if _failed_start(row):
        return "failing"  # it never ran: its silence is no news
    if late:
        return "stopped" if _restarted(row, rows) else "stalled"
    return "failing" if row["status"] == "failing" or jobs else "ok"


def _failed_start(row: Row) -> bool:
    """Whether the row is a daemon's that could not start (not a `run --once`'s: cron runs
    that again, and its silence tells that cron stopped)."""
    worker = str(row["worker"])
    failed = row["status"] == "failing" and row["failed_stage"] in START_STAGES
    return failed and not worker.endswith(":once")


def _restarted(row: Row, rows: list[Row]) -> bool:
    """Whether a daemon started on the same machine after this one's last tick (host:pid)."""
    host = str(row["worker"]).rpartition(":")[0]
    return any(
        str(other["worker"]).rpartition(":")[0] == host and other["started_at"] > row["at"]
        for other in rows
        if other["worker"] != row["worker"]
    )
