"""Retention (个人信息保护法 art. 19: kept no longer than needed): guanxi.yaml's `retention:`
gives each kind of record a window; older records go, a batch at a time (each batch its own
transaction, so that the daemon's ticks go on between them), written to Parquet first when
`archive: parquet`.

    events         by `at`, once planned (an event not planned yet stays)
    followups      by `updated_at`, once final (sent, suppressed, cancelled, dead, expired)
                   and without an open task; never a pending or claimed one. Its done task (the
                   manager's text names the customer) goes with it, archived under `tasks`
    deliveries     by `at` (the ledger's attempts)
    decisions      by `at` (followup_decisions: the policy verdicts)
    quarantine     by `at` (when the load quarantined the row)
    transitions    by `at` (the tier moves of each classification)
    field_history  by `day`, once superseded before the window: the value in force then
                   stays, so that a change measure reads the same value as before
    consent        by `effective_at`, once superseded before the window (a later record of
                   the channel, or of all channels, and purpose): the record in force stays,
                   however old, as the consent it gives still holds
    outbox         the file adapters' lines (outbox.jsonl), by their follow-up's due time
                   (`metadata.due_at`); by default the deliveries' window. Not archived: the
                   deliveries ledger is the record of what was sent
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset.models import RetentionSettings
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import json_texts
from guanxi.engine.timing import parse_window

FINAL = "('sent', 'suppressed', 'cancelled', 'dead', 'expired')"


@dataclass(frozen=True)
class Kind:
    table: str
    keys: tuple[str, ...]  # the primary key: which rows a batch deletes
    time: str  # the column the window counts from
    final: str = "1 = 1"  # which rows may go at all
    dependents: tuple[str, ...] = ()  # tables whose rows go with theirs (by `followup_id`)


# a value superseded by a later one kept on or before the cutoff's day
SUPERSEDED_VALUE = (
    "EXISTS (SELECT 1 FROM field_history later WHERE later.field = field_history.field"
    " AND later.customer_id = field_history.customer_id AND later.day > field_history.day"
    " AND later.day < :cutoff)"
)
# a consent record superseded, before the cutoff, by a later one of its channel (or of all
# channels) and purpose: no longer in force (engine/consent.py)
SUPERSEDED_CONSENT = (
    "EXISTS (SELECT 1 FROM consent_ledger later"
    " WHERE later.customer_id = consent_ledger.customer_id"
    " AND later.purpose = consent_ledger.purpose"
    " AND later.channel IN (consent_ledger.channel, 'all') AND later.effective_at < :cutoff"
    " AND (later.effective_at > consent_ledger.effective_at"
    " OR (later.effective_at = consent_ledger.effective_at"
    " AND (later.granted < consent_ledger.granted"  # at one instant a withdrawal is in force
    " OR (later.granted = consent_ledger.granted AND later.id > consent_ledger.id)))))"
)

KINDS = {
    "events": Kind("events", ("id",), "at", "planned_at IS NOT NULL"),
    "followups": Kind(
        "followups",
        ("id",),
        "updated_at",
        f"status IN {FINAL} AND NOT EXISTS (SELECT 1 FROM tasks"
        " WHERE tasks.followup_id = followups.id AND tasks.status = 'open')",
        dependents=("tasks",),
    ),
    "deliveries": Kind("deliveries", ("id",), "at"),
    "decisions": Kind("followup_decisions", ("id",), "at"),
    "quarantine": Kind("quarantine", ("id",), "at"),
    "transitions": Kind("transitions", ("id",), "at"),
    "field_history": Kind(
        "field_history", ("field", "customer_id", "day"), "day", SUPERSEDED_VALUE
    ),
    "consent": Kind("consent_ledger", ("id",), "effective_at", SUPERSEDED_CONSENT),
}


@dataclass
class KindReport:
    """One kind of record under its window: how many rows go (or went), and the oldest left."""

    kind: str
    window: str
    cutoff: str  # rows older than this go
    due: int = 0  # going (--dry-run) or left to go
    removed: int = 0
    archived: int = 0
    oldest_kept: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _condition(kind: Kind) -> str:
    return f"{kind.time} < :cutoff AND ({kind.final})"


def _compared(cutoff: str) -> str:
    """The cutoff as the stored times are compared with it: to the second, without its `Z`.
    Times are stored in UTC as `…Z`, or as loaded, `…+00:00` and with a fraction of a
    second; each of those sorts after `2025-12-01T02:00:00` from that second on, while
    `…02:00:00+00:00` and `…02:00:00.5+00:00` sort before `…02:00:00Z`."""
    return cutoff.removesuffix("Z")


def plan(
    store: Store, settings: RetentionSettings, now: dt.datetime, files: Sequence[Path] = ()
) -> list[KindReport]:
    """What retention would remove now, kind by kind, the lines of the outbox `files` last
    (nothing is changed)."""
    reports = []
    for name, window in _table_windows(settings).items():
        kind = KINDS[name]
        cutoff = iso(parse_window(window).before(now))
        report = KindReport(name, window, cutoff)
        where = _condition(kind)
        report.due = int(
            store.execute(
                f"SELECT count(*) AS n FROM {kind.table} WHERE {where}",
                {"cutoff": _compared(cutoff)},
            )[0]["n"]
        )
        report.oldest_kept = _oldest(store, kind, f"NOT ({where})", cutoff)
        reports.append(report)
    return reports + _outbox(settings, now, files, dry_run=True)


def _table_windows(settings: RetentionSettings) -> dict[str, str]:
    return {name: window for name, window in settings.windows().items() if name in KINDS}


def _outbox(
    settings: RetentionSettings, now: dt.datetime, files: Sequence[Path], dry_run: bool
) -> list[KindReport]:
    """The outbox files' lines past the window: counted, or removed (see outbox_lines)."""
    window = settings.outbox_window()
    if window is None or not files:
        return []
    from guanxi.engine.privacy import outbox_lines  # reads the adapter's file lock

    cutoff = iso(parse_window(window).before(now))
    report = KindReport("outbox", window, cutoff)
    gone, report.oldest_kept = outbox_lines.prune(files, _compared(cutoff), dry_run)
    report.due, report.removed = (gone, 0) if dry_run else (0, gone)
    return [report]


