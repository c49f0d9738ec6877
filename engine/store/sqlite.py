"""The embedded default store: one SQLite file (WAL) through sqlite-utils."""

from __future__ import annotations

import contextlib
import operator
import sqlite3
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from guanxi.engine.store.sqlite_utils_import import sqlite_utils  # isort: split

from sqlite_utils import Migrations

from guanxi.engine.ruleset.models import Schema
from guanxi.engine.store.assignments import clustered_statements, create_statements
from guanxi.engine.store.base import (
    CONSENT_LEDGER,
    CONSENT_LEDGER_INDEX,
    DAEMON_HEALTH,
    ESCAPED_KEYS,
    ESTABLISHED_TABLE,
    EVENT_COLUMNS,
    EVENTS_UNPLANNED_INDEX,
    EVENTS_WAITING,
    FOLLOWUPS_INDEXES,
    PHONE_FIELDS,
    PHONE_FROM_REAL_DIGITS,
    QUARANTINE_CUSTOMER,
    QUARANTINE_LOADED,
    QUARANTINE_ROWS,
    RETRY_KEYS,
    STORE_MARKS_TABLE,
    Row,
    Store,
    event_values,
)
from guanxi.engine.store.dialect import BUCKET_FUNCTION, bucket, quoted_name

SQL_TYPES = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": int,
    "date": str,
    "datetime": str,
}

migrations = Migrations("guanxi")
PAGE_SIZE = 16_384  # bytes, for a new store
BULK_CHECKPOINT = 64 << 20  # bytes of WAL between checkpoints while writing in bulk


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


@migrations()
def m002_followups(db: sqlite_utils.Database) -> None:
    """Follow-ups are the durable timers; decisions are every policy verdict about one."""
    db.execute(
        "CREATE TABLE followups (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
        " customer_id TEXT NOT NULL, step_id TEXT NOT NULL, level TEXT, kind TEXT NOT NULL,"
        " channel TEXT NOT NULL, template TEXT NOT NULL, priority INTEGER NOT NULL,"
        " mandatory INTEGER NOT NULL DEFAULT 0, purpose TEXT NOT NULL, owner TEXT,"
        " occurrence TEXT NOT NULL, event_id TEXT, payload TEXT NOT NULL DEFAULT '{}',"
        " planned_due_at TEXT NOT NULL, due_at TEXT NOT NULL, expires_at TEXT,"
        " status TEXT NOT NULL, policy TEXT, reason TEXT, batch TEXT NOT NULL,"
        " ruleset_hash TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX followups_due ON followups (status, due_at)")
    db.execute("CREATE INDEX followups_customer ON followups (customer_id, channel, due_at)")
    db.execute("CREATE INDEX followups_batch ON followups (batch)")
    db.execute(
        "CREATE TABLE followup_decisions (id INTEGER PRIMARY KEY, followup_id INTEGER NOT NULL,"
        " at TEXT NOT NULL, status TEXT NOT NULL, policy TEXT, reason TEXT)"
    )
    db.execute("CREATE INDEX followup_decisions_followup ON followup_decisions (followup_id)")


@migrations()
def m003_events_planned_at(db: sqlite_utils.Database) -> None:
    """When the event path planned an event; NULL: not planned yet."""
    db.execute("ALTER TABLE events ADD COLUMN planned_at TEXT")
    db.execute("CREATE INDEX events_unplanned ON events (planned_at, at)")


@migrations()
def m004_recurring_windows(db: sqlite_utils.Database) -> None:
    """Each window [window_start, window_end) a planning call planned for a recurring step;
    follow-ups by step and occurrence (how many of a period are planned, counted from the
    index alone)."""
    db.execute(
        "CREATE TABLE recurring_windows (id INTEGER PRIMARY KEY, step_id TEXT NOT NULL,"
        " window_start TEXT NOT NULL, window_end TEXT NOT NULL, batch TEXT NOT NULL,"
        " ruleset_hash TEXT NOT NULL, planned_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX recurring_windows_step ON recurring_windows (step_id, window_end)")
    db.execute("CREATE INDEX followups_occurrence ON followups (step_id, occurrence)")


