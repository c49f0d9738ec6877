"""`/healthz` and Prometheus `/metrics` for the daemon, on a local port.

The daemon's own thread updates a `Metrics` object after every tick; the HTTP thread only reads
it, so a scrape never touches the store.

    /healthz   200 {"status": "ok", …} while ticks keep coming and succeed; 503 "stalled"
               when none has started for three tick intervals (a hung send, a locked store),
               503 "failing" while the last tick raised (with the stage and the error) or a
               scheduled job's last run did (`failed_jobs`); the dead letters waiting
    /metrics   counters (claimed, sent, failed, dead-lettered, expired, planned, reloads,
               failed ticks, events that could not be planned or came too late) and gauges
               (due, dead letters, suppressed by reason, tick lag, last tick) in the text
               format

The server answers at most MAX_CONNECTIONS connections at once, on a fixed pool of threads,
and gives each TIMEOUT seconds in all; when all are taken, the oldest gives its thread up to
a new one. So a client that opens many connections, sends nothing, or drips its request a
byte at a time, cannot take the daemon's threads or keep a scraper out. A client that goes
away is a debug log line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from guanxi.adapters.deadlines import Deadlines, Watch
from guanxi.engine.daemon.tick import TickReport
from guanxi.engine.errors import GuanxiError

STALLED_AFTER = 3  # tick intervals without a tick
MAX_CONNECTIONS = 8  # served at once; more are closed at once (a scraper tries again)
TIMEOUT = 2.0  # seconds a connection may take, in all, to send its request and read the answer

log = logging.getLogger("guanxi.daemon.health")


class Metrics:
    """What the daemon has done since it started, and the store's state after the last tick."""

    def __init__(self, tick_every: float) -> None:
        self.tick_every = tick_every
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._planned: Counter[str] = Counter()
        self._reloads: Counter[str] = Counter()
        self._due = 0
        self._dead_letters = 0
        self._failed_jobs: dict[str, str] = {}  # job → its last run's error, while it fails
        self._suppressed: dict[str, int] = {}
        self._last_tick_start: float | None = None
        self._last_tick_wall: float | None = None
        self._failure: dict[str, Any] | None = None  # the last tick's, while it failed
        self.ruleset = ""
        self.leader = False  # this daemon runs the scheduled jobs (see leader.py)
        self.shadow: dict[str, Any] | None = None  # the shadow run's state (see shadow.py)

    def tick_started(self) -> None:
        with self._lock:
            self._last_tick_start = time.monotonic()

    def tick_done(self, report: TickReport) -> None:
        with self._lock:
            self._last_tick_wall = time.time()
            self._count(report)
            self._failure = None

    def tick_failed(self, stage: str, error: Exception | str, report: TickReport) -> None:
        """A tick raised in `stage` (having done `report`), or ran through with a trouble
        (`error`, a text): unhealthy until a tick succeeds."""
        with self._lock:
            self._count(report)
            self._counters.update(ticks_failed=1)
            ticks = self._failure["failed_ticks"] + 1 if self._failure else 1
            self._failure = {
                "failed_stage": stage,
                "error": described(error),
                "failed_ticks": ticks,  # in a row
            }

    def job_failed(self, job: str, error: Exception | str) -> None:
        """A scheduled job raised (or, `error` a text, could not do its work): unhealthy
        until it next runs through."""
        with self._lock:
            self._failed_jobs[job] = described(error)

    def job_done(self, job: str) -> None:
        with self._lock:
            self._failed_jobs.pop(job, None)

    def failures(self) -> tuple[dict[str, Any] | None, dict[str, str]]:
        """The last tick's failure (None when it succeeded) and the failing jobs' errors."""
        with self._lock:
            return (dict(self._failure) if self._failure else None), dict(self._failed_jobs)

    def _count(self, report: TickReport) -> None:
        self._counters.update(
            claimed=report.claimed,
            sent=report.sent,
            failed=report.retried,
            dead=report.dead,
            expired=report.expired,
            ticks=1,
            events_failed=report.failed_events,
            events_too_old=report.too_old_events,
        )
        self._planned.update(events=report.planned_events, recurring=report.planned_recurring)

    def planned(self, source: str, count: int) -> None:
        with self._lock:
            self._planned[source] += count

    def reloaded(self, result: str, ruleset: str | None = None) -> None:
        with self._lock:
            self._reloads[result] += 1
            self.ruleset = ruleset or self.ruleset

    def store_state(self, due: int, suppressed: Mapping[str, int], dead_letters: int = 0) -> None:
        with self._lock:
            self._due, self._suppressed = due, dict(suppressed)
            self._dead_letters = dead_letters

    def lag(self) -> float:
        """Seconds the next tick is overdue (0 while ticks come on time)."""
        with self._lock:
            last = self._last_tick_start or self.started
        return max(0.0, time.monotonic() - last - self.tick_every)

    def health(self) -> tuple[bool, dict[str, Any]]:
        lag = self.lag()
        stalled = lag >= STALLED_AFTER * self.tick_every
        with self._lock:
            failure, jobs = self._failure, dict(self._failed_jobs)
            status = "stalled" if stalled else "failing" if failure or jobs else "ok"
            body = {
                "status": status,
                "ruleset": self.ruleset,
                "tick_lag_seconds": round(lag, 3),
                "last_tick": self._last_tick_wall,
                "due": self._due,
                "dead_letters": self._dead_letters,
                "leader": self.leader,
                **({"failed_jobs": jobs} if jobs else {}),
                **({"shadow": self.shadow} if self.shadow else {}),
                **(failure or {}),
            }
        return status == "ok", body

    def exposition(self) -> str:
        """The metrics in Prometheus' text format."""
        lag = self.lag()
        with self._lock:
            lines = [
                *_counter("claimed", "Follow-ups claimed for delivery.", self._counters),
                *_counter("sent", "Follow-ups delivered.", self._counters),
                *_counter("failed", "Sends that failed and will be retried.", self._counters),
                *_counter("dead", "Follow-ups dead-lettered.", self._counters),
                *_counter(
                    "expired", "Follow-ups past their bound on lateness, not sent.", self._counters
                ),
                *_counter("ticks", "Dispatch ticks run.", self._counters, prefix="guanxi_"),
                *_counter(
                    "ticks_failed", "Dispatch ticks that raised.", self._counters, prefix="guanxi_"
                ),
                *_counter(
                    "events_failed",
                    "Events that could not be planned (their reason: events.plan_error).",
                    self._counters,
                    prefix="guanxi_",
                ),
                *_counter(
                    "events_too_old",
                    "Events that came after a step's window had closed (events.too_old).",
                    self._counters,
                    prefix="guanxi_",
                ),
                *_labelled(
                    "planned_total", "counter", "Follow-ups planned.", "source", self._planned
                ),
                *_labelled(
                    "reloads_total",
                    "counter",
                    "Rule-project reloads.",
                    "result",
                    self._reloads,
                    prefix="guanxi_",
                ),
                *_gauge("guanxi_followups_due", "Follow-ups due and not yet delivered.", self._due),
                *_gauge(
                    "guanxi_followups_dead_letters",
                    "Follow-ups dead-lettered and not retried.",
                    self._dead_letters,
                ),
                *_gauge(
                    "guanxi_jobs_failing",
                    "Scheduled jobs whose last run raised.",
                    len(self._failed_jobs),
                ),
                *_labelled(
                    "suppressed",
                    "gauge",
                    "Follow-ups suppressed, by policy.",
                    "reason",
                    self._suppressed,
                ),
                *_gauge("guanxi_tick_lag_seconds", "Seconds the next tick is overdue.", lag),
                *_gauge("guanxi_leader", "1 while this daemon leads.", self.leader),
                *_gauge(
                    "guanxi_last_tick_timestamp_seconds",
                    "When the last tick ended.",
                    self._last_tick_wall or 0,
                ),
                *_labelled(
                    "ruleset_info",
                    "gauge",
                    "The rule set in use.",
                    "hash",
                    {self.ruleset: 1},
                    prefix="guanxi_",
                ),
            ]
        return "\n".join(lines) + "\n"