def _oldest(store: Store, kind: Kind, where: str, cutoff: str) -> str | None:
    rows = store.execute(
        f"SELECT min({kind.time}) AS t FROM {kind.table} WHERE {where}",
        {"cutoff": _compared(cutoff)},
    )
    return None if rows[0]["t"] is None else str(rows[0]["t"])


def apply(
    store: Store,
    settings: RetentionSettings,
    now: dt.datetime,
    archive: Path | None,
    batches: int | None = None,
    files: Sequence[Path] = (),
) -> tuple[list[KindReport], bool]:
    """Remove what is past its window, at most `settings.batch` rows per transaction and at
    most `batches` batches per kind (None: until none is left), then the outbox `files`'
    lines; the reports, and whether some are left (then call again)."""
    reports, left = [], False
    for name, window in _table_windows(settings).items():
        kind = KINDS[name]
        cutoff = iso(parse_window(window).before(now))
        report = KindReport(name, window, cutoff)
        done = 0
        while batches is None or done < batches:
            removed = _batch(store, kind, cutoff, settings.batch, archive, name, now, done)
            report.removed += removed
            report.archived += removed if archive is not None else 0
            done += 1
            if removed < settings.batch:
                break
        else:
            left = True
        report.oldest_kept = _oldest(store, kind, "1 = 1", cutoff)
        reports.append(report)
    return reports + _outbox(settings, now, files, dry_run=False), left


def _batch(
    store: Store,
    kind: Kind,
    cutoff: str,
    size: int,
    archive: Path | None,
    name: str,
    now: dt.datetime,
    number: int,
) -> int:
    """One batch: the oldest rows past the window, archived first, then deleted."""
    with store.transaction():
        rows = store.execute(
            f"SELECT * FROM {kind.table} WHERE {_condition(kind)}"
            f" ORDER BY {kind.time}, {', '.join(kind.keys)} LIMIT :size",
            {"cutoff": _compared(cutoff), "size": size},
        )
        if not rows:
            return 0
        keys = [r[kind.keys[0]] for r in rows]
        for table in kind.dependents:
            dependent = _rows_of(store, table, keys)
            _remove(store, table, ("followup_id",), dependent, archive, now, number)
        _remove(store, kind.table, kind.keys, rows, archive, now, number, name)
    return len(rows)


def _rows_of(store: Store, table: str, followups: list[Any]) -> list[dict[str, Any]]:
    listed = json_texts("ids", store.dialect, "BIGINT")
    return store.execute(
        f"SELECT * FROM {table} WHERE followup_id IN ({listed})", {"ids": json.dumps(followups)}
    )


def _remove(
    store: Store,
    table: str,
    keys: tuple[str, ...],
    rows: list[dict[str, Any]],
    archive: Path | None,
    now: dt.datetime,
    number: int,
    name: str | None = None,
) -> None:
    """Archive `rows` of `table` (under `name`, else the table's) first, then delete them."""
    name = name or table
    if archive is not None and rows:
        _archive(rows, archive / name / f"{name}-{now:%Y%m%dT%H%M%S}-{number:05d}.parquet")
    where = " AND ".join(f"{key} = :{key}" for key in keys)
    store.execute_many(
        f"DELETE FROM {table} WHERE {where}", ({key: r[key] for key in keys} for r in rows)
    )


def _archive(rows: list[dict[str, Any]], path: Path) -> None:
    """The rows as one Parquet file, on disk before they are deleted; never over another
    (a run at the same instant, under a fixed clock or the same --now, names its batches
    as the last one did): then under `…-00000-1.parquet`, `-2` …"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    free, n = path, 0
    while free.exists():
        n += 1
        free = path.with_name(f"{path.stem}-{n}{path.suffix}")
    path = free
    partial = path.with_name(path.name + ".partial")
    pq.write_table(pa.Table.from_pylist(rows), partial)
    partial.replace(path)
