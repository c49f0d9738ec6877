"""Dispatch with several dispatchers on one store: PostgreSQL and SQLite side by side.

    python benchmarks/scale_out_bench.py [--followups N] [--workers 1,2,3,4] [--runs N]
                                         [--stores postgresql,sqlite] [--adapters none,webhook]
                                         [--policies send-time,consent-only] [--postgres URL]

N follow-ups due now (those of dispatch_bench.py: consenting customers, the default project's
`passive_invite_feedback` email) are delivered by W dispatcher processes at once, each running
dispatch passes of 500 (the daemon's tick) until a pass claims nothing; the time is from the
moment all W start to the last one's end, and every follow-up must end 'sent' exactly once.

  none      the `recording` adapter: nothing leaves the process, so the figure is what the
            store sustains (claim, consent re-check, render, record), the ceiling of the queue
  webhook   HTTP/1.1 POSTs with keep-alive to the minimal asyncio receiver of dispatch_bench

  send-time     the default rules: consent, quiet hours and caps decided again at send time
                (on PostgreSQL with a lock per customer whose messages a cap counts)
  consent-only  the same rules without caps and quiet hours: send time re-checks consent
                only, as dispatch did before it decided the rest again

The PostgreSQL store is a schema of its own in --postgres (default: the tests' database),
dropped afterwards; SQLite a file in $TMPDIR. Each run starts from the same queue. Median of
--runs; follow-ups per second of wall clock, and the CPU each 1,000 follow-ups cost the
dispatchers and the PostgreSQL server (its processes' CPU time read from /proc): on a machine
of two cores, wall clock stops scaling at two dispatchers, while CPU per follow-up says what
more cores would carry.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from bench_data import postgres_schema
from dispatch_bench import NOW, RULES, build, consent_only_rules, receiver, serve_http

from guanxi.adapters.base import Adapter, address_fields
from guanxi.adapters.registry import load_adapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store import Store, open_store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

BATCH = 500
POSTGRES = os.environ.get("GUANXI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
RESET = (
    "UPDATE followups SET status = 'pending', attempts = 0, lease_until = NULL,"
    " next_attempt_at = NULL WHERE status <> 'pending'"
)


# --- the stores -------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_copy(server: str, sqlite_base: Path) -> Iterator[str]:
    """A schema of its own on `server` holding the customers and follow-ups of the SQLite
    queue `sqlite_base`; its URL. Dropped afterwards."""
    with postgres_schema(server) as url:
        store = PostgresStore(url)
        store.prepare(load_ruleset(RULES).schema)
        source = SQLiteStore(sqlite_base)
        store.upsert_customers(source.iter_rows("SELECT * FROM customers"))
        followups = source.execute("SELECT * FROM followups")
        columns = [c for c in followups[0] if c != "id"]
        names = ", ".join(columns)
        marks = ", ".join(f":{c}" for c in columns)
        with store.transaction():
            store.execute_many(f"INSERT INTO followups ({names}) VALUES ({marks})", followups)
        store.execute("ANALYZE")
        source.close()
        store.close()
        yield url


def reset(location: str, base: Path | None) -> None:
    """The queue as it was before a run: a fresh copy of the SQLite file, or every follow-up
    pending again and the ledger emptied in PostgreSQL."""
    if base is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{location}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(base, location)
        return
    store = open_store(location)
    with store.transaction():
        store.execute(RESET)
        store.execute("DELETE FROM deliveries")
    store.execute("VACUUM ANALYZE followups, deliveries")  # a real ledger has no dead rows
    store.close()


# --- the dispatchers ----------------------------------------------------------------------


def make_adapter(name: str, port: int) -> Adapter:
    fields = address_fields(load_ruleset(RULES).policies)
    if name == "none":
        return load_adapter("recording", address_fields=fields)
    url = f"http://127.0.0.1:{port}/notify"
    return load_adapter("webhook", url=url, timeout=10.0, address_fields=fields)


def dispatcher(
    location: str, adapter_name: str, policy: str, port: int, start: Any, sent: Any, cpu: Any
) -> None:
    """One dispatcher process: passes until one claims nothing; adds what it sent to `sent`
    and the CPU seconds that took to `cpu`."""
    ruleset = load_ruleset(RULES)
    if policy == "consent-only":
        ruleset = consent_only_rules(ruleset)
    store = open_store(location, migrate=False)
    adapter = make_adapter(adapter_name, port)
    worker = f"bench:{os.getpid()}"
    count = 0
    start.wait()
    began = time.process_time()
    try:
        while True:
            report = dispatch_once(
                store, ruleset, {"email": adapter}, NOW, limit=BATCH, worker=worker
            )
            count += report.sent
            if report.claimed == 0:
                break
    finally:
        adapter.close()
        store.close()
        with sent.get_lock():
            sent.value += count
            cpu.value += time.process_time() - began


class Run(NamedTuple):
    wall: float  # seconds
    dispatchers: float  # CPU seconds of the dispatcher processes
    server: float  # CPU seconds of the PostgreSQL server's processes


def one_run(location: str, adapter: str, policy: str, workers: int, port: int) -> Run:
    context = multiprocessing.get_context("spawn")
    start, sent, cpu = context.Event(), context.Value("i", 0), context.Value("d", 0.0)
    given = (location, adapter, policy, port, start, sent, cpu)
    processes = [context.Process(target=dispatcher, args=given) for _ in range(workers)]
    for process in processes:
        process.start()
    time.sleep(3)  # every process imported and connected before the clock starts
    began, server = time.perf_counter(), postgres_cpu()
    start.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    run = Run(elapsed, float(cpu.value), postgres_cpu() - server)
    check(location, int(sent.value))
    return run


def postgres_cpu() -> float:
    """CPU seconds used so far by every process of this machine's PostgreSQL server."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
            if name.startswith("postgres"):
                # utime, stime, and cutime, cstime: the server's exited backends (a
                # dispatcher's connection) are counted in the postmaster's children's time
                total += sum(int(field) for field in rest.split()[11:15])
    return total / ticks


