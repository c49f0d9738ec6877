"""The batch engine for more customers than one machine holds: the same rules on Spark.

Spark reads the snapshot (a Parquet file, a folder of Parquet files as Spark and Hive write
them, or a CSV file), runs the classification query compiled for its SQL dialect (the same
chain of CTEs as the store and DuckDB engines, compile.py) and writes every customer's
assignment as Parquet into an output folder, for the bank's own jobs to read. The store then
takes what changed exactly as from the DuckDB engine (snapshot.py): DuckDB reads that Parquet,
compares it with the store's assignments, and the store records transitions and upserts.

Spark is an optional extra (`pip install 'guanxi[spark]'`, Java 17 or newer): nothing here
imports PySpark until a session is started. The master is `local[2]` unless the rule
project's `spark_master:` or `--master` names another; the rest of a cluster's configuration
comes from Spark's own `spark-defaults.conf`. The output folder must be readable here, so on
a cluster it lies on a shared file system.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from guanxi.engine.classify.compile import compile_classification, input_fields, sql_type
from guanxi.engine.classify.report import RunReport
from guanxi.engine.classify.run import AfterRun, Stopwatch
from guanxi.engine.classify.snapshot import RESULT, Written, connect, write_back
from guanxi.engine.classify.stages import quote
from guanxi.engine.errors import DataError, EngineUnavailable
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INSTALL = (
    "the spark engine needs PySpark, which is not installed: pip install 'guanxi[spark]'"
    " (it also needs Java 17 or newer)"
)
LOCAL = "local[2]"
SNAPSHOT = "gx_snapshot"
RAW = "gx_raw"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
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
        needs = "Java 17 or newer (java -version)"
        hint = f"it needs {needs}" if local else f"is the master reachable, and is there {needs}?"
        reason = _first_line(error).rstrip(".")
        raise EngineUnavailable(f"Spark could not start on '{master}': {reason}; {hint}") from None


def _require_pyspark() -> None:
    """PySpark is imported only when the Spark engine is asked for; say how to install it."""
    try:
        import pyspark.sql  # noqa: F401
    except ImportError:
        raise EngineUnavailable(INSTALL) from None


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


def default_output(store: Store) -> Path:
    """Where the assignments go unless told: beside a SQLite store, else in the working
    folder."""
    if isinstance(store, SQLiteStore):
        return Path(f"{store.path}.assignments.parquet")
    return Path.cwd() / "guanxi.assignments.parquet"


def classify_on_spark(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    snapshot: Path,
    spark: SparkSession | str = LOCAL,
    output: Path | None = None,
    keep_mirror: bool = True,
    after: AfterRun | None = None,
) -> RunReport:
    """Classify every customer of `snapshot` on Spark (a session, or a master to start one
    on), write all assignments as Parquet to `output` (a folder, replaced; default: beside
    the store), write back into the store what changed and then `after` the run, in the
    store's transaction of the write-back."""
    if isinstance(spark, str):
        with spark_session(spark) as session:
            return classify_on_spark(
                store, ruleset, now, snapshot, session, output, keep_mirror, after
            )
    watch = Stopwatch()
    store.prepare(ruleset.schema)
    folder = _output_folder(output or default_output(store))
    rejected, key, unique = _classify(spark, ruleset, now, Path(snapshot), folder)
    watch.lap("classify")
    duck = connect("3GB")
    try:
        parts = str(folder / "*.parquet").replace("'", "''")
        duck.execute(f"CREATE TEMP VIEW {RESULT} AS SELECT * FROM read_parquet('{parts}')")
        written = Written("spark", key, unique, rejected, keep_mirror, after)
        return write_back(duck, store, ruleset, now, written, watch)
    finally:
        duck.close()


def _classify(
    spark: SparkSession, ruleset: RuleSet, now: dt.datetime, snapshot: Path, folder: Path
) -> tuple[int, str, tuple[str, ...]]:
    """Run the query on Spark into `folder`: (rows not read, key, 'unique' ladders)."""
    from pyspark.errors import PySparkException

    try:
        rejected = _register_source(spark, ruleset, snapshot)
        columns = spark.table(SNAPSHOT).columns
        query = compile_classification(ruleset, "spark", today_in(ruleset, now), SNAPSHOT, columns)
        spark.sql(query.sql).write.mode("overwrite").parquet(str(folder))
    except PySparkException as error:  # a column that cannot be read as its field's type, …
        raise DataError(
            f"cannot classify the snapshot '{snapshot}': {_first_line(error)}"
        ) from None
    return rejected, query.key, query.unique


def _register_source(spark: SparkSession, ruleset: RuleSet, path: Path) -> int:
    """The snapshot as the view `gx_snapshot` without unreadable rows or rows lacking a key;
    how many rows were left out."""
    raw = _read(spark, path)
    raw.createOrReplaceTempView(RAW)
    key = quote(ruleset.schema.key, "spark")
    bad = _unreadable(ruleset, raw.columns) if _is_csv(path) else "FALSE"
    columns = ", ".join(
        _typed(ruleset, c) if _is_csv(path) else quote(c, "spark") for c in raw.columns
    )
    spark.sql(
        f"CREATE OR REPLACE TEMP VIEW {SNAPSHOT} AS SELECT {columns} FROM {RAW}"
        f" WHERE {key} IS NOT NULL AND NOT ({bad})"
    )
    left_out = spark.sql(f"SELECT COUNT(*) FROM {RAW} WHERE {key} IS NULL OR {bad}").first()
    return int(left_out[0]) if left_out else 0


def _read(spark: SparkSession, path: Path) -> DataFrame:
    if not path.exists():
        raise DataError(f"there is no snapshot file or folder '{path}'")
    if _is_csv(path):
        return spark.read.csv(str(path), header=True, sep="\t" if path.suffix == ".tsv" else ",")
    if path.is_dir() or path.suffix.lower() == ".parquet":
        return spark.read.parquet(str(path))
    raise DataError(f"'{path.name}' is neither a Parquet file or folder nor a CSV file")


def _is_csv(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CSV_SUFFIXES


def _typed(ruleset: RuleSet, column: str) -> str:
    """A CSV column (read as text) as its field's type; text that does not fit becomes NULL."""
    quoted = quote(column, "spark")
    field = ruleset.schema.fields.get(column)
    if field is None or column == ruleset.schema.key:
        return quoted
    return f"{_cast(ruleset, column)} AS {quoted}"


def _cast(ruleset: RuleSet, column: str) -> str:
    field_type = ruleset.schema.fields[column].type
    return f"TRY_CAST({quote(column, 'spark')} AS {sql_type(field_type, 'spark')})"


def _unreadable(ruleset: RuleSet, columns: list[str]) -> str:
    """SQL true for a CSV row with a value that does not fit its field's type, in a column the
    rules read (the DuckDB engine leaves out the same rows)."""
    read = set(input_fields(ruleset)) - {ruleset.schema.key}
    tests = [
        f"({quote(c, 'spark')} IS NOT NULL AND {_cast(ruleset, c)} IS NULL)"
        for c in columns
        if c in read
    ]
    return " OR ".join(tests) or "FALSE"


def _output_folder(folder: Path) -> Path:
    """`folder`, if it is new, empty or an earlier Spark output (which is then replaced)."""
    if folder.exists() and not (folder.is_dir() and _replaceable(folder)):
        raise DataError(
            f"'{folder}' exists and is not an earlier assignments output; choose another --output"
        )
    return folder.absolute()


def _replaceable(folder: Path) -> bool:
    return (folder / "_SUCCESS").exists() or not any(folder.iterdir())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
