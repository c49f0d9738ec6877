"""Events dated in the future, refused.

An event records what happened. One dated later than the moment it is loaded is a mistake of
the file (the wrong year, day and month swapped, a test row): kept, its follow-ups would be
planned from that date and fall due together on it, a wave of thanks for sales nobody made.
`guanxi load events` quarantines such a row and `guanxi events post` refuses it. A day of
leeway is left for a source whose clock or time zone is a few hours off. `simulate --events`
replays a file of events that come after its start on purpose, and takes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from guanxi.engine.clock import local_time
from guanxi.engine.i18n import _
from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.store.base import Row

LEEWAY = dt.timedelta(days=1)


def future_problem(at: str | None, now: dt.datetime, zone: dt.tzinfo) -> Problem | None:
    """The problem of an event dated `at` (ISO, as checked) if it lies past `now` + LEEWAY."""
    if at is None:
        return None
    when = dt.datetime.fromisoformat(at)
    if when <= now + LEEWAY:
        return None
    reason = _(
        "dated {at}, after now ({now}): an event records what happened, so this date is a"
        " mistake (the year? day and month swapped?): correct it"
    ).format(at=local_time(when, zone), now=local_time(now, zone))
    return ("at", at, reason)


def refusing_future(check: Check, now: dt.datetime, zone: dt.tzinfo) -> Check:
    """`check`, and an event dated past `now` (with LEEWAY) is refused."""

    def checked(record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        problem = future_problem(row.get("at"), now, zone)
        return (row, problems) if problem is None else (row, [*problems, problem])

    return checked
