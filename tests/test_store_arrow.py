"""The SQLite store's customers read through ADBC (store_arrow.py) against the store's cursor:
the same typed tables column by column, or, where the driver cannot promise that, the cursor's
own rows or error."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import store_arrow, store_source
from guanxi.engine.classify.store_arrow import NotExact, affinity
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_classify import population

KINDS = {  # field: its type; the key first, as the rules read them
    "customer_id": "string",
    "name": "string",
    "age": "integer",
    "balance": "number",
    "vip": "boolean",
    "opened_on": "date",
    "seen_at": "datetime",
}
DECLARED = {"string": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER"}
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)  # NUL and CJK included
ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(-dt.timedelta(hours=5))]
)
VALUES = {  # as `load` writes them: instants as UTC ISO text
    "string": TEXT,
    "integer": INT64,
    "number": st.floats(allow_nan=False) | INT64,  # SQLite keeps an integer there as a real
    "boolean": st.sampled_from([0, 1]),
    "date": st.dates().map(dt.date.isoformat),
    "datetime": st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=ZONES
    ).map(lambda instant: instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")),
}
ROWID_NAMES = ("rowid", "_rowid_", "oid")
ANYTHING = st.none() | INT64 | st.floats() | TEXT | st.binary(max_size=4)  # around `load`


def _store(location: Path | str, declared: dict[str, str]) -> SQLiteStore:
    store = SQLiteStore(location)
    columns = ", ".join(f'"{field}" {kind}' for field, kind in declared.items())
    store.db.execute(f"CREATE TABLE customers ({columns}, PRIMARY KEY (customer_id))")
    return store


def _declared() -> dict[str, str]:
    return {field: DECLARED.get(kind, "TEXT") for field, kind in KINDS.items()}


def _insert(store: SQLiteStore, rows: list[tuple[Any, ...]]) -> None:
    numbered = [(f"C{n}", *row) for n, row in enumerate(rows)]
    marks = ", ".join("?" for _ in KINDS)
    store.db.conn.executemany(f"INSERT INTO customers VALUES ({marks})", numbered)
    store.db.conn.commit()


def _read(store: SQLiteStore, ways: list[str]) -> pa.Table | str:
    """The customers as `_tables` gives them, or the error it raises; `ways` learns whether
    ADBC gave them ("adbc") or the cursor did after it stopped ("cursor")."""
    fields, kinds = list(KINDS), list(KINDS.values())
    got: list[pa.Table] = []

    def restart() -> None:
        got.clear()
        ways.append("cursor")

    try:
        for table in store_source._tables(store, fields, kinds, restart):
            got.append(table)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    if not ways:
        ways.append("adbc")
    empty = store_source._typed(store_source._stored([], fields, kinds), kinds)
    return pa.concat_tables([empty, *got])


def _by_cursor(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> pa.Table | str:
    def not_exact(*_: object) -> Iterator[pa.RecordBatch]:
        raise NotExact("the cursor's way")

    with monkeypatch.context() as patched:
        patched.setattr(store_source, "stored_batches", not_exact)
        return _read(store, [])


def _same(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Both ways read the store alike, column by column; how the new way read it."""
    ways: list[str] = []
    new, old = _read(store, ways), _by_cursor(store, monkeypatch)
    if isinstance(new, str) or isinstance(old, str):
        assert new == old
        return ways
    assert new.schema == old.schema
    for name in new.column_names:
        assert new.column(name).combine_chunks().equals(old.column(name).combine_chunks()), name
    return ways


ROW = st.tuples(*(st.none() | VALUES[kind] for kind in list(KINDS.values())[1:]))
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


READERS = st.sampled_from(  # READERS, SPLIT_FROM, RANGE_ROWS
    [(1, 200_000, 1_000_000), (2, 1, 1_000_000), (3, 2, 1_000_000), (2, 1, 2), (3, 1, 1)]
)


