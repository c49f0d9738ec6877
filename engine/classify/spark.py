"""The batch engine for more customers than one machine holds: the same rules on Spark.

Spark reads the snapshot (a Parquet file, a folder of Parquet files as Spark and Hive write
them, or a CSV file), leaves out the rows `load` would quarantine as the DuckDB engine does
(ingest/screen.py; a row whose id an earlier good row has, and a customer erased at their
request, too), runs the classification
query compiled for its SQL dialect (the same chain of CTEs as the store and DuckDB engines,
compile.py) and writes every customer's assignment as Parquet into an output folder, for the
bank's own jobs to read. The store then takes what changed exactly as from the DuckDB engine
(snapshot.py): DuckDB reads that Parquet, compares it with the store's assignments, and the
store records transitions and upserts.

Spark is an optional extra (`pip install 'guanxi[spark]'`, Java 17 or newer): nothing here
imports PySpark until a session is started. The master is `local[2]` unless the rule
project's `spark_master:` or `--master` names another; the rest of a cluster's configuration
comes from Spark's own `spark-defaults.conf`. The output folder must be readable here, so on
a cluster it lies on a shared file system.

Event measures read the store's events: the store groups them by customer (one row per
customer with events in the windows, event_measures.py) and the groups reach Spark as a
DataFrame, as they reach DuckDB; Spark joins them to the customers by the key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow

from guanxi.engine.classify.compile import classified, compile_classification
from guanxi.engine.classify.erased_meanwhile import unwrite_output
from guanxi.engine.classify.event_measures import grouped_events
from guanxi.engine.classify.field_history import grouped_history
from guanxi.engine.classify.report import RunReport
from guanxi.engine.classify.run import AfterRun, Stopwatch
from guanxi.engine.classify.snapshot import Written, connect, write_back
from guanxi.engine.classify.spark_parquet import (
    as_timestamps,
    java_cause,
    mismatched,
    nanos_as_long,
    screened_types,
    timestamp_columns,
    unreadable,
)
from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import DataError, EngineUnavailable
from guanxi.engine.i18n import N_, _
from guanxi.engine.ingest.erased_rows import SPARK_PSEUDONYM, Erasures
from guanxi.engine.ingest.formats import BATCH_ROWS
from guanxi.engine.ingest.screen import FILE, ROW, Screen, snapshot_screen, text_batches
from guanxi.engine.privacy.erasure import pseudonym_function
from guanxi.engine.privacy.files import spark_output
from guanxi.engine.privacy.meanwhile import erasures_so_far
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.ruleset.sizes import parse_memory
from guanxi.engine.store.base import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL = N_(
    "the spark engine needs PySpark, which is not installed: pip install 'guanxi[spark]'"
    " (it also needs Java 17 or newer)"
)
LOCAL = "local[2]"
SNAPSHOT = "gx_snapshot"
RAW = "gx_raw"
RESCUED = "gx_rescued"
STORED_REALS = "gx_stored_reals"  # the store's ids stored as `123.0`, by their digits
KEPT_REALS = "gx_unkept_reals"  # the accepted rows, before an id stored as `123.0` is named so
ACCEPTED = "gx_accepted"  # the rows whose every value load would accept, typed and numbered
SCREENED = "gx_screened"  # the accepted rows, an id stored as `123.0` named so, numbered
ERASURES = "gx_erasures"  # the pseudonyms of the customers erased at their request
UNERASED = "gx_unerased"  # the accepted rows but those of erased customers
SHARED = "gx_shared_hashes"  # the id hashes that more than one accepted row has
FINGERPRINT = "xxhash64({})"  # an id's hash (64 bits: few ids share one)
EVENTS = "gx_events"  # the store's events, grouped by customer (event measures)
HISTORY = "gx_field_history"
LOGGING = Path(__file__).with_name("spark_log4j2.properties")


@contextlib.contextmanager
def spark_session(master: str) -> Iterator[SparkSession]:
    """A SparkSession on `master`, stopped afterwards. A session already running in this
    process (a notebook's, a test module's) is used as it is and left running."""
    _require_pyspark()
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    if running is not None:
        yield running
        return
    session = start_spark(master)
    try:
        yield session
    finally:
        session.stop()


def start_spark(master: str) -> SparkSession:
    """A SparkSession on `master`; EngineUnavailable when PySpark or Java is missing."""
    _require_pyspark()
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("guanxi classify")
    local = master.startswith("local")
    if local:  # one machine: stay on the loopback interface
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for name, value in _settings(local).items():
        builder = builder.config(name, value)
    try:
        return builder.getOrCreate()
    except PySparkException as error:
        if local:
            hint = _("it needs Java 17 or newer (java -version)")
        else:
            hint = _("is the master reachable, and is there Java 17 or newer (java -version)?")
        reason = _first_line(error).rstrip(".")
        raise EngineUnavailable(
            _("Spark could not start on '{master}': {reason}; {hint}").format(
                master=master, reason=reason, hint=hint
            )
        ) from None


def _require_pyspark() -> None:
    """PySpark is imported only when the Spark engine is asked for; say how to install it."""
    try:
        import pyspark.sql  # noqa: F401
    except ImportError:
        raise EngineUnavailable(_(INSTALL)) from None


def _settings(local: bool) -> dict[str, str]:
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # dates and times in snapshots are wall-clock values: never shift them to a zone
        "spark.sql.session.timeZone": "UTC",
    }
    if local:  # a cluster's logging and network are its own configuration's business
        settings |= {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOGGING.as_uri()}",
        }
    return settings


def classify_on_spark(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    snapshot: Path,
    spark: SparkSession | str = LOCAL,
    output: Path | None = None,
    keep_mirror: bool = True,
    after: AfterRun | None = None,
    encoding: str = UTF8,
) -> RunReport:
    """Classify every customer of `snapshot` (a CSV one in `encoding`) on Spark (a session,
    or a master to start one on), write all assignments as Parquet to `output` (a folder,
    replaced; default: beside the store), write back into the store what changed and then
    `after` the run, in the store's transaction of the write-back."""
    if isinstance(spark, str):
        with spark_session(spark) as session:
            return classify_on_spark(
                store, ruleset, now, snapshot, session, output, keep_mirror, after, encoding
            )
    watch = Stopwatch()
    store.prepare(ruleset.schema)
    mark = erasures_so_far(store)  # before any customer is read
    folder = _output_folder(output or spark_output(store))
    screen = snapshot_screen(store, ruleset, now, Path(snapshot), encoding)
    history = _register_history(spark, store, ruleset, today_in(ruleset, now))
    key, unique = _classify(spark, store, screen, ruleset, now, Path(snapshot), folder, history)
    watch.lap("classify")
    duck = connect(parse_memory(ruleset.settings.snapshot_memory))
    try:
        parts = str(folder / "*.parquet").replace("'", "''")
        problems = tuple(screen.problems)
        written = Written("spark", key, unique, screen.rejected, keep_mirror, mark, after, problems)
        report = write_back(duck, store, ruleset, now, written, watch, f"read_parquet('{parts}')")
        unwrite_output(duck, store, mark, folder, key)  # erased while the night ran
        return report
    finally:
        duck.close()


