"""Fixtures shared by the test modules: the default rule set and a prepared store.

`store` is a SQLite store; in a test marked `every_store` (or a module with
`pytestmark = pytest.mark.every_store`) it is each store of STORES in turn. The PostgreSQL
store gets a schema of its own, dropped afterwards; without a server the test fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

RULES = Path(__file__).parent.parent / "rules"

STORES = ["sqlite", "postgresql"]
POSTGRES = os.environ.get("GUANXI_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames:
        every = metafunc.definition.get_closest_marker("every_store") is not None
        metafunc.parametrize("store", STORES if every else ["sqlite"], indirect=True)


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    """The default rule project in rules/."""
    return load_ruleset(RULES)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path, ruleset: RuleSet) -> Iterator[Store]:
    """An empty store, prepared for the default schema."""
    with test_store(request.param, tmp_path) as opened:
        opened.prepare(ruleset.schema)
        yield opened


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of the test database with a new, empty schema of its own."""
    with postgres_schema() as url:
        yield url


@contextmanager
def test_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    if kind == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "guanxi.db")
        yield opened
        opened.close()
        return
    if kind != "postgresql":
        raise ValueError(f"no test store of kind {kind!r}")
    with postgres_schema() as url:
        opened = PostgresStore(url)
        try:
            yield opened
        finally:
            opened.close()


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
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