def check(location: str, sent: int) -> None:
    store: Store = open_store(location, migrate=False)
    try:
        [row] = store.execute(
            "SELECT count(*) AS n, count(*) FILTER (WHERE status = 'sent') AS sent,"
            " (SELECT count(*) FROM deliveries WHERE outcome = 'sent') AS ledger FROM followups"
        )
    finally:
        store.close()
    if not row["n"] == row["sent"] == row["ledger"] == sent:
        raise RuntimeError(f"{location}: {dict(row)}, dispatchers counted {sent} sent")


# --- the table ------------------------------------------------------------------------------


Key = tuple[str, str, str, int]  # store, adapter, policy, dispatchers


def table(results: dict[Key, list[Run]], count: int) -> str:
    lines = [
        "| store | adapter | policy | dispatchers | seconds (median) | follow-ups/s"
        " | dispatcher CPU s per 1k | server CPU s per 1k | runs (s) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for (store, adapter, policy, workers), runs in results.items():
        wall = statistics.median(r.wall for r in runs)
        own = statistics.median(r.dispatchers for r in runs) * 1000 / count
        server = statistics.median(r.server for r in runs) * 1000 / count
        shown = ", ".join(f"{r.wall:.1f}" for r in runs)
        lines.append(
            f"| {store} | {adapter} | {policy} | {workers} | {wall:.1f} | {count / wall:,.0f}"
            f" | {own:.2f} | {server if store == 'postgresql' else 0:.2f} | {shown} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followups", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,3,4")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stores", default="postgresql,sqlite")
    parser.add_argument("--adapters", default="none,webhook")
    parser.add_argument("--policies", default="send-time,consent-only")
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    stores, adapters = args.stores.split(","), args.adapters.split(",")
    policies = args.policies.split(",")
    results: dict[Key, list[Run]] = {}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        base = Path(folder) / "queue.db"
        build(base, load_ruleset(RULES), args.followups)
        port = stack.enter_context(receiver(serve_http))
        locations = {"sqlite": str(Path(folder) / "work.db")}
        if "postgresql" in stores:
            locations["postgresql"] = stack.enter_context(postgres_copy(args.postgres, base))
        for run in range(args.runs):
            for store in stores:
                for adapter, policy, count in itertools.product(adapters, policies, workers):
                    reset(locations[store], base if store == "sqlite" else None)
                    done = one_run(locations[store], adapter, policy, count, port)
                    results.setdefault((store, adapter, policy, count), []).append(done)
                    print(f"run {run + 1}: {store} {adapter} {policy} ×{count} {done.wall:.1f} s",
                          file=sys.stderr)  # fmt: skip
    print(f"\n{args.followups:,} follow-ups, load {os.getloadavg()[0]:.1f}")
    print(" ".join(["python", "benchmarks/scale_out_bench.py", *sys.argv[1:]]))
    print(table(results, args.followups))


if __name__ == "__main__":
    main()
