"""The webhook adapter against hostile receivers on 127.0.0.1, and its credentials kept out of
what dispatch writes: the follow-ups' reasons, the deliveries ledger, `followups list`."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
import tracemalloc
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.adapters.base import Adapter, Message, PermanentError, RetryableError
from guanxi.adapters.registry import load_adapter
from guanxi.cli.main import cli
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.dispatch.outcomes import MAX_RETRY_AFTER
from guanxi.engine.i18n import language
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
SECRETS = ("s3cr3t-pass", "tok-123456", "k-abcdef", "sig-999")

Answer = Callable[[BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def receiver(answer: Answer) -> Iterator[str]:
    """A local HTTP server answering every POST with `answer`; its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.posted = self.rfile.read(int(self.headers["Content-Length"]))
            with contextlib.suppress(ConnectionError):  # the client hung up: what we test
                answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def headers(handler: BaseHTTPRequestHandler, status: int, length: int) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


def fails(handler: BaseHTTPRequestHandler) -> None:
    headers(handler, 500, 2)
    handler.wfile.write(b"{}")


def drips(handler: BaseHTTPRequestHandler) -> None:
    """A 200 whose 40-byte body comes a byte every 0.1 s: each read is quick, the whole is not."""
    headers(handler, 200, 40)
    for _ in range(40):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(0.1)


