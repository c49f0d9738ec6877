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


def main(uri: str, batch_rows: int, sql: str) -> int:
    sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` fails: not loaded
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # a pyarrow that needs it
        del sys.modules["numpy"]
    import adbc_driver_manager
    import pyarrow as pa

    try:
        write_stream(uri, batch_rows, sql)
    except (adbc_driver_manager.Error, OSError, pa.ArrowException) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def write_stream(uri: str, batch_rows: int, sql: str) -> None:
    """The rows of `sql` on the database at `uri`, `batch_rows` a batch, onto stdout."""
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

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
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