def _classify(
    spark: SparkSession,
    store: Store,
    screen: Screen,
    ruleset: RuleSet,
    now: dt.datetime,
    snapshot: Path,
    folder: Path,
    history: str | None = None,
) -> tuple[str, tuple[str, ...]]:
    """Run the query on Spark into `folder`: (key, 'unique' ladders); `history`: the view of
    the store's kept field history, for change measures."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    today = today_in(ruleset, now)
    try:
        with nanos_as_long(spark):
            _register_source(spark, screen, snapshot)
            columns = spark.table(SNAPSHOT).columns
            events = _grouped_events(spark, store, ruleset, today)
            query = compile_classification(
                ruleset, "spark", today, SNAPSHOT, columns, events=events, history=history
            )
            spark.sql(query.sql).write.mode("overwrite").parquet(str(folder))
    except PySparkException as error:  # a column that cannot be read as its field's type, …
        raise unreadable(error, snapshot) or DataError(
            _("cannot classify the snapshot '{snapshot}': {error}").format(
                snapshot=snapshot, error=_first_line(error)
            )
        ) from None
    except Py4JJavaError as error:  # a file of the folder Spark could not read, collected
        raise mismatched(error, snapshot) or DataError(
            _("cannot classify the snapshot '{snapshot}': {error}").format(
                snapshot=snapshot, error=java_cause(error)
            )
        ) from None
    return query.key, query.unique


def _register_history(
    spark: SparkSession, store: Store, ruleset: RuleSet, today: dt.date
) -> str | None:
    """The store's kept field history (change measures) as the view `gx_field_history`; the
    values the run keeps come back with the assignments (field_history.outputs)."""
    if not ruleset.change_measures:
        return None
    _frame(spark, grouped_history(store, ruleset, today)).createOrReplaceTempView(HISTORY)
    return HISTORY


def _grouped_events(
    spark: SparkSession, store: Store, ruleset: RuleSet, today: dt.date
) -> str | None:
    """The store's events grouped by customer for the event measures the classification
    reads, as the view `gx_events` (None: it reads none), as DuckDB is given them."""
    ruleset = classified(ruleset)
    if not ruleset.event_measures:
        return None
    _frame(spark, grouped_events(store, ruleset, today)).createOrReplaceTempView(EVENTS)
    return EVENTS


def _register_source(spark: SparkSession, screen: Screen, path: Path) -> None:
    """The snapshot's customers that load would accept, typed, as the view `gx_snapshot`; the
    others rejected by `screen` with their row numbers and reasons."""
    raw, meant = _read(spark, screen, path)
    raw.createOrReplaceTempView(RAW)
    # those in nanoseconds: read by Spark as counts
    stamps = {meant.get(name, name): kind for name, kind in timestamp_columns(path).items()}
    types = screened_types(dict(raw.dtypes), stamps)
    screen.needs(path, types)
    clean = screen.clean(types, "spark")
    in_order = [c for c in (FILE, ROW) if c in types]  # as load would meet them
    doubtful = spark.sql(f"SELECT * FROM {RAW} WHERE NOT {clean}").sort(*in_order).toArrow()
    doubtful = as_timestamps(doubtful, stamps)
    checked = screen.check(doubtful.to_batches(BATCH_ROWS), numbered=True)
    empty = screen.arrow_schema(types, numbered=True).empty_table()
    _frame(spark, pyarrow.concat_tables([empty, *checked])).createOrReplaceTempView(RESCUED)
    numbers = ", ".join(reversed(in_order))  # as the rescued rows have them: ROW, then FILE
    spark.sql(
        f"CREATE OR REPLACE TEMP VIEW {ACCEPTED} AS SELECT {screen.typed(types, 'spark')},"
        f" {numbers} FROM {RAW} WHERE {clean} UNION ALL SELECT * FROM {RESCUED}"
    )
    unit = "line" if path.suffix.lower() == ".csv" and path.is_file() else "row"
    _snapshot_view(spark, screen, in_order, unit)


def _snapshot_view(spark: SparkSession, screen: Screen, in_order: list[str], unit: str) -> None:
    """The view SNAPSHOT: the accepted rows, a customer stored as `123.0` named so, but those
    refused as load refuses them: an erased customer's, then a repeated id's (as DuckDB's:
    snapshot_ids.py)."""
    kept = _keeping_stored_reals(spark, screen, spark.table(ACCEPTED))
    accepted = ACCEPTED
    erased = _refused_erased(spark, screen, kept, in_order)
    if erased is not None:  # an erased customer's second row is theirs: no "duplicate" of them
        kept = kept.join(erased, in_order, "left_anti")
        spark.table(ACCEPTED).join(erased, in_order, "left_anti").createOrReplaceTempView(UNERASED)
        accepted = UNERASED
    repeated = _reject_repeated(spark, screen, in_order, unit, accepted)
    if repeated is not None:
        kept = kept.join(repeated.select(*in_order), in_order, "left_anti")
    kept.drop(*in_order).createOrReplaceTempView(SNAPSHOT)


def _refused_erased(
    spark: SparkSession, screen: Screen, rows: DataFrame, in_order: list[str]
) -> DataFrame | None:
    """Refuse the `rows` (numbered) of customers erased at their request (ingest/erased_rows.py):
    their numbers (None: there are none). Spark holds no copy of the store's assignments to
    tell the ids new to the store, so every id is hashed, on the workers, and only where
    someone was erased."""
    erasures = Erasures.of(screen)
    if erasures is None:  # nearly every store
        return None
    _frame(spark, erasures.table()).createOrReplaceTempView(ERASURES)
    spark.udf.register(SPARK_PSEUDONYM, pseudonym_function(erasures.known.secret), "string")
    rows.createOrReplaceTempView(SCREENED)
    found = spark.sql(erasures.rows_sql(SCREENED, ERASURES, "spark", in_order))
    found = found.sort(*in_order).localCheckpoint()  # read twice: rejected, then left out
    return found.select(*in_order) if erasures.reject(found.toLocalIterator()) else None


def _keeping_stored_reals(spark: SparkSession, screen: Screen, rows: DataFrame) -> DataFrame:
    """`rows`, a row naming `123` naming the customer an earlier version stored as `123.0`,
    as DuckDB's snapshot and load name them (Screen.keeping_stored_reals)."""
    reals = screen.stored_reals()
    if reals is None:
        return rows
    _frame(spark, reals).createOrReplaceTempView(STORED_REALS)
    rows.createOrReplaceTempView(KEPT_REALS)
    return spark.sql(screen.keeping_stored_reals(KEPT_REALS, rows.columns, STORED_REALS, "spark"))


