"""Shadow runs: a candidate rule project decides beside the live one, inside the daemon, and
sends nothing.

guanxi.yaml's `shadow: DIR` names the candidate. Its decisions go to a store of its own:
the file `<live store>.shadow.db` beside a SQLite store, the schema `<live schema>_shadow`
of a PostgreSQL database. Made once as a copy of the live store (the customers' tiers and
levels, the follow-ups already planned; a PostgreSQL copy in one transaction), it then
follows the live store on its own. Before each of its jobs the shadow takes what the live
store received since the last one (customers loaded or changed, by `_loaded_at`; new events,
by `loaded_at`: every way events arrive stamps it), then does what the daemon does with the
same `now`: plans the new events and delivers what is due at each tick, classifies on its
own schedule (and plans the moves), plans its recurring steps on theirs. Delivery goes to
`ShadowAdapter`, which takes every message and sends it nowhere: in the shadow store, `sent`
means "would have been sent then". It applies the recipient check of the adapter that would
deliver the channel live (as `simulate` does): a message whose address the live adapter
refuses (`1380013800O`, two numbers) is dead in the shadow too, not "would have been
sent". So the shadow decides as `simulate` does, with the live traffic instead of replayed
events, and `guanxi shadow report` compares the two stores as `simulate --baseline` compares
two runs.

The shadow can never stop the live daemon: each of its jobs runs after the live one, and
what it raises is logged and shown on /healthz (`shadow`), not raised.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from guanxi.adapters.base import Adapter, Message, Receipt, address_fields
from guanxi.engine.classify import classify
from guanxi.engine.daemon.delivery import channels_of
from guanxi.engine.daemon.tick import DispatchSettings, TickReport, plan_ahead, tick
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.privacy.audit import record
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.ruleset.models import Schema
from guanxi.engine.store.base import (
    CONSENT_COUNT,
    EVENT_COLUMNS,
    Row,
    Store,
    is_postgresql,
    open_store,
    store_exists,
)
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

SUFFIX = ".shadow.db"
Missed = Callable[[Store, RuleSet, dt.datetime], bool]
"""Whether a scheduled classification did not run in a store (the daemon's own test)."""
STARTED = "shadow started"  # the audit-log action that marks the start of a shadow run
ACTOR = "guanxi daemon"


class ShadowError(GuanxiError):
    """The shadow cannot run: its rule project is invalid, or its store cannot be made."""


class ShadowAdapter(Adapter):
    """Takes every message of the shadow and sends it nowhere; `checks` maps a channel to the
    class of its live adapter, whose recipient check refuses (PermanentError) what it would."""

    name = "shadow"

    def __init__(
        self,
        *,
        address_fields: Mapping[str, str] | None = None,
        checks: Mapping[str, type[Adapter]] | None = None,
    ) -> None:
        super().__init__(address_fields=address_fields)
        self.checks = dict(checks or {})

    def send(self, message: Message) -> Receipt:
        live = self.checks.get(message.channel)
        if live is not None:
            live.checked_recipient(message, self.address_fields)
        return Receipt(message.key, self.name, None, "not sent: shadow run")


def shadow_adapter(ruleset: RuleSet, channels: set[str]) -> ShadowAdapter:
    """The shadow's adapter for `channels`, with the recipient checks of their live adapters."""
    # imported here: the simulate package imports the daemon
    from guanxi.engine.simulate.run import live_checks

    fields = address_fields(ruleset.policies)
    return ShadowAdapter(address_fields=fields, checks=live_checks(ruleset, channels))


def shadow_location(live: Store) -> str:
    """Where the shadow of `live` keeps its decisions: the file `<live>.shadow.db` beside a
    SQLite store, the schema `<live schema>_shadow` of a PostgreSQL database."""
    if is_postgresql(live.location):
        [row] = live.execute("SELECT current_schema() AS name")
        return _in_schema(live.location, f"{row['name']}_shadow")
    path = Path(live.location)
    return str(path.with_name(path.name + SUFFIX))


def open_shadow_store(live: Store) -> Store | None:
    """The shadow store of `live`, when a shadow run started there."""
    location = shadow_location(live)
    if not store_exists(location):
        return None
    store = open_store(location)
    if _started(store):
        return store
    store.close()
    return None


def _in_schema(url: str, schema: str) -> str:
    """The PostgreSQL URL `url` with its tables in `schema` (libpq's `options`)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    options = " ".join(query.pop("options", [])).split()
    options = [o for o in options if not o.startswith("-csearch_path=")]
    query["options"] = [" ".join([*options, f"-csearch_path={schema}"])]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True, quote_via=quote)))


def _started(store: Store) -> bool:
    rows = store.execute(
        "SELECT 1 AS started FROM audit_log WHERE action = :started LIMIT 1", {"started": STARTED}
    )
    return bool(rows)


def shadow_rules(project: Path, ruleset: RuleSet) -> Path | None:
    """The candidate rule project that `shadow:` names (relative to the live project)."""
    named = ruleset.settings.shadow
    return None if not named else (project / named).resolve()


def _made(live: Store, schemas: list[Schema], rules: Path, now: dt.datetime) -> Store:
    """The shadow store, made as a copy of the live store (whole or not at all) when no
    shadow run started there yet; with the customers' columns of every schema in `schemas`."""
    location = shadow_location(live)
    detail = {"rules": str(rules)}
    if not is_postgresql(location):
        _copy_file(live, Path(location))
        store: Store = SQLiteStore(Path(location))
        for schema in schemas:
            store.prepare(schema)
        if not _started(store):
            record(store, now, STARTED, detail=detail, actor=ACTOR)
        return store
    name = parse_qs(urlsplit(location).query)["options"][0].split("search_path=")[-1]
    live.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    store = PostgresStore(location)
    for schema in schemas:
        store.prepare(schema)
    if not _started(store):
        with live.transaction():  # the copy and the mark of its start commit together
            _copy_schema(live, name)
            live.execute(f'SET LOCAL search_path TO "{name}"')
            record(live, now, STARTED, detail=detail, actor=ACTOR)
    return store


def _copy_file(live: Store, path: Path) -> None:
    # imported here: the simulate package imports the daemon
    from guanxi.engine.simulate.copy import copy_store

    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        partial.unlink(missing_ok=True)
        copy_store(Path(live.location), partial)
        partial.replace(path)


def _copy_schema(live: Store, schema: str) -> None:
    """Copy every table of the live schema into the shadow's `schema` (made and migrated);
    views (current_assignments) and the count of consent writes are the shadow's own, made
    by its migrations."""
    own = [f"'{name}'" for name in CONSENT_COUNT]
    columns = live.execute(
        "SELECT l.table_name AS t, l.column_name AS c, s.is_identity AS identity"
        " FROM information_schema.columns l JOIN information_schema.columns s"
        " ON s.table_name = l.table_name AND s.column_name = l.column_name"
        " AND s.table_schema = :schema WHERE l.table_schema = current_schema()"
        f" AND l.table_name NOT IN ('guanxi_migrations', {', '.join(own)})"
        " AND l.table_name IN (SELECT table_name"
        "  FROM information_schema.tables WHERE table_schema = current_schema()"
        "  AND table_type = 'BASE TABLE') ORDER BY l.table_name, l.ordinal_position",
        {"schema": schema},
    )
    tables: dict[str, list[str]] = {}
    for row in columns:
        tables.setdefault(row["t"], []).append(f'"{row["c"]}"')
    for table, names in tables.items():
        listed = ", ".join(names)
        live.execute(f'INSERT INTO "{schema}"."{table}" ({listed}) SELECT {listed} FROM "{table}"')
    for row in columns:  # the shadow's ids go on after the copied ones
        if row["identity"] == "YES":
            table, column = f'"{schema}"."{row["t"]}"', f'"{row["c"]}"'
            live.execute(
                "SELECT setval(pg_get_serial_sequence(:table, :column),"
                f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)",
                {"table": table, "column": row["c"]},
            )


