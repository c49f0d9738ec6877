"""A mail whose answer never comes may have been delivered: the smtp adapter does not send it
again. A real aiosmtpd server takes the whole mail and answers it only after the adapter's
timeout; before, the send was retried and the customer got the mail twice."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
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
