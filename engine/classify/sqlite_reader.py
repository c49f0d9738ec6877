"""A SQLite query's rows as an Arrow IPC stream on standard output, through the ADBC SQLite
driver; run as a script, in a process of its own (store_arrow.py starts it):

    python -P sqlite_reader.py URI BATCH_ROWS SQL

Its own process because the driver carries its own copy of SQLite: when that copy closed the
store's file in the process of the store's connection, POSIX would drop the locks the
connection holds on it (sqlite.org/howtocorrupt.html, 2.2.1), and another process could take
the store as unused. Exits 1, the error on standard error, when the driver stops. It imports
nothing of guanxi, and pyarrow without NumPy (pyarrow imports it when installed, for nothing
done here: half the process's start-up); it starts quickly and finds nothing beside it on its
path.
"""

from __future__ import annotations

import sys

sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` fails: not loaded
try:
    import pyarrow as pa
except ImportError:  # a pyarrow that needs it
    del sys.modules["numpy"]
    import pyarrow as pa
import adbc_driver_manager  # noqa: E402
import adbc_driver_sqlite  # noqa: E402


def write_stream(uri: str, batch_rows: int, sql: str) -> None:
    """The rows of `sql` on the database at `uri`, `batch_rows` a batch, onto stdout."""
    with (
        adbc_driver_sqlite.connect(uri) as database,
        adbc_driver_manager.AdbcConnection(database) as connection,
        adbc_driver_manager.AdbcStatement(connection) as statement,
    ):
        statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: batch_rows})
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        reader = pa.RecordBatchReader.from_stream(stream)
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)


if __name__ == "__main__":
    try:
        write_stream(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    except (adbc_driver_manager.Error, OSError, pa.ArrowException) as error:
        print(error, file=sys.stderr)
        sys.exit(1)