@dataclass(frozen=True)
class Mark:
    """How far the shadow has taken a live table: the newest stamp, and how many rows have it."""

    stamp: str | None
    rows: int


@dataclass
class Shadow:
    """A candidate rule set deciding on its own store, fed from the live one."""

    ruleset: RuleSet
    live: Store
    store: Store
    settings: DispatchSettings
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # retry jitter
    marks: dict[str, Mark] = field(default_factory=dict)  # how far each table is taken

    @classmethod
    def start(
        cls,
        rules: Path,
        live: Store,
        live_schema: Schema,
        now: dt.datetime,
        settings: Callable[[RuleSet], DispatchSettings],
    ) -> Shadow:
        """The shadow of `live` under the rule project `rules`; its store is made (a copy of
        `live`, the start recorded in its audit log) when it is not there yet; `settings`: how
        its ticks dispatch, as the daemon's."""
        if not rules.is_dir():
            raise ShadowError(
                _("the shadow rule project {folder} is not a folder: `shadow:` in guanxi.yaml"
                  " names it relative to the live project").format(folder=rules)
            )  # fmt: skip
        result = validate_project(rules)
        if result.ruleset is None:
            errors = sum(1 for d in result.diagnostics if d.severity == "error")
            raise ShadowError(
                _("the shadow rule project {folder} has {errors} errors: run"
                  " `guanxi validate {folder}`").format(folder=rules, errors=errors)
            )  # fmt: skip
        store = _made(live, [live_schema, result.ruleset.schema], rules, now)
        return cls(result.ruleset, live, store, settings(result.ruleset))

    def catch_up(self, now: dt.datetime, missed: Missed) -> None:
        """What the daemon does when it takes the lead: the recurring steps' coming month, and
        the classification when `missed` says one did not run."""
        self.sync()
        plan_ahead(self.store, self.ruleset, now)
        if missed(self.store, self.ruleset, now):
            self.classify(now)

    def tick(self, now: dt.datetime, recurring: bool = False) -> TickReport:
        """Plan the new events (with `recurring`, the recurring steps' coming month too) and
        deliver what is due, to the shadow adapter."""
        self.sync()
        channels = channels_of(self.store, self.ruleset)
        adapters = dict.fromkeys(channels, shadow_adapter(self.ruleset, channels))
        return tick(
            self.store,
            self.ruleset,
            adapters,
            now,
            self.rng,
            settings=self.settings,
            recurring=recurring,
        )

    def classify(self, now: dt.datetime) -> None:
        """Re-sort every customer and plan the steps their moves trigger."""
        self.sync()
        planner = TransitionPlanner(self.store, self.ruleset, now)
        classify(self.store, self.ruleset, now, after=planner)

    def plan_step(self, step_id: str, now: dt.datetime) -> int:
        self.sync()
        return plan_ahead(self.store, self.ruleset, now, only=[step_id])

    def sync(self) -> None:
        """Take the customers and events the live store received since the last sync."""
        self._take("customers", "_loaded_at", "*", self.store.upsert_customers)
        self._take("events", "loaded_at", EVENT_COLUMNS, self._insert_events)

    def _take(
        self, table: str, stamp: str, columns: str, write: Callable[[list[Row]], object]
    ) -> None:
        """Copy the rows of the live `table` stamped at or after the newest stamp taken.

        Loads stamp the rows they write with the time the load began, and a long load commits
        in several transactions under one stamp: rows stamped like the newest ones taken may
        still come, so those are read again, but only when the live store has more of them
        (or newer ones) than were taken; writing a row again changes nothing."""
        mark = self.marks.get(table)
        if mark is None:
            [row] = self.store.execute(f"SELECT max({stamp}) AS stamp FROM {table}")
            mark = Mark(row["stamp"], -1)
        since = f"FROM {table}" + ("" if mark.stamp is None else f" WHERE {stamp} >= :stamp")
        [live] = self.live.execute(
            f"SELECT count(*) AS n, max({stamp}) AS stamp {since}", {"stamp": mark.stamp}
        )
        if (live["stamp"], int(live["n"])) == (mark.stamp, mark.rows):
            return
        rows = self.live.execute(f"SELECT {columns} {since}", {"stamp": mark.stamp})
        if rows:
            write(rows)
            newest = max(r[stamp] for r in rows if r[stamp] is not None)
            mark = Mark(newest, sum(1 for r in rows if r[stamp] == newest))
        self.marks[table] = mark

    def _insert_events(self, rows: list[Row]) -> None:
        self.store.insert_events([{**r, "payload": json.loads(r["payload"])} for r in rows])

    def close(self) -> None:
        self.store.close()
