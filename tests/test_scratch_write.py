"""A snapshot night's changes reach a SQLite store through a scratch file, a first night's
straight into the assignments (engine/classify/scratch.py): night after night, the store holds
what the row-by-row path writes (assignments, holds, transitions, field history, runs, with
the same SQLite types); a first night finding the store assigned meanwhile takes the general
way; a failure anywhere leaves the store as it was, and the scratch file is detached and
deleted either way."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import scratch as scratch_module
from guanxi.engine.classify import snapshot
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.errors import DataError
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
    times and the counts aside, which hold seconds, and the transitions' ids."""
    found = {}
    for table in TABLES:
        names = [r["name"] for r in store.execute(f"PRAGMA table_info({table})")]
        if table == "classification_runs":
            names = [n for n in names if n not in ("started_at", "finished_at", "counts", "rules")]
        if table == "transitions":  # numbered in whatever order DuckDB handed the changes
            names.remove("id")
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
        assert scratch_module.SCRATCH not in _attached(store)
        # the scratch path writes the first night, if nothing held it back
        assert len(first_inserts) == (0 if general else scratch_nights)
        return written(store), reports, field_history(store)
    finally:
        store.close()


def _counted(calls: list[int]) -> Any:
    def insert_first(*args: Any) -> tuple[int, int, int]:
        calls.append(1)
        return scratch_module.insert_first(*args)

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


IDS = st.text(alphabet="0123456789Kkz_-客户é", min_size=1, max_size=5)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(IDS, min_size=2, max_size=24, unique=True),
    seed=st.integers(0, 2**16),
    repeated=st.booleans(),
)
def test_any_nights_write_what_the_general_path_writes(
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ids: list[str],
    seed: int,
    repeated: bool,
) -> None:
    """Nights over customers of any ids (digits, letters, Chinese), some gone the next
    night and some new, their answers changing and held: the store reads the scratch file
    in place and writes what the row-by-row path writes; a night whose snapshot repeats a
    customer (`repeated`) fails, or passes, alike."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    every = _shuffled_nights(random.Random(seed), ids, 3, repeated)

    def outcome(name: str, general: bool) -> object:
        try:
            return classified_nights(folder / name, ruleset, every, monkeypatch, general)
        except DataError as error:
            return str(error)

    assert outcome("scratch.db", False) == outcome("general.db", True)


def _shuffled_nights(
    rnd: random.Random, ids: list[str], count: int, repeated: bool
) -> list[list[dict[str, Any]]]:
    """`count` nights: the first with half of `ids`; then a few customers gone, a few new and
    a third of the others changed; the last night repeating one of its customers if
    `repeated` (with other values: its answer may differ)."""
    present = {key: customer(rnd, key) for key in ids[: max(1, len(ids) // 2)]}
    found = [list(present.values())]
    for _ in range(count - 1):
        for key in rnd.sample(sorted(present), len(present) // 4):
            del present[key]
        for key in rnd.sample(ids, len(ids) // 4):
            present[key] = customer(rnd, key)
        for key in rnd.sample(sorted(present), len(present) // 3):
            present[key] = customer(rnd, key)
        found.append(list(present.values()))
    if repeated and found[-1]:
        found[-1].append(customer(rnd, rnd.choice(found[-1])["customer_id"]))
    return found


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
    ("night_number", "where"),
    [
        (0, (scratch_module, "_ingest")),  # writing the scratch file
        (0, (snapshot, "insert_first")),  # before the store wrote anything
        (0, (snapshot, "stage_changes")),  # the copy staged on its own thread meanwhile
        (0, (snapshot, "close_run")),  # after it wrote every assignment and transition
        (0, (snapshot, "commit_mirror")),  # after the store committed: the run stands
        (1, (scratch_module, "_ingest")),
        (1, (snapshot, "apply_changes")),  # the changes copied into the store, not applied
        (1, (snapshot, "close_run")),  # the changes applied
        (1, (snapshot, "stage_changes")),
        (1, (snapshot, "commit_mirror")),
    ],
)
def test_a_failure_midway_leaves_the_store_as_it_was(
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_temp: Path,
    night_number: int,
    where: tuple[object, str],
) -> None:
    every = nights(8, 2)
    files = [
        write_snapshot(tmp_path / f"{n}.parquet", rows, ruleset) for n, rows in enumerate(every)
    ]
    store = SQLiteStore(tmp_path / "store.db")
    store.prepare(ruleset.schema)
    try:
        if night_number:
            classify_snapshot(store, ruleset, night(0), files[0])
        before = written(store)
        with monkeypatch.context() as patched:
            patched.setattr(*where, _fail)
            with pytest.raises(OSError):
                classify_snapshot(store, ruleset, night(night_number), files[night_number])
        committed = where[1] == "commit_mirror"
        assert (written(store) == before) != committed
        assert scratch_module.SCRATCH not in _attached(store)
        assert list(own_temp.iterdir()) == []
        classify_snapshot(store, ruleset, night(night_number), files[night_number])  # again
        assert written(store) == _without_failure(tmp_path, ruleset, files, night_number, committed)
    finally:
        store.close()


def _without_failure(
    folder: Path, ruleset: RuleSet, files: list[Path], last: int, twice: bool
) -> dict[str, list[tuple[Any, ...]]]:
    """What a store holds after the nights up to `last` (`twice`: that one run again)."""
    store = SQLiteStore(folder / "reference.db")
    store.prepare(ruleset.schema)
    try:
        for number in [*range(last + 1), *([last] if twice else [])]:
            classify_snapshot(store, ruleset, night(number), files[number])
        return written(store)
    finally:
        store.close()


def test_a_run_removes_the_scratch_folders_of_processes_that_are_gone(
    ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_temp: Path
) -> None:
    """A run killed part way leaves its scratch folder; the next run removes it, and never a
    folder of a process still running (this one's, say) nor a folder of another name."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    left = own_temp / f"{scratch_module.PREFIX}{gone.pid}-abc"
    running = own_temp / f"{scratch_module.PREFIX}{os.getpid()}-def"
    other = own_temp / "guanxi-duckdb"
    for folder in (left, running, other):
        folder.mkdir()
        (folder / "changes.db").write_bytes(b"x" * 10)
    classified_nights(tmp_path / "store.db", ruleset, nights(9, 1), monkeypatch, False)
    assert not left.exists()
    assert running.exists() and other.exists()
