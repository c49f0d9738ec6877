"""Dispatch throughput, end to end as the daemon runs it: claim → render → send → record.

    python benchmarks/dispatch_bench.py [--followups N] [--runs N] [--adapters outbox,webhook,smtp]
                                        [--paths "per row (before),dispatch_once"] [--data DIR]

The store is built once per N and kept in --data (default $TMPDIR/guanxi-dispatch): N
customers with a name, email, phone and every consent, and one follow-up each, due within the
last hour (the default project's `passive_invite_feedback` email, with an event payload). Every
measured run starts from a fresh copy of it and calls the dispatch pass (batches of 500, as
the daemon's tick does) until a pass claims nothing; the time is that whole loop, wall clock
and this process's CPU. Every follow-up must end 'sent'.

  outbox    the JSON-lines outbox in the run's directory
  webhook   HTTP/1.1 POSTs with keep-alive to a minimal asyncio receiver in another process
  smtp      mail through aiosmtpd (in another process), which accepts every message

Paths, side by side in the same run:

  per row (before)  the dispatch as it was before batching (commit 545dbb4), kept here: each
                    pass sorts every due follow-up to claim 500, then reads, renders, sends
                    and commits one row at a time (the adapters are today's)
  consent only      engine/dispatch today with a rule set that has no caps and no quiet
                    hours: at send time it re-checks consent only, as it did before the send
                    time decided quiet hours and caps too
  dispatch_once     engine/dispatch today: consent, quiet hours and caps at send time
  at each send      the same, with a clock running at real speed from NOW: each message's
                    expiry, quiet hours and consent decided at the instant it is sent
                    (as the daemon runs it)

Median of --runs; follow-ups per second of wall clock and per CPU second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from guanxi.adapters.base import Adapter, address_fields
from guanxi.adapters.registry import load_adapter
from guanxi.engine.clock import ShiftedClock
from guanxi.engine.dispatch import dispatch_once, ledger
from guanxi.engine.plan.followups import COLUMNS, iso
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
BATCH = 500  # the daemon's tick claims this many a pass
STEP = "passive_invite_feedback"  # a step of the default rules: one they lack is withdrawn

Dispatch = Callable[..., Any]


# --- the store ---------------------------------------------------------------------------


def build(path: Path, ruleset: RuleSet, count: int) -> None:
    """N customers who consent to everything, one due email follow-up each."""
    store = SQLiteStore(path)
    store.prepare(ruleset.schema)
    store.close()
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany(
            "INSERT INTO customers (customer_id, name, rm_id, phone, email, preferred_channel,"
            " consent_marketing, consent_sms, consent_email, consent_app, do_not_contact)"
            " VALUES (?, ?, ?, ?, ?, 'email', 1, 1, 1, 1, 0)",
            (
                (f"C{i:08d}", f"客户{i}", f"RM{i % 200:04d}", f"138{i:08d}", f"c{i}@example.com")
                for i in range(count)
            ),
        )
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO followups ({', '.join(COLUMNS)}) VALUES ({marks})"
        connection.executemany(sql, (_followup(i) for i in range(count)))
    connection.close()


def _followup(customer: int) -> tuple[Any, ...]:
    due = iso(NOW - dt.timedelta(seconds=customer % 3600))
    values = {
        "key": f"{STEP}:C{customer:08d}:S{customer}",
        "customer_id": f"C{customer:08d}", "step_id": STEP,
        "level": "passive", "kind": "message", "channel": "email",
        "template": "invite_feedback", "priority": 50, "mandatory": 0, "purpose": "service",
        "owner": f"RM{customer % 200:04d}", "occurrence": f"S{customer}",
        "event_id": f"S{customer}", "payload": '{"product": "大额存单", "amount": 500000}',
        "planned_due_at": due, "due_at": due, "expires_at": None, "status": "pending",
        "policy": None, "reason": None, "batch": "bench", "ruleset_hash": "bench",
        "created_at": iso(NOW), "updated_at": iso(NOW),
    }  # fmt: skip
    return tuple(values[c] for c in COLUMNS)


def fresh(base: Path, work: Path) -> SQLiteStore:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, work)
    return SQLiteStore(work)


# --- the receivers, each in its own process ---------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_http(port: int) -> None:
    """A minimal HTTP/1.1 receiver: reads each POST and answers 200 with a JSON id,
    keeping the connection open."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(_content_length(head))
                served += 1
                body = b'{"id": "r%d"}' % served
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def serve_smtp(port: int) -> None:
    """aiosmtpd accepting every message."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


@contextlib.contextmanager
def receiver(serve: Callable[[int], None]) -> Iterator[int]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(port,))
    process.start()
    try:
        _wait_for(port)
        yield port
    finally:
        process.terminate()
        process.join(5)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no receiver on port {port}")


# --- running ------------------------------------------------------------------------------


def make_adapter(name: str, ruleset: RuleSet, work: Path, ports: dict[str, int]) -> Adapter:
    fields = address_fields(ruleset.policies)
    if name == "outbox":
        (work.parent / "outbox.jsonl").unlink(missing_ok=True)
        return load_adapter("outbox", path=work.parent / "outbox.jsonl", address_fields=fields)
    if name == "webhook":
        url = f"http://127.0.0.1:{ports['webhook']}/notify"
        return load_adapter("webhook", url=url, timeout=10.0, address_fields=fields)
    return load_adapter("smtp", host="127.0.0.1", port=ports["smtp"], address_fields=fields)


def drain(store: SQLiteStore, ruleset: RuleSet, adapter: Adapter, dispatch: Dispatch) -> int:
    """Dispatch passes until one claims nothing, as the daemon's tick does; how many sent."""
    sent = 0
    while True:
        report = dispatch(store, ruleset, {"email": adapter}, NOW, limit=BATCH)
        sent += report.sent
        if report.claimed == 0:
            return sent