def _reject_repeated(
    spark: SparkSession, screen: Screen, in_order: list[str], unit: str, accepted: str
) -> DataFrame | None:
    """Reject the `accepted` rows whose id an earlier one has, as load quarantines them (the
    first good row wins; in a folder, the first by file and row): those rows, numbered (None:
    there are none)."""
    shared = spark.sql(screen.shared_ids(accepted, FINGERPRINT, "spark")).localCheckpoint()
    if shared.isEmpty():
        return None
    shared.createOrReplaceTempView(SHARED)
    found = spark.sql(screen.repeated_ids(accepted, SHARED, FINGERPRINT, "spark", in_order))
    repeated = found.sort(*in_order).localCheckpoint()  # read twice: rejected, then left out
    screen.reject_repeated(repeated.toLocalIterator(), unit)
    return repeated


def _read(spark: SparkSession, screen: Screen, path: Path) -> tuple[DataFrame, dict[str, str]]:
    """The snapshot, each row numbered in ROW (in a folder, within its file, named in FILE),
    each column named by the field it means, and the Parquet columns so renamed."""
    if not path.exists():
        raise DataError(_("there is no snapshot file or folder '{path}'").format(path=path))
    if path.is_file() and path.suffix.lower() == ".csv":
        batches = text_batches(path, screen.reject, screen.schema, screen.encoding)
        return _frame(spark, pyarrow.Table.from_batches(list(batches))), {}
    if path.is_dir() or path.suffix.lower() == ".parquet":
        rows = spark.read.parquet(str(path))
        meant = screen.fields_meant(path, rows.columns)
        number = f"_metadata.row_index + 1 AS {ROW}"
        where = [f"_metadata.file_path AS {FILE}"] if path.is_dir() else []
        rows = rows.selectExpr("*", number, *where)
        return rows.withColumnsRenamed({c: f for c, f in meant.items() if c != f}), meant
    raise DataError(
        _("'{name}' is neither a Parquet file (.parquet) or folder nor a CSV file (.csv)").format(
            name=path.name
        )
    )


def _frame(spark: SparkSession, table: pyarrow.Table) -> DataFrame:
    """An Arrow table as a DataFrame, in one chunk (Spark took no rows at all from a table whose
    first chunk was empty)."""
    return spark.createDataFrame(table.combine_chunks())


def _output_folder(folder: Path) -> Path:
    """`folder`, if it is new, empty or an earlier Spark output (which is then replaced)."""
    if folder.exists() and not (folder.is_dir() and _replaceable(folder)):
        raise DataError(
            _(
                "'{folder}' exists and is not an earlier assignments output;"
                " choose another --output"
            ).format(folder=folder)
        )
    return folder.absolute()


def _replaceable(folder: Path) -> bool:
    return (folder / "_SUCCESS").exists() or not any(folder.iterdir())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
