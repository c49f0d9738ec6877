"""Fixtures shared by the test modules: the default rule set, a prepared store, the broker.

`store` is a SQLite store; in a test marked `every_store` (or a module with
`pytestmark = pytest.mark.every_store`) it is each store of STORES in turn. The PostgreSQL
tests share one schema of the session, emptied before each test and dropped at the end;
without a server they fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import psycopg
import pytest
from hypothesis import settings
from pika.adapters.blocking_connection import BlockingChannel

from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"

# The tests read English unless they ask for Chinese, whatever the machine's locale
# (`guanxi` otherwise follows LANG / LC_ALL; see guanxi.engine.i18n).
os.environ["GUANXI_LANG"] = "en"

# Property tests check what holds, not how fast (benchmarks/ measures that): a first example
# that imports a module on a busy machine must not fail them as too slow.
settings.register_profile("guanxi", deadline=None)
settings.load_profile("guanxi")


def session_cache() -> Path:
    """Validated rule projects are kept on disk between processes (guanxi.engine.cache): the
    tests, and the commands they start, keep them in a folder of this session, never in the
    home folder. One folder a process (each pytest-xdist worker has its own), made once though
    this file is imported twice (as conftest, and as tests.conftest by modules using it)."""
    mine = f"guanxi-test-cache-{os.getpid()}-"
    given = Path(os.environ.get("GUANXI_CACHE_DIR", ""))
    return given if given.name.startswith(mine) else Path(tempfile.mkdtemp(prefix=mine))


CACHE = session_cache()
os.environ["GUANXI_CACHE_DIR"] = str(CACHE)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(CACHE, ignore_errors=True)


STORES = ["sqlite", "postgresql"]
POSTGRES = os.environ.get("GUANXI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames:
        every = metafunc.definition.get_closest_marker("every_store") is not None
        metafunc.parametrize("store", STORES if every else ["sqlite"], indirect=True)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core and one more. A worker spends about a third of its time
    waiting (on the commands it starts, the servers, a daemon's tick), and the extra worker
    uses that time."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files marked `takes_minutes` first, each file's tests together and in order: in
    parallel (`--dist loadfile`) the workers take the long files first and share out the short
    ones after them, instead of one worker running a long file alone at the end."""
    long_files = {item.path for item in items if item.get_closest_marker("takes_minutes")}
    items.sort(key=lambda item: item.path not in long_files)


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    """The default rule project in rules/."""
    return load_ruleset(RULES)


def unheld_rules(folder: Path) -> Path:
    """A copy of the default rule project whose tiers do not hold: a change shows at the next
    run, for tests about something else that move a customer in one run."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    tiers = folder / "tiers.yaml"
    lines = tiers.read_text("utf-8").splitlines(keepends=True)
    tiers.write_text("".join(line for line in lines if not line.startswith("hold:")), "utf-8")
    return folder


@pytest.fixture(scope="session")
def unheld(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default rule project without its hold (see unheld_rules)."""
    return load_ruleset(unheld_rules(tmp_path_factory.mktemp("unheld") / "rules"))


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path, ruleset: RuleSet) -> Iterator[Store]:
    """An empty store, prepared for the default schema."""
    if request.param == "postgresql":
        opened: Store = PostgresStore(request.getfixturevalue("postgres_emptied"))
    else:
        opened = SQLiteStore(tmp_path / "guanxi.db")
    opened.prepare(ruleset.schema)
    yield opened
    opened.close()


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


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for every test that needs one (its JVM takes seconds to
    start)."""
    from guanxi.engine.classify.spark import start_spark

    session = start_spark("local[2]")
    yield session
    session.stop()


# The tests run in parallel (pytest-xdist), but a test marked `restarts_broker` stops the broker:
# it holds this lock alone, every other broker test holds it shared. The file is the same for
# every worker and every session on the machine.
BROKER_LOCK = Path(tempfile.gettempdir()) / "guanxi-tests-broker.lock"


@contextmanager
def broker_lock(alone: bool) -> Iterator[None]:
    with BROKER_LOCK.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """The test broker; the queues and exchanges a test made are deleted after it. No test
    restarts the broker meanwhile unless this one is marked `restarts_broker`."""
    alone = request.node.get_closest_marker("restarts_broker") is not None
    with broker_lock(alone):
        made = Broker()
        yield made
        made.delete_all()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of the test database with a new, empty schema of its own (no tables yet)."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[tuple[str, str]]:
    """One schema for the session's PostgreSQL tests, migrated once: its URL, and the SQL that
    empties it again (creating and migrating a schema for each test takes most of a second)."""
    with postgres_schema() as url:
        store = PostgresStore(url)
        tables = store.execute(
            "SELECT table_name AS t FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name <> 'guanxi_migrations'"
            " AND table_type = 'BASE TABLE'"  # not the views
        )
        counters = store.execute(
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        )
        store.close()
        empty = ["DROP TABLE IF EXISTS customers"]
        # TRUNCATE: the append-only audit log refuses DELETE (its trigger fires per row)
        empty += [
            f"{'TRUNCATE' if row['t'] == 'audit_log' else 'DELETE FROM'} {row['t']}"
            for row in tables
        ]
        empty += [
            f"SELECT setval(pg_get_serial_sequence('{row['t']}', '{row['c']}'), 1, false)"
            for row in counters
        ]
        yield url, "; ".join(empty)


@pytest.fixture
def postgres_emptied(postgres_migrated: tuple[str, str]) -> str:
    """The session's PostgreSQL schema with every table empty (no customers table): as a new
    store, with every migration applied."""
    url, empty = postgres_migrated
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a store left open fails the test, no hang
        conn.execute(empty)
    return url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test database whose tables live in a new schema, dropped afterwards."""
    schema = f"gx_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES else "?"
    # a test's writes need not survive a crash of the server: no wait for the disk
    options = quote(f"-csearch_path={schema} -csynchronous_commit=off")
    try:
        yield f"{POSTGRES}{separator}options={options}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute("SET lock_timeout = '10s'")
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
