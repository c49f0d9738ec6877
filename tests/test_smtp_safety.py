"""The smtp adapter against mail servers that misbehave on 127.0.0.1: a server that drips its
replies, one continuation line (`250-…`) at a time, each well within the per-read timeout,
would hold a send, and the daemon's tick with it, for ever, past the lease that lets another
daemon send the same mail again. A send as a whole ends by SMTP_STEPS × timeout."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from guanxi.adapters.base import Message, OutcomeUnknownError, Receipt, RetryableError
from guanxi.adapters.registry import load_adapter
from guanxi.adapters.smtp import SMTP_STEPS, SmtpAdapter
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store, open_store
from tests.daemon_helpers import invitation

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TIMEOUT = 0.3  # each read; the server's drip comes faster than that
DRIP = 0.1
DEADLINE = SMTP_STEPS * TIMEOUT
Script = Callable[[socket.socket, Callable[[], bytes], threading.Event], None]


def drip(conn: socket.socket, stop: threading.Event, line: bytes) -> None:
    while not stop.wait(DRIP):
        conn.sendall(line)


def greets_for_ever(conn: socket.socket, read: Callable[[], bytes], stop: threading.Event) -> None:
    drip(conn, stop, b"220-welcome\r\n")


def thinks_for_ever_after_data(
    conn: socket.socket, read: Callable[[], bytes], stop: threading.Event
) -> None:
    """Takes the mail, then never finishes its answer to it."""
    conn.sendall(b"220 ok\r\n")
    while command := read()[:4].upper():
        if command == b"DATA":
            conn.sendall(b"354 go on\r\n")
            while read() not in (b".\r\n", b""):
                pass
            drip(conn, stop, b"250-still thinking\r\n")
            return
        conn.sendall(b"250-x\r\n250 8BITMIME\r\n" if command == b"EHLO" else b"250 ok\r\n")


def says_goodbye_for_ever(
    conn: socket.socket, read: Callable[[], bytes], stop: threading.Event
) -> None:
    """A well-behaved server until QUIT, whose answer never ends."""
    conn.sendall(b"220 ok\r\n")
    while command := read()[:4].upper():
        if command == b"DATA":
            conn.sendall(b"354 go on\r\n")
            while read() not in (b".\r\n", b""):
                pass
            conn.sendall(b"250 queued\r\n")
        elif command == b"QUIT":
            drip(conn, stop, b"221-closing\r\n")
            return
        else:
            conn.sendall(b"250-x\r\n250 8BITMIME\r\n" if command == b"EHLO" else b"250 ok\r\n")


@contextlib.contextmanager
def server(script: Script) -> Iterator[int]:
    """A mail server on 127.0.0.1 running `script` on each connection; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), conn.makefile("rb") as lines:
            script(conn, lines.readline, stop)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def a_message(ruleset: RuleSet) -> Message:
    row = invitation("C0001", "E1", NOW).row("b1", NOW)
    customer = {"customer_id": "C0001", "name": "张三", "email": "zhang@example.com"}
    adapter = load_adapter("console", address_fields={"sms": "email"})
    return adapter.render(row, customer, ruleset.templates)


def send_within(adapter: SmtpAdapter, message: Message, seconds: float) -> Receipt | Exception:
    """What the send gave, failing the test when it is still under way after `seconds`."""
    outcome: list[Receipt | Exception] = []

    def send() -> None:
        try:
            outcome.append(adapter.send(message))
        except Exception as error:
            outcome.append(error)

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the send still runs after {seconds} s"
    return outcome[0]


def smtp(port: int) -> SmtpAdapter:
    adapter = load_adapter("smtp", host="127.0.0.1", port=port, timeout=TIMEOUT)
    assert isinstance(adapter, SmtpAdapter)
    return adapter


@pytest.mark.parametrize(
    ("script", "error"),
    [(greets_for_ever, RetryableError), (thinks_for_ever_after_data, OutcomeUnknownError)],
)
def test_smtp_dripping_server_is_cut_off_at_the_deadline(
    ruleset: RuleSet, script: Script, error: type[Exception]
) -> None:
    """Cut off either way; a server that took the whole mail may have queued it: that send's
    outcome is unknown, not retryable."""
    assert SmtpAdapter.longest_send({"timeout": TIMEOUT}) == pytest.approx(DEADLINE)
    with server(script) as port, smtp(port) as adapter:
        started = time.monotonic()
        outcome = send_within(adapter, a_message(ruleset), DEADLINE + 3)
        took = time.monotonic() - started
    assert isinstance(outcome, error), outcome
    assert f"no whole answer within {DEADLINE:g} s" in str(outcome)
    assert DEADLINE - 0.1 < took < DEADLINE + 1  # each reply line came within TIMEOUT


def test_smtp_close_does_not_wait_for_a_goodbye_that_never_ends(ruleset: RuleSet) -> None:
    with server(says_goodbye_for_ever) as port:
        adapter = smtp(port)
        assert isinstance(send_within(adapter, a_message(ruleset), DEADLINE + 3), Receipt)
        closing = threading.Thread(target=adapter.close, daemon=True)
        closing.start()
        closing.join(TIMEOUT + 2)
        assert not closing.is_alive(), "close still waits for the server's goodbye"


@pytest.mark.every_store
def test_a_dripping_mail_server_does_not_hold_the_dispatch_pass(
    store: Store, ruleset: RuleSet
) -> None:
    """Every message of the batch is cut off at its deadline; the pass ends. Each mail went
    whole and got no answer: it is dead with that reason, never sent a second time."""
    customers = [f"C{n:04d}" for n in range(6)]
    store.upsert_customers([{"customer_id": c, "name": "张三", "email": f"{c}@example.com",
                             "consent_sms": True} for c in customers])  # fmt: skip
    insert_followups(store, [invitation(c, f"E{c}", NOW) for c in customers], "b1", NOW)
    with server(thinks_for_ever_after_data) as port:
        adapter = load_adapter(
            "smtp", host="127.0.0.1", port=port, timeout=TIMEOUT, address_fields={"sms": "email"}
        )
        rounds = -(-len(customers) // adapter.concurrent_sends)

        def dispatch() -> None:
            own = open_store(store.location)  # a store connection belongs to its thread
            try:
                dispatch_once(own, ruleset, {"sms": adapter}, NOW)
            finally:
                own.close()

        worker = threading.Thread(target=dispatch, daemon=True)
        worker.start()
        worker.join(rounds * DEADLINE + 5)
        assert not worker.is_alive(), "the dispatch pass is held by the mail server"
        adapter.close()
    statuses = store.execute("SELECT status, attempts, reason FROM followups")
    assert [(r["status"], r["attempts"]) for r in statuses] == [("dead", 1)] * len(customers)
    assert all("look for Message-ID" in r["reason"] for r in statuses)
