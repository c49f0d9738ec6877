"""Publishing to RabbitMQ (AMQP 0-9-1) with publisher confirms, one connection kept open.

Each message is published as its JSON (`Message.as_json()`), persistent (delivery mode 2), with
`message_id` = the idempotency key, so a consumer can drop a copy published again after a lost
confirm. AMQP holds at most 255 bytes there: a longer key (Chinese ids take three bytes a
character) goes as `sha256:` and its hex digest, as stable as the key; the body has it whole.
`mandatory` is set: a message that no queue takes comes back instead of vanishing.

    confirmed (Basic.Ack), routed          delivered
    returned: no queue bound for the key   RetryableError: nothing was enqueued, so sending
                                           again is safe, and the consumer that declares the
                                           queue may simply not have started yet
    nacked by the broker                   RetryableError
    no confirm within `timeout`            RetryableError; the connection is dropped
    connection refused, lost or closed     RetryableError; the next send reconnects
    no such exchange (404), access         PermanentError: the broker's configuration or the
    refused (403), queue declared with     credentials must change first
    other arguments (406), login refused
    a URL that is not amqp:// or amqps://  PermanentError, raised when the adapter is made
    not one recipient                      PermanentError, nothing published: an address field
                                           that holds two numbers or addresses (recipients.py);
                                           an empty one is published without a recipient

The password in the URL never appears in an error message (`amqp://guest:***@host/`).

A connection that died while idle (broker restarted, heartbeat missed) is noticed before
publishing and replaced at once: no message was handed to it, so nothing can be duplicated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import pika
import pika.exceptions as amqp_errors
from pika.adapters.blocking_connection import BlockingChannel
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from guanxi.adapters.base import (
    Adapter,
    AdapterError,
    Message,
    PermanentError,
    Receipt,
    RetryableError,
    seconds_option,
)
from guanxi.adapters.recipients import one_recipient
from guanxi.engine.privacy.secrets import mask_secrets

TIMEOUT = 10.0  # seconds each wait for the broker may take, by default
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
SHORT_STRING = 255  # bytes an AMQP property such as message_id may hold

# Reply codes after which sending again cannot help until someone changes the broker's setup.
PERMANENT_CODES = frozenset({403, 404, 406, 530})

# Everything pika raises when talking to the broker fails (its connector's errors, such as a
# handshake timeout, are not AMQPErrors), and the socket's own errors.
FAILURES = (amqp_errors.AMQPError, AMQPConnectorException, OSError)


class BrokerTimeout(amqp_errors.AMQPConnectionError):
    """The broker did not answer within the adapter's timeout."""