def floods(handler: BaseHTTPRequestHandler) -> None:
    """A 200 with a 200 MB body, sent for as long as the client reads."""
    size, chunk = 200 * 2**20, b"x" * 2**20
    headers(handler, 200, size)
    for _ in range(size // len(chunk)):
        handler.wfile.write(chunk)


def a_message(ruleset: RuleSet) -> Message:
    row = invitation("C0001", "E1", NOW).row("b1", NOW)
    customer = {"customer_id": "C0001", "name": "张三"}
    return load_adapter("console").render(row, customer, ruleset.templates)


def with_credentials(url: str) -> str:
    """`url` carrying credentials the way receivers ask for them."""
    url = url.replace("http://", "http://bank:s3cr3t-pass@")
    return f"{url}?token=tok-123456&api_key=k-abcdef&signature=sig-999&channel=sms"


@pytest.mark.every_store
def test_webhook_credentials_never_reach_reason_ledger_or_listing(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([{"customer_id": "C0001", "name": "张三", "phone": "13800000001",
                             "consent_sms": True}])  # fmt: skip
    insert_followups(store, [invitation("C0001", "E1", NOW)], "b1", NOW)
    with receiver(fails) as url, load_adapter("webhook", url=with_credentials(url)) as adapter:
        report = dispatch_once(store, ruleset, {"sms": adapter}, NOW, max_attempts=1)
    assert report.dead == 1
    [dead] = store.execute("SELECT reason FROM followups")
    [entry] = store.execute("SELECT error FROM deliveries")
    listed = CliRunner().invoke(
        cli, ["followups", "list", "--json", "--rules", str(RULES), "--store", store.location]
    )
    assert listed.exit_code == 0, listed.output
    for text in (dead["reason"], entry["error"], listed.stdout):
        assert "HTTP 500" in text and "bank:***@" in text and "token=***" in text
        assert not any(secret in text for secret in SECRETS), text


def test_webhook_dripping_answer_is_cut_off_at_the_deadline(ruleset: RuleSet) -> None:
    started = time.monotonic()
    with (
        receiver(drips) as url,
        load_adapter("webhook", url=url, timeout=0.5) as adapter,
        pytest.raises(RetryableError, match=r"no whole answer within 0.5 s"),
    ):
        adapter.send(a_message(ruleset))
    assert time.monotonic() - started < 1.5  # the drip alone lasts 4 s


def test_webhook_huge_answer_is_not_read_into_memory(ruleset: RuleSet) -> None:
    with receiver(floods) as url, load_adapter("webhook", url=url, timeout=5) as adapter:
        tracemalloc.start()
        try:
            started = time.monotonic()
            receipt = adapter.send(a_message(ruleset))
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert receipt.detail == "200" and receipt.external_id is None
    assert peak < 2 * 2**20, f"{peak / 2**20:.1f} MB"
    assert seconds < 1.0


def test_webhook_connection_after_a_cut_off_answer_works_again(ruleset: RuleSet) -> None:
    calls: list[int] = []

    def drips_once(handler: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        if len(calls) == 1:
            drips(handler)
        else:
            body = json.dumps({"id": "r2"}).encode()
            headers(handler, 200, len(body))
            handler.wfile.write(body)

    with receiver(drips_once) as url, load_adapter("webhook", url=url, timeout=0.5) as adapter:
        with pytest.raises(RetryableError):
            adapter.send(a_message(ruleset))
        assert adapter.send(a_message(ruleset)).external_id == "r2"


def test_webhook_sends_a_key_with_chinese_ids_in_its_header(ruleset: RuleSet) -> None:
    """A header carries only ASCII: a key holding a Chinese customer or event id goes there
    percent-encoded, instead of every send to that customer failing until it is dead."""
    seen: list[tuple[str, str]] = []

    def records(handler: BaseHTTPRequestHandler) -> None:
        seen.append((handler.headers["Idempotency-Key"], handler.path))
        headers(handler, 200, 2)
        handler.wfile.write(b"{}")

    row = invitation("客户001", "销售-0001", NOW).row("b1", NOW)
    customer = {"customer_id": "客户001", "name": "张三"}
    with receiver(records) as url, load_adapter("webhook", url=url, timeout=5) as adapter:
        message = adapter.render(row, customer, ruleset.templates)
        assert adapter.send(message).detail == "200"
    [(key, _)] = seen
    assert urllib.parse.unquote(key) == message.key and key.isascii()
    assert key == message.key.replace("客户", "%E5%AE%A2%E6%88%B7").replace(
        "销售", "%E9%94%80%E5%94%AE"
    )


@pytest.mark.every_store
@pytest.mark.parametrize("wait", ["inf", "1e12", "99999999999", "nan", "-5"])
def test_a_receivers_retry_after_beyond_reason_delays_without_breaking_the_batch(
    store: Store, ruleset: RuleSet, wait: str
) -> None:
    """A gateway answering 429 with a Retry-After of forever, or of more years than a date
    holds: the batch's follow-ups wait for their next attempt, at most MAX_RETRY_AFTER,
    instead of the pass failing with every message it had sent left claimed, to be sent
    again once the lease lapses."""
    posted: list[str | None] = []

    def busy(handler: BaseHTTPRequestHandler) -> None:
        posted.append(handler.headers.get("Idempotency-Key"))
        handler.send_response(429)
        handler.send_header("Retry-After", wait)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    store.upsert_customers([{"customer_id": f"C000{i}", "name": "张三", "phone": f"1380000000{i}",
                             "consent_sms": True} for i in (1, 2)])  # fmt: skip
    insert_followups(store, [invitation(f"C000{i}", "E1", NOW) for i in (1, 2)], "b1", NOW)
    with receiver(busy) as url, load_adapter("webhook", url=url) as adapter:
        report = dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    assert (report.claimed, report.retried, len(posted)) == (2, 2, 2)
    for row in store.execute("SELECT status, next_attempt_at FROM followups"):
        assert row["status"] == "pending"
        next_at = dt.datetime.fromisoformat(row["next_attempt_at"])
        assert NOW < next_at <= NOW + MAX_RETRY_AFTER


@contextlib.contextmanager
def sms_webhook(seen: list[str]) -> Iterator[Adapter]:
    """A webhook adapter sending SMS to the `phone` field, to a receiver that notes each POST
    in `seen` and answers 200."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        seen.append(handler.path)
        headers(handler, 200, 2)
        handler.wfile.write(b"{}")

    fields = {"sms": "phone"}
    with receiver(answer) as url, load_adapter("webhook", url=url, address_fields=fields) as sms:
        yield sms


def message_to(ruleset: RuleSet, phone: str | None, channel: str = "sms") -> Message:
    row = invitation("C0001", "E1", NOW, channel=channel).row("b1", NOW)
    customer = {"customer_id": "C0001", "name": "张三", "phone": phone, "email": phone}
    adapter = load_adapter("console", address_fields={"sms": "phone", "email": "email"})
    return adapter.render(row, customer, ruleset.templates)


@pytest.mark.parametrize(
    "recipient",
    ["13800138000;13900139000", "13800138000,13900139000", "13800138000，13900139000",
     "13800138000 / 13900139000", "1380013800013900139000", "13800138000\n13900139000",
     "138+00138000", "zhang@example.com;li@example.com", "张三 <zhang@example.com>", None,
     "13800138000/13900139000", "13800138000／13900139000", "13800138000或13900139000",
     "13800138000张三"],
)  # fmt: skip
def test_webhook_refuses_a_recipient_that_is_not_one_number(
    ruleset: RuleSet, recipient: str | None
) -> None:
    """As SMTP refuses two addresses: an SMS to `13800138000;13900139000` would reach
    someone else too, or make the gateway fail in its own way; nothing is POSTed."""
    seen: list[str] = []
    refused = pytest.raises(
        PermanentError, match=r"not one address|has no sms address|not a phone number"
    )
    with sms_webhook(seen) as adapter, refused:
        adapter.send(message_to(ruleset, recipient))
    assert seen == []


@pytest.mark.parametrize(
    ("recipient", "channel"),
    [("13800138000", "sms"), ("+86 138-0013-8000", "sms"), ("(010) 6512 3456", "sms"),
     ("zhang@example.com", "email")],
)  # fmt: skip
def test_webhook_sends_to_one_number_or_address(
    ruleset: RuleSet, recipient: str, channel: str
) -> None:
    """The phone field to a number; a field the adapter is not told of (here the e-mail) to
    one address of the kind its channel says."""
    seen: list[str] = []
    with sms_webhook(seen) as adapter:
        assert adapter.send(message_to(ruleset, recipient, channel)).detail == "200"
    assert len(seen) == 1


def test_webhook_refuses_what_the_channel_cannot_send_to(ruleset: RuleSet) -> None:
    """The channel's name says the kind where the adapter is not told the field: an e-mail
    channel sends to no app id (before, `app-user-42` went out as an e-mail address)."""
    seen: list[str] = []
    with sms_webhook(seen) as adapter, pytest.raises(PermanentError, match="not one address"):
        adapter.send(message_to(ruleset, "app-user-42", "email"))
    assert seen == []


@pytest.mark.parametrize(
    ("typed", "sent", "channel"),
    [("１３８００１３８０００", "13800138000", "sms"),
     ("＋８６　１３８－００１３－８０００", "+86 138-0013-8000", "sms"),
     ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "zhang@example.com", "email"),
     ("zhang@example。com", "zhang@example.com", "email"),  # stored by an earlier load
     ("zhang＠example｡com", "zhang@example.com", "email"),
     (" 13800138000\u3000", "13800138000", "sms")],
)  # fmt: skip
def test_an_address_typed_in_full_width_is_sent_to_its_ascii_twin(
    ruleset: RuleSet, typed: str, sent: str, channel: str
) -> None:
    """`guanxi load` keeps a phone typed on a Chinese keyboard in full-width mode as typed;
    an SMS gateway or a mail server knows no `１３８…` or `＠`."""
    message = message_to(ruleset, typed, channel)
    assert message.recipient == sent
    seen: list[str] = []
    with sms_webhook(seen) as adapter:
        assert adapter.send(message).detail == "200"
    assert len(seen) == 1


@pytest.mark.every_store
def test_two_numbers_in_the_phone_field_are_dead_at_once_with_the_reason(
    store: Store, ruleset: RuleSet
) -> None:
    two = "13800138000;13900139000"
    store.upsert_customers(
        [{"customer_id": "C0001", "name": "张三", "phone": two, "consent_sms": True}]
    )
    insert_followups(store, [invitation("C0001", "E1", NOW)], "b1", NOW)
    seen: list[str] = []
    with sms_webhook(seen) as adapter, language("zh"):
        report = dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    assert (report.dead, seen) == (1, [])
    [row] = store.execute("SELECT status, reason FROM followups")
    assert row["status"] == "dead"
    assert "不是电话号码：填了不止一个号码" in row["reason"]
    assert "请更正客户的“phone”" in row["reason"]


def answers(body: bytes) -> Answer:
    """A receiver answering 200 with `body`."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        headers(handler, 200, len(body))
        handler.wfile.write(body)

    return answer


@pytest.mark.parametrize(
    "body",
    [b'{"success": false, "error": "isv.MOBILE_NUMBER_ILLEGAL"}', b'{"ok": false}',
     b'{"error": {"code": 1001, "message": "blacklisted"}}', b'{"errors": ["quota used up"]}'],
)  # fmt: skip
def test_a_200_whose_answer_says_it_failed_is_no_delivery(ruleset: RuleSet, body: bytes) -> None:
    """Many SMS gateways answer 200 to every request and say in the body that nothing went
    out: the follow-up is tried again, with the gateway's words as the reason."""
    with (
        receiver(answers(body)) as url,
        load_adapter("webhook", url=url) as adapter,
        pytest.raises(RetryableError, match="HTTP 200 but the answer says: ") as raised,
    ):
        adapter.send(a_message(ruleset))
    said = json.loads(body)
    assert json.dumps(said.get("error") or said.get("errors") or said) in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [b'{"id": "m1", "error": null}', b'{"ok": true, "errors": []}', b'{"success": true}',
     b'{"success": true, "error": "quota low"}', b'{"id": "m1", "error": "0"}',
     b'{"error": "OK"}', b"[]", b"accepted", b"", b"[" * 100_000],
    ids=["null", "empty", "success", "success-warning", "zero", "ok", "list", "text", "nothing",
         "deep"],
)  # fmt: skip
def test_a_200_whose_answer_says_nothing_of_a_failure_is_a_delivery(
    ruleset: RuleSet, body: bytes
) -> None:
    """Empty errors, another JSON shape, no JSON at all, or JSON nested deeper than the
    decoder goes: delivered, never a send made again as if it had failed."""
    with receiver(answers(body)) as url, load_adapter("webhook", url=url) as adapter:
        assert adapter.send(a_message(ruleset)).detail == "200"


@pytest.mark.every_store
def test_a_gateway_refusing_one_sms_in_a_200_fails_that_one_only(
    store: Store, ruleset: RuleSet
) -> None:
    def gateway(handler: BaseHTTPRequestHandler) -> None:
        phone = json.loads(handler.posted)["recipient"]  # type: ignore[attr-defined]
        refused = b'{"success": false, "error": "isv.MOBILE_NUMBER_ILLEGAL"}'
        answers(refused if phone == "10000000001" else b'{"id": "m1"}')(handler)

    store.upsert_customers([{"customer_id": f"C000{i}", "name": "张三", "phone": phone,
                             "consent_sms": True}
                            for i, phone in ((1, "10000000001"), (2, "13800000002"))])  # fmt: skip
    insert_followups(store, [invitation(f"C000{i}", "E1", NOW) for i in (1, 2)], "b1", NOW)
    fields = {"sms": "phone"}
    with receiver(gateway) as url, load_adapter("webhook", url=url, address_fields=fields) as sms:
        report = dispatch_once(store, ruleset, {"sms": sms}, NOW)
    assert (report.sent, report.retried) == (1, 1)
    rows = store.execute("SELECT customer_id, status FROM followups ORDER BY customer_id")
    assert [(row["customer_id"], row["status"]) for row in rows] == [
        ("C0001", "pending"),
        ("C0002", "sent"),
    ]
    [refused, sent] = store.execute("SELECT outcome, error FROM deliveries ORDER BY key")
    assert (refused["outcome"], sent["outcome"]) == ("retry", "sent")
    assert "isv.MOBILE_NUMBER_ILLEGAL" in refused["error"]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_with_the_gateways_token(ruleset: RuleSet, status: int) -> None:
    """A gateway that redirects elsewhere (taken over, or misconfigured) gets no second POST:
    the message and the Authorization header never reach the other host."""
    elsewhere: list[str | None] = []

    def other_host(handler: BaseHTTPRequestHandler) -> None:
        elsewhere.append(handler.headers.get("Authorization"))
        answers(b"{}")(handler)

    with receiver(other_host) as other_url:

        def redirects(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Location", other_url)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        token = {"Authorization": "Bearer tok-123456"}
        with (
            receiver(redirects) as url,
            load_adapter("webhook", url=url, headers=token) as adapter,
            pytest.raises(PermanentError, match=f"HTTP {status}"),
        ):
            adapter.send(a_message(ruleset))
    assert elsewhere == []


def test_a_token_read_from_a_file_with_its_line_break_is_sent_without_it(ruleset: RuleSet) -> None:
    """`${SMS_TOKEN}` from a secret file ends in a line break, which no header may hold."""
    seen: list[str | None] = []

    def gateway(handler: BaseHTTPRequestHandler) -> None:
        seen.append(handler.headers.get("Authorization"))
        answers(b"{}")(handler)

    token = {"Authorization": "Bearer tok-123456\n"}
    with receiver(gateway) as url, load_adapter("webhook", url=url, headers=token) as adapter:
        assert adapter.send(a_message(ruleset)).detail == "200"
    assert seen == ["Bearer tok-123456"]


@pytest.mark.parametrize(
    "header",
    [{"Authorization": "Bearer tok-123456\r\nX-Evil: 1"}, {"X-Bank": "招商银行 tok-123456"},
     {"Authorization": "Bearer\x00tok-123456"}, {"X Evil": "tok-123456"}],
)  # fmt: skip
def test_a_header_no_request_can_carry_is_dead_at_once_without_its_secret(
    ruleset: RuleSet, header: dict[str, str]
) -> None:
    """Not every message failing and retried with the gateway's token written into every
    reason and log line: dead at once, the header named, its value not shown."""
    seen: list[str] = []
    with (
        sms_webhook(seen) as working,
        load_adapter("webhook", url=working.url, headers=header) as adapter,  # type: ignore[attr-defined]
        pytest.raises(PermanentError, match="header") as raised,
    ):
        adapter.send(a_message(ruleset))
    assert seen == []
    assert "tok-123456" not in str(raised.value)


@pytest.mark.every_store
def test_a_gateways_answer_with_control_characters_is_written_escaped(
    store: Store, ruleset: RuleSet
) -> None:
    """A reason phrase or an id with a NUL (which PostgreSQL refuses in text: the whole batch's
    outcomes were lost, its sent messages sent again once the lease lapsed) or a terminal
    escape (which `followups list` would play on the operator's terminal)."""

    def gateway(handler: BaseHTTPRequestHandler) -> None:
        if json.loads(handler.posted)["customer_id"] == "C0001":  # type: ignore[attr-defined]
            handler.send_response(500, "Busy\x00\x1b[2J\x9b")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        else:
            answers(b'{"id": "m2\\u0000"}')(handler)

    store.upsert_customers([{"customer_id": f"C000{i}", "name": "张三", "phone": f"1380000000{i}",
                             "consent_sms": True} for i in (1, 2)])  # fmt: skip
    insert_followups(store, [invitation(f"C000{i}", "E1", NOW) for i in (1, 2)], "b1", NOW)
    with receiver(gateway) as url, load_adapter("webhook", url=url) as adapter:
        report = dispatch_once(store, ruleset, {"sms": adapter}, NOW)
    assert (report.sent, report.retried) == (1, 1)
    [refused, sent] = store.execute("SELECT error, external_id FROM deliveries ORDER BY key")
    assert refused["error"].endswith(r"HTTP 500 Busy\x00\x1b[2J\x9b")
    assert sent["external_id"] == r"m2\x00"
