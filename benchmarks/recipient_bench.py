"""The recipient check and the empty-message check, per message, before and after they learnt
phone fields, lengths and empty bodies (commit e15a707 is "before").

    python benchmarks/recipient_bench.py [--messages N] [--runs N]

Each run checks N messages (phones, e-mail addresses, app ids in turn) with the check as it
was (the module read from git) and as it is, alternated in the same process; then renders N
SMS of the default project's template, with and without the empty-body check. Median of
--runs, microseconds per message, with the 1-minute load average beside each figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

from guanxi.adapters import base, recipients
from guanxi.adapters.base import Message
from guanxi.adapters.registry import load_adapter
from guanxi.engine.ruleset import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "e15a707"
FIELDS = {"sms": "phone", "email": "email", "app": "app_id"}
RECIPIENTS = (("sms", "+86 138-0013-8000"), ("email", "zhang.san@example.com.cn"),
              ("app", "a1b2c3d4e5f6a7b8c9d0"))  # fmt: skip


def old_module() -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:adapters/recipients.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("old_recipients")
    exec(compile(source, "old_recipients.py", "exec"), module.__dict__)
    return module


def messages(n: int) -> list[Message]:
    return [
        Message(f"s:C{i}:E1", f"C{i}", "s", "message", *RECIPIENTS[i % 3], None, "您好")
        for i in range(n)
    ]


def timed(work: Callable[[], None], n: int) -> float:
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    old, batch = old_module(), messages(args.messages)

    def before() -> None:
        for m in batch:
            old.one_recipient("webhook", m, True)

    def after() -> None:
        for m in batch:
            recipients.one_recipient("webhook", m, True, FIELDS[m.channel])

    ruleset = load_ruleset(ROOT / "rules")
    adapter = load_adapter("console", address_fields=FIELDS)
    row = {"key": "k", "customer_id": "C1", "step_id": "s", "kind": "message", "channel": "sms",
           "template": "invite_feedback", "due_at": "2026-12-01T09:00:00+00:00",
           "payload": '{"product": "大额存单"}'}  # fmt: skip
    customer = {"customer_id": "C1", "name": "张三", "phone": "13800138000"}
    renders = args.messages // 10
    readable = base._readable

    def render_with() -> None:
        for _ in range(renders):
            adapter.render(row, customer, ruleset.templates)

    def render_without() -> None:
        base._readable = lambda text: True
        try:
            render_with()
        finally:
            base._readable = readable

    figures: dict[str, list[tuple[float, float]]] = {}
    pairs = (("check before", before, args.messages), ("check after", after, args.messages),
             ("render, no empty check", render_without, renders),
             ("render, empty check", render_with, renders))  # fmt: skip
    for _ in range(args.runs):
        for name, work, n in pairs:
            figures.setdefault(name, []).append((timed(work, n), os.getloadavg()[0]))
    for name, runs in figures.items():
        median = statistics.median(us for us, _load in runs)
        loads = " ".join(f"{load:.2f}" for _us, load in runs)
        print(f"{name:24} {median:7.2f} µs/message   load {loads}")


if __name__ == "__main__":
    sys.exit(main())
