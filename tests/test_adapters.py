"""One contract suite for every adapter, each against a real receiver on 127.0.0.1.

console → a text stream; outbox → a JSON-lines file; webhook → an http.server in a thread;
smtp → an aiosmtpd server; amqp → a durable queue on the RabbitMQ broker at 127.0.0.1:5672;
rm_tasks → the tasks table of a SQLite store file; recording → its own list of what it was
given (what `guanxi simulate` delivers to). Fault tests follow the contract: what is
retryable, what is not.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import email
import email.policy
import io
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller

from guanxi.adapters.base import (
    Adapter,
    Message,
    PermanentError,
    RenderError,
    RetryableError,
    UnknownAdapterError,
    address_fields,
)
from guanxi.adapters.recording import RecordingAdapter
from guanxi.adapters.registry import adapter_names, load_adapter
from guanxi.adapters.smtp import message_id
from guanxi.engine.i18n import language
from guanxi.engine.plan.followups import Followup
from guanxi.engine.ruleset import RuleSet

if TYPE_CHECKING:
    from conftest import Broker

ADAPTERS = ["console", "outbox", "webhook", "smtp", "amqp", "rm_tasks", "recording"]
TIMEOUT = 2.0
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
CUSTOMER = {
    "customer_id": "C0001",
    "name": "张三",
    "phone": "13800000000",
    "email": "zhangsan@example.com",
    "consent_email": True,
}


def followup_row(occurrence: str = "E1", template: str = "invite_feedback") -> dict[str, Any]:
    """A follow-up row exactly as the planner stores it."""
    followup = Followup(
        customer_id="C0001",
        step_id="after_purchase.invite_feedback",
        level=None,
        kind="message",
        channel="email",
        template=template,
        priority=50,
        mandatory=False,
        purpose="marketing",
        owner=None,
        occurrence=occurrence,
        due_at=NOW,
        expires_at=None,
        ruleset_hash="abc123",
        event_id=occurrence,
        payload={"product": "大额存单"},
    )
    return followup.row("batch1", NOW)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- receivers -------------------------------------------------------------------------------


@dataclass
class HttpRecorder:
    """What the local HTTP server saw, and how it answers: `status` after `delay` seconds."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)


def _handler(recorder: HttpRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorder.requests.append((self.headers.get("Idempotency-Key"), body))
            time.sleep(recorder.delay)
            answer = json.dumps({"id": f"r{len(recorder.requests)}"}).encode()
            self.send_response(recorder.status)
            for name, value in {**recorder.headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):  # the client gave up (timeout test)
                self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def http_server() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join(TIMEOUT)


class SmtpRecorder:
    """An aiosmtpd handler that keeps every accepted mail and answers DATA with `response`."""

    def __init__(self) -> None:
        self.response = "250 Message accepted for delivery"
        self.mails: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []  # each accepted mail's envelope recipients
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.response.startswith("250"):
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, email.message.EmailMessage)
            self.mails.append(parsed)
            self.recipients.append(list(envelope.rcpt_tos))
        return self.response


@contextlib.contextmanager
def smtp_recorder(**options: Any) -> Iterator[SmtpRecorder]:
    recorder = SmtpRecorder()
    recorder.port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=recorder.port, **options)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpRecorder]:
    with smtp_recorder() as recorder:
        yield recorder


# --- the harness: one adapter wired to its receiver --------------------------------------------


@dataclass
class Harness:
    """An adapter, and what its receiver saw: (what stands for the key, the body) per message."""

    name: str
    adapter: Adapter
    received: Callable[[], list[tuple[str, str]]]
    marker: Callable[[str], str] = lambda key: key