@migrations()
def m005_followups_owner(db: sqlite_utils.Database) -> None:
    """Tasks by owner and due time: the capacity policy counts an RM's tasks a day."""
    db.execute("CREATE INDEX followups_owner ON followups (owner, due_at) WHERE kind = 'task'")


@migrations()
def m006_deliveries(db: sqlite_utils.Database) -> None:
    """Dispatch: a claimed follow-up's lease, its send attempts and when it may be tried again;
    the deliveries ledger keeps every attempt with the idempotency key."""
    db.execute("ALTER TABLE followups ADD COLUMN lease_until TEXT")
    db.execute("ALTER TABLE followups ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE followups ADD COLUMN next_attempt_at TEXT")
    db.execute("CREATE INDEX followups_lease ON followups (lease_until) WHERE status = 'claimed'")
    db.execute(
        "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, followup_id INTEGER NOT NULL,"
        " key TEXT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, adapter TEXT,"
        " outcome TEXT NOT NULL, error TEXT, external_id TEXT)"
    )
    db.execute("CREATE INDEX deliveries_followup ON deliveries (followup_id)")
    db.execute("CREATE INDEX deliveries_key ON deliveries (key)")


@migrations()
def m007_tasks(db: sqlite_utils.Database) -> None:
    """The relationship managers' task inbox: one task per follow-up key, open until a manager
    marks it done with an outcome; listed by manager, status and due time."""
    db.execute(
        "CREATE TABLE tasks (key TEXT PRIMARY KEY, followup_id INTEGER, customer_id TEXT,"
        " step_id TEXT, owner TEXT, title TEXT, body TEXT, due_at TEXT, created_at TEXT,"
        " status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),"
        " outcome TEXT, note TEXT, done_at TEXT)"
    )
    db.execute("CREATE INDEX tasks_owner ON tasks (owner, status, due_at)")
    db.execute("CREATE INDEX tasks_followup ON tasks (followup_id)")


@migrations()
def m008_followups_queue(db: sqlite_utils.Database) -> None:
    """The dispatch queue: pending follow-ups by channel, priority and due time, so that a
    claim reads the rows it takes instead of sorting every due follow-up at each pass."""
    db.execute(
        "CREATE INDEX followups_queue ON followups (channel, priority, due_at)"
        " WHERE status = 'pending'"
    )


@migrations()
def m009_deliveries_worker(db: sqlite_utils.Database) -> None:
    """Which dispatcher made each attempt (host:pid), so that the work of several daemons on
    one store can be told apart."""
    db.execute("ALTER TABLE deliveries ADD COLUMN worker TEXT")


@migrations()
def m010_events_plan_error(db: sqlite_utils.Database) -> None:
    """Why an event could not be planned (its planned_at is set: it is not tried again);
    NULL: planned, or not planned yet."""
    db.execute("ALTER TABLE events ADD COLUMN plan_error TEXT")


@migrations()
def m011_assignment_holds(db: sqlite_utils.Database) -> None:
    """A ladder's `hold:` keeps the assignment while a new answer repeats: the answer waiting
    for each ladder, how many runs in a row gave it, and the first of them."""
    for kind in ("tier", "level", "strategy"):
        db.execute(f"ALTER TABLE assignments ADD COLUMN pending_{kind} TEXT")
        db.execute(
            f"ALTER TABLE assignments ADD COLUMN pending_{kind}_runs INTEGER NOT NULL DEFAULT 0"
        )
        db.execute(f"ALTER TABLE assignments ADD COLUMN pending_{kind}_since INTEGER")


@migrations()
def m012_expired_status(db: sqlite_utils.Database) -> None:
    """`expired` is a status of its own (past its bound on lateness, never sent), no longer
    a dead letter with reason 'expired'; and each event keeps which of its steps it was too
    old to act on (NULL: none)."""
    db.execute(
        "UPDATE followups SET status = 'expired' WHERE status = 'dead' AND reason = 'expired'"
    )
    db.execute(
        "UPDATE deliveries SET outcome = 'expired' WHERE outcome = 'dead' AND error = 'expired'"
    )
    db.execute("ALTER TABLE events ADD COLUMN too_old TEXT")


