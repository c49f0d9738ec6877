"""The amqp adapter against the RabbitMQ broker at 127.0.0.1:5672: what each fault becomes.

The contract every adapter keeps is in test_adapters.py; a broker restart in
test_amqp_restart.py. A `FreezingProxy` between adapter and broker stands for a broker that
stops answering, or a connection that breaks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from guanxi.adapters.base import Adapter, Message, PermanentError, RetryableError
from guanxi.adapters.registry import load_adapter

if TYPE_CHECKING:
    from conftest import Broker

TIMEOUT = 2.0
MESSAGE = Message(
    key="after_purchase.invite_feedback:C0001:E1",
    customer_id="C0001",
    step_id="after_purchase.invite_feedback",
    kind="message",
    channel="email",
    recipient="zhangsan@example.com",
    subject="感谢您的信任",
    body="张三您好，感谢您购买大额存单。",
    metadata={"template": "invite_feedback", "priority": 50},
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def amqp(**options: Any) -> Adapter:
    options.setdefault("timeout", TIMEOUT)
    return load_adapter("amqp", **options)


def test_publishes_persistent_json_keyed_by_the_idempotency_key(broker: Broker) -> None:
    queue = broker.queue()
    with amqp(routing_key=queue) as adapter:
        receipt = adapter.send(MESSAGE)
    [(properties, body)] = broker.drain(queue)
    assert properties.message_id == MESSAGE.key == receipt.key
    assert (properties.delivery_mode, properties.content_type) == (2, "application/json")
    assert json.loads(body) == MESSAGE.as_json()
    assert receipt.detail == f"exchange '(default)', routing key '{queue}'"


def test_a_key_too_long_for_message_id_goes_as_its_digest(broker: Broker) -> None:
    """Chinese customer and event ids take three bytes a character: a key past the 255 bytes
    AMQP's message_id holds is published under its digest, instead of failing every attempt."""
    key = "售后邀请反馈:" + "客户" * 32 + ":" + "销售单号" * 16
    message = replace(MESSAGE, key=key)
    queue = broker.queue()
    with amqp(routing_key=queue) as adapter:
        assert adapter.send(message).key == key
    [(properties, body)] = broker.drain(queue)
    assert properties.message_id == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert json.loads(body)["key"] == key


def test_routing_key_defaults_to_the_channel(broker: Broker) -> None:
    queue = broker.queue(declare=False)
    with amqp(queue=queue) as adapter, pytest.raises(RetryableError, match="unroutable"):
        adapter.send(MESSAGE)  # routed to 'email', where no queue is
    assert MESSAGE.channel == "email" and broker.drain(queue) == []


def test_unroutable_is_retryable_and_goes_through_once_the_queue_exists(broker: Broker) -> None:
    queue = broker.queue(declare=False)  # its consumer has not declared it yet
    with amqp(routing_key=queue) as adapter:
        with pytest.raises(RetryableError, match="unroutable: no queue is bound"):
            adapter.send(MESSAGE)
        broker.declare(queue)
        adapter.send(MESSAGE)
    assert [p.message_id for p, _ in broker.drain(queue)] == [MESSAGE.key]


@pytest.mark.parametrize("phone", ["13800138000;13900139000", "13800138000\n13900139000"])
def test_an_address_field_holding_two_numbers_is_not_published(broker: Broker, phone: str) -> None:
    """The consumer would text whatever the recipient holds: two numbers never leave guanxi,
    the message is dead at once with the reason, and the next one is published."""
    queue = broker.queue()
    two = replace(MESSAGE, channel="sms", recipient=phone)
    one = replace(MESSAGE, key="k2", channel="sms", recipient="13800138000")
    with amqp(routing_key=queue, address_fields={"sms": "phone"}) as adapter:
        with pytest.raises(PermanentError, match=r"not one address|more than one number"):
            adapter.send(two)
        adapter.send(one)
    assert [json.loads(body)["recipient"] for _, body in broker.drain(queue)] == ["13800138000"]


def test_nack_is_retryable(broker: Broker) -> None:
    queue = broker.queue(**{"x-max-length": 1, "x-overflow": "reject-publish"})
    first, second = MESSAGE, replace(MESSAGE, key="k2")
    with amqp(routing_key=queue) as adapter:
        adapter.send(first)
        with pytest.raises(RetryableError, match=r"refused the message \(nack\)"):
            adapter.send(second)  # the queue is full
        assert [p.message_id for p, _ in broker.drain(queue)] == [first.key]
        adapter.send(second)
    assert [p.message_id for p, _ in broker.drain(queue)] == ["k2"]