class AmqpAdapter(Adapter):
    """Publishes each message to `exchange` ("" is the default exchange) with `routing_key`,
    or the message's channel name when none is given. `queue`, when given, is declared durable
    on connecting (on the default exchange its name is its routing key). `timeout` in seconds
    bounds connecting and every wait for the broker, confirms included."""

    name = "amqp"

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        exchange: str = "",
        routing_key: str | None = None,
        queue: str | None = None,
        timeout: float = TIMEOUT,
        address_fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.url, self.exchange, self.routing_key = url, exchange, routing_key
        self.queue, self.timeout = queue, timeout
        self._parameters = _parameters(url, timeout)
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    @classmethod
    def longest_send(cls, options: Mapping[str, Any]) -> float | None:
        """`timeout` bounds connecting, opening the channel and the publisher confirm."""
        timeout = seconds_option(options, "timeout", TIMEOUT)
        return None if timeout is None else 3 * timeout

    @classmethod
    def checked_recipient(cls, message: Message, address_fields: Mapping[str, str]) -> str | None:
        """None passes: the receiver finds the customer by id."""
        return one_recipient(cls.name, message, False, address_fields.get(message.channel))

    def send(self, message: Message) -> Receipt:
        self.checked_recipient(message, self.address_fields)
        routing_key = self.routing_key or message.channel
        channel = self._ready_channel()
        try:
            with self._deadline("a publisher confirm"):
                channel.basic_publish(
                    self.exchange, routing_key, _body(message), _properties(message), True
                )
        except FAILURES as error:
            raise self._failed(error, f"publishing {message.key}") from error
        where = f"exchange {self.exchange or '(default)'!r}, routing key {routing_key!r}"
        return Receipt(message.key, self.name, None, where)

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with (
                contextlib.suppress(*FAILURES),
                _deadline(connection, self.timeout, "closing"),
            ):
                connection.close()

    def _ready_channel(self) -> BlockingChannel:
        """The open confirm-mode channel, reconnecting when the connection or channel is gone."""
        self._notice_closed_connection()
        if self._connection is None:
            self._connection = self._connect()
        if self._channel is None or not self._channel.is_open:
            self._channel = self._open_channel(self._connection)
        return self._channel

    def _notice_closed_connection(self) -> None:
        """Read what the broker sent while we were idle; a close or EOF drops the connection."""
        if self._connection is None:
            return
        try:
            with self._deadline("reading"):
                self._connection.process_data_events(0)
        except FAILURES:
            self._abandon()
            return
        if not self._connection.is_open:
            self._abandon()

    def _connect(self) -> pika.BlockingConnection:
        try:
            return pika.BlockingConnection(self._parameters)
        except FAILURES as error:
            raise _classify(error, f"amqp {mask_secrets(self.url)}: connecting") from error

    def _open_channel(self, connection: pika.BlockingConnection) -> BlockingChannel:
        try:
            with _deadline(connection, self.timeout, "opening a channel"):
                channel = connection.channel()
                channel.confirm_delivery()
                if self.queue is not None:
                    channel.queue_declare(self.queue, durable=True)
        except FAILURES as error:
            raise self._failed(error, "opening a channel") from error
        return channel

    def _failed(self, error: Exception, doing: str) -> AdapterError:
        """Give the connection up when the error concerns it (a channel closed by the broker is
        reopened by the next send); classify the error."""
        if isinstance(error, amqp_errors.AMQPConnectionError | AMQPConnectorException | OSError):
            self._abandon()
        return _classify(error, f"amqp {mask_secrets(self.url)}: {doing}")

    def _abandon(self) -> None:
        """Give the connection up without waiting for the broker; the next send reconnects."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            _terminate(connection, amqp_errors.AMQPConnectionError("abandoned after an error"))
            with contextlib.suppress(*FAILURES):
                connection.process_data_events(0)  # lets pika close its socket and I/O loop

    def _deadline(self, waiting_for: str) -> contextlib.AbstractContextManager[None]:
        assert self._connection is not None
        return _deadline(self._connection, self.timeout, waiting_for)


@contextlib.contextmanager
def _deadline(
    connection: pika.BlockingConnection, seconds: float, waiting_for: str
) -> Iterator[None]:
    """End the connection with `BrokerTimeout` when the broker has not answered in time.

    BlockingConnection waits for confirms without a limit; its own heartbeat check ends a
    silent connection the same way, by terminating the stream from a timer on its I/O loop.
    """
    impl = cast(Any, connection)._impl
    text = f"no answer from the broker within {seconds:g} s ({waiting_for})"
    timer = impl.ioloop.call_later(seconds, lambda: _terminate(connection, BrokerTimeout(text)))
    try:
        yield
    finally:
        impl.ioloop.remove_timeout(timer)


def _terminate(connection: pika.BlockingConnection, error: Exception) -> None:
    impl = cast(Any, connection)._impl
    if not impl.is_closed:
        impl._terminate_stream(error)


def _classify(error: Exception, context: str) -> AdapterError:
    text = f"{context}: {_describe(error)}"
    if _is_permanent(error):
        return PermanentError(text)
    return RetryableError(text)


def _is_permanent(error: Exception) -> bool:
    if isinstance(error, amqp_errors.AuthenticationError | amqp_errors.ProbableAuthenticationError):
        return True
    if isinstance(error, amqp_errors.ProbableAccessDeniedError):
        return True
    if isinstance(error, amqp_errors.ChannelClosedByBroker | amqp_errors.ConnectionClosedByBroker):
        return error.reply_code in PERMANENT_CODES
    return False


def _describe(error: Exception) -> str:
    if isinstance(error, amqp_errors.UnroutableError):
        return "unroutable: no queue is bound for this routing key"
    if isinstance(error, amqp_errors.NackError):
        return "the broker refused the message (nack)"
    if isinstance(error, amqp_errors.ChannelClosed | amqp_errors.ConnectionClosed):
        return f"{error.reply_code} {error.reply_text}"
    # pika's connection errors print empty; what they wrap says why (refused, timed out)
    detail = str(error) or ", ".join(str(arg) or repr(arg) for arg in error.args)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _body(message: Message) -> bytes:
    return json.dumps(message.as_json(), ensure_ascii=False, default=str).encode("utf-8")


def _properties(message: Message) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message_id(message.key),
        type=message.kind,
        app_id="guanxi",
    )


def message_id(key: str) -> str:
    """The AMQP `message_id` for an idempotency key: the key when it fits a short string."""
    if len(key.encode("utf-8")) <= SHORT_STRING:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _parameters(url: str, timeout: float) -> pika.URLParameters:
    """Connection parameters from the URL; `timeout` bounds connecting and a blocked broker."""
    if urlsplit(url).scheme not in ("amqp", "amqps"):
        raise PermanentError(
            f"amqp {mask_secrets(url)}: the URL must start with amqp:// or amqps://"
        )
    try:
        parameters = pika.URLParameters(url)
    except ValueError as error:
        raise PermanentError(f"amqp {mask_secrets(url)}: {error}") from error
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    parameters.connection_attempts = 1
    return parameters
