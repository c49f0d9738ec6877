"""The Parquet columns Spark has no type for: nanosecond timestamps, and the rest.

pandas writes its timestamps in nanoseconds (TIMESTAMP(NANOS)), which Spark has no type for:
it refuses the whole file unless told to read them as their count of nanoseconds (a BIGINT).
So the night reads them so, and the Parquet schema, read here with pyarrow, says which columns
are timestamps, in what unit and zone: their values are never clean to the screen (a count is
no date), and the doubtful rows read back into Python are made the file's timestamps again,
to the nanosecond and in the file's zone, as load and DuckDB read them (`as_timestamps`). A
column of another type Spark cannot read (a time of day, a 16-bit real, a decimal of more
than 38 digits) stops the night with one error naming it (`unreadable`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow
import pyarrow.parquet

from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _

if TYPE_CHECKING:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
SCREENED_AS = "timestamp"  # the type the screen is told: never clean, read by rows.py
# Spark's message names the Parquet type, not the column: INT64 (TIME(NANOS,false))
ILLEGAL = re.compile(r"Parquet type[^:]*: (\w+)(?: \((\w+))?")
SPARK_DIGITS = 38  # the most digits of Spark's DECIMAL
# a file of a folder whose column has another type than Spark took from the folder's others
MISMATCH = re.compile(
    r"reading file (\S+?)\. Data type mismatches when reading Parquet column \[([^\]]+)\]\."
    r" Expected Spark type (\w+)"
)


@contextlib.contextmanager
def nanos_as_long(spark: SparkSession) -> Iterator[None]:
    """Spark reads TIMESTAMP(NANOS) columns as BIGINT meanwhile (a session already running,
    a notebook's, gets its setting back)."""
    before = spark.conf.get(NANOS_AS_LONG, None)
    spark.conf.set(NANOS_AS_LONG, "true")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(NANOS_AS_LONG)
        else:
            spark.conf.set(NANOS_AS_LONG, before)


def timestamp_columns(path: Path) -> dict[str, pyarrow.DataType]:
    """The timestamp columns of a Parquet snapshot (a file, or a folder's files as Spark reads
    them), with their Arrow type (unit and zone) as load reads them; none in a CSV file."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return {}
    import pyarrow.dataset  # imports pandas (0.2 s): not on every night's path, Spark's only

    try:
        schema = pyarrow.dataset.dataset(path, format="parquet").schema
    except (pyarrow.ArrowException, OSError):  # Spark's reader says what is wrong
        return {}
    return {field.name: field.type for field in schema if pyarrow.types.is_timestamp(field.type)}


def screened_types(
    types: Mapping[str, str], stamps: Mapping[str, pyarrow.DataType]
) -> dict[str, str]:
    """The snapshot's column types as the screen is told them: a timestamp column is one,
    though Spark reads one in nanoseconds as a count, and no field takes it as clean in SQL."""
    return {name: SCREENED_AS if name in stamps else kind for name, kind in types.items()}


def as_timestamps(table: pyarrow.Table, stamps: Mapping[str, pyarrow.DataType]) -> pyarrow.Table:
    """`table` (doubtful rows from Spark) with its timestamp columns as the file holds them:
    a count of nanoseconds made a timestamp again, to the nanosecond, and a timestamp in the
    zone the file gives it, or in none, whatever Spark's session zone (a cluster that reads
    timestamps without a zone as instants, spark.sql.parquet.inferTimestampNTZ.enabled off,
    gives their wall clock in UTC)."""
    for name, kind in stamps.items():
        if name in table.column_names and table.schema.field(name).type != kind:
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).cast(kind))
    return table


def unreadable(error: PySparkException, path: Path) -> DataError | None:
    """The error of a snapshot with a column of a Parquet type Spark cannot read, naming the
    column (found in the file's schema by the type Spark names); None for other errors, and
    when no column is found (Spark's own message then says what it could not read)."""
    condition = error.getCondition() or ""
    found = ILLEGAL.search(str(error))
    if condition == "UNSUPPORTED_TIME_TYPE":  # a time of day: Spark's TIME is switched off
        columns = _columns_of_type(path, _of_type(None, "TIME"))
    elif condition.startswith("PARQUET_TYPE_") and found is not None:
        columns = _columns_of_type(path, _of_type(found.group(1), found.group(2)))
    elif condition == "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION":
        columns = _columns_of_type(path, _wider_decimal)
    else:
        return None
    if not columns:
        return None
    return DataError(
        _(
            "Spark cannot read column {columns} of the snapshot '{snapshot}': it has no type"
            " for the column's Parquet type ({type}); save the column as text, a number, a"
            " date or a timestamp, or classify this snapshot with --engine duckdb"
        ).format(
            columns=", ".join(f"'{name}'" for name in columns),
            snapshot=path,
            type=", ".join(dict.fromkeys(columns.values())),
        )
    )


def mismatched(error: Py4JJavaError, folder: Path) -> DataError | None:
    """The error of a folder whose files give a column different types (one day's export a
    DOUBLE, the next a DECIMAL), naming the column, the file and both types; None for other
    errors."""
    found = MISMATCH.search(str(error))
    if found is None:
        return None
    file, column, expected = (
        Path(found.group(1).removeprefix("file:")),
        found.group(2),
        found.group(3),
    )
    try:
        actual = str(pyarrow.parquet.read_schema(file).field(column).type)
    except (pyarrow.ArrowException, OSError, KeyError):
        actual = "?"
    return DataError(
        _(
            "the files of the snapshot folder '{snapshot}' give column '{column}' different"
            " types: '{file}' holds it as {actual}, the others as {expected}; save the column"
            " in one type in every file"
        ).format(snapshot=folder, column=column, file=file.name, actual=actual, expected=expected)
    )


def java_cause(error: Py4JJavaError) -> str:
    """What Spark says went wrong: the first cause Java gives, without its class's name."""
    causes = [line for line in str(error).splitlines() if line.startswith("Caused by: ")]
    if not causes:
        return str(error).strip().splitlines()[0]
    return causes[0].removeprefix("Caused by: ").split(": ", 1)[-1]


def _of_type(physical: str | None, logical: str | None) -> Callable[[Any], bool]:
    """Whether a Parquet column is of the `physical` type (None: any) and the `logical` one
    (TIME, FLOAT16, ...; None: none)."""

    def matches(column: Any) -> bool:
        of_physical = physical in (None, column.physical_type)
        return of_physical and logical in (None, str(column.logical_type.type))

    return matches


def _wider_decimal(column: Any) -> bool:
    """A DECIMAL of more digits than Spark's (38), which pyarrow writes for a decimal256."""
    return bool(str(column.logical_type.type) == "DECIMAL" and column.precision > SPARK_DIGITS)


def _columns_of_type(path: Path, matches: Callable[[Any], bool]) -> dict[str, str]:
    """The columns of the snapshot's (first) Parquet file that `matches`, each with its type
    as the file gives it."""
    try:
        files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
        schema = pyarrow.parquet.read_metadata(files[0]).schema
    except (pyarrow.ArrowException, OSError, IndexError):
        return {}
    columns = (schema.column(index) for index in range(len(schema)))
    return {c.name: str(c.logical_type) for c in columns if matches(c)}