@settings(max_examples=60, deadline=None, suppress_health_check=HEALTH)
@given(
    rows=st.lists(ROW, max_size=12),
    batch_rows=st.integers(1, 5),
    readers=READERS,
    deleted=st.sets(st.integers(0, 11), max_size=4),
)
def test_typed_customers_read_through_adbc_as_through_the_cursor(
    monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[Any, ...]],
    batch_rows: int,
    readers: tuple[int, int, int],
    deleted: set[int],
) -> None:
    """Every field type, NULLs (whole first batches of them too), the extremes of int64 and
    float, integers in number fields, dates of years 1 to 9999: ADBC reads them itself, and
    exactly as the cursor does, in the same order, whether one process reads them or ranges of
    rowids (with gaps where customers were deleted) are read several at once."""
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(store_arrow, "READERS", readers[0])
    monkeypatch.setattr(store_arrow, "SPLIT_FROM", readers[1])
    monkeypatch.setattr(store_arrow, "RANGE_ROWS", readers[2])
    with tempfile.TemporaryDirectory() as folder:
        store = _store(Path(folder) / "guanxi.db", _declared())
        _insert(store, rows)
        store.db.conn.executemany("DELETE FROM customers WHERE rowid = ?", [(n,) for n in deleted])
        store.db.conn.commit()
        assert _same(store, monkeypatch) == ["adbc"]
        store.close()


DECLARATIONS = st.sampled_from(["TEXT", "INTEGER", "REAL", "", "NUMERIC", "BLOB", "VARCHAR(9)"])


@settings(max_examples=80, deadline=None, suppress_health_check=HEALTH)
@given(
    rows=st.lists(st.tuples(*(ANYTHING for _ in list(KINDS)[1:])), max_size=10),
    declared=st.lists(DECLARATIONS, min_size=len(KINDS) - 1, max_size=len(KINDS) - 1),
    batch_rows=st.integers(1, 4),
    readers=READERS,
)
def test_values_written_around_load_read_as_the_cursor_reads_them(
    monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[Any, ...]],
    declared: list[str],
    batch_rows: int,
    readers: tuple[int, int, int],
) -> None:
    """Any value in any column of any declared type (text in a number column, a real in an
    integer one, numbers in a text one, blobs, a field whose type changed since its column was
    made): the same table as the cursor's, or the same error; read by one process or several."""
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(store_arrow, "READERS", readers[0])
    monkeypatch.setattr(store_arrow, "SPLIT_FROM", readers[1])
    monkeypatch.setattr(store_arrow, "RANGE_ROWS", readers[2])
    with tempfile.TemporaryDirectory() as folder:
        store = _store(
            Path(folder) / "guanxi.db", dict(zip(KINDS, ["TEXT", *declared], strict=True))
        )
        _insert(store, rows)
        _same(store, monkeypatch)
        store.close()


@pytest.mark.parametrize(
    ("column", "value", "reader"),
    [
        ("balance", "lots", "cursor"),  # text in a number column
        ("age", 1.5, "cursor"),  # a real in an integer column (the cursor's way cuts it to 1)
        ("name", b"\xff\xfe", "cursor"),  # a blob that is not UTF-8
        ("name", b"plain", "adbc"),  # a blob that is: the same text both ways
        ("opened_on", "yesterday", "cursor"),  # text that is no date
    ],
)
def test_a_value_written_around_load_in_a_later_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str, value: object, reader: str
) -> None:
    """The driver meets it after its first batch: where it cannot read it exactly, the
    cursor reads them all, as before (the same table, or the same error)."""
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", 2)
    store = _store(tmp_path / "guanxi.db", _declared())
    good = (None, "Wang", 40, 1.5, 1, "2024-01-31", "2024-01-31T00:00:00Z")
    _insert(store, [good[1:]] * 5)
    store.db.conn.execute(
        f'UPDATE customers SET "{column}" = ? WHERE customer_id = ?', (value, "C4")
    )
    store.db.conn.commit()
    assert _same(store, monkeypatch) == [reader]


def test_a_first_batch_of_nulls_is_read_through_adbc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field added after most customers were loaded: NULL for the first batches."""
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", 3)
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [(None,) * 6] * 7 + [("Li", 30, 2.5, 0, "2025-02-28", "2025-02-28T10:00:00.5Z")])
    assert _same(store, monkeypatch) == ["adbc"]


def test_rows_not_yet_committed_are_read_by_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A separate connection would not see the store's own open transaction."""
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)])
    store.db.conn.execute("INSERT INTO customers (customer_id, name) VALUES ('C9', 'Zhao')")
    assert store.db.conn.in_transaction
    assert _same(store, monkeypatch) == ["cursor"]
    table = _read(store, [])
    assert isinstance(table, pa.Table) and table.num_rows == 2