def _console(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    stream = io.StringIO()
    adapter = load_adapter("console", stream=stream, address_fields=fields)

    def received() -> list[tuple[str, str]]:
        return [(line.split("\t")[0], line) for line in stream.getvalue().splitlines()]

    return Harness("console", adapter, received)


def _outbox(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    path = tmp_path / "outbox.jsonl"
    adapter = load_adapter("outbox", path=path, fsync=True, address_fields=fields)

    def received() -> list[tuple[str, str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [(row["key"], row["body"]) for row in map(json.loads, lines)]

    return Harness("outbox", adapter, received)


def _webhook(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    server: HttpRecorder = request.getfixturevalue("http_server")
    adapter = load_adapter("webhook", url=server.url, timeout=TIMEOUT, address_fields=fields)

    def received() -> list[tuple[str, str]]:
        return [(str(key), body["body"]) for key, body in server.requests]

    return Harness("webhook", adapter, received)


def _smtp(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    server: SmtpRecorder = request.getfixturevalue("smtp_server")
    adapter = load_adapter(
        "smtp", host="127.0.0.1", port=server.port, timeout=TIMEOUT, address_fields=fields
    )

    def received() -> list[tuple[str, str]]:
        return [(str(mail["Message-ID"]), _text(mail)) for mail in server.mails]

    return Harness("smtp", adapter, received, message_id)


def _amqp(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    broker: Broker = request.getfixturevalue("broker")
    queue = broker.queue(declare=False)  # the adapter declares it
    adapter = load_adapter(
        "amqp", queue=queue, routing_key=queue, timeout=TIMEOUT, address_fields=fields
    )
    seen: list[tuple[str, str]] = []

    def received() -> list[tuple[str, str]]:
        for properties, body in broker.drain(queue):
            seen.append((str(properties.message_id), json.loads(body)["body"]))
        return seen

    return Harness("amqp", adapter, received)


def _rm_tasks(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    path = tmp_path / "guanxi.db"
    adapter = load_adapter("rm_tasks", database=path, address_fields=fields)

    def received() -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return list(db.execute("SELECT key, body FROM tasks ORDER BY rowid"))

    return Harness("rm_tasks", adapter, received)


def _recording(request: pytest.FixtureRequest, tmp_path: Path, fields: dict[str, str]) -> Harness:
    adapter = load_adapter("recording", clock=lambda: NOW, address_fields=fields)
    assert isinstance(adapter, RecordingAdapter)

    def received() -> list[tuple[str, str]]:
        return [(m.key, m.body) for m in adapter.messages]

    return Harness("recording", adapter, received)


def _text(mail: email.message.EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert isinstance(part, email.message.EmailMessage)
    return str(part.get_content())


HARNESSES = {
    "console": _console,
    "outbox": _outbox,
    "webhook": _webhook,
    "smtp": _smtp,
    "amqp": _amqp,
    "rm_tasks": _rm_tasks,
    "recording": _recording,
}


@pytest.fixture(params=ADAPTERS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, ruleset: RuleSet) -> Iterator[Harness]:
    built = HARNESSES[request.param](request, tmp_path, address_fields(ruleset.policies))
    yield built
    built.adapter.close()


def render(harness: Harness, ruleset: RuleSet, **row: str) -> Message:
    return harness.adapter.render(followup_row(**row), CUSTOMER, ruleset.templates)


# --- the contract ------------------------------------------------------------------------------


def test_every_adapter_is_registered() -> None:
    assert set(ADAPTERS) <= set(adapter_names())


def test_render_is_pure_and_deterministic(harness: Harness, ruleset: RuleSet) -> None:
    row, customer = followup_row(), dict(CUSTOMER)
    before = (copy.deepcopy(row), copy.deepcopy(customer))
    first = harness.adapter.render(row, customer, ruleset.templates)
    second = harness.adapter.render(row, customer, ruleset.templates)
    assert first == second
    assert (row, customer) == before
    assert first.key == "after_purchase.invite_feedback:C0001:E1"
    assert first.subject == "感谢您的信任"
    assert first.body.startswith("张三您好，感谢您购买大额存单。")
    assert first.recipient == "zhangsan@example.com"


def test_render_today_and_step_come_from_the_row(harness: Harness) -> None:
    templates = {"t": Text("{{ today }} {{ step.id }} {{ customer.name }}", None)}
    message = harness.adapter.render(followup_row(template="t"), CUSTOMER, templates)
    assert message.body == "2026-12-01 after_purchase.invite_feedback 张三"


def test_render_errors_are_permanent(harness: Harness, ruleset: RuleSet) -> None:
    with pytest.raises(RenderError, match="no template 'missing'"):
        render(harness, ruleset, template="missing")
    templates = {"t": Text("{{ nickname }}", None)}
    with pytest.raises(PermanentError, match="nickname"):
        harness.adapter.render(followup_row(template="t"), CUSTOMER, templates)


@pytest.mark.parametrize(
    ("lang", "reason"),
    [
        ("en", "template 'invite_feedback': the event of this follow-up has no field 'product';"
               " give the event that field, or write {{ event.product | default('') }} in the"
               " template"),
        ("zh", "模板 'invite_feedback'：这条跟进的事件没有字段 'product'；"
               "请给事件补上该字段，或在模板中写成 {{ event.product | default('') }}"),
    ],
)  # fmt: skip
def test_an_event_field_the_event_lacks_is_named_in_the_render_error(
    ruleset: RuleSet, lang: str, reason: str
) -> None:
    """A sale loaded without `product`: the dead letter says which template reads which
    event field, in the user's language, instead of jinja's "'dict object' has no
    attribute 'product'"."""
    unguarded = {"invite_feedback": Text("感谢您购买{{ event.product }}。", None)}
    row = {**followup_row(), "payload": "{}"}
    with language(lang), pytest.raises(RenderError) as raised:
        load_adapter("console").render(row, CUSTOMER, unguarded)
    assert str(raised.value) == reason


def test_send_delivers_with_the_key(harness: Harness, ruleset: RuleSet) -> None:
    message = render(harness, ruleset)
    receipt = harness.adapter.send(message)
    assert (receipt.key, receipt.adapter) == (message.key, harness.name)
    [(marker, body)] = harness.received()
    assert marker == harness.marker(message.key)
    assert "张三您好，感谢您购买大额存单。" in body


def test_send_keeps_messages_apart(harness: Harness, ruleset: RuleSet) -> None:
    messages = [render(harness, ruleset, occurrence=f"E{n}") for n in range(3)]
    for message in messages:
        harness.adapter.send(message)
    markers = [marker for marker, _ in harness.received()]
    assert markers == [harness.marker(m.key) for m in messages]


@dataclass(frozen=True)
class Text:
    body: str
    subject: str | None


# --- registry ----------------------------------------------------------------------------------


def test_unknown_adapter_lists_the_known_names() -> None:
    with pytest.raises(UnknownAdapterError) as raised:
        load_adapter("smpt")
    text = str(raised.value)
    assert text.startswith("unknown adapter 'smpt'; known adapters: ")
    assert all(name in text for name in ADAPTERS)
    assert "did you mean 'smtp'?" in text


# --- outbox and console ------------------------------------------------------------------------


def test_outbox_never_writes_a_key_twice(tmp_path: Path, ruleset: RuleSet) -> None:
    path = tmp_path / "outbox.jsonl"
    first = load_adapter("outbox", path=path)
    message = first.render(followup_row(), CUSTOMER, ruleset.templates)
    first.send(message)
    assert first.send(message).detail == "already in the outbox"
    first.close()
    with load_adapter("outbox", path=path) as reopened:
        assert reopened.send(message).key == message.key
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1


def test_outbox_cuts_off_a_torn_last_line(tmp_path: Path, ruleset: RuleSet) -> None:
    path = tmp_path / "outbox.jsonl"
    path.write_text('{"key": "a"}\n{"key": "b", "bo', encoding="utf-8")
    with load_adapter("outbox", path=path) as outbox:
        outbox.send(outbox.render(followup_row(), CUSTOMER, ruleset.templates))
    keys = [json.loads(line)["key"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert keys == ["a", "after_purchase.invite_feedback:C0001:E1"]


def test_outbox_refuses_an_address_field_holding_two_addresses(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    """What reads the outbox sends to its recipient: two addresses never get into it (a
    message without one does: its reader may find the customer by id)."""
    path = tmp_path / "outbox.jsonl"
    two = {**CUSTOMER, "email": "zhangsan@example.com, lisi@example.com"}
    none = {**CUSTOMER, "email": None}
    with load_adapter("outbox", path=path, address_fields={"email": "email"}) as outbox:
        with pytest.raises(PermanentError, match="not one address"):
            outbox.send(outbox.render(followup_row(), two, ruleset.templates))
        outbox.send(outbox.render(followup_row("E2"), CUSTOMER, ruleset.templates))
        outbox.send(outbox.render(followup_row("E3"), none, ruleset.templates))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["recipient"] for line in lines] == [CUSTOMER["email"], None]


def test_console_prints_one_line_per_message(ruleset: RuleSet) -> None:
    stream = io.StringIO()
    console = load_adapter("console", stream=stream)
    console.send(console.render(followup_row(), CUSTOMER, ruleset.templates))
    [line] = stream.getvalue().splitlines()
    assert line.startswith("after_purchase.invite_feedback:C0001:E1\temail\t-\t感谢您的信任 | ")


def test_recording_hands_its_records_over_once_and_records_a_key_once(ruleset: RuleSet) -> None:
    moments = iter([NOW, NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=2)])
    recorder = load_adapter("recording", clock=lambda: next(moments))
    assert isinstance(recorder, RecordingAdapter)
    first, second = (render_row(recorder, ruleset, f"E{n}") for n in (1, 2))
    recorder.send(first)
    recorder.send(second)
    assert [(r.at, r.message) for r in recorder.take()] == [
        (NOW, first),
        (NOW + dt.timedelta(hours=1), second),
    ]
    assert recorder.send(first).detail == "already recorded"
    assert recorder.take() == []
    recorder.close()
    with pytest.raises(PermanentError, match="closed"):
        recorder.send(render_row(recorder, ruleset, "E3"))


def render_row(adapter: Adapter, ruleset: RuleSet, occurrence: str) -> Message:
    return adapter.render(followup_row(occurrence), CUSTOMER, ruleset.templates)


# --- webhook faults ----------------------------------------------------------------------------


def webhook(url: str, timeout: float = TIMEOUT) -> Adapter:
    return load_adapter("webhook", url=url, timeout=timeout)


def a_message(ruleset: RuleSet) -> Message:
    return load_adapter("console").render(followup_row(), CUSTOMER, ruleset.templates)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, RetryableError),
        (503, RetryableError),
        (408, RetryableError),
        (429, RetryableError),
        (400, PermanentError),
        (404, PermanentError),
        (422, PermanentError),
    ],
)
def test_webhook_status(
    http_server: HttpRecorder, ruleset: RuleSet, status: int, error: type[Exception]
) -> None:
    http_server.status = status
    with webhook(http_server.url) as adapter, pytest.raises(error, match=f"HTTP {status}"):
        adapter.send(a_message(ruleset))
    [(header, body)] = http_server.requests
    assert header == body["key"] == "after_purchase.invite_feedback:C0001:E1"


def test_webhook_passes_retry_after_on(http_server: HttpRecorder, ruleset: RuleSet) -> None:
    http_server.status, http_server.headers = 429, {"Retry-After": "3"}
    with webhook(http_server.url) as adapter, pytest.raises(RetryableError) as raised:
        adapter.send(a_message(ruleset))
    assert raised.value.retry_after == 3.0


def test_webhook_timeout_is_retryable(http_server: HttpRecorder, ruleset: RuleSet) -> None:
    http_server.delay = 1.0
    started = time.monotonic()
    with webhook(http_server.url, timeout=0.2) as adapter, pytest.raises(RetryableError):
        adapter.send(a_message(ruleset))
    assert time.monotonic() - started < 1.0


def test_webhook_connection_refused_is_retryable(ruleset: RuleSet) -> None:
    url = f"http://127.0.0.1:{free_port()}/notify"
    with webhook(url) as adapter, pytest.raises(RetryableError):
        adapter.send(a_message(ruleset))


def test_webhook_bad_scheme_is_permanent(ruleset: RuleSet) -> None:
    with webhook("ftp://127.0.0.1/notify") as adapter, pytest.raises(PermanentError):
        adapter.send(a_message(ruleset))


# --- smtp faults -------------------------------------------------------------------------------


def smtp(port: int) -> Adapter:
    return load_adapter(
        "smtp", host="127.0.0.1", port=port, timeout=TIMEOUT, address_fields={"email": "email"}
    )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        ("550 5.1.1 Mailbox unavailable", PermanentError),
        ("554 5.7.1 Message refused", PermanentError),
        ("451 4.3.0 Try again later", RetryableError),
        ("452 4.2.2 Mailbox full", RetryableError),
    ],
)
def test_smtp_refusal(
    smtp_server: SmtpRecorder, ruleset: RuleSet, response: str, error: type[Exception]
) -> None:
    smtp_server.response = response
    with smtp(smtp_server.port) as adapter:
        message = adapter.render(followup_row(), CUSTOMER, ruleset.templates)
        with pytest.raises(error, match=response[:3]):
            adapter.send(message)
        smtp_server.response = "250 OK"
        assert adapter.send(message).external_id == message_id(message.key)
    assert len(smtp_server.mails) == 1


def test_smtp_without_server_is_retryable(ruleset: RuleSet) -> None:
    with smtp(free_port()) as adapter, pytest.raises(RetryableError):
        adapter.send(adapter.render(followup_row(), CUSTOMER, ruleset.templates))


def test_smtp_without_address_is_permanent(smtp_server: SmtpRecorder, ruleset: RuleSet) -> None:
    customer = {**CUSTOMER, "email": None}
    with smtp(smtp_server.port) as adapter, pytest.raises(PermanentError, match="no email"):
        adapter.send(adapter.render(followup_row(), customer, ruleset.templates))


def test_smtp_long_chinese_subject_and_body_arrive_intact(smtp_server: SmtpRecorder) -> None:
    subject, body = "季度联合回顾：" + "资金使用与成本节约" * 8, "您好，" * 200
    templates = {"t": Text(body, subject)}
    with smtp(smtp_server.port) as adapter:
        adapter.send(adapter.render(followup_row(template="t"), CUSTOMER, templates))
    [mail] = smtp_server.mails
    assert (str(mail["Subject"]), _text(mail)) == (subject, body)
    assert mail.get_content_charset() == "utf-8"


def test_webhook_reopens_a_kept_alive_connection_the_receiver_closed(ruleset: RuleSet) -> None:
    """A receiver that answers one POST per connection as HTTP/1.1 (keep-alive), then hangs
    up, as one does whose idle timeout ran out: the next POST goes on a new connection."""
    keys: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for _ in range(2):
            connection, _ = listener.accept()
            with connection, connection.makefile("rb") as stream:
                lines = iter(stream.readline, b"\r\n")
                next(lines)  # the request line
                fields = dict(line.decode().strip().split(": ", 1) for line in lines)
                stream.read(int(fields["Content-Length"]))
                keys.append(fields["Idempotency-Key"])
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/notify"
    first, second = (
        a_message(ruleset),
        load_adapter("console").render(followup_row("E2"), CUSTOMER, ruleset.templates),
    )
    with webhook(url) as adapter:
        adapter.send(first)
        time.sleep(0.1)  # the receiver hangs up
        adapter.send(second)
    thread.join(TIMEOUT)
    listener.close()
    assert keys == [first.key, second.key]


def test_smtp_address_smuggling_a_header_is_permanent(smtp_server: SmtpRecorder) -> None:
    customer = {**CUSTOMER, "email": "zhangsan@example.com\r\nBcc: everyone@example.com"}
    templates = {"invite_feedback": Text("您好", "感谢")}
    with smtp(smtp_server.port) as adapter, pytest.raises(PermanentError, match="header"):
        adapter.send(adapter.render(followup_row(), customer, templates))
    assert smtp_server.mails == []


@pytest.mark.parametrize(
    "address",
    [
        "zhangsan@example.com, lisi@example.com",  # two people: one envelope, both in To
        "zhangsan@example.com；lisi@example.com",
        "lisi@example.com>\r\nRCPT TO:<wangwu@example.com",
        "zhangsan@example.com\x00",
        "张三 <zhangsan@example.com>",
        "zhangsan",
        "zhangsan@example.com@lisi.example.com",  # two addresses run together
        "@relay.example:zhangsan@example.com",  # a source route through another server
        "zhangsan@example..com",
        "zhangsan@example.com:25",
        "zhangsan@exam_ple.com",
        "zhangsan@-example.com",
        "zhangsan@example.com.",
        "zhang\u200bsan@example.com",  # a zero-width space: looks like another address
        "\u202emoc.elpmaxe@nasgnahz",  # shown reversed
    ],
)
def test_smtp_refuses_what_is_not_one_email_address(
    smtp_server: SmtpRecorder, address: str
) -> None:
    """An e-mail field holding two addresses, a line break or no domain: dead at once with a
    reason, never a mail whose To shows addresses other than the one it goes to."""
    customer = {**CUSTOMER, "email": address}
    templates = {"invite_feedback": Text("您好", "感谢")}
    with smtp(smtp_server.port) as adapter, pytest.raises(PermanentError, match="not one"):
        adapter.send(adapter.render(followup_row(), customer, templates))
    assert smtp_server.mails == []


def test_smtp_sends_to_a_chinese_address_where_the_server_takes_smtputf8() -> None:
    customer = {**CUSTOMER, "email": "张三@例子.中国"}
    templates = {"invite_feedback": Text("您好", "感谢\r\n您的反馈")}
    with smtp_recorder(enable_SMTPUTF8=True) as server, smtp(server.port) as adapter:
        adapter.send(adapter.render(followup_row(), customer, templates))
    [mail] = server.mails
    assert server.recipients == [["张三@例子.中国"]]
    assert (str(mail["To"]), str(mail["Subject"]), _text(mail)) == (
        "张三@例子.中国",
        "感谢 您的反馈",
        "您好",
    )
    assert mail["Message-ID"] == message_id(followup_row()["key"])


def test_smtp_chinese_address_without_smtputf8_is_permanent_at_once() -> None:
    """A server that cannot take a non-ASCII address will not take it at the next attempt
    either: dead at once, with the reason, and the next mail goes out as usual."""
    chinese = {**CUSTOMER, "email": "张三@例子.中国"}
    templates = {"invite_feedback": Text("您好", "感谢")}
    with smtp_recorder(enable_SMTPUTF8=False) as server, smtp(server.port) as adapter:
        with pytest.raises(PermanentError, match="SMTPUTF8"):
            adapter.send(adapter.render(followup_row(), chinese, templates))
        adapter.send(adapter.render(followup_row("E2"), CUSTOMER, templates))
    assert server.recipients == [["zhangsan@example.com"]]