@migrations()
def m013_runs_rules(db: sqlite_utils.Database) -> None:
    """The folder of the rule project each classification run used: commands given no
    --rules use the latest run's project (engine/project)."""
    db.execute("ALTER TABLE classification_runs ADD COLUMN rules TEXT")


@migrations()
def m014_transitions_gold(db: sqlite_utils.Database) -> None:
    """Whether the customer was and is gold: `on_enter: gold` and `on_leave: gold` read it."""
    db.execute("ALTER TABLE transitions ADD COLUMN from_gold INTEGER")
    db.execute("ALTER TABLE transitions ADD COLUMN to_gold INTEGER")


@migrations()
def m015_audit_log(db: sqlite_utils.Database) -> None:
    """Who looked at or changed whose personal data (engine/privacy/audit.py). Append-only: the
    triggers refuse a DELETE, and an UPDATE of anything but the subject (which erasure replaces
    with the customer's pseudonym)."""
    db.execute(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, subject TEXT, detail TEXT NOT NULL DEFAULT '{}')"
    )
    db.execute("CREATE INDEX audit_log_subject ON audit_log (subject, at)")
    db.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OF id, at, actor, action, detail"
        " ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )


@migrations()
def m016_field_history(db: sqlite_utils.Database) -> None:
    """The values of the fields change measures read, kept by each classification run when
    they changed (engine/classify/field_history.py); the key finds a value as of a day."""
    db.execute(
        "CREATE TABLE field_history (field TEXT NOT NULL, customer_id TEXT NOT NULL,"
        " day TEXT NOT NULL, run_id INTEGER NOT NULL, value REAL,"
        " PRIMARY KEY (field, customer_id, day)) WITHOUT ROWID"
    )


@migrations()
def m017_consent_ledger(db: sqlite_utils.Database) -> None:
    """Consent and its withdrawal, per customer, channel ('all': every channel) and purpose,
    as records that are only ever added: the latest by effective time (then id) is the
    customer's consent (engine/consent.py)."""
    db.execute(CONSENT_LEDGER.format(id="INTEGER PRIMARY KEY", boolean="INTEGER"))
    db.execute(CONSENT_LEDGER_INDEX)


@migrations()
def m018_erasures(db: sqlite_utils.Database) -> None:
    """Erasure (engine/privacy/erasure.py): the receipt of each erased customer under its keyed
    pseudonym, so that a later load of the same id is refused; and the store's secret key of
    those pseudonyms."""
    db.execute("CREATE TABLE store_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE erasures (id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,"
        " pseudonym TEXT NOT NULL, tables TEXT NOT NULL DEFAULT '{}',"
        " files TEXT NOT NULL DEFAULT '{}')"
    )
    db.execute("CREATE INDEX erasures_pseudonym ON erasures (pseudonym)")


@migrations()
def m019_releases(db: sqlite_utils.Database) -> None:
    """Rule releases (engine/releases): a snapshot of a rule project's files, proposed by one
    person and approved by another. What was proposed cannot be changed afterwards, and at
    most one release is live."""
    db.execute(
        "CREATE TABLE releases (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, files TEXT NOT NULL,"
        " source TEXT, base_id INTEGER, proposer TEXT NOT NULL, proposed_at TEXT NOT NULL,"
        " checks TEXT NOT NULL DEFAULT '{}', simulation TEXT NOT NULL DEFAULT '{}',"
        " status TEXT NOT NULL DEFAULT 'proposed', approver TEXT, approved_at TEXT,"
        " live_at TEXT, note TEXT)"
    )
    db.execute("CREATE UNIQUE INDEX releases_one_live ON releases (status) WHERE status = 'live'")
    db.execute(
        "CREATE TRIGGER releases_immutable BEFORE UPDATE OF id, hash, files, source, base_id,"
        " proposer, proposed_at, checks, simulation ON releases"
        " BEGIN SELECT RAISE(ABORT, 'a proposed release cannot be changed'); END"
    )


@migrations()
def m020_experiments(db: sqlite_utils.Database) -> None:
    """A follow-up's experiment, arm ('treated' or 'held_out') and template variant."""
    for column in ("experiment", "arm", "variant"):
        db.execute(f"ALTER TABLE followups ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX followups_experiment ON followups (experiment, step_id)")


