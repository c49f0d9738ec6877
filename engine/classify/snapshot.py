"""The fast batch engine: the same compiled rules on DuckDB over a nightly snapshot file.

DuckDB reads the Parquet or CSV snapshot and leaves out the rows that `load` would quarantine,
quarantining them with their row numbers and reasons, so that every engine classifies the
same customers: a value load would not accept (ingest/screen.py), then an erased customer's
row or a repeated id (snapshot_ids.py, which also names a customer stored as `123.0` as load
does). It classifies every row and compares the results with the store's current assignments
(see mirror.py); only the customers whose assignment changed travel to the store (SQLite or
PostgreSQL), where apply.py records transitions and upserts them set-based. DuckDB's SQLite and
PostgreSQL extensions would let DuckDB write into the store directly, but they are downloaded
on first use, and guanxi must run without a network: into SQLite the changed rows go through a
scratch file written by the ADBC driver (scratch.py; a first night's straight into the
assignments), into PostgreSQL they are fetched in batches and copied with its bulk load.
Event measures read the store's events: the store groups them by customer (one row per
customer with events in the windows) and the groups travel to DuckDB the same way.
Without a snapshot file the store's own customers are read instead (store_source.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow

from guanxi.engine.classify.apply import (
    CHANGED,
    IN_CHANGED,
    Applied,
    apply_changes,
    create_changed,
    start_run,
)
from guanxi.engine.classify.codes import CODE, Codes
from guanxi.engine.classify.compile import classified, compile_classification
from guanxi.engine.classify.duck_tables import relation_columns, table_from_arrow
from guanxi.engine.classify.erased_meanwhile import unwrite_erased
from guanxi.engine.classify.event_measures import grouped_events
from guanxi.engine.classify.field_history import grouped_history, keep_rows
from guanxi.engine.classify.hold import ASSIGNED, LADDERS, WAITING, held_changes, holds
from guanxi.engine.classify.mirror import (
    COLUMNS,
    PLACE,
    commit_mirror,
    discard_mirror,
    mirror_path,
    open_mirror,
    stage_changes,
    with_rows,
)
from guanxi.engine.classify.report import Cell, RunReport, cells_from_rows
from guanxi.engine.classify.run import (
    AfterRun,
    Stopwatch,
    close_run,
    count_overlaps,
    tuned,
)
from guanxi.engine.classify.scratch import (
    NO_RUN,
    Scratch,
    insert_first,
    scratch_changes,
    scratch_rows,
    settle_run,
    still_empty,
)
from guanxi.engine.classify.snapshot_ids import snapshot_view
from guanxi.engine.classify.store_source import store_snapshot
from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _
from guanxi.engine.ingest.screen import (
    LISTED,
    ROW,
    BadValues,
    Screen,
    parquet_statistics,
    quoted,
    snapshot_screen,
    text_batches,
)
from guanxi.engine.privacy.meanwhile import erasures_so_far, hold_erasures
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.ruleset.sizes import doubled, parse_memory
from guanxi.engine.store.assignments import fold_if_large
from guanxi.engine.store.base import Row, Store, shown_location
from guanxi.engine.store.sqlite import SQLiteStore

RAW = "raw"  # the snapshot as it is, each row numbered
BAD_VALUES = "bad_values"  # distinct text values the SQL screen could not pass
REPEATING = 10  # rows a distinct value, from which a text field's values are tested once
SAMPLE = 1_000_000  # the first rows, in which REPEATING is counted
DISTINCT = "distinct_values"  # one text field's distinct values, for BAD_VALUES
DOUBTFUL = "doubtful"  # rows the SQL screen could not pass: for the Python checks
RESCUED = "rescued"  # doubtful rows that the Python checks accepted, with their values
ACCEPTED = "accepted"  # the rows whose every value load would accept, typed and numbered
SNAPSHOT = "snapshot"  # the rows load would accept, typed
RESULT = "result"
EVENTS = "grouped_events"  # the store's events, grouped by customer for the event measures
HISTORY = "field_history"  # the store's kept field history, for the change measures
CHANGES = "changes"
BATCH = 100_000


class SnapshotMemoryError(DataError):
    """DuckDB needed more memory than the run may use; nothing was written."""


def classify_snapshot(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    snapshot: Path | None,
    memory_limit: str | None = None,
    keep_mirror: bool = True,
    after: AfterRun | None = None,
    encoding: str = UTF8,
) -> RunReport:
    """Classify every customer of `snapshot` (.parquet or .csv, a CSV one in `encoding`;
    None: the store's own customers), write back what changed and then `after` the run, in
    the store's transaction of the write-back. DuckDB may use `memory_limit` (default: the
    project's `snapshot_memory:`)."""
    watch = Stopwatch()
    store.prepare(ruleset.schema)
    mark = erasures_so_far(store)  # before any customer is read
    memory_limit = memory_limit or parse_memory(ruleset.settings.snapshot_memory)
    duck = connect(memory_limit)
    try:
        codes = _open_copy(duck, store, ruleset, keep_mirror, watch)  # the screen reads it
        screen, columns = _customers(duck, store, ruleset, now, snapshot, encoding, watch)
        today = today_in(ruleset, now)
        events = _grouped_events(duck, store, ruleset, today)
        history = _field_history(duck, store, ruleset, today)
        query = compile_classification(
            ruleset,
            "duckdb",
            today,
            SNAPSHOT,
            columns,
            events=events,
            history=history,
            prepared=True,
            codes=codes.names,
        )
        _classify(duck, query.prepare, query.sql, codes, query.coded)
        watch.lap("classify")
        written = Written(
            "duckdb",
            query.key,
            query.unique,
            screen.rejected if screen else 0,
            keep_mirror,
            mark,
            after,
            tuple(screen.problems) if screen else (),
        )
        return _write_result(duck, store, ruleset, now, written, watch, codes)
    except duckdb.OutOfMemoryException:
        raise SnapshotMemoryError(
            _(
                "classifying the snapshot '{snapshot}' needed more than the {limit} of memory"
                " it may use: if the machine has more free, raise snapshot_memory: in"
                " guanxi.yaml or give --memory-limit, e.g. '{larger}'"
            ).format(
                snapshot=_classified(snapshot, store),
                limit=memory_limit,
                larger=doubled(memory_limit),
            )
        ) from None
    except duckdb.Error as error:  # a column that cannot be read as its field's type, …
        raise DataError(
            _("cannot classify the snapshot '{snapshot}': {error}").format(
                snapshot=_classified(snapshot, store), error=error
            )
        ) from None
    finally:
        duck.close()


def _customers(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    snapshot: Path | None,
    encoding: str,
    watch: Stopwatch,
) -> tuple[Screen | None, list[str]]:
    """The customers to classify as the relation SNAPSHOT: the rows of `snapshot` that load
    would accept (their screen, which rejected the others) or, without one, the store's own
    (which load checked: no screen); and its columns."""
    if snapshot is None:
        columns = store_snapshot(duck, store, ruleset, SNAPSHOT)
        watch.lap("read customers")
        return None, columns
    screen = snapshot_screen(store, ruleset, now, Path(snapshot), encoding)
    _source(duck, screen, Path(snapshot))
    watch.lap("check rows")
    return screen, relation_columns(duck, SNAPSHOT)


def _classified(snapshot: Path | None, store: Store) -> Path | str:
    """What the error messages name as classified: the snapshot, or the store's customers."""
    return snapshot or _("customers of {store}").format(store=shown_location(store.location))


@dataclass(frozen=True)
class Written:
    """What the write-back needs to know about a classified snapshot in DuckDB's `result`."""

    engine: str
    key: str
    unique: Sequence[str]
    rejected: int  # snapshot rows that load would quarantine: not classified
    keep_mirror: bool
    mark: int  # the last erasure before the customers were read (privacy/meanwhile.py)
    after: AfterRun | None = None  # what commits with the run (see run.py)
    problems: tuple[Row, ...] = ()  # the first of their problems, for the report


def write_back(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    written: Written,
    watch: Stopwatch,
    named: str,
) -> RunReport:
    """Compare `named` (a relation of every classified customer, its answers as names) with
    the store's assignments and write what changed into the store; the distribution is
    counted from it."""
    codes = _open_copy(duck, store, ruleset, written.keep_mirror, watch)
    duck.execute(f"CREATE TEMP TABLE {RESULT} AS SELECT * REPLACE ({codes.encoded()}) FROM {named}")
    return _write_result(duck, store, ruleset, now, written, watch, codes)


def _open_copy(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    keep_mirror: bool,
    watch: Stopwatch,
) -> Codes:
    """The store's assignments as the columnar copy `mirror`, and the codes of its answers."""
    origin, codes = open_mirror(duck, store, _mirror_file(store, keep_mirror), ruleset)
    watch.lap(f"assignments from {origin}")
    return codes


def _mirror_file(store: Store, keep_mirror: bool) -> str:
    """Where the columnar copy is kept: beside a SQLite store, else in memory."""
    return mirror_path(store.path if keep_mirror and isinstance(store, SQLiteStore) else None)


def _grouped_events(
    duck: duckdb.DuckDBPyConnection, store: Store, ruleset: RuleSet, today: dt.date
) -> str | None:
    """The store's events grouped by customer for the event measures the classification
    reads, as the table `grouped_events` (None: it reads none)."""
    ruleset = classified(ruleset)
    if not ruleset.event_measures:
        return None
    table_from_arrow(duck, EVENTS, grouped_events(store, ruleset, today))
    return EVENTS


def _field_history(
    duck: duckdb.DuckDBPyConnection, store: Store, ruleset: RuleSet, today: dt.date
) -> str | None:
    """The store's kept field history (change measures), as the table `field_history`."""
    if not ruleset.change_measures:
        return None
    table_from_arrow(duck, HISTORY, grouped_history(store, ruleset, today))
    return HISTORY


def connect(memory_limit: str) -> duckdb.DuckDBPyConnection:
    """DuckDB with `memory_limit`, spilling into the system's temporary folder (not into a
    `.tmp` folder wherever the command happens to run)."""
    duck = duckdb.connect()
    duck.execute(f"SET memory_limit = '{memory_limit}'")
    spill = Path(tempfile.gettempdir(), "guanxi-duckdb").as_posix().replace("'", "''")
    duck.execute(f"SET temp_directory = '{spill}'")
    duck.execute("SET preserve_insertion_order = false")
    duck.execute("SET enable_progress_bar = false")
    return duck


def _source(duck: duckdb.DuckDBPyConnection, screen: Screen, path: Path) -> str:
    """The snapshot's customers that load would accept, typed, as the view `snapshot`; the
    others rejected by `screen` with their row numbers and reasons."""
    _read_raw(duck, screen, path)
    types = {str(r[0]): str(r[1]) for r in duck.execute(f"DESCRIBE {RAW}").fetchall()}
    screen.needs(path, types)
    _accept_values(duck, screen, types, path)
    unit = "line" if path.suffix.lower() == ".csv" else "row"
    snapshot_view(duck, screen, ACCEPTED, unit, SNAPSHOT)  # the ids as load takes them
    return SNAPSHOT


def _read_raw(duck: duckdb.DuckDBPyConnection, screen: Screen, path: Path) -> None:
    """The snapshot as it is, each row numbered in ROW, as RAW: a view of a Parquet file, a
    table of a CSV file's cells as text."""
    if not path.is_file():
        raise DataError(_("there is no snapshot file '{path}'").format(path=path))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        escaped = str(path).replace("'", "''")
        rows = f"read_parquet('{escaped}', file_row_number = true)"
        duck.execute(
            f"CREATE TEMP VIEW {RAW} AS SELECT {_fields(duck, screen, path, rows)},"
            f" file_row_number + 1 AS {ROW} FROM {rows}"
        )
    elif suffix == ".csv":
        _csv_table(duck, screen, path)
    else:
        raise DataError(
            _("'{name}' is neither a Parquet (.parquet) nor a CSV (.csv) file").format(
                name=path.name
            )
        )


def _fields(duck: duckdb.DuckDBPyConnection, screen: Screen, path: Path, rows: str) -> str:
    """SQL: the columns of the Parquet file's `rows`, each named by the field it means."""
    columns = [str(r[0]) for r in duck.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()]
    meant = screen.fields_meant(path, [c for c in columns if c != "file_row_number"])
    return ", ".join(
        f"{quoted(column, 'duckdb')} AS {quoted(field, 'duckdb')}"
        for column, field in meant.items()
    )


def _accept_values(
    duck: duckdb.DuckDBPyConnection, screen: Screen, types: Mapping[str, str], path: Path
) -> None:
    """The view ACCEPTED: the rows of RAW (of these `types`) whose every value load would
    accept, typed and numbered. The SQL screen passes nearly all; the rows it cannot pass
    (DOUBTFUL) are checked in Python as load checks them, and those accepted join the others
    (RESCUED); the rest are rejected."""
    stored = parquet_statistics(path) if path.suffix.lower() == ".parquet" else {}
    clean = screen.clean(types, "duckdb", _bad_values(duck, screen, types), stored)
    duck.execute(f"CREATE TEMP TABLE {DOUBTFUL} AS SELECT * FROM {RAW} WHERE NOT {clean}")
    _rescue(duck, screen, types)
    doubtful = duck.execute(f"SELECT COUNT(*) FROM {DOUBTFUL}").fetchall()[0][0]
    clean_rows = f" ANTI JOIN {DOUBTFUL} USING ({ROW})" if doubtful else ""  # the others
    duck.execute(
        f"CREATE TEMP VIEW {ACCEPTED} AS SELECT {screen.typed(types, 'duckdb')}, {ROW}"
        f" FROM {RAW}{clean_rows} UNION ALL BY NAME SELECT * FROM {RESCUED}"
    )


def _rescue(duck: duckdb.DuckDBPyConnection, screen: Screen, types: Mapping[str, str]) -> None:
    """The rows of DOUBTFUL that load's own checks accept, typed, as the table RESCUED; the
    others rejected, in the order load meets them."""
    in_order = duck.sql(f"SELECT * FROM {DOUBTFUL} ORDER BY {ROW}")
    checked = screen.check(in_order.to_arrow_reader(BATCH), numbered=True)
    empty = screen.arrow_schema(types, numbered=True).empty_table()
    duck.register("rescued_rows", pyarrow.concat_tables([empty, *checked]))
    duck.execute(f"CREATE TEMP TABLE {RESCUED} AS SELECT * FROM rescued_rows")
    duck.unregister("rescued_rows")


def _bad_values(
    duck: duckdb.DuckDBPyConnection, screen: Screen, types: Mapping[str, str]
) -> BadValues:
    """The text fields' values that are not clean, each distinct value tested once, as the
    table BAD_VALUES."""
    checked = _repeating(duck, screen, screen.checked_once(types, "duckdb"))
    duck.execute(f"CREATE TEMP TABLE {BAD_VALUES} (field VARCHAR, value VARCHAR)")
    for name in checked:
        distinct = screen.distinct_values(name, RAW, "duckdb")
        duck.execute(f"CREATE OR REPLACE TEMP TABLE {DISTINCT} AS {distinct}")
        bad = screen.bad_values(name, DISTINCT, types, "duckdb")
        duck.execute(f"INSERT INTO {BAD_VALUES} {bad}")
    duck.execute(f"DROP TABLE IF EXISTS {DISTINCT}")
    found = duck.execute(
        f"SELECT field, value FROM {BAD_VALUES}"
        f" QUALIFY ROW_NUMBER() OVER (PARTITION BY field) <= {LISTED + 1}"
    ).fetchall()
    listed: dict[str, list[str | None]] = {}
    for field, value in found:
        listed.setdefault(str(field), []).append(value)
    return BadValues(frozenset(checked), listed)


def _repeating(duck: duckdb.DuckDBPyConnection, screen: Screen, names: list[str]) -> list[str]:
    """The fields among `names` whose values repeat: REPEATING rows or more a distinct value
    (a branch, an occupation). Where nearly every row differs (a phone, an e-mail), testing
    each distinct value costs more than testing each row, and a hash table of them all.
    Counted in the first SAMPLE rows, which tell as much for a fraction of a full pass."""
    if not names:
        return []
    first = f"(SELECT * FROM {RAW} WHERE {ROW} <= {SAMPLE})"
    rows, *distinct = duck.execute(screen.distinct_counts(names, first, "duckdb")).fetchall()[0]
    return [name for name, count in zip(names, distinct, strict=True) if count * REPEATING <= rows]


def _csv_table(duck: duckdb.DuckDBPyConnection, screen: Screen, path: Path) -> None:
    """The cells of a CSV file, as text, read by load's own reader into the table RAW."""
    batches = text_batches(path, screen.reject, screen.schema, screen.encoding)
    for number, batch in enumerate(batches):
        duck.register("cells", batch)
        if number == 0:
            duck.execute(f"CREATE TEMP TABLE {RAW} AS SELECT * FROM cells")
        else:
            duck.execute(f"INSERT INTO {RAW} SELECT * FROM cells")
        duck.unregister("cells")


def _classify(
    duck: duckdb.DuckDBPyConnection,
    prepare: Sequence[str],
    sql: str,
    codes: Codes,
    coded: bool = False,
) -> None:
    """`result`: every customer classified, its answers as `codes` (given by `sql` itself
    when `coded`), once `prepare` has found the cut-offs into small tables (its passes
    reading only the ranked columns), so that the query reads every column of the snapshot
    once. The query joins the customers (left) to small tables (right: a segment's cut-offs,
    the grouped events); DuckDB would otherwise hash all the customers to probe them with a
    few rows where it misjudges the sizes: it keeps each join's build side as written
    instead."""
    duck.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        for statement in prepare:
            duck.execute(statement)
        answers = "*" if coded else f"* REPLACE ({codes.encoded()})"
        duck.execute(f"CREATE TEMP TABLE {RESULT} AS SELECT {answers} FROM ({sql})")
    finally:
        duck.execute("RESET disabled_optimizers")


def _write_result(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    written: Written,
    watch: Stopwatch,
    codes: Codes,
) -> RunReport:
    """Compare `result` with the store's assignments, write what changed into the store with
    the run and its report (and `written.after`), and commit the copy once the store has."""

    def found() -> str:  # before the run exists (see scratch.py); sorted as they are copied
        _find_changes(duck, written.key, holds(ruleset), NO_RUN, ordered=False)
        watch.lap("compare")
        return CHANGES

    counted: list[tuple[tuple[Cell, ...], dict[str, int]]] = []
    with scratch_changes(duck, store, found, codes) as scratch:
        if scratch:
            watch.lap("copy changes")
        with tuned(store), store.transaction():
            hold_erasures(store)  # before writing a row an erasure may delete
            run_id = start_run(store, ruleset, written.engine, now)

            def beside() -> None:  # DuckDB's own part, while the store writes
                stage_changes(duck, CHANGES, run_id)
                counted.append(_counted(duck, written.unique, codes))

            if scratch and scratch.first and still_empty(store):
                with _meanwhile(beside):
                    counts = insert_first(store, scratch, run_id, ruleset.hash, now)
            else:
                counts = _write_changes(
                    duck, store, ruleset, now, written.key, run_id, scratch, watch, beside, codes
                )
            changed, transitions, held, held_groups = counts
            [(cells, overlaps)] = counted
            customers = sum(c.customers for c in cells)
            if fold_if_large(store, customers):
                watch.lap("fold changes")
            _keep_history(duck, store, ruleset, written.key, run_id, today_in(ruleset, now))
            erased = unwrite_erased(duck, store, written.mark, RESULT, written.key, run_id)
            watch.lap("write store")
            report = RunReport(
                run_id,
                ruleset.hash,
                written.engine,
                now,
                watch.finished(now),
                customers,
                changed,
                transitions,
                cells,
                overlaps,
                written.rejected,
                watch.laps,
                held,
                written.problems,
                held_groups=held_groups,
            )
            report = close_run(store, report, written.after, watch)
    watch.lap("commit store")
    if erased:  # the copy, read before, may name someone erased meanwhile
        discard_mirror(duck, _mirror_file(store, written.keep_mirror))
    else:
        commit_mirror(duck)  # only once the store has committed
    watch.lap("commit copy")
    return replace(report, finished_at=watch.finished(now), timings=dict(watch.laps))


def _counted(
    duck: duckdb.DuckDBPyConnection, unique: Sequence[str], codes: Codes
) -> tuple[tuple[Cell, ...], dict[str, int]]:
    """The distribution of `result` and its overlaps (run.py); the answers are counted by
    code, then named."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        return duck.execute(sql).fetchall()

    ladders = ", ".join(LADDERS)
    by_code = f"(SELECT {ladders}, gold, COUNT(*) AS n FROM {RESULT} GROUP BY ALL)"
    rows = query(
        f"SELECT {codes.named(LADDERS)}, SUM(n), SUM(CASE WHEN gold THEN n ELSE 0 END)"
        f" FROM {by_code} GROUP BY ALL ORDER BY 1, 2, 3"
    )
    return cells_from_rows(rows), count_overlaps(query, RESULT, unique)


@contextlib.contextmanager
def _meanwhile(work: Callable[[], None]) -> Iterator[None]:
    """`work` on a thread of its own while the block runs; its error raised once the block
    has ended (the block's own first)."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if failed:
        raise failed[0]


def _write_changes(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    key: str,
    run_id: int,
    scratch: Scratch | None,
    watch: Stopwatch,
    beside: Callable[[], None],
    codes: Codes,
) -> Applied:
    """The changes applied to the store, read from the scratch file or else found now and
    copied row by row into `_gx_changed`; `beside` runs on a thread of its own meanwhile."""
    if scratch:
        settle_run(duck, CHANGES, run_id)
        source = scratch_rows(scratch, run_id)
    else:
        create_changed(store)
        _find_changes(duck, key, holds(ruleset), run_id)
        watch.lap("compare")
        _copy_changes(duck, store, codes)
        watch.lap("copy changes")
        source = IN_CHANGED
    with _meanwhile(beside):
        counts = apply_changes(store, run_id, ruleset.hash, now, staged=True, source=source)
    return counts


def _keep_history(
    duck: duckdb.DuckDBPyConnection,
    store: Store,
    ruleset: RuleSet,
    key: str,
    run_id: int,
    today: dt.date,
) -> None:
    """The values of `result` that differ from the history kept, into the store's."""

    def fetch(value: str, new: str) -> Iterator[list[tuple[Any, ...]]]:
        rows = duck.execute(
            f'SELECT CAST("{key}" AS VARCHAR), "{value}" FROM {RESULT} WHERE "{new}" = 1'
        )
        while batch := rows.fetchmany(BATCH):
            yield batch

    keep_rows(store, ruleset, fetch, run_id, today)


def _find_changes(
    duck: duckdb.DuckDBPyConnection,
    key: str,
    hold: Mapping[str, int],
    run_id: int,
    ordered: bool = True,
) -> None:
    """The customers whose assignment changed, holds applied, as `changes` (`ordered` by
    customer); DataError when one of them is on more than one row of the snapshot."""
    changes = held_changes(
        RESULT, f'r."{key}"', with_rows(), hold, run_id, "duckdb", (PLACE,), answers=CODE
    )
    # in order, the store's index grows at its end: far faster
    duck.execute(
        f"CREATE OR REPLACE TEMP TABLE {CHANGES} AS {changes}"
        + (" ORDER BY customer_id" if ordered else "")
    )
    twice = duck.execute(
        f"SELECT customer_id FROM {CHANGES} GROUP BY 1 HAVING COUNT(*) > 1 LIMIT 1"
    ).fetchall()
    if twice:
        raise DataError(
            _("the snapshot has the same customer id on more than one row: '{id}'").format(
                id=twice[0][0]
            )
        )


def _copy_changes(duck: duckdb.DuckDBPyConnection, store: Store, codes: Codes) -> None:
    """The changes into the store, answers named; the pending columns only for the customers
    being held (the others' are the table's defaults): a first night copies a third of the
    values."""
    for columns, where in ((ASSIGNED, f"NOT ({WAITING})"), (COLUMNS, WAITING)):
        rows = duck.execute(f"SELECT {codes.named(columns)} FROM {CHANGES} WHERE {where}")
        while batch := rows.fetchmany(BATCH):
            store.copy_rows(CHANGED, columns, batch)
