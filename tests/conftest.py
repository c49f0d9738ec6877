"""Fixtures shared by the test modules: the default rule set and a prepared store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
