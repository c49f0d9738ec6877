"""The Store interface: the one place that knows how data is kept.

Table layout shared by every store (column names are the same in SQLite and PostgreSQL):

    customers            one row per customer; a column per schema field, plus
                         _loaded_at (when a load last changed the row)
    events               id, type, customer_id, at (UTC ISO), payload (JSON), loaded_at
    quarantine           rows that could not be loaded: kind, source, row_number, field,
                         value, reason, at; and rows loaded with a warning (a value left
                         out, an address no message can go to), marked loaded = 1;
                         customer_id: the row's customer when its id was read whole
    classification_runs  id, ruleset_hash, engine, started_at, finished_at, customers,
                         changed, counts (JSON), rules (the rule project's folder)
    assignments          customer_id, tier, level, strategy, gold, run_id, ruleset_hash,
                         assigned_at: each customer's current result; pending_<ladder>,
                         pending_<ladder>_runs, pending_<ladder>_since: a new answer that a
                         ladder's `hold:` keeps waiting (classify/hold.py); read it through
                         current_assignments (below)
    assignment_changes   the same columns: the snapshot engines' newer state of customers
                         already in assignments, folded in later (store/assignments.py)
    current_assignments  a view: each assignments row with its change over it, if any — what
                         every reader of the current results reads
    transitions          run_id, customer_id, from/to tier, level, strategy and gold, at
    followups            the durable timers: one row per planned task or message, unique by
                         its idempotency key (step:customer:occurrence); status is pending,
                         suppressed, cancelled, claimed, sent, failed or dead; due_at may be
                         later than planned_due_at when a policy deferred it; batch names the
                         planning call that created it
    followup_decisions   every policy verdict about a follow-up: status, policy, reason, at
    tasks                the relationship managers' inbox (the rm_tasks adapter): key (the
                         follow-up's idempotency key), followup_id, customer_id, step_id, owner,
                         title, body, due_at, created_at, status ('open' or 'done'), outcome,
                         note, done_at; indexed by (owner, status, due_at)
    releases             rule releases (engine/releases): hash, files (JSON), source, base_id,
                         proposer, proposed_at, checks, simulation (JSON), status, approver,
                         approved_at, live_at, note; what was proposed cannot be updated, and
                         at most one row is 'live'
    consent_ledger       consent and its withdrawal, only ever added to: customer_id, channel
                         (a channel of policies.yaml, or 'all'), purpose ('service' or
                         'marketing'), granted, source (branch, app, call, file, event),
                         evidence, effective_at, recorded_at (engine/consent.py)
    audit_log            append-only: at, actor, action, subject, detail (engine/privacy/audit.py)
    erasures             the erasure receipts: at, actor, the customer's pseudonym, rows per
                         table and lines per file (JSON) (engine/privacy/erasure.py)
    store_secrets        name, value: the store's key of pseudonyms
    store_marks          name, value: the store's id, its count of dispatch passes that sent,
                         and the follow-ups a restore from a backup held (dispatch/restored.py)
    consent_version,     PostgreSQL alone: the count of commits that wrote the customers, the
    consent_writes       consent ledger or the assignments, read before each send
                         (store/postgresql.py)
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import json
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only a type here; importing the rule set would import the store again
    from guanxi.engine.ruleset.models import Schema

Row = dict[str, Any]

CONSENT_LEDGER = (
    "CREATE TABLE consent_ledger (id {id}, customer_id TEXT NOT NULL, channel TEXT NOT NULL,"
    " purpose TEXT NOT NULL CHECK (purpose IN ('service', 'marketing')),"
    " granted {boolean} NOT NULL, source TEXT NOT NULL, evidence TEXT,"
    " effective_at TEXT NOT NULL, recorded_at TEXT NOT NULL)"
)
# the customer's latest record for a purpose and a channel (or 'all'), read by every consent
# check from the index alone, newest first, with no sort
CONSENT_LEDGER_INDEX = (
    "CREATE INDEX consent_ledger_latest"
    " ON consent_ledger (customer_id, purpose, effective_at, id, channel, granted)"
)
# PostgreSQL's count of the commits that wrote what the consent checks read, and its marks of
# writes not committed yet (store/postgresql.py); no customer's data
CONSENT_COUNT = ("consent_version", "consent_writes")

# m022: follow-ups by experiment only for those in one (planning writes a million follow-ups
# a month, nearly all in none); by batch with their status, step and policy, so that a
# policy pass reads its batch's pending follow-ups alone and a planning call counts its
# outcomes from the index
FOLLOWUPS_INDEXES = (
    "DROP INDEX followups_experiment",
    "CREATE INDEX followups_experiment ON followups (experiment, step_id)"
    " WHERE experiment IS NOT NULL",
    "DROP INDEX followups_batch",
    "CREATE INDEX followups_batch ON followups (batch, status, step_id, policy)",
)

# Only the events still to plan, in the order they are planned: a planned event leaves the
# index instead of moving within it, and the index no longer grows with every event kept.
EVENTS_UNPLANNED_INDEX = (
    "DROP INDEX events_unplanned",
    "CREATE INDEX events_unplanned ON events (at, id) WHERE planned_at IS NULL",
)

# m027: an event whose customer is not classified yet, in a store classified before, waits
# (engine/plan/events.py): `waits_after` is the last classification run when it was put off.
# Waiting events leave the index of those to plan, so that no tick reads them again; each of
# the two indexes of waiting events finds the few a new run or the waiting bound releases.
EVENTS_WAITING = (
    "ALTER TABLE events ADD COLUMN waits_after INTEGER",
    "DROP INDEX events_unplanned",
    "CREATE INDEX events_unplanned ON events (at, id)"
    " WHERE planned_at IS NULL AND waits_after IS NULL",
    "CREATE INDEX events_waiting_run ON events (waits_after) WHERE waits_after IS NOT NULL",
    "CREATE INDEX events_waiting_since ON events (at) WHERE waits_after IS NOT NULL",
)


def key_part_sql(customer: str) -> str:
    """SQL: the customer id `customer` as a follow-up's key holds it, `%` and `:` written
    `%25` and `%3A` (replace is SQLite's, PostgreSQL's and DuckDB's alike)."""
    return f"replace(replace({customer}, '%', '%25'), ':', '%3A')"


# m029: the keys planned before a `:` or `%` in a customer's id was escaped in them, written
# as planned now, so that planning an occurrence again finds them (not a second message).
# Erased customers' rows (their id a pseudonym `erased:…`) are left as erasure wrote them.
ESCAPED_KEYS = (
    f"UPDATE followups SET key = step_id || ':' || {key_part_sql('customer_id')} || ':' ||"
    f" occurrence WHERE {key_part_sql('customer_id')} <> customer_id"
    " AND customer_id NOT LIKE 'erased:%'"
    " AND key = step_id || ':' || customer_id || ':' || occurrence AND NOT EXISTS"
    f" (SELECT 1 FROM followups n WHERE n.key = followups.step_id || ':' ||"
    f" {key_part_sql('followups.customer_id')} || ':' || followups.occurrence)",
)

# m032: a follow-up still to be sent (a retry waiting, a claim to be taken over, a dead letter
# to be retried) whose attempts went out under its key before m029 goes on under that key:
# the gateway may have taken an attempt (its answer lost) and knows the message by it. Its
# escaped key, which planning the occurrence again (an overlapping window, an event read
# again) looks for, is kept by a cancelled row (policy `retry_key`), so that no second
# follow-up of the occurrence is planned under it.
UNESCAPED_KEY = "followups.step_id || ':' || followups.customer_id || ':' || followups.occurrence"
ESCAPED_KEY = (
    f"followups.step_id || ':' || {key_part_sql('followups.customer_id')} || ':' ||"
    " followups.occurrence"
)
KEPT_BY_RETRY = (
    "followups.status IN ('pending', 'claimed', 'dead')"
    " AND followups.customer_id NOT LIKE 'erased:%'"
    " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.followup_id = followups.id"
    f" AND d.attempt > 0 AND d.key = {UNESCAPED_KEY})"
)
HELD_COLUMNS = (
    "customer_id, step_id, level, kind, channel, template, priority, mandatory, purpose,"
    " owner, occurrence, event_id, payload, planned_due_at, due_at, expires_at, batch,"
    " ruleset_hash, created_at, updated_at"
)
RETRY_KEYS = (
    f"UPDATE followups SET key = {UNESCAPED_KEY} WHERE {KEPT_BY_RETRY}"
    f" AND key <> {UNESCAPED_KEY}"
    f" AND NOT EXISTS (SELECT 1 FROM followups o WHERE o.key = {UNESCAPED_KEY})",
    f"INSERT INTO followups (key, status, policy, reason, {HELD_COLUMNS})"
    f" SELECT {ESCAPED_KEY}, 'cancelled', 'retry_key', 'its message goes on under the key of"
    f" its first attempt, ' || followups.key, {HELD_COLUMNS} FROM followups"
    f" WHERE {KEPT_BY_RETRY} AND followups.key = {UNESCAPED_KEY}"
    f" AND followups.key <> {ESCAPED_KEY}"
    f" AND NOT EXISTS (SELECT 1 FROM followups o WHERE o.key = {ESCAPED_KEY})",
)

# m030: a phone that a load before 7a7d6b2 stored from a real-number column (a pandas column
# with a gap) as "13800000000.0" becomes its digits, as a load stores it now; a gateway could
# text the first as another number. Only in the fields known by their name to hold a phone
# (privacy/personal.py's names when this was written: a migration has no rule set), and only
# digits and ".0", at most EXACT_DIGITS (15) of them: a real holds no more exactly.
PHONE_FIELDS = ("phone", "mobile", "tel", "telephone", "手机号", "电话")
PHONE_FROM_REAL_DIGITS = 15

# m031: the customers a load marked as established (`load customers --existing`): their first
# classification is a baseline for them (ingest/established.py, plan/transitions.py)
ESTABLISHED = "established_customers"
ESTABLISHED_TABLE = (
    f"CREATE TABLE {ESTABLISHED} (customer_id TEXT PRIMARY KEY, marked_at TEXT NOT NULL)"
)

# m037: what the store knows of itself: its id, how many dispatch passes sent from it, and
# what a restore from a backup held back (engine/dispatch/restored.py)
STORE_MARKS = "store_marks"
STORE_MARKS_TABLE = f"CREATE TABLE {STORE_MARKS} (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

# m033: a file's quarantined rows by number, so a reload finds its earlier records of a row
QUARANTINE_ROWS = "CREATE INDEX quarantine_rows ON quarantine (source, row_number)"

# m034: a record of a row loaded all the same (a value left out, an address no message can go
# to) is marked as such: `guanxi quarantine list` tells them from the rows not loaded. Earlier
# records are known by their reason, as a load wrote it in English or in Chinese.
QUARANTINE_LOADED = (
    "ALTER TABLE quarantine ADD COLUMN loaded INTEGER NOT NULL DEFAULT 0",
    "UPDATE quarantine SET loaded = 1 WHERE reason LIKE 'loaded without this value%'"
    " OR reason LIKE 'loaded, but %' OR reason LIKE '已导入，但%'",
)

# m036: a quarantined row names its customer, when its id itself was good (a row of customers,
# and later of events and consents too): `explain` tells why they or their data are missing,
# erasure finds their rows (its customer column). Earlier records name nobody (NULL).
QUARANTINE_CUSTOMER = (
    "ALTER TABLE quarantine ADD COLUMN customer_id TEXT",
    "CREATE INDEX quarantine_customer ON quarantine (customer_id)",
)

# What each daemon (or `run --once`) last did, for `guanxi health` (engine/daemon/heartbeat.py)
DAEMON_HEALTH = (
    "CREATE TABLE daemon_health (worker TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
    " at TEXT NOT NULL, tick_every REAL, status TEXT NOT NULL, failed_stage TEXT, error TEXT,"
    " failed_ticks INTEGER NOT NULL DEFAULT 0, failed_jobs TEXT NOT NULL DEFAULT '{}',"
    " stopped_at TEXT)",
)


class Store(abc.ABC):
    """A place to keep customers and results. Every method raises DataError on bad input."""

    @abc.abstractmethod
    def prepare(self, schema: Schema) -> None:
        """Create missing tables, and a column for each schema field the customers table lacks."""

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[Row]:
        """Run one SQL statement; the rows it returns as dicts."""

    @abc.abstractmethod
    def execute_many(self, sql: str, parameters: Iterable[Mapping[str, Any]]) -> None:
        """Run one SQL statement that returns no rows, once for each set of parameters."""

    @abc.abstractmethod
    def transaction(self) -> Any:
        """A context manager: everything inside commits together or not at all."""

    @abc.abstractmethod
    def upsert_customers(self, rows: Iterable[Row]) -> dict[str, int]:
        """Insert or update customers by key; counts of 'inserted', 'updated', 'unchanged'."""

    @abc.abstractmethod
    def insert_events(self, rows: Iterable[Row]) -> dict[str, int]:
        """Insert events by id (an id already there is left alone); 'inserted', 'unchanged'."""

    @abc.abstractmethod
    def quarantine(self, rows: Iterable[Row]) -> int:
        """Keep rows that could not be loaded, with where they came from and why."""

    @abc.abstractmethod
    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append `rows` (values in the order of `columns`) to `table` in bulk, the fastest
        way the store has (inside the caller's transaction, if any)."""

    @abc.abstractmethod
    def iter_rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Iterator[Row]:
        """Stream the rows of a query without holding them all in memory."""

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Many commits in a row (a file loaded, events planned): a store that can make each
        one cheaper for a while overrides this."""
        yield

    def change_token(self) -> Hashable | None:
        """A value that differs once anything the send-time checks read (the customers table,
        the consent ledger, the assignments) was written to the store since it was last
        taken, by this connection or another: every commit before it is taken is counted.
        None when the store cannot tell cheaply."""
        return None

    def server_time(self) -> dt.datetime | None:
        """The time on the store's server, when the store is a server that several machines
        share; None for a store on this machine (its clock is this machine's)."""
        return None

    def is_busy(self, error: BaseException) -> bool:
        """Whether `error`, raised by this store, is contention that passes when the statement
        is tried again later (a locked or busy database). Stores that can tell override this."""
        return False

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def dialect(self) -> str:
        """The sqlglot dialect of this store's SQL ('sqlite', 'postgres')."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the store is, as `store:` and --store name it (a path, a URL)."""

    @abc.abstractmethod
    def pending_migrations(self) -> list[str]:
        """The names of the schema migrations not applied yet, in the order they apply."""

    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply the pending schema migrations; the names of those applied."""

    @abc.abstractmethod
    def is_new(self) -> bool:
        """No migration applied yet: an empty file or schema, not a guanxi store yet."""


EVENT_COLUMNS = "id, type, customer_id, at, payload, loaded_at"
# json.dumps(…, ensure_ascii=False) makes a new encoder on every call; a row each is slow
_PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False)


def event_values(rows: Iterable[Row]) -> list[tuple[Any, ...]]:
    """Event rows as tuples in the order of `EVENT_COLUMNS`, the payload as JSON text."""
    return [
        (
            r["id"],
            r["type"],
            r["customer_id"],
            r["at"],
            _PAYLOAD_JSON.encode(r.get("payload", {})),
            r.get("loaded_at"),
        )
        for r in rows
    ]


def is_postgresql(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def shown_location(location: str) -> str:
    """A store's location as it may be printed: a URL's password hidden, in the user part
    or as a `password=` parameter (libpq takes either)."""
    hidden = re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", location)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", hidden, flags=re.IGNORECASE)


def store_exists(location: str) -> bool:
    """Whether a guanxi store is there: a SQLite file, or a PostgreSQL database (schema)
    holding guanxi's tables. Creates nothing. Raises StoreError when a PostgreSQL server
    cannot be reached."""
    if not is_postgresql(location):
        return Path(location).is_file()
    store = open_store(location, migrate=False)
    try:
        return not store.is_new()
    finally:
        store.close()


def open_store(location: str, base: Path | None = None, migrate: bool = True) -> Store:
    """The store named by a rule project's `store:` setting: a file path for SQLite, a
    `postgresql://` URL for PostgreSQL. `migrate`: apply pending migrations on opening.
    Raises StoreError when a PostgreSQL server cannot be reached."""
    if is_postgresql(location):
        from guanxi.engine.store.postgresql import PostgresStore

        return PostgresStore(location, migrate=migrate)
    from guanxi.engine.store.sqlite import SQLiteStore

    path = Path(location)
    if base is not None and not path.is_absolute():
        path = base / path
    return SQLiteStore(path, migrate=migrate)