@migrations()
def m021_assignment_changes(db: sqlite_utils.Database) -> None:
    """The snapshot engines' changes to assignments, kept apart until folded in, and the
    current assignments as a view of both (engine/store/assignments.py)."""
    for statement in create_statements("sqlite"):
        db.execute(statement)


@migrations()
def m022_followups_indexes(db: sqlite_utils.Database) -> None:
    """Narrower and wider follow-up indexes for planning (`FOLLOWUPS_INDEXES`)."""
    for statement in FOLLOWUPS_INDEXES:
        db.execute(statement)


@migrations()
def m023_events_unplanned(db: sqlite_utils.Database) -> None:
    """The events still to plan as a partial index (`EVENTS_UNPLANNED_INDEX`)."""
    for statement in EVENTS_UNPLANNED_INDEX:
        db.execute(statement)


@migrations()
def m024_audit_subject(db: sqlite_utils.Database) -> None:
    """The one change the audit log takes, erasure's, made narrow: a customer's id becomes
    their pseudonym; a release's entries, a pseudonym and an entry about no one stay."""
    db.execute(
        "CREATE TRIGGER audit_log_subject BEFORE UPDATE OF subject ON audit_log"
        " WHEN OLD.action GLOB 'release *' OR OLD.subject IS NULL"
        " OR OLD.subject GLOB 'erased:*' OR NEW.subject IS NULL"
        " OR NEW.subject NOT GLOB 'erased:*'"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )


@migrations()
def m025_daemon_health(db: sqlite_utils.Database) -> None:
    """What each daemon last did (`DAEMON_HEALTH`), for `guanxi health`."""
    for statement in DAEMON_HEALTH:
        db.execute(statement)


@migrations()
def m026_consent_version(db: sqlite_utils.Database) -> None:
    """PostgreSQL's count of the commits that wrote what the consent checks read (see
    postgresql.py): SQLite's `data_version` tells it already, nothing to add."""


@migrations()
def m027_events_waiting(db: sqlite_utils.Database) -> None:
    """Events that wait for their customer's first classification (`EVENTS_WAITING`)."""
    for statement in EVENTS_WAITING:
        db.execute(statement)


@migrations()
def m028_level_version(db: sqlite_utils.Database) -> None:
    """PostgreSQL's count of commits covers the assignments too (the level the send-time
    checks read): SQLite's `data_version` counts every commit already, nothing to add."""


@migrations()
def m029_escaped_followup_keys(db: sqlite_utils.Database) -> None:
    """The follow-up keys planned before a customer id's `:` and `%` were escaped in them,
    as planned now (`ESCAPED_KEYS`)."""
    for statement in ESCAPED_KEYS:
        db.execute(statement)


@migrations()
def m030_phones_from_reals(db: sqlite_utils.Database) -> None:
    """Phones stored as "13800000000.0" by earlier loads as their digits (`PHONE_FIELDS`)."""
    table = db.table("customers")
    if not table.exists():
        return
    for column, kind in table.columns_dict.items():
        if column in PHONE_FIELDS and kind is str:
            c = quoted_name(column)
            db.execute(
                f"UPDATE customers SET {c} = substr({c}, 1, length({c}) - 2)"
                f" WHERE {c} GLOB '*.0' AND length({c}) BETWEEN 3 AND ?"
                f" AND substr({c}, 1, length({c}) - 2) NOT GLOB '*[^0-9]*'",
                [PHONE_FROM_REAL_DIGITS + 2],
            )


@migrations()
def m031_established_customers(db: sqlite_utils.Database) -> None:
    """The customers a load marked as established (`ESTABLISHED_TABLE`)."""
    db.execute(ESTABLISHED_TABLE)


@migrations()
def m032_retry_keys(db: sqlite_utils.Database) -> None:
    """A follow-up still to be sent keeps the key its attempts went out under, and a
    cancelled row its escaped key (`RETRY_KEYS`)."""
    for statement in RETRY_KEYS:
        db.execute(statement)