def test_unknown_exchange_is_permanent_until_it_is_declared(broker: Broker) -> None:
    queue, exchange = broker.queue(), broker.exchange()
    with amqp(exchange=exchange, routing_key=queue) as adapter:
        with pytest.raises(PermanentError, match=f"404 NOT_FOUND - no exchange '{exchange}'"):
            adapter.send(MESSAGE)
        broker.declare_exchange(exchange, bind=queue)
        adapter.send(MESSAGE)  # a new channel on the same connection
    assert [p.message_id for p, _ in broker.drain(queue)] == [MESSAGE.key]


def test_queue_declared_with_other_arguments_is_permanent(broker: Broker) -> None:
    queue = broker.queue(declare=False)
    with broker.channel() as channel:
        channel.queue_declare(queue)  # transient; the adapter declares it durable
    with amqp(queue=queue) as adapter, pytest.raises(PermanentError, match="406 PRECONDITION"):
        adapter.send(MESSAGE)


@pytest.mark.usefixtures("broker")  # the broker answers: not in a restart
def test_refused_login_is_permanent_and_hides_the_password() -> None:
    url = "amqp://guest:s3cret@127.0.0.1:5672/%2F"
    with amqp(url=url) as adapter, pytest.raises(PermanentError) as raised:
        adapter.send(MESSAGE)
    assert "ACCESS_REFUSED" in str(raised.value)
    assert "s3cret" not in str(raised.value) and "guest:***@" in str(raised.value)


def test_broker_down_is_retryable() -> None:
    url = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    started = time.monotonic()
    with amqp(url=url) as adapter, pytest.raises(RetryableError, match="refused"):
        adapter.send(MESSAGE)
    assert time.monotonic() - started < TIMEOUT


def test_bad_url_is_permanent() -> None:
    with pytest.raises(PermanentError, match="must start with amqp://") as raised:
        load_adapter("amqp", url="http://guest:s3cret@127.0.0.1/")
    assert "s3cret" not in str(raised.value)
    with pytest.raises(PermanentError, match="Unknown URL parameter: 'colour'"):
        load_adapter("amqp", url="amqp://127.0.0.1/?colour=blue")


class FreezingProxy:
    """A TCP relay to the broker that can stop passing bytes on, as a broker that hangs or a
    network that drops packets does; what it holds is passed on when it thaws."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.target = target
        self.frozen = threading.Event()
        self.sockets: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"amqp://guest:guest@127.0.0.1:{self.server.getsockname()[1]}/%2F"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.server.accept()
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError), source, sink:
            while data := source.recv(65536):
                while self.frozen.is_set():
                    time.sleep(0.01)
                sink.sendall(data)

    def cut(self) -> None:
        """Break every relayed connection, as a broker restart or a firewall's timeout does."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.frozen.clear()
        self.server.close()
        self.cut()


@pytest.fixture
def proxy() -> Iterator[FreezingProxy]:
    relay = FreezingProxy()
    yield relay
    relay.close()


def test_no_confirm_in_time_is_retryable_and_the_next_send_reconnects(
    broker: Broker, proxy: FreezingProxy
) -> None:
    queue = broker.queue()
    with amqp(url=proxy.url, routing_key=queue, timeout=0.3) as adapter:
        adapter.send(MESSAGE)
        proxy.frozen.set()
        started = time.monotonic()
        with pytest.raises(RetryableError, match=r"no answer from the broker within 0.3 s"):
            adapter.send(MESSAGE)
        assert time.monotonic() - started < TIMEOUT  # the 0.3 s, not pika's unbounded wait
        proxy.frozen.clear()
        adapter.send(MESSAGE)
    # the unconfirmed copy may still have reached the queue: the same message_id tells it apart
    ids = [p.message_id for p, _ in broker.drain(queue)]
    assert set(ids) == {MESSAGE.key} and 2 <= len(ids) <= 3


def test_connection_lost_while_idle_is_replaced_before_publishing(
    broker: Broker, proxy: FreezingProxy
) -> None:
    queue = broker.queue()
    first, second = MESSAGE, replace(MESSAGE, key="k2")
    with amqp(url=proxy.url, routing_key=queue) as adapter:
        adapter.send(first)
        proxy.cut()
        time.sleep(0.05)  # the relay closes its ends
        adapter.send(second)
    assert [p.message_id for p, _ in broker.drain(queue)] == [first.key, "k2"]
