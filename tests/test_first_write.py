"""The first write-back into a SQLite store without assignments goes through a scratch file
(engine/classify/first_write.py): it writes what the general path writes (assignments, holds,
transitions, field history, runs, with the same SQLite types), night after night; when
another run assigned customers meanwhile it takes the general path; a failure anywhere
leaves the store as it was, and the scratch file is detached and deleted either way."""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import first_write, snapshot
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_assignment_changes import customer, field_history, night, nights
from tests.test_classify import write_snapshot
from tests.test_field_history import change_rules

NOW = night(0)
TABLES = ("assignments", "assignment_changes", "transitions", "classification_runs")


@pytest.fixture(scope="module")
def with_history(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default rules (held two runs) with change measures: every run keeps history."""
    return load_ruleset(change_rules(tmp_path_factory.mktemp("history") / "rules"))


@pytest.fixture(autouse=True)
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The scratch files' folder, this test's own: what is left there is this test's."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@contextlib.contextmanager
def _no_scratch(*_: object) -> Iterator[None]:
    yield None


def written(store: SQLiteStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a run writes, each value with its SQLite type; the run's
    times and the counts aside, which hold seconds."""
    found = {}
    for table in TABLES:
        names = [r["name"] for r in store.execute(f"PRAGMA table_info({table})")]
        if table == "classification_runs":
            names = [n for n in names if n not in ("started_at", "finished_at", "counts", "rules")]
        columns = ", ".join(f"{n}, typeof({n})" for n in names)
        rows = store.db.conn.execute(f"SELECT {columns} FROM {table}").fetchall()
        found[table] = sorted(rows, key=repr)
    return found


def classified_nights(
    path: Path,
    ruleset: RuleSet,
    every: list[list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    general: bool,
    scratch_nights: int = 1,
) -> tuple[dict[str, list[tuple[Any, ...]]], list[Any], list[tuple[Any, ...]]]:
    """The nights classified into a new store at `path`, the first one by the general path
    if `general` (else `scratch_nights` of them through the scratch); what the store holds,
    the reports' counts and the field history."""
    store = SQLiteStore(path)
    store.prepare(ruleset.schema)
    reports: list[Any] = []
    first_inserts: list[int] = []
    try:
        for number, rows in enumerate(every):
            file = write_snapshot(path.with_name(f"{path.stem}-{number}.parquet"), rows, ruleset)
            with monkeypatch.context() as patched:
                if general:
                    patched.setattr(snapshot, "scratch_changes", _no_scratch)
                patched.setattr(snapshot, "insert_first", _counted(first_inserts))
                report = classify_snapshot(store, ruleset, night(number), file)
            counts = (report.customers, report.changed, report.transitions, report.held)
            reports.append((counts, report.cells))
        assert first_write.SCRATCH not in _attached(store)
        # the scratch path writes the first night, if nothing held it back
        assert len(first_inserts) == (0 if general else scratch_nights)
        return written(store), reports, field_history(store)
    finally:
        store.close()


def _counted(calls: list[int]) -> Any:
    def insert_first(*args: Any) -> tuple[int, int, int]:
        calls.append(1)
        return first_write.insert_first(*args)

    return insert_first


def _attached(store: SQLiteStore) -> list[str]:
    return [row["name"] for row in store.execute("PRAGMA database_list")]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nights_from_an_empty_store_write_what_the_general_path_writes(
    with_history: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    every = nights(seed, 4)
    scratch = classified_nights(tmp_path / "scratch.db", with_history, every, monkeypatch, False)
    general = classified_nights(tmp_path / "general.db", with_history, every, monkeypatch, True)
    assert scratch == general
    tables, reports, history = scratch
    assert tables["transitions"] and history  # there was something to compare
    assert any(counts[3] > 0 for counts, _ in reports)  # and the holds kept some customers


customers = st.lists(
    st.tuples(st.integers(0, 10**6), st.booleans()),
    min_size=0,
    max_size=40,
    unique_by=lambda c: c[0],
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=customers)
def test_any_first_night_writes_what_the_general_path_writes(
    ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drawn: list[tuple[int, bool]]
) -> None:
    """Customers of any ids (numbers of any length, so that text and number order differ),
    some of them without a strategy or a tier."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    rows = [customer(random.Random(key), f"{key}" if plain else f"K{key}") for key, plain in drawn]
    every = [rows]
    scratch = classified_nights(folder / "scratch.db", ruleset, every, monkeypatch, False)
    general = classified_nights(folder / "general.db", ruleset, every, monkeypatch, True)
    assert scratch == general


def test_a_store_assigned_meanwhile_takes_the_general_path(
    ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scratch is ready but the store, checked again inside the transaction, holds
    assignments now: the run writes as the general path would."""
    every = nights(7, 2)
    monkeypatch.setattr(snapshot, "still_empty", lambda _: False)
    raced = classified_nights(tmp_path / "raced.db", ruleset, every, monkeypatch, False, 0)
    general = classified_nights(tmp_path / "general.db", ruleset, every, monkeypatch, True)
    assert raced == general


def _fail(*_: object, **__: object) -> None:
    raise OSError("the disk is full")


@pytest.mark.parametrize(
    "where",
    [
        (first_write, "_ingest"),  # writing the scratch file
        (snapshot, "insert_first"),  # before the store wrote anything
        (snapshot, "close_run"),  # after it wrote every assignment and transition
        (snapshot, "commit_mirror"),  # after the store committed: the run stands
    ],
)
def test_a_failure_midway_leaves_the_store_as_it_was(
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_temp: Path,
    where: tuple[object, str],
) -> None:
    rows = nights(8, 1)[0]
    file = write_snapshot(tmp_path / "night.parquet", rows, ruleset)
    store = SQLiteStore(tmp_path / "store.db")
    store.prepare(ruleset.schema)
    try:
        empty = written(store)
        with monkeypatch.context() as patched:
            patched.setattr(*where, _fail)
            with pytest.raises(OSError):
                classify_snapshot(store, ruleset, NOW, file)
        committed = where[1] == "commit_mirror"
        assert (written(store) == empty) != committed
        assert first_write.SCRATCH not in _attached(store)
        assert list(own_temp.iterdir()) == []
        report = classify_snapshot(store, ruleset, NOW, file)  # the same night again
        assert report.changed == (0 if committed else len(rows))
    finally:
        store.close()