def described(error: Exception | str) -> str:
    """An error as the health check shows it: a text as it is; guanxi's own errors by their
    message, written for people; any other with its type (`ConnectionError: refused`)."""
    if isinstance(error, str | GuanxiError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _counter(name: str, help_text: str, counts: Counter[str], prefix: str = "") -> list[str]:
    metric = f"{prefix or 'guanxi_followups_'}{name}_total"
    return [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {counts[name]}"]


def _gauge(metric: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {_sample(value)}"]


def _sample(value: float) -> str:
    """A sample at full precision (`:g` keeps six digits: a timestamp lost ±5,000 s)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labelled(
    name: str,
    kind: str,
    help_text: str,
    label: str,
    values: Mapping[str, float],
    prefix: str = "guanxi_followups_",
) -> list[str]:
    metric = prefix + name
    lines = [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
    for value_label, value in sorted(values.items()):
        lines.append(f'{metric}{{{label}="{_escape(value_label)}"}} {_sample(value)}')
    return lines


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# How often the serving thread looks for `stop()`: a stopped daemon waits this long to exit
# (the standard library's half a second, at each restart of a broken daemon, shows).
STOP_WITHIN = 0.05


class HealthServer:
    """Serves `metrics` on 127.0.0.1:`port` from a thread (port 0: any free port)."""

    def __init__(self, metrics: Metrics, port: int) -> None:
        self.metrics = metrics
        self.server = _BoundedServer(("127.0.0.1", port), _handler(metrics))
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(STOP_WITHIN,), daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _BoundedServer(HTTPServer):
    """Serves at most MAX_CONNECTIONS connections at once, on a fixed pool of threads."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.pool = ThreadPoolExecutor(MAX_CONNECTIONS, thread_name_prefix="guanxi-health")
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        # The handler's socket timeout bounds each read only: a client dripping a byte a
        # second would hold its thread for ever, and MAX_CONNECTIONS of them every thread.
        self.deadlines = Deadlines("metrics-port")  # its own thread, not a pool one
        self.serving: list[Watch] = []  # the connections' deadlines, oldest first
        self.serving_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection; when every thread is taken, the oldest connection gives its
        thread up: a scrape is answered in milliseconds, so clients that take every thread
        and come back for ever (a byte at a time) are the ones cut off, not the scraper."""
        if not self.slots.acquire(blocking=False):
            with self.serving_lock:
                oldest = self.serving[0] if self.serving else None
            if oldest is not None:
                oldest.expire()
            if not self.slots.acquire(timeout=TIMEOUT):
                self.shutdown_request(request)
                return
        self.pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        watch = self.deadlines.watch(TIMEOUT)
        with self.serving_lock:
            self.serving.append(watch)
        try:
            with watch:
                watch.follow(request)
                self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self.serving_lock:
                self.serving.remove(watch)
            self.shutdown_request(request)
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, timed out) is a debug line, not a traceback printed
        on stderr among the JSON logs; anything else is logged as an error."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("health client went away", extra={"error": f"{type(error).__name__}"})
        else:
            log.exception("health request failed")

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.deadlines.close()


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = TIMEOUT

        def do_GET(self) -> None:
            if self.path == "/healthz":
                healthy, body = metrics.health()
                self._reply(200 if healthy else 503, "application/json", json.dumps(body))
            elif self.path == "/metrics":
                self._reply(200, "text/plain; version=0.0.4", metrics.exposition())
            else:
                self._reply(404, "text/plain", "try /healthz or /metrics\n")

        def _reply(self, status: int, content_type: str, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not worth a log line."""

    return Handler
