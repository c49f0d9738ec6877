"""What the daemon tests share: a rule project copy with fast ticks, follow-ups due now, and
the daemon as a real process."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from guanxi.adapters.base import Message, Receipt, RetryableError
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.store.base import Store

RULES = Path(__file__).parent.parent / "rules"


def rules_copy(tmp_path: Path, delivery: str = "", **daemon: str) -> Path:
    """The default rules with ticks and reloads every second, `daemon:` settings replaced
    by `daemon` (lease="3 seconds"), and, when given, a `delivery:` section instead."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    settings = folder / "guanxi.yaml"
    text = settings.read_text("utf-8")
    for name, value in {"tick_every": "1 second", "reload_every": "1 second", **daemon}.items():
        text, found = re.subn(rf"(?m)^  {name}: [^#\n]*", f"  {name}: {value} ", text)
        if not found:
            text = text.replace("\ndaemon:\n", f"\ndaemon:\n  {name}: {value}\n")
    if delivery:
        start = text.index("delivery:")
        end = text.index("\n\n", start)
        text = text[:start] + delivery.strip() + text[end:]
    settings.write_text(text, "utf-8")
    return folder


def post(store: Store, event_id: str, kind: str, customer_id: str, at: str, **payload: Any) -> None:
    """Record one event, as `guanxi events post` does, without planning it."""
    store.insert_events(
        [{"id": event_id, "type": kind, "customer_id": customer_id, "at": at, "payload": payload}]
    )


def invitation(customer: str, occurrence: str, due: dt.datetime, **fields: Any) -> Followup:
    """The default project's feedback invitation to `customer` for the event `occurrence`, due
    at `due`, as a service SMS unless `fields` say otherwise (channel, purpose, priority, …).
    Filed under `maturity_notice`, a step of every level's playbook: dispatch cancels a
    follow-up whose step the rules in force do not have, and a step of one level's playbook
    goes to that level's customers only."""
    values: dict[str, Any] = {
        "customer_id": customer,
        "step_id": "maturity_notice",
        "level": None,
        "kind": "message",
        "channel": "sms",
        "template": "invite_feedback",
        "priority": 50,
        "mandatory": False,
        "purpose": "service",
        "owner": None,
        "occurrence": occurrence,
        "due_at": due,
        "expires_at": None,
        "ruleset_hash": "planned",
        "event_id": occurrence,
        "payload": {"product": "大额存单"},
    }
    return Followup(**{**values, **fields})


MARKETING_EMAIL = {"channel": "email", "purpose": "marketing"}
CONSENTS = {"consent_sms": True, "consent_email": True, "consent_app": True}


def plan_due(store: Store, count: int, due: dt.datetime, channel: str = "sms") -> list[str]:
    """`count` customers with one follow-up each, due at `due`; their keys. They consent to
    every channel: dispatch checks consent again before it sends."""
    customers = [
        {"customer_id": f"C{i:06d}", "name": f"客户{i}", "phone": f"138{i:08d}", **CONSENTS}
        for i in range(count)
    ]
    store.upsert_customers(customers)
    planned = [invitation(c["customer_id"], "E1", due, channel=channel) for c in customers]
    insert_followups(store, planned, "test", due)
    return [r["key"] for r in store.execute("SELECT key FROM followups ORDER BY id")]


def start_daemon(
    rules: Path, store: Path | str, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`guanxi run` on `store` (a SQLite file or a PostgreSQL URL) as its own process; its log
    (JSON lines) goes to `log`, by default beside a SQLite file."""
    command = [sys.executable, "-m", "guanxi.cli", "run", "--rules", str(rules),
               "--store", str(store), "--log-format", "json", *args]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if log is None:
        assert isinstance(store, Path), "a daemon on PostgreSQL needs a log file named"
        log = store.with_suffix(".log")
    with log.open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def log_messages(log: Path) -> list[dict[str, object]]:
    """The JSON log lines a daemon wrote so far."""
    lines = log.read_text("utf-8").splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, then the exit code (SIGKILL and fail if it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the daemon did not stop on SIGTERM") from None


class QuietServer(ThreadingHTTPServer):
    """A connection the killed daemon left half-open is no news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class KeyReceiver:
    """A local HTTP receiver that acts on each idempotency key once, as a real gateway that
    de-duplicates by key would; `attempts` counts every POST per key.

    `mode` says how it answers: "ok", "500", "timeout" (answers after `delay` seconds) or
    "close" (drops the connection without an answer)."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.acted: list[str] = []
        self.bodies: dict[str, dict[str, Any]] = {}
        self.mode = "ok"
        self.delay = 1.0
        self._lock = threading.Lock()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))

    def __enter__(self) -> KeyReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    @property
    def duplicates(self) -> int:
        """Attempts beyond the first, over all keys."""
        return sum(n - 1 for n in self.attempts.values())

    def receive(self, key: str, body: dict[str, Any]) -> str:
        """Count the attempt; act on the key unless it was acted on; the mode to answer in."""
        with self._lock:
            mode = self.mode
            self.attempts[key] += 1
            if mode == "ok" and key not in self.bodies:
                self.bodies[key] = body
                self.acted.append(key)
        return mode

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the adapter's pool expects

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                mode = receiver.receive(self.headers.get("Idempotency-Key", ""), body)
                if mode == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "timeout":
                    time.sleep(receiver.delay)
                self._answer(500 if mode == "500" else 200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                with contextlib.suppress(ConnectionError):
                    self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LostAnswer(RecordingAdapter):
    """A gateway that takes each message once (by its key); its answer to the first is lost."""

    def __init__(self, now: dt.datetime) -> None:
        super().__init__(clock=lambda: now)
        self.answered = False

    def send(self, message: Message) -> Receipt:
        receipt = super().send(message)
        if not self.answered:
            self.answered = True
            raise RetryableError("the gateway's answer was lost")
        return receipt
