"""The embedded default store: one SQLite file (WAL) through sqlite-utils."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from guanxi.engine.ruleset.models import Schema
from guanxi.engine.store.base import Row, Store

SQL_TYPES = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": int,
    "date": str,
    "datetime": str,
}

migrations = Migrations("guanxi")


@migrations()
def m001_core_tables(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " at TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}', loaded_at TEXT)"
    )
    db.execute("CREATE INDEX events_customer ON events (customer_id, at)")
    db.execute(
        "CREATE TABLE quarantine (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT,"
        " row_number INTEGER, field TEXT, value TEXT, reason TEXT NOT NULL, at TEXT)"
    )
    db.execute(
        "CREATE TABLE classification_runs (id INTEGER PRIMARY KEY, ruleset_hash TEXT NOT NULL,"
        " engine TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, customers INTEGER,"
        " changed INTEGER, counts TEXT)"
    )
    db.execute(
        "CREATE TABLE assignments (customer_id TEXT PRIMARY KEY, tier TEXT, level TEXT,"
        " strategy TEXT, gold INTEGER NOT NULL DEFAULT 0, run_id INTEGER NOT NULL,"
        " ruleset_hash TEXT NOT NULL, assigned_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE transitions (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL,"
        " customer_id TEXT NOT NULL, from_tier TEXT, to_tier TEXT, from_level TEXT,"
        " to_level TEXT, from_strategy TEXT, to_strategy TEXT, at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX transitions_run ON transitions (run_id)")


class SQLiteStore(Store):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA busy_timeout = 10000")
        self.db.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in DuckDB and PostgreSQL
        self.key = "customer_id"
        migrations.apply(self.db)

    @property
    def dialect(self) -> str:
        return "sqlite"

    def prepare(self, schema: Schema) -> None:
        self.key = schema.key
        columns: dict[str, Any] = {n: SQL_TYPES[f.type] for n, f in schema.fields.items()}
        columns.update({"_row_hash": str, "_loaded_at": str})
        table = self.db.table("customers")
        if not table.exists():
            table.create(columns, pk=schema.key)
        else:
            missing = {n: t for n, t in columns.items() if n not in table.columns_dict}
            for name, kind in missing.items():
                table.add_column(name, kind)

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[Row]:
        return list(self.iter_rows(sql, parameters))

    def iter_rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Iterator[Row]:
        cursor = self.db.execute(sql, dict(parameters or {}))
        names = [d[0] for d in cursor.description or []]
        for values in cursor:
            yield dict(zip(names, values, strict=True))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.atomic():
            yield

    def upsert_customers(self, rows: Iterable[Row]) -> dict[str, int]:
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        batch = [{**row, "_row_hash": row_hash(row)} for row in rows]
        if not batch:
            return counts
        known = self._hashes([r[self.key] for r in batch])
        changed = []
        for row in batch:
            old = known.get(row[self.key])
            kind = "inserted" if old is None else "unchanged" if old == row["_row_hash"] else "updated"
            counts[kind] += 1
            if kind != "unchanged":
                changed.append(row)
        if changed:
            with self.db.atomic():
                self.db.table("customers").upsert_all(changed, pk=self.key, alter=False)
        return counts

    def _hashes(self, keys: list[Any]) -> dict[Any, str]:
        found: dict[Any, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f'SELECT "{self.key}", _row_hash FROM customers WHERE "{self.key}" IN ({marks})'
            found.update(dict(self.db.execute(sql, chunk).fetchall()))
        return found

    def insert_events(self, rows: Iterable[Row]) -> dict[str, int]:
        batch = [{**r, "payload": json.dumps(r.get("payload", {}), ensure_ascii=False)} for r in rows]
        before = self.db.table("events").count
        with self.db.atomic():
            self.db.table("events").insert_all(batch, pk="id", ignore=True, alter=False)
        inserted = self.db.table("events").count - before
        return {"inserted": inserted, "unchanged": len(batch) - inserted}

    def quarantine(self, rows: Iterable[Row]) -> int:
        batch = list(rows)
        with self.db.atomic():
            self.db.table("quarantine").insert_all(batch, alter=False)
        return len(batch)

    def close(self) -> None:
        self.db.close()


def row_hash(row: Mapping[str, Any]) -> str:
    """A fingerprint of a customer's loaded values: equal hashes mean nothing changed."""
    data = {k: v for k, v in row.items() if not k.startswith("_")}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