def test_a_store_in_memory_is_read_by_the_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(":memory:", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)])
    assert _same(store, monkeypatch) == ["cursor"]


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("INTEGER", "INTEGER"),
        ("BIGINT", "INTEGER"),
        ("TEXT", "TEXT"),
        ("VARCHAR(20)", "TEXT"),
        ("CHARINT", "INTEGER"),  # "INT" is looked for first
        ("REAL", "REAL"),
        ("FLOAT", "REAL"),
        ("DOUBLE PRECISION", "REAL"),
        ("", "BLOB"),
        ("BLOB", "BLOB"),
        ("NUMERIC", "NUMERIC"),
        ("DECIMAL(10,2)", "NUMERIC"),
        ("POINT", "INTEGER"),  # poINT: SQLite's own example
    ],
)
def test_affinity_follows_sqlites_rules(declared: str, expected: str) -> None:
    assert affinity(declared) == expected


def test_the_store_snapshot_of_the_default_rules_is_the_cursors(
    tmp_path: Path, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DuckDB night's table of the store's customers, both ways, and the Parquet
    snapshot's (customers_table)."""
    sqlite_store = SQLiteStore(tmp_path / "guanxi.db")
    sqlite_store.prepare(ruleset.schema)
    sqlite_store.upsert_customers(population())
    read: dict[str, pa.Table] = {}
    tables: dict[str, pa.Table] = {}
    for way in ("adbc", "cursor"):
        with monkeypatch.context() as patched:
            if way == "cursor":
                patched.setattr(store_source, "stored_batches", _refused)
            duck = duckdb.connect()
            store_source.store_snapshot(duck, sqlite_store, ruleset, "customers")
            read[way] = duck.sql("SELECT * FROM customers").to_arrow_table()
            duck.close()
            fields = list(ruleset.schema.fields)
            tables[way] = store_source.customers_table(sqlite_store, ruleset, fields)
    assert read["adbc"].num_rows == len(population())
    assert read["adbc"].equals(read["cursor"])
    assert tables["adbc"].equals(tables["cursor"])


@pytest.mark.parametrize("way", ["view", "table", "table, after the driver stopped"])
def test_the_store_s_customers_are_viewed_up_to_one_insert_and_copied_beyond(
    tmp_path: Path, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    """Up to INSERT_ROWS customers DuckDB scans their Arrow table through a view; more are
    copied into a table INSERT_ROWS at a time (a table can spill under DuckDB's memory limit),
    also when the driver stopped after a copy and the cursor read them all again."""
    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    store.upsert_customers(population())
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", 10)
    if way != "view":
        monkeypatch.setattr(store_source, "INSERT_ROWS", 20)
    if way.endswith("stopped"):
        monkeypatch.setattr(store_arrow, "_checked", _stopping_after(3, store_arrow._checked))
    duck = duckdb.connect()
    store_source.store_snapshot(duck, store, ruleset, "customers")
    [(kind,)] = duck.sql(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'customers'"
    ).fetchall()
    read = duck.sql("SELECT * FROM customers ORDER BY customer_id").to_arrow_table()
    duck.close()
    fields = read.column_names
    assert kind == ("VIEW" if way == "view" else "LOCAL TEMPORARY")
    assert read.equals(store_source.customers_table(store, ruleset, fields).sort_by(fields[0]))
    assert read.num_rows == len(population())


def _stopping_after(
    batches: int, checked: Callable[..., Iterator[pa.RecordBatch]]
) -> Callable[..., Iterator[pa.RecordBatch]]:
    """`_checked`, whose reader stops (NotExact) after `batches` batches."""

    def stopping(*args: Any) -> Iterator[pa.RecordBatch]:
        for number, batch in enumerate(checked(*args)):
            if number == batches:
                raise NotExact("stopped part way")
            yield batch

    return stopping


def _refused(*_: object) -> Callable[[], None]:
    raise NotExact("the cursor's way")


@pytest.mark.parametrize("script", ["raise SystemExit(1)", "import no_such_driver"])
def test_a_reader_that_cannot_start_leaves_the_customers_to_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    """No driver where the store runs, or its process failing: the cursor reads them."""
    reader = tmp_path / "reader.py"
    reader.write_text(script)
    monkeypatch.setattr(store_arrow, "READER", reader)
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)])
    assert _same(store, monkeypatch) == ["cursor"]


def test_a_read_left_part_way_stops_the_readers_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(store_arrow.subprocess, "Popen", Recorded)
    monkeypatch.setattr(store_arrow, "BATCH_ROWS", 1)
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)] * 3)
    schema = store_source._stored_schema(list(KINDS), list(KINDS.values()))
    batches = store_arrow.stored_batches(store, schema)
    assert next(batches).num_rows == 0  # the literals' batch, without them
    batches.close()
    [reader] = started
    assert reader.returncode is not None


