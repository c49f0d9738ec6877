"""What every contact-policy pass shares: the batch being decided and how verdicts are written.

A pass stages its verdicts in a scratch table; `settle` writes them to their follow-ups (new
status or due time, policy, reason) and `record` keeps each as a row of `followup_decisions`.
A verdict is 'suppressed' (the follow-up will not happen), 'deferred' (it happens later;
`planned_due_at` keeps the time first planned), 'over_capacity' (a mandatory task kept on a
day its manager has full, see policy_tasks) or, at send time, 'cancelled' (its step is no
longer in the rules, see dispatch/in_force).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from guanxi.engine.calendar import BusinessCalendar
from guanxi.engine.clock import local_time
from guanxi.engine.i18n import current_language
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import json_array_rows, json_item, quoted_name

SCRATCH = "policy_verdicts"
COUNTED = "('pending', 'claimed', 'sent')"  # statuses that take a customer's or an RM's time
CHUNK = 50_000  # verdicts per staging statement


Span = tuple[dt.datetime, dt.datetime]
Counts = list[tuple[str, str, int]]  # (verdict, policy, how many)


@dataclass(frozen=True)
class Survey:
    """The batch's pending follow-ups before the passes, from one scan."""

    pending: int = 0
    preferred: int = 0  # with `channel: preferred`
    tasks: int = 0
    message_span: Span | None = None  # the earliest and latest due time of its messages
    late: int = 0  # past their bound on lateness at `now` (expire_late expires them)


def survey(store: Store, batch: str, now: dt.datetime) -> Survey:
    [row] = store.execute(
        "SELECT count(*) AS n, count(CASE channel WHEN 'preferred' THEN 1 END) AS preferred,"
        " count(CASE kind WHEN 'task' THEN 1 END) AS tasks,"
        " min(CASE kind WHEN 'message' THEN due_at END) AS first,"
        " max(CASE kind WHEN 'message' THEN due_at END) AS last,"
        " count(CASE WHEN expires_at <= :now THEN 1 END) AS late FROM followups"
        " WHERE batch = :batch AND status = 'pending'",
        {"batch": batch, "now": iso(now)},
    )
    first, last = row["first"], row["last"]
    span = (parse_instant(first), parse_instant(last)) if first else None
    return Survey(row["n"], row["preferred"], row["tasks"], span, row["late"])


@dataclass(frozen=True)
class Batch:
    """One planning batch under one rule set: what each pass reads."""

    store: Store
    ruleset: RuleSet
    policies: PoliciesFile
    name: str
    now: dt.datetime
    survey: Survey

    @property
    def calendar(self) -> BusinessCalendar:
        return self.ruleset.calendar

    @property
    def zone(self) -> dt.tzinfo:
        return self.ruleset.calendar.zone

    def query(self, sql: str, **parameters: Any) -> list[dict[str, Any]]:
        """Rows of `sql`, with `:batch` bound to this batch."""
        return self.store.execute(sql, {"batch": self.name, **parameters})

    def local(self, instant: dt.datetime) -> str:
        """An instant as people read it: the project's local date and time."""
        return local_time(instant, self.zone)

    def joined_customers(self) -> str:
        """The customer of each follow-up `f`, as `c`."""
        key = quoted_name(self.ruleset.schema.key)
        return f"LEFT JOIN customers c ON c.{key} = f.customer_id"

    def channel_label(self, name: str) -> str:
        """A channel as a reason names it: the English part of its label ('SMS'), else the
        label, else the name."""
        return channel_label(self.policies, name)


def channel_label(policies: PoliciesFile, name: str) -> str:
    """A channel as a reason names it: the English part of its label ('SMS'), else the
    label, else the name."""
    channel = policies.channels.get(name)
    if channel is None:
        return name
    english = re.search(r"[A-Za-z][ -~]*$", channel.label)
    if english is None:
        return channel.label
    chinese = channel.label[: english.start()].strip()
    return chinese if chinese and current_language() == "zh" else english.group(0)


class Verdict(NamedTuple):
    id: int
    verdict: str  # 'suppressed', 'deferred', 'over_capacity' or 'cancelled'
    policy: str
    reason: str
    due_at: str | None = None  # the new due time (UTC ISO) of a deferred follow-up


def parse_instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def open_scratch(store: Store) -> None:
    store.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {SCRATCH} (id INTEGER PRIMARY KEY, verdict TEXT,"
        " due_at TEXT, policy TEXT, reason TEXT, channel TEXT)"
    )
    store.execute(f"DELETE FROM {SCRATCH}")


def stage(store: Store, verdicts: Sequence[Verdict]) -> None:
    """Put verdicts in the scratch table, many per statement (as one JSON array each)."""
    d = store.dialect
    items = ", ".join(json_item(i, d) for i in range(1, 5))
    sql = (
        f"INSERT INTO {SCRATCH} (id, verdict, policy, reason, due_at)"
        f" SELECT {json_item(0, d, 'BIGINT')}, {items} FROM {json_array_rows('rows', d)}"
    )
    for chunk in _chunks(verdicts):
        store.execute(sql, {"rows": json.dumps(chunk, ensure_ascii=False)})


def _chunks(verdicts: Sequence[Verdict]) -> Iterator[list[Verdict]]:
    for start in range(0, len(verdicts), CHUNK):
        yield list(verdicts[start : start + CHUNK])


def settle(run: Batch, verdicts: Sequence[Verdict]) -> Counts:
    """Write `verdicts`, and those already staged, to their follow-ups and record them."""
    stage(run.store, verdicts)
    run.store.execute(
        "UPDATE followups SET (status, due_at, channel, policy, reason, updated_at) = ("
        "  SELECT CASE WHEN v.verdict IN ('suppressed', 'cancelled') THEN v.verdict"
        "  ELSE followups.status END,"
        "  coalesce(v.due_at, followups.due_at), coalesce(v.channel, followups.channel),"
        "  v.policy, v.reason, :now"
        f"  FROM {SCRATCH} v WHERE v.id = followups.id)"
        f" WHERE id IN (SELECT id FROM {SCRATCH})",
        {"now": iso(run.now)},
    )
    return record(run)


def record(run: Batch) -> Counts:
    """Keep every staged verdict in `followup_decisions` and empty the scratch table;
    (verdict, policy, count) of them."""
    counts = run.store.execute(
        f"SELECT verdict, policy, count(*) AS n FROM {SCRATCH} GROUP BY verdict, policy"
    )
    run.store.execute(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        f" SELECT id, :now, verdict, policy, reason FROM {SCRATCH} ORDER BY id",
        {"now": iso(run.now)},
    )
    run.store.execute(f"DELETE FROM {SCRATCH}")
    return [(row["verdict"], row["policy"], row["n"]) for row in counts]


def sql_text(text: str) -> str:
    """A text literal for SQL (the names written in policies.yaml)."""
    return "'" + text.replace("'", "''") + "'"
