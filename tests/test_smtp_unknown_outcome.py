"""A mail whose answer never comes may have been delivered: the smtp adapter does not send it
again. A real aiosmtpd server takes the whole mail and answers it only after the adapter's
timeout; before, the send was retried and the customer got the mail twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from guanxi.adapters.base import OutcomeUnknownError, PermanentError, RetryableError
from guanxi.adapters.registry import load_adapter
from guanxi.adapters.smtp import message_id
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TIMEOUT = 0.5


class SlowToAnswer:
    """Keeps every mail it is given; answers the mail after `delay` seconds, or first at
    RCPT with `rcpt_answer` when one is set."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.rcpt_answer: str | None = None
        self.mails: list[bytes] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_answer is not None:
            await asyncio.sleep(self.delay)
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(envelope.content)
        await asyncio.sleep(self.delay)
        return "250 queued"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def mail_server(delay: float) -> Iterator[tuple[SlowToAnswer, int]]:
    handler, port = SlowToAnswer(delay), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def smtp(port: int) -> Any:
    return load_adapter(
        "smtp", host="127.0.0.1", port=port, timeout=TIMEOUT, address_fields={"sms": "email"}
    )


CUSTOMER = {"customer_id": "C0001", "name": "张三", "email": "zhang@example.com"}


def a_message(adapter: Any, ruleset: RuleSet, occurrence: str = "E1") -> Any:
    row = invitation("C0001", occurrence, NOW).row("b1", NOW)
    return adapter.render(row, CUSTOMER, ruleset.templates)


def test_a_mail_whose_answer_times_out_is_not_sent_again(ruleset: RuleSet) -> None:
    with mail_server(delay=TIMEOUT * 3) as (server, port), smtp(port) as adapter:
        message = a_message(adapter, ruleset)
        with pytest.raises(OutcomeUnknownError) as raised:
            adapter.send(message)
        assert len(server.mails) == 1  # the server has the mail: it may deliver it
    reason = str(raised.value)
    assert message_id(message.key) in reason
    assert "not sent again" in reason and "mail server's log" in reason
    assert isinstance(raised.value, PermanentError)  # dispatch dead-letters it at once


def test_a_timeout_before_the_mail_went_is_retried(ruleset: RuleSet) -> None:
    """At RCPT nothing of the mail has gone: trying again cannot make a second copy."""
    with mail_server(delay=TIMEOUT * 3) as (server, port), smtp(port) as adapter:
        server.rcpt_answer = "250 OK"
        with pytest.raises(RetryableError):
            adapter.send(a_message(adapter, ruleset))
        assert server.mails == []


def test_the_next_mail_goes_out_after_an_unknown_outcome(ruleset: RuleSet) -> None:
    with mail_server(delay=TIMEOUT * 3) as (server, port), smtp(port) as adapter:
        with pytest.raises(OutcomeUnknownError):
            adapter.send(a_message(adapter, ruleset, "E1"))
        server.delay = 0
        receipt = adapter.send(a_message(adapter, ruleset, "E2"))
    assert receipt.external_id is not None and len(server.mails) == 2


@pytest.mark.every_store
def test_dispatch_sends_a_mail_with_an_unknown_outcome_once(store: Store, ruleset: RuleSet) -> None:
    """Through dispatch, pass after pass: the follow-up is dead with the reason, the server got
    the mail once."""
    store.upsert_customers([{**CUSTOMER, "consent_sms": True}])
    insert_followups(store, [invitation("C0001", "E1", NOW)], "b1", NOW)
    with mail_server(delay=TIMEOUT * 3) as (server, port), smtp(port) as adapter:
        for minutes in (0, 5, 60, 600):
            dispatch_once(store, ruleset, {"sms": adapter}, NOW + dt.timedelta(minutes=minutes))
        mails = len(server.mails)
    [row] = store.execute("SELECT status, attempts, reason FROM followups")
    assert (row["status"], row["attempts"], mails) == ("dead", 1, 1)
    assert "mail server's log" in row["reason"]


class OneMailAConnection:
    """A raw SMTP server that closes the connection after answering each mail 250 (as a
    relay with one message a connection, or one whose idle timeout passed), or, with
    `close_at_mail`, as soon as a mail begins (nothing of it taken)."""

    def __init__(self, close_at_mail: bool = False, says_goodbye: bool = False) -> None:
        self.close_at_mail, self.says_goodbye = close_at_mail, says_goodbye
        self.mails: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _address = self.listener.accept()
                with connection, connection.makefile("rb") as lines:
                    self._converse(connection, lines)

    def _converse(self, connection: socket.socket, lines: Any) -> None:
        connection.sendall(b"220 ready\r\n")
        while line := lines.readline():
            command = line[:4].upper()
            if command == b"MAIL" and self.close_at_mail:
                return
            if command == b"DATA":
                connection.sendall(b"354 go on\r\n")
                mail = b"".join(iter(lines.readline, b".\r\n"))
                self.mails.append(mail)
                connection.sendall(b"250 queued\r\n")
                if self.says_goodbye and lines.readline():  # as Postfix when idle too long
                    connection.sendall(b"421 4.4.2 Error: timeout exceeded\r\n")
                return  # closes the connection after the 250
            connection.sendall(b"221 bye\r\n" if command == b"QUIT" else b"250 ok\r\n")


@pytest.mark.parametrize("says_goodbye", [False, True])
def test_a_connection_the_server_closed_after_a_mail_is_not_a_failure_of_the_next(
    ruleset: RuleSet, says_goodbye: bool
) -> None:
    """Each mail is delivered at once: the kept connection the server closed (silently, or
    with a 421 to the next command) is replaced, not a reason to retry the next mail later
    (nor to take its outcome as unknown)."""
    server = OneMailAConnection(says_goodbye=says_goodbye)
    with smtp(server.port) as adapter:
        for occurrence in ("E1", "E2", "E3"):
            adapter.send(a_message(adapter, ruleset, occurrence))
    server.listener.close()
    assert len(server.mails) == 3


def test_a_server_that_closes_before_the_mail_goes_gives_a_retry_once(ruleset: RuleSet) -> None:
    """Closed at MAIL, nothing of the mail went: a retry later, not an unknown outcome."""
    server = OneMailAConnection(close_at_mail=True)
    with smtp(server.port) as adapter:
        for occurrence in ("E1", "E2"):
            with pytest.raises(RetryableError):
                adapter.send(a_message(adapter, ruleset, occurrence))
    server.listener.close()
    assert server.mails == []
