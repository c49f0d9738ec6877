"""What the daemon tests share: a rule project copy with fast ticks, follow-ups due now, and
the daemon as a real process."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.store.base import Store

RULES = Path(__file__).parent.parent / "rules"


def rules_copy(tmp_path: Path, delivery: str = "", tick: str = "1 second") -> Path:
    """The default rules with a fast tick and, when given, a `delivery:` section instead."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    settings = folder / "guanxi.yaml"
    text = settings.read_text("utf-8").replace("tick_every: 30 seconds", f"tick_every: {tick}")
    text = text.replace("reload_every: 5 seconds", "reload_every: 1 second")
    if delivery:
        start = text.index("delivery:")
        end = text.index("\n\n", start)
        text = text[:start] + delivery.strip() + text[end:]
    settings.write_text(text, "utf-8")
    return folder


def followup(customer: str, occurrence: str, due: dt.datetime, channel: str = "sms") -> Followup:
    return Followup(
        customer_id=customer,
        step_id="after_purchase.invite_feedback",
        level=None,
        kind="message",
        channel=channel,
        template="invite_feedback",
        priority=50,
        mandatory=False,
        purpose="service",
        owner=None,
        occurrence=occurrence,
        due_at=due,
        expires_at=None,
        ruleset_hash="planned",
        event_id=occurrence,
        payload={"product": "大额存单"},
    )


def plan_due(store: Store, count: int, due: dt.datetime, channel: str = "sms") -> list[str]:
    """`count` customers with one follow-up each, due at `due`; their keys."""
    customers = [
        {"customer_id": f"C{i:06d}", "name": f"客户{i}", "phone": f"138{i:08d}"}
        for i in range(count)
    ]
    store.upsert_customers(customers)
    planned = [followup(c["customer_id"], "E1", due, channel) for c in customers]
    insert_followups(store, planned, "test", due)
    return [r["key"] for r in store.execute("SELECT key FROM followups ORDER BY id")]


def start_daemon(
    rules: Path, db: Path, *args: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`guanxi run` as its own process; its log (JSON lines) goes to `log`."""
    command = [sys.executable, "-m", "guanxi.cli", "run", "--rules", str(rules),
               "--store", str(db), "--log-format", "json", *args]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (log or db.with_suffix(".log")).open("ab") as out:  # the child keeps its own copy
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, then the exit code (SIGKILL and fail if it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the daemon did not stop on SIGTERM") from None
