"""The snapshot engine holds the answers as codes (engine/classify/codes.py): whatever the
rules name their tiers from night to night (a tier renamed, then named back), the store holds
what the in-store engine gives, and a name keeps its code in the copy's dictionary; a copy
written by an older guanxi, with its answers as text, is rebuilt from the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from guanxi.engine.classify import classify
from guanxi.engine.classify.codes import NAMES
from guanxi.engine.classify.mirror import COLUMNS, mirror_path
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_assignment_changes import current, night, nights, transitions
from tests.test_classify import write_snapshot


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The default rules with the tier low_value named small_value."""
    folder = tmp_path_factory.mktemp("renamed") / "rules"
    shutil.copytree(default_rules_path(), folder)
    for path in folder.rglob("*.yaml"):
        path.write_text(
            path.read_text(encoding="utf-8").replace("low_value", "small_value"),
            encoding="utf-8",
        )
    return load_ruleset(folder)


def _dictionary(store: SQLiteStore) -> list[tuple[str, int, str]]:
    with duckdb.connect(mirror_path(store.path), read_only=True) as copy:
        return [
            (str(k), int(c), str(n))
            for k, c, n in copy.execute(
                f"SELECT kind, code, name FROM {NAMES.removeprefix('mirror.')} ORDER BY kind, code"
            ).fetchall()
        ]


def test_renamed_tiers_give_what_the_in_store_engine_gives(
    ruleset: RuleSet, renamed: RuleSet, tmp_path: Path
) -> None:
    by_night = [ruleset, renamed, renamed, ruleset]
    snapshot_store, in_store = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "i.db")
    dictionaries = []
    try:
        for store in (snapshot_store, in_store):
            store.prepare(ruleset.schema)
        for number, (rules, rows) in enumerate(zip(by_night, nights(7, 4), strict=True)):
            in_store.upsert_customers(rows)
            by_store = classify(in_store, rules, night(number))
            snapshot = write_snapshot(tmp_path / f"{number}.parquet", rows, rules)
            by_snapshot = classify_snapshot(snapshot_store, rules, night(number), snapshot)
            assert current(snapshot_store) == current(in_store)
            assert by_snapshot.cells == by_store.cells
            assert (by_snapshot.changed, by_snapshot.transitions) == (
                by_store.changed,
                by_store.transitions,
            )
            dictionaries.append(_dictionary(snapshot_store))
        assert transitions(snapshot_store) == transitions(in_store)
        moved = {row[1] for row in transitions(in_store) if row[3] == "small_value"}
    finally:
        snapshot_store.close()
        in_store.close()
    tiers = [[n for k, _, n in d if k == "tier"] for d in dictionaries]
    assert "small_value" not in tiers[0] and "small_value" in tiers[1]
    assert tiers[1] == tiers[2] == tiers[3]  # appended once, never renumbered
    assert tiers[1][: len(tiers[0])] == tiers[0]
    assert moved  # the renaming did move customers


def test_a_copy_with_answers_as_text_is_rebuilt(ruleset: RuleSet, tmp_path: Path) -> None:
    store, in_store = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "i.db")
    try:
        for one in (store, in_store):
            one.prepare(ruleset.schema)
        first, second = nights(3, 2)
        in_store.upsert_customers(first)
        classify(in_store, ruleset, night(0))
        classify_snapshot(
            store, ruleset, night(0), write_snapshot(tmp_path / "0.parquet", first, ruleset)
        )
        _as_text(Path(mirror_path(store.path)))
        in_store.upsert_customers(second)
        classify(in_store, ruleset, night(1))
        report = classify_snapshot(
            store, ruleset, night(1), write_snapshot(tmp_path / "1.parquet", second, ruleset)
        )
        assert "assignments from store" in report.timings  # rebuilt, not trusted
        assert current(store) == current(in_store)
        assert transitions(store) == transitions(in_store)
    finally:
        store.close()
        in_store.close()


def _as_text(path: Path) -> None:
    """The copy as an older guanxi kept it: every column as it is, answers as text, still
    stamped with the store's latest run."""
    with duckdb.connect(str(path)) as copy:
        names = {
            (k, c): n for k, c, n in copy.execute("SELECT kind, code, name FROM names").fetchall()
        }
        rows = copy.execute(f"SELECT {', '.join(COLUMNS)} FROM assignments").fetchall()
        copy.execute("DROP TABLE names")
        copy.execute("DROP TABLE assignments")
        text = {c: "TEXT" for c in COLUMNS if c in ("customer_id", "tier", "level", "strategy")}
        declared = ", ".join(f"{c} {text.get(c, _old_type(c))}" for c in COLUMNS)
        copy.execute(f"CREATE TABLE assignments ({declared})")
        for row in rows:
            copy.execute(
                f"INSERT INTO assignments VALUES ({', '.join('?' * len(COLUMNS))})",
                [_named(names, c, v) for c, v in zip(COLUMNS, row, strict=True)],
            )


def _old_type(column: str) -> str:
    if column == "gold":
        return "BOOLEAN"
    if column.endswith("_runs"):
        return "INTEGER"
    return "BIGINT" if column.endswith("_since") else "TEXT"


def _named(names: dict[tuple[str, int], str], column: str, value: object) -> object:
    kind = column.removeprefix("pending_")
    if kind in ("tier", "level", "strategy") and value is not None:
        return names[(kind, int(str(value)))]
    return value
