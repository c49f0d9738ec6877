"""Benchmark data: demo customers as CSV, Parquet snapshots and a loaded SQLite store.

Big files are made once and reused from the data folder (`--data DIR`): the 10M-row
snapshot is the 1M demo file repeated ten times with fresh ids and shifted values, because
generating ten million rows in Python would take minutes longer than the benchmark itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import duckdb
import psycopg

from guanxi.engine.classify.compile import SQL_TYPES
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.sqlite import SQLiteStore

TODAY = dt.date(2026, 11, 28)


def demo_csv(folder: Path, customers: int, seed: int = 1) -> Path:
    """customers.csv from the demo-data generator (made once)."""
    from guanxi.engine.demo_data import write_demo_data

    path = folder / f"demo-{customers}" / "customers.csv"
    if not path.exists():
        write_demo_data(path.parent, customers, seed, TODAY)
    return path


def read_csv_sql(ruleset: RuleSet, path: Path) -> str:
    """DuckDB read of a demo CSV with the schema's types; the few bad demo rows are skipped."""
    columns = ", ".join(f"'{n}': '{SQL_TYPES[f.type]}'" for n, f in ruleset.schema.fields.items())
    return f"read_csv('{path}', header = true, columns = {{{columns}}}, ignore_errors = true)"


def load_store(ruleset: RuleSet, csv_path: Path, db_path: Path) -> int:
    """A fresh SQLite store holding the customers of `csv_path`; the number loaded."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(db_path)
    store.prepare(ruleset.schema)
    store.close()
    names = list(ruleset.schema.fields)
    reader = duckdb.connect()
    reader.execute("SET enable_progress_bar = false")
    result = reader.execute(f"SELECT {', '.join(names)} FROM {read_csv_sql(ruleset, csv_path)}")
    connection = sqlite3.connect(db_path)
    marks = ", ".join("?" for _ in names)
    count = 0
    with connection:
        while batch := result.fetchmany(50_000):
            rows = [tuple(_stored(v) for v in row) for row in batch]
            connection.executemany(
                f"INSERT INTO customers ({', '.join(names)}) VALUES ({marks})", rows
            )
            count += len(rows)
    connection.close()
    return count


def _stored(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


MONEY = ("balance", "loan_balance", "wealth_balance", "annual_contribution", "annual_income")


def empty_store(tree: Path, path: Path) -> Path:
    """A store at `path` with the schema of the guanxi tree in folder `tree` and no customers
    (made by that tree, in a process of its own)."""
    code = (
        "import sys; from guanxi.engine.store.sqlite import SQLiteStore;"
        "from guanxi.engine.defaults import default_rules_path;"
        "from guanxi.engine.ruleset import load_ruleset;"
        "s = SQLiteStore(sys.argv[1]); s.prepare(load_ruleset(default_rules_path()).schema);"
        "s.close()"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    return path


def snapshot_parquet(ruleset: RuleSet, csv_path: Path, target: Path, copies: int) -> Path:
    """`copies` × the demo customers as one Parquet snapshot: copy k gets ids shifted by k × 10⁷
    and amounts scaled by (1 + k/100), so no two copies are identical."""
    if target.exists():
        return target
    duck = duckdb.connect()
    duck.execute("SET enable_progress_bar = false")
    duck.execute(f"CREATE TABLE base AS SELECT * FROM {read_csv_sql(ruleset, csv_path)}")
    columns = [_copied(name) for name in ruleset.schema.fields]
    duck.execute(
        f"COPY (SELECT {', '.join(columns)} FROM base, range({copies}) AS copies(k))"
        f" TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 500000)"
    )
    return target


def _copied(name: str) -> str:
    if name == "customer_id":  # C000000001 … : copy k adds k × 10,000,000 to the number
        number = "k * 10000000 + CAST(substr(customer_id, 2) AS BIGINT)"
        return f"'C' || lpad(CAST({number} AS VARCHAR), 9, '0') AS customer_id"
    if name in MONEY:
        return f"round({name} * (1 + k / 100.0), 2) AS {name}"
    return name


def night_parquet(first: Path, target: Path, percent: float, today: dt.date) -> Path:
    """The next night's snapshot: `percent` % of the customers (by a hash of their id) traded
    yesterday and tripled their contribution; everyone else is unchanged."""
    if target.exists():
        return target
    duck = duckdb.connect()
    duck.execute("SET enable_progress_bar = false")
    pick = f"hash(customer_id) % 10000 < {int(percent * 100)}"
    duck.execute(
        f"COPY (SELECT * REPLACE ("
        f"CASE WHEN {pick} THEN DATE '{today - dt.timedelta(days=1)}' ELSE last_txn_date END"
        f" AS last_txn_date, CASE WHEN {pick} THEN annual_contribution * 3"
        f" ELSE annual_contribution END AS annual_contribution) FROM read_parquet('{first}'))"
        f" TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 500000)"
    )
    return target


@contextlib.contextmanager
def postgres_schema(server: str) -> Iterator[str]:
    """The URL of a new, empty schema on the PostgreSQL `server`; dropped afterwards."""
    schema = f"gx_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