Timing = tuple[float, float]  # wall-clock seconds, this process's CPU seconds


def one_run(
    name: str, dispatch: Dispatch, ruleset: RuleSet, base: Path, ports: dict[str, int]
) -> Timing:
    work = base.parent / "work.db"
    store = fresh(base, work)
    [row] = store.execute("SELECT count(*) AS n FROM followups")
    adapter = make_adapter(name, ruleset, work, ports)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        sent = drain(store, ruleset, adapter, dispatch)
        timing = (time.perf_counter() - started, time.process_time() - cpu)
    finally:
        adapter.close()
        store.close()
    if sent != row["n"]:
        raise RuntimeError(f"{name}: {sent} of {row['n']} follow-ups sent")
    return timing


# --- the dispatch before this one, row by row, for comparison ------------------------------
# As engine/dispatch was at commit 545dbb4: every pass counts and sorts every due follow-up to
# claim a batch, then for each row reads its customer, renders, sends and commits the outcome.

OLD_CLAIMABLE = (
    "((status = 'pending' AND due_at <= :now"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= :now))"
    " OR (status = 'claimed' AND lease_until < :now))"
)
OLD_CHANNELS = "channel IN (SELECT value FROM json_each(:channels))"


@dataclasses.dataclass
class OldReport:
    claimed: int = 0
    sent: int = 0


def per_row(
    store: SQLiteStore, ruleset: RuleSet, adapters: dict[str, Adapter], now: dt.datetime,
    *, limit: int,
) -> OldReport:  # fmt: skip
    channels = json.dumps(sorted(adapters))
    store.execute(
        f"SELECT channel, count(*) AS n FROM followups WHERE {OLD_CLAIMABLE}"
        f" AND NOT {OLD_CHANNELS} GROUP BY channel ORDER BY channel",
        {"now": iso(now), "channels": channels},
    )
    lease_until = iso(now + dt.timedelta(minutes=5))
    with store.transaction():
        rows = store.execute(
            "UPDATE followups SET status = 'claimed', lease_until = :lease_until,"
            f" updated_at = :now WHERE id IN (SELECT id FROM followups WHERE {OLD_CLAIMABLE}"
            f" AND {OLD_CHANNELS} ORDER BY priority DESC, due_at, id LIMIT :limit) RETURNING *",
            {"now": iso(now), "lease_until": lease_until, "limit": limit, "channels": channels},
        )
    report = OldReport(claimed=len(rows))
    for row in sorted(rows, key=lambda r: (-r["priority"], r["due_at"], r["id"])):
        report.sent += _per_row_deliver(store, ruleset, adapters[row["channel"]], row, now)
    return report