def test_a_store_whose_path_needs_escaping_in_a_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "客户 #1?%20"
    folder.mkdir()
    store = _store(folder / "guanxi.db", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)])
    assert _same(store, monkeypatch) == ["adbc"]


def test_a_write_committed_while_ranges_are_read_leaves_them_to_the_cursor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each range's reader reads its own moment: a load committed between them (here, after
    the first range was taken) could show a customer twice or not at all, so the cursor reads
    the customers of one moment instead."""
    monkeypatch.setattr(store_arrow, "READERS", 2)
    monkeypatch.setattr(store_arrow, "SPLIT_FROM", 1)
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [("Wang", 40, 1.5, 1, "2024-01-31", None)] * 4)
    taken = store_arrow._Range.batches
    ranges: list[store_arrow._Range] = []

    def load_meanwhile(reading: store_arrow._Range) -> Iterator[pa.RecordBatch]:
        ranges.append(reading)
        if len(ranges) == 2:
            other = SQLiteStore(tmp_path / "guanxi.db", migrate=False)
            other.db.conn.execute("INSERT INTO customers (customer_id, name) VALUES ('C9', 'Zhao')")
            other.db.conn.commit()
            other.close()
        yield from taken(reading)

    monkeypatch.setattr(store_arrow._Range, "batches", load_meanwhile)
    ways: list[str] = []
    table = _read(store, ways)
    assert ways == ["cursor"]
    assert isinstance(table, pa.Table) and table.column("customer_id").to_pylist() == [
        "C0",
        "C1",
        "C2",
        "C3",
        "C9",
    ]


@pytest.mark.parametrize(
    ("columns", "expected"),
    [((), "rowid"), (("rowid",), "_rowid_"), (("RowId", "_ROWID_"), "oid"), (ROWID_NAMES, "")],
)
def test_ranges_use_a_name_of_the_rowid_no_column_takes(
    tmp_path: Path, columns: tuple[str, ...], expected: str
) -> None:
    declared = {**_declared(), **{column: "INTEGER" for column in columns}}
    store = _store(tmp_path / "guanxi.db", declared)
    marks = ", ".join("?" for _ in declared)
    store.db.conn.executemany(
        f"INSERT INTO customers VALUES ({marks})",
        [(f"C{n}", *[None] * (len(declared) - 1)) for n in range(6)],
    )
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(store_arrow, "SPLIT_FROM", 2)
        ranges = store_arrow._rowid_ranges(store, 3)
    if not expected:
        assert ranges == [""]
        return
    assert ranges == [
        f"WHERE {expected} < 3",
        f"WHERE {expected} >= 3 AND {expected} < 5",
        f"WHERE {expected} >= 5",
    ]


@pytest.mark.parametrize(
    ("rows", "readers", "expected"),
    [
        (3, 2, 1),  # under two ranges of SPLIT_FROM: one reader
        (4, 2, 2),
        (9, 2, 2),  # as many ranges as readers, up to RANGE_ROWS each
        (13, 2, 3),  # more rows than readers' ranges hold: ranges of RANGE_ROWS at most
        (13, 1, 1),  # one reader streams it all
    ],
)
def test_ranges_hold_split_from_to_range_rows_rowids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int, readers: int, expected: int
) -> None:
    monkeypatch.setattr(store_arrow, "SPLIT_FROM", 2)
    monkeypatch.setattr(store_arrow, "RANGE_ROWS", 5)
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [(None,) * 6] * rows)
    ranges = store_arrow._rowid_ranges(store, readers)
    assert len(ranges) == expected
    counted = [
        store.db.conn.execute(f"SELECT COUNT(*) FROM customers {where}").fetchone()[0]
        for where in ranges
    ]
    assert sum(counted) == rows
    assert expected == 1 or all(2 <= n <= 5 for n in counted)


def test_the_rowids_range_is_found_without_reading_the_customers(tmp_path: Path) -> None:
    """MIN and MAX of the rowid in one SELECT make SQLite scan every row (0.07 s at 1M);
    apart, each reads one end of the table."""
    store = _store(tmp_path / "guanxi.db", _declared())
    _insert(store, [(None,) * 6] * 5_000)
    steps: list[int] = []
    store.db.conn.set_progress_handler(lambda: steps.append(1), 10)  # every 10 VM steps
    try:
        ranges = store_arrow._rowid_ranges(store, 2)
    finally:
        store.db.conn.set_progress_handler(None, 0)
    assert len(ranges) == 1  # 5,000 rowids: one reader's
    assert len(steps) < 100  # a scan takes several VM steps a row
