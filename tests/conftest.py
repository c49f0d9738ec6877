"""Fixtures shared by the test modules: the default rule set, a prepared store, the broker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"

# Every store the contract tests run against; a PostgreSQL store joins here (behind a marker).
STORES = ["sqlite"]


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    """The default rule project in rules/."""
    return load_ruleset(RULES)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path, ruleset: RuleSet) -> Iterator[Store]:
    """An empty store, prepared for the default schema."""
    opened = open_test_store(request.param, tmp_path)
    opened.prepare(ruleset.schema)
    yield opened
    opened.close()


def open_test_store(kind: str, tmp_path: Path) -> Store:
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "guanxi.db")
    raise ValueError(f"no test store of kind {kind!r}")


# The RabbitMQ broker the tests publish to; .ci/run starts it when it is not running. A test
# that needs it fails (it does not skip) when it cannot connect.
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class Broker:
    """Declares durable test queues on the real broker, reads them, deletes them afterwards.

    Every call opens its own connection, so it still works after the broker was restarted."""

    def __init__(self) -> None:
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def queue(self, *, declare: bool = True, **arguments: Any) -> str:
        """A new queue name (a test deletes it afterwards), declared durable unless told not;
        `arguments` are the queue's (`x-max-length`, ...)."""
        name = f"guanxi-test-{uuid.uuid4().hex[:12]}"
        self.queues.append(name)
        if declare:
            self.declare(name, **arguments)
        return name

    def declare(self, name: str, **arguments: Any) -> None:
        with self.channel() as channel:
            channel.queue_declare(name, durable=True, arguments=arguments or None)

    def exchange(self) -> str:
        """A new exchange name, not declared yet (a test deletes it afterwards)."""
        name = f"guanxi-test-{uuid.uuid4().hex[:12]}"
        self.exchanges.append(name)
        return name

    def declare_exchange(self, name: str, bind: str) -> None:
        """Declare a direct exchange routing the key `bind` to the queue of that name."""
        with self.channel() as channel:
            channel.exchange_declare(name, "direct")
            channel.queue_bind(bind, name, routing_key=bind)

    def drain(self, name: str) -> list[tuple[pika.BasicProperties, bytes]]:
        """Every message waiting in the queue, taken off it (acknowledged), oldest first."""
        taken = []
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(name, auto_ack=True)
                if method is None:
                    return taken
                taken.append((properties, body))

    @contextlib.contextmanager
    def channel(self) -> Iterator[BlockingChannel]:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        try:
            yield connection.channel()
        finally:
            connection.close()

    def delete_all(self) -> None:
        with self.channel() as channel:
            for name in self.queues:
                channel.queue_delete(name)
            for name in self.exchanges:
                channel.exchange_delete(name)


@pytest.fixture
def broker() -> Iterator[Broker]:
    """The test broker; the queues and exchanges a test made are deleted after it."""
    made = Broker()
    yield made
    made.delete_all()
