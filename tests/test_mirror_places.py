"""The snapshot engine's copy of the assignments (mirror.py) applies a night's changes by the
places its comparison found the old rows at: night after night (customers arriving, leaving
and coming back, answers held, ids repeated in a snapshot, the copy closed and opened again
in between), the copy equals the old copy with the changes put in by id, and the changes are
those the comparison by id gives. The answers are codes, as in the copy (codes.py)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.classify.codes import CODE
from guanxi.engine.classify.hold import LADDERS, held_changes
from guanxi.engine.classify.mirror import COLUMNS, TABLE, TYPES, commit_mirror, stage_changes
from guanxi.engine.classify.snapshot import CHANGES, RESULT, _find_changes, connect
from guanxi.engine.errors import DataError

IDS = [f"C{i}" for i in range(8)]
CODES = st.sampled_from([None, 0, 1])
ANSWER = st.fixed_dictionaries({"gold": st.booleans(), **{kind: CODES for kind in LADDERS}})
ONCE = st.dictionaries(st.sampled_from(IDS), ANSWER, max_size=len(IDS))
REPEATED = st.lists(st.tuples(st.sampled_from(IDS), ANSWER), max_size=1)  # now and then
SNAPSHOT = st.builds(lambda once, again: [*once.items(), *again], ONCE, REPEATED)
HOLD = st.fixed_dictionaries({kind: st.integers(1, 3) for kind in LADDERS})
Copy = Counter[tuple[Any, ...]]


@settings(max_examples=60, deadline=None)
@given(nights=st.lists(SNAPSHOT, min_size=1, max_size=5), hold=HOLD)
def test_a_copy_kept_by_places_equals_the_copy_kept_by_ids(
    nights: list[list[tuple[str, dict[str, Any]]]], hold: dict[str, int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder, "copy.duckdb"))
        expected: Copy = Counter()
        for run_id, answers in enumerate(nights, start=1):
            expected = _night(path, answers, hold, run_id, expected)


def _night(
    path: str,
    answers: list[tuple[str, dict[str, Any]]],
    hold: dict[str, int],
    run_id: int,
    was: Copy,
) -> Copy:
    """One night on the copy at `path`; the copy it should hold afterwards."""
    duck = connect("1GB")
    try:
        duck.execute("ATTACH ? AS mirror", [path])
        columns = ", ".join(f"{name} {kind}" for name, kind in TYPES.items())
        duck.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})")
        duck.execute("CREATE TABLE IF NOT EXISTS mirror.meta (run_id BIGINT)")
        assert _copy(duck, TABLE) == was
        _result(duck, answers)
        by_ids = Counter(
            duck.execute(
                held_changes(RESULT, "r.customer_id", TABLE, hold, run_id, "duckdb", answers=CODE)
            ).fetchall()
        )
        try:
            _find_changes(duck, "customer_id", hold, run_id)
        except DataError:
            assert max(Counter(row[0] for row in by_ids.elements()).values()) > 1
            return was
        assert _copy(duck, CHANGES) == by_ids
        stage_changes(duck, CHANGES, run_id)
        commit_mirror(duck)
        changed = {row[0] for row in by_ids}
        expected = Counter({row: n for row, n in was.items() if row[0] not in changed}) + by_ids
        assert _copy(duck, TABLE) == expected
        return expected
    finally:
        duck.close()


def _result(duck: duckdb.DuckDBPyConnection, answers: list[tuple[str, dict[str, Any]]]) -> None:
    duck.execute(
        f"CREATE TEMP TABLE {RESULT} (customer_id TEXT, gold BOOLEAN,"
        f" {', '.join(f'{kind} {CODE}' for kind in LADDERS)})"
    )
    for key, answer in answers:
        duck.execute(
            f"INSERT INTO {RESULT} VALUES (?, ?, ?, ?, ?)",
            [key, *(answer[c] for c in ("gold", *LADDERS))],
        )


def _copy(duck: duckdb.DuckDBPyConnection, table: str) -> Copy:
    return Counter(duck.execute(f"SELECT {', '.join(COLUMNS)} FROM {table}").fetchall())
