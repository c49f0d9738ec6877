"""Planning reads each customer's profile once a call and keeps it between chunks: the same
events, follow-ups and verdicts as reading every chunk's profiles afresh, on every store."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.ingest import load_events
from guanxi.engine.plan import events as planner
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import postgres_schema
from tests.test_events_fast_path import NOW, TABLES, files
from tests.test_plan_events import customer

Opened = Callable[[str], AbstractContextManager[Store]]
CUSTOMERS = [("C1", "responsible", "RM001"), ("C2", "proactive", "RM002"), ("C3", "partner", None)]


@contextmanager
def sqlite_store(folder: Path, name: str) -> Iterator[Store]:
    store = SQLiteStore(folder / f"{name}.db")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def postgres_store() -> Iterator[Store]:
    with postgres_schema() as url:
        store = PostgresStore(url)
        try:
            yield store
        finally:
            store.close()


def planned(
    ruleset: RuleSet, opened: AbstractContextManager[Store], text: str, folder: Path, kept: int
) -> dict[str, Any]:
    """The tables after loading `text` and planning it three events a chunk, with at most
    `kept` profiles kept between chunks (0: every chunk reads its own, as before)."""
    with opened as store, pytest.MonkeyPatch.context() as patch:
        store.prepare(ruleset.schema)
        for key, level, owner in CUSTOMERS:
            customer(store, ruleset, key, level, rm_id=owner)
        path = folder / "events.jsonl"
        path.write_text(text, encoding="utf-8")
        load_events(store, ruleset, path, NOW)
        patch.setattr(planner, "CHUNK", 3)  # a customer's events over several chunks
        patch.setattr(planner, "PROFILES_KEPT", kept)
        report = plan_new_events(store, ruleset, NOW)
        found: dict[str, Any] = {name: store.execute(sql) for name, sql in TABLES.items()}
        for row in found["followups"]:
            row.pop("batch")
        found["plan"] = (
            report.events,
            report.matched,
            report.planned,
            report.cancelled,
            report.no_profile,
            report.too_old,
            report.failed,
            dict(report.by_step),
        )
        return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=files(), kept=st.sampled_from([1, 2, 4, 10**6]))
def test_profiles_kept_between_chunks_plan_as_profiles_read_each_chunk_sqlite(
    ruleset: RuleSet, text: str, kept: int
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        before = planned(ruleset, sqlite_store(folder, "before"), text, folder, 0)
        after = planned(ruleset, sqlite_store(folder, "after"), text, folder, kept)
    assert after == before


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=files(), kept=st.sampled_from([2, 10**6]))
def test_profiles_kept_between_chunks_plan_as_profiles_read_each_chunk_postgresql(
    ruleset: RuleSet, text: str, kept: int
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        before = planned(ruleset, postgres_store(), text, folder, 0)
        after = planned(ruleset, postgres_store(), text, folder, kept)
    assert after == before


def test_bulk_writes_restore_the_checkpoint_interval(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "guanxi.db")
    try:
        [before] = store.execute("PRAGMA wal_autocheckpoint")
        with store.bulk_writes():
            [during] = store.execute("PRAGMA wal_autocheckpoint")
            with store.bulk_writes():  # nested: the outer interval stands
                [nested] = store.execute("PRAGMA wal_autocheckpoint")
        [after] = store.execute("PRAGMA wal_autocheckpoint")
    finally:
        store.close()
    interval = "wal_autocheckpoint"
    assert during[interval] == nested[interval] > before[interval] == after[interval]