def _per_row_deliver(
    store: SQLiteStore, ruleset: RuleSet, adapter: Adapter, row: dict[str, Any], now: dt.datetime
) -> int:
    found = store.execute(
        "SELECT * FROM customers WHERE customer_id = :id", {"id": row["customer_id"]}
    )
    today = now.astimezone(ruleset.calendar.zone).date()
    receipt = adapter.send(adapter.render(row, found[0], ruleset.templates, today=today))
    with store.transaction():
        ledger.record(store, row, attempt=1, at=now, outcome="sent", adapter=adapter.name,
                      external_id=receipt.external_id)  # fmt: skip
        store.execute(
            "UPDATE followups SET status = 'sent', attempts = 1, lease_until = NULL,"
            " updated_at = :now WHERE id = :id AND status = 'claimed'"
            " AND lease_until = :lease_until RETURNING id",
            {"now": iso(now), "id": row["id"], "lease_until": row["lease_until"]},
        )
    return 1


def consent_only_rules(ruleset: RuleSet) -> RuleSet:
    """The rule set without caps and quiet hours: dispatch then decides consent only."""
    assert ruleset.policies is not None
    policies = ruleset.policies.model_copy(update={"caps": (), "quiet_hours": None})
    return dataclasses.replace(ruleset, policies=policies)


def consent_only(
    store: SQLiteStore, ruleset: RuleSet, adapters: dict[str, Adapter], now: dt.datetime,
    *, limit: int,
) -> Any:  # fmt: skip
    return dispatch_once(store, consent_only_rules(ruleset), adapters, now, limit=limit)


def at_each_send(
    store: SQLiteStore, ruleset: RuleSet, adapters: dict[str, Adapter], now: dt.datetime,
    *, limit: int,
) -> Any:  # fmt: skip
    return dispatch_once(store, ruleset, adapters, now, limit=limit, clock=ShiftedClock(now).now)


PATHS: dict[str, Dispatch] = {
    "per row (before)": per_row,
    "consent only": consent_only,
    "dispatch_once": dispatch_once,
    "at each send": at_each_send,
}


def measure(args: argparse.Namespace) -> dict[tuple[str, str], list[Timing]]:
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    ruleset = load_ruleset(RULES)
    base = data / f"dispatch-{STEP}-{args.followups}.db"  # a store of another step is stale
    if not base.exists():
        build(base, ruleset, args.followups)
    results: dict[tuple[str, str], list[Timing]] = {}
    with contextlib.ExitStack() as stack:
        ports = {
            "webhook": stack.enter_context(receiver(serve_http)),
            "smtp": stack.enter_context(receiver(serve_smtp)),
        }
        for run in range(args.runs):
            for adapter in args.adapters:
                for path in args.paths:
                    timing = one_run(adapter, PATHS[path], ruleset, base, ports)
                    results.setdefault((adapter, path), []).append(timing)
                    wall, cpu = timing
                    print(f"run {run + 1}: {adapter} {path} {wall:.2f} s ({cpu:.2f} s CPU)",
                          file=sys.stderr)  # fmt: skip
    return results


def table(results: dict[tuple[str, str], list[Timing]], count: int) -> str:
    lines = [
        "| adapter | path | follow-ups | seconds (median) | follow-ups/s | CPU s (median)"
        " | follow-ups per CPU s | runs (s) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for (adapter, path), runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        each = ", ".join(f"{w:.2f}" for w, _ in runs)
        lines.append(
            f"| {adapter} | {path} | {count:,} | {wall:.2f} | {count / wall:,.0f} | {cpu:.2f}"
            f" | {count / cpu:,.0f} | {each} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followups", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--adapters", default="outbox,webhook,smtp")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "guanxi-dispatch"))
    args = parser.parse_args()
    args.adapters = [name.strip() for name in args.adapters.split(",") if name.strip()]
    args.paths = [name.strip() for name in args.paths.split(",") if name.strip()]
    results = measure(args)
    print(f"`{' '.join(['python', *sys.argv])}`\n")
    print(table(results, args.followups))


if __name__ == "__main__":
    main()