@migrations()
def m033_quarantine_rows(db: sqlite_utils.Database) -> None:
    """A file's quarantined rows by number: a reload replaces its own earlier records."""
    db.execute(QUARANTINE_ROWS)


@migrations()
def m034_quarantine_loaded(db: sqlite_utils.Database) -> None:
    """A record of a row loaded with a warning is marked as loaded (`QUARANTINE_LOADED`)."""
    for statement in QUARANTINE_LOADED:
        db.execute(statement)


@migrations()
def m035_assignments_clustered(db: sqlite_utils.Database) -> None:
    """`assignments` ordered by customer id itself, without a rowid (`clustered_statements`):
    a first classification writes each row once, a look-up reads one B-tree."""
    for statement in clustered_statements():
        db.execute(statement)


@migrations()
def m036_quarantine_customer(db: sqlite_utils.Database) -> None:
    """A quarantined customer row names its customer (`QUARANTINE_CUSTOMER`)."""
    for statement in QUARANTINE_CUSTOMER:
        db.execute(statement)


@migrations()
def m037_store_marks(db: sqlite_utils.Database) -> None:
    """What the store knows of itself, to tell a restore from a backup (`STORE_MARKS_TABLE`)."""
    db.execute(STORE_MARKS_TABLE)


class SQLiteStore(Store):
    def __init__(self, path: Path | str, migrate: bool = True) -> None:
        self.path = Path(path)
        self.db = sqlite_utils.Database(self.path)
        # 16 KB pages for a new store (an existing one keeps its own): a first classification
        # of 10M customers writes its B-trees with a third less CPU than in 4 KB pages, as
        # there are a quarter as many pages to find in the write-ahead log and to split
        self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        self.db.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses nothing when the process dies (kill -9), only the last
        # commits if the machine loses power; FULL would cost an fsync per commit.
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA busy_timeout = 10000")
        # a 64 MB page cache (SQLite's default is 2 MB): event chunks and dispatch batches
        # touch the same index pages again and again; classification tunes its own (run.tuned)
        self.db.execute("PRAGMA cache_size = -65536")
        self.db.execute("PRAGMA case_sensitive_like = ON")  # LIKE as in DuckDB and PostgreSQL
        self.db.conn.create_function(BUCKET_FUNCTION, 1, bucket, deterministic=True)
        self.key = "customer_id"
        if migrate:
            migrations.apply(self.db)

    @property
    def dialect(self) -> str:
        return "sqlite"

    @property
    def location(self) -> str:
        return str(self.path)

    def pending_migrations(self) -> list[str]:
        return [m.name for m in migrations.pending(self.db)]

    def is_new(self) -> bool:
        return not self.db.table(migrations.migrations_table).exists()

    def migrate(self) -> list[str]:
        pending = self.pending_migrations()
        migrations.apply(self.db)
        return pending

    def prepare(self, schema: Schema) -> None:
        self.key = schema.key
        columns: dict[str, Any] = {n: SQL_TYPES[f.type] for n, f in schema.fields.items()}
        columns["_loaded_at"] = str
        table = self.db.table("customers")
        if not table.exists():
            table.create(columns, pk=schema.key)
        else:
            existing = table.columns_dict  # one PRAGMA query; prepare runs on every tick
            missing = {n: t for n, t in columns.items() if n not in existing}
            for name, kind in missing.items():
                table.add_column(name, kind)

    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[Row]:
        cursor = self.db.execute(sql, dict(parameters or {}))
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, values, strict=True)) for values in cursor]

    def execute_many(self, sql: str, parameters: Iterable[Mapping[str, Any]]) -> None:
        self.db.conn.executemany(sql, parameters)

    def change_token(self) -> Hashable:
        """`data_version` moves with other connections' commits, `total_changes` with ours."""
        [(version,)] = self.db.conn.execute("PRAGMA data_version").fetchall()
        return (version, self.db.conn.total_changes)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        names = ", ".join(quoted_name(c) for c in columns)
        self.db.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    def iter_rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Iterator[Row]:
        cursor = self.db.execute(sql, dict(parameters or {}))
        names = [d[0] for d in cursor.description or []]
        for values in cursor:
            yield dict(zip(names, values, strict=True))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested, a savepoint. The outer one takes the write lock at
        once (BEGIN IMMEDIATE): a deferred one that read first could not wait for another
        writer and would fail with 'database is locked' at its first write."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")

    def upsert_customers(self, rows: Iterable[Row]) -> dict[str, int]:
        """Rows may give different fields; a field a row does not give is left as it is.

        A customer counts as unchanged when every field the row gives equals the stored value.
        """
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        for columns, group in _by_columns(rows).items():
            fields = tuple(c for c in columns if not c.startswith("_"))
            values_of, fields_of = _getter(columns), _getter(fields)
            stored = self._stored(fields, [row[self.key] for row in group])
            changed = []
            for row in group:
                old = stored.get(row[self.key])
                if old is not None and old == fields_of(row):
                    counts["unchanged"] += 1
                    continue
                counts["inserted" if old is None else "updated"] += 1
                changed.append(values_of(row))
            if changed:
                self._write(columns, changed)
        return counts

    def _write(self, columns: tuple[str, ...], values: list[tuple[Any, ...]]) -> None:
        """Insert or update whole rows: one plain executemany, several times faster than
        sqlite-utils' upsert_all, which converts every value in Python."""
        names = ", ".join(quoted_name(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        update = ", ".join(
            f"{quoted_name(c)} = excluded.{quoted_name(c)}" for c in columns if c != self.key
        )
        action = f"UPDATE SET {update}" if update else "NOTHING"
        sql = f"INSERT INTO customers ({names}) VALUES ({marks})"
        sql += f" ON CONFLICT ({quoted_name(self.key)}) DO {action}"
        with self.db.atomic():
            self.db.conn.executemany(sql, values)

    def _stored(self, fields: tuple[str, ...], keys: list[Any]) -> dict[Any, tuple[Any, ...]]:
        """The stored values of `fields` for those of `keys` that are already there."""
        found: dict[Any, tuple[Any, ...]] = {}
        columns = ", ".join(quoted_name(f) for f in fields)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT {quoted_name(self.key)}, {columns} FROM customers"
            sql += f" WHERE {quoted_name(self.key)} IN ({marks})"
            for row in self.db.execute(sql, chunk):
                found[row[0]] = row[1:]
        return found

    def insert_events(self, rows: Iterable[Row]) -> dict[str, int]:
        values = event_values(rows)
        sql = f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS})"
        before = self.db.conn.total_changes  # counts this connection's writes only
        with self.db.atomic():
            self.db.conn.executemany(sql + " VALUES (?, ?, ?, ?, ?, ?)", values)
        inserted = self.db.conn.total_changes - before
        return {"inserted": inserted, "unchanged": len(values) - inserted}

    def quarantine(self, rows: Iterable[Row]) -> int:
        batch = list(rows)
        with self.db.atomic():
            self.db.table("quarantine").insert_all(batch, alter=False)
        return len(batch)

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Checkpoints every BULK_CHECKPOINT bytes of WAL instead of every 1,000 pages: commits that
        touch the same index pages over and over (events by customer, follow-ups) then copy
        each page into the file once a few commits, not once a commit."""
        [before] = self.db.execute("PRAGMA wal_autocheckpoint").fetchone()
        [page] = self.db.execute("PRAGMA page_size").fetchone()
        self.db.execute(f"PRAGMA wal_autocheckpoint = {max(before, BULK_CHECKPOINT // page)}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA wal_autocheckpoint = {int(before)}")

    def is_busy(self, error: BaseException) -> bool:
        """SQLITE_BUSY or SQLITE_LOCKED (and their extended codes): another connection holds
        the lock longer than the busy timeout."""
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

    def close(self) -> None:
        self.db.close()


def _getter(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """A fast function from a row to the tuple of its values for `names`."""
    get = operator.itemgetter(*names)
    return get if len(names) > 1 else lambda row: (get(row),)


def _by_columns(rows: Iterable[Row]) -> dict[tuple[str, ...], list[Row]]:
    """Rows grouped by the columns they give, in order: each group is written by one statement
    that sets only those columns."""
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return groups
