"""Messages: quiet hours, then frequency caps.

Quiet hours (免打扰时段) hold every message, mandatory ones too: a message due inside them, in
the project's time zone (the schema has no customer time zone yet), is deferred to the end
of the quiet period plus a spread of up to an hour (less when the waking hours are shorter),
the same for the same follow-up key, so the morning does not start with a burst. A message
that would then be sent after it expires is suppressed instead.

Frequency caps count, per customer, the messages of the cap's channel (or of every channel
for `all`) that are pending, claimed or sent, whatever batch planned them, in rolling windows
(t - length, t]; no window may hold more than `max`. Mandatory messages neither count nor
stop. Earlier batches' messages stand; this batch's compete in order of priority, then
earlier due time, then key, and a message that would overfill a window is suppressed with the
cap as the reason. A cap written in business days is measured as that many calendar days.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guanxi.engine.clock import local_time
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.policy_verdicts import (
    COUNTED,
    Batch,
    Counts,
    Span,
    Verdict,
    channel_label,
    parse_instant,
    settle,
    sql_text,
)
from guanxi.engine.ruleset.models import Cap, PoliciesFile
from guanxi.engine.store.dialect import epoch_seconds, ordered_join, unindexed
from guanxi.engine.timing import DURATION_SECONDS, Duration, parse_duration, parse_time_of_day

DAY = 86_400
SPREAD = 3_600  # deferred messages are spread over the first hour after quiet hours
LATEST_DEFERRAL = dt.timedelta(days=1, seconds=SPREAD)  # the most quiet hours move a message
SECONDS = DURATION_SECONDS


@dataclass(frozen=True)
class Quiet:
    start: dt.time
    end: dt.time

    @classmethod
    def of(cls, policies: PoliciesFile) -> Quiet | None:
        """The quiet hours policies.yaml sets, if any."""
        setting = policies.quiet_hours
        if setting is None:
            return None
        return cls(parse_time_of_day(setting.start), parse_time_of_day(setting.end))

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def holds(self, local: dt.datetime) -> bool:
        """Is the local time `local` inside quiet hours? (contains_sql, for one instant)"""
        start, end, now = _seconds(self.start), _seconds(self.end), _seconds(local.time())
        if start == end:
            return False
        inside_start, before_end = now >= start, now < end
        return inside_start and before_end if start < end else inside_start or before_end

    def contains_sql(self, seconds: str) -> str:
        """SQL: is the local second of the day `seconds` inside quiet hours?"""
        start, end = _seconds(self.start), _seconds(self.end)
        if start == end:
            return "0"
        joint = "AND" if start < end else "OR"
        return f"({seconds} >= {start} {joint} {seconds} < {end})"

    def ends(self, local: dt.datetime) -> dt.datetime:
        """When the quiet period holding the local time `local` ends."""
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, self.end, tzinfo=local.tzinfo)

    @property
    def spread(self) -> int:
        awake = (_seconds(self.start) - _seconds(self.end)) % DAY
        return max(1, min(SPREAD, awake))


def _seconds(time: dt.time) -> int:
    return time.hour * 3_600 + time.minute * 60 + time.second


def quiet_hours(run: Batch) -> Counts:
    """Defer the batch's messages due in quiet hours (see the module docstring)."""
    quiet = Quiet.of(run.policies)
    if quiet is None:
        return []
    span = run.survey.message_span
    if span is None:
        return []
    first, last = span
    if first == last and not quiet.holds(first.astimezone(run.zone)):
        return []  # every message is due at one time (an occurrence's), outside quiet hours
    local = local_seconds_sql("f.due_at", offsets(run.zone, *span), run.store.dialect)
    rows = run.query(
        "SELECT f.id, f.key, f.due_at, f.expires_at FROM followups f"
        " WHERE f.batch = :batch AND f.status = 'pending' AND f.kind = 'message'"
        f" AND {quiet.contains_sql(local)}"
    )
    due = (parse_instant(row["due_at"]) for row in rows)
    return settle(run, [defer(quiet, run.zone, row, at) for row, at in zip(rows, due, strict=True)])


def defer(quiet: Quiet, zone: dt.tzinfo, row: dict[str, Any], at: dt.datetime) -> Verdict:
    """The verdict on the message `row` (id, key, expires_at) that would go at `at`, inside
    quiet hours: deferred to their end plus its spread, or suppressed if it expires first.
    The planner asks for the due time; dispatch for the instant it claims the message."""
    spread = zlib.crc32(row["key"].encode()) % quiet.spread
    moved = quiet.ends(at.astimezone(zone)) + dt.timedelta(seconds=spread)
    reason = _("quiet hours {hours}, moved to {time}").format(
        hours=quiet.label, time=local_time(moved, zone)
    )
    expires = parse_instant(row["expires_at"]) if row["expires_at"] else None
    if expires is not None and moved > expires:
        expiry = local_time(expires, zone)
        late = _("expired before it could be sent ({reason}; it expires {time})").format(
            reason=reason, time=expiry
        )
        return Verdict(row["id"], "suppressed", "expiry", late)
    return Verdict(row["id"], "deferred", "quiet_hours", reason, iso(moved))


def offsets(zone: dt.tzinfo, first: dt.datetime, last: dt.datetime) -> list[tuple[int, int]]:
    """Each UTC offset (seconds) of `zone` from `first` to `last`, with the epoch second it
    starts at (the first one's start is `first`)."""
    found = [(int(first.timestamp()), _offset(zone, first))]
    moment = first
    while moment < last:  # a day's steps: no zone changes its offset twice in a day
        step = min(moment + dt.timedelta(days=1), last)
        if _offset(zone, step) != found[-1][1]:
            change = _change(zone, moment, step)
            found.append((int(change.timestamp()), _offset(zone, change)))
        moment = step
    return found


def _offset(zone: dt.tzinfo, instant: dt.datetime) -> int:
    delta = instant.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta else 0


def _change(zone: dt.tzinfo, before: dt.datetime, after: dt.datetime) -> dt.datetime:
    """The first second of `after`'s offset, between `before` and `after`."""
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        if _offset(zone, middle) == _offset(zone, before):
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0)


def local_seconds_sql(column: str, changes: list[tuple[int, int]], dialect: str) -> str:
    """SQL: the local second of the day of the UTC ISO instant `column`."""
    epoch = epoch_seconds(column, dialect)
    offset = str(changes[-1][1])
    if len(changes) > 1:
        pairs = itertools.pairwise(changes)
        whens = " ".join(f"WHEN {epoch} < {start} THEN {off}" for (_, off), (start, _) in pairs)
        offset = f"CASE {whens} ELSE {offset} END"
    return f"(({epoch} + {offset}) % {DAY})"


@dataclass(frozen=True)
class Window:
    """A cap as the arbitration uses it."""

    channel: str
    limit: int
    seconds: int
    reason: str

    def counts(self, channel: str) -> bool:
        return self.channel in ("all", channel)


@dataclass(frozen=True)
class Message:
    id: int
    customer: str
    channel: str
    at: int  # epoch seconds
    priority: int
    key: str
    open: bool  # pending in this batch: it competes; otherwise it stands
    due: int | None = None  # when it was due (epoch seconds), if not `at`: ranks it

    @property
    def rank(self) -> tuple[int, int, str]:
        return (-self.priority, self.at if self.due is None else self.due, self.key)


def frequency_caps(run: Batch) -> Counts:
    """Suppress the batch's messages that would overfill a cap (see the module docstring)."""
    windows = cap_windows(run.policies)
    span = run.survey.message_span
    if not windows or span is None:
        return []
    messages = [_message(row) for row in _crowded(run, windows, span)]
    return settle(run, list(arbitrate(messages, windows)))


def cap_windows(policies: PoliciesFile) -> list[Window]:
    """The caps on messages, as the arbitration uses them."""
    channels = policies.channels
    kinds = {name: channel.kind for name, channel in channels.items()} | {"all": "message"}
    return [
        _window(policies, cap, parse_duration(cap.per))
        for cap in policies.caps
        if kinds.get(cap.channel) == "message"
    ]


def _window(policies: PoliciesFile, cap: Cap, per: Duration) -> Window:
    what = _("message") if cap.channel == "all" else channel_label(policies, cap.channel)
    reason = _("{what} cap {max} per {period} reached").format(what=what, max=cap.max, period=per)
    return Window(cap.channel, cap.max, per.amount * SECONDS[per.unit], reason)


def _crowded(run: Batch, windows: list[Window], span: Span) -> list[dict[str, Any]]:
    """The counted messages near the batch of every customer who might overfill a cap.

    A customer might when, for some cap, more of their follow-ups (of any kind and status:
    an index alone counts them) lie within one window's length of the batch's due times than
    the cap allows; no window of the others can overfill. The unary `+` keeps SQLite on the
    customer index for the join.
    """
    bounds: dict[str, str] = {}
    tests = [_crowding_sql(i, w, span, bounds) for i, w in enumerate(windows)]
    widest = dt.timedelta(seconds=max(w.seconds for w in windows))
    low, high = iso(span[0] - widest), iso(span[1] + LATEST_DEFERRAL + widest)
    d = run.store.dialect
    due, status = unindexed("g.due_at", d), unindexed("g.status", d)
    return run.query(
        "WITH crowded AS MATERIALIZED (SELECT DISTINCT f.customer_id FROM followups f"
        "  WHERE f.batch = :batch AND f.status = 'pending' AND f.kind = 'message'"
        f"  AND f.mandatory = 0 AND ({' OR '.join(tests)}))"
        f" SELECT g.id, g.customer_id, g.channel, {epoch_seconds('g.due_at', d)} AS at,"
        " g.priority, g.key, g.batch = :batch AND g.status = 'pending' AS open"
        f" FROM crowded {ordered_join(d)} followups g ON g.customer_id = crowded.customer_id"
        f" WHERE {due} > :low AND {due} < :high AND {status} IN {COUNTED}"
        " AND g.kind = 'message' AND g.mandatory = 0",
        low=low,
        high=high,
        **bounds,
    )


def _crowding_sql(index: int, window: Window, span: Span, bounds: dict[str, str]) -> str:
    """SQL: does the batch row `f` have more neighbours than `window` allows?"""
    reach = dt.timedelta(seconds=window.seconds)
    bounds[f"low{index}"] = iso(span[0] - reach)
    bounds[f"high{index}"] = iso(span[1] + LATEST_DEFERRAL + reach)
    same = "" if window.channel == "all" else f" AND n.channel = {sql_text(window.channel)}"
    count = (
        f"(SELECT count(*) FROM followups n WHERE n.customer_id = f.customer_id{same}"
        f" AND n.due_at > :low{index} AND n.due_at < :high{index})"
    )
    if window.channel == "all":
        return f"{count} > {window.limit}"
    return f"(f.channel = {sql_text(window.channel)} AND {count} > {window.limit})"


def _message(row: dict[str, Any]) -> Message:
    return Message(
        row["id"], row["customer_id"], row["channel"], row["at"], row["priority"], row["key"],
        bool(row["open"]),
    )  # fmt: skip


def arbitrate(messages: Iterable[Message], windows: list[Window]) -> Iterable[Verdict]:
    """The verdicts on the open messages that would overfill a window, customer by customer."""
    by_customer: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        by_customer[message.customer].append(message)
    for group in by_customer.values():
        yield from _arbitrate_one(group, windows)


def _arbitrate_one(group: list[Message], windows: list[Window]) -> Iterable[Verdict]:
    taken: list[list[int]] = [
        sorted(m.at for m in group if not m.open and w.counts(m.channel)) for w in windows
    ]
    for message in sorted((m for m in group if m.open), key=lambda m: m.rank):
        applies = [i for i, w in enumerate(windows) if w.counts(message.channel)]
        full = next((i for i in applies if _overfills(taken[i], message.at, windows[i])), None)
        if full is not None:
            yield Verdict(message.id, "suppressed", "frequency_cap", windows[full].reason)
            continue
        for i in applies:
            bisect.insort(taken[i], message.at)


def _overfills(times: list[int], at: int, window: Window) -> bool:
    """Would one more message at `at` put more than the limit in some window holding it?

    Every window holding `at` that is as full as it can be ends at `at` or at a later
    message less than a window's length after it; those are the ends tried.
    """
    later = times[bisect.bisect_left(times, at) : bisect.bisect_left(times, at + window.seconds)]
    for end in (at, *later):
        inside = bisect.bisect_right(times, end) - bisect.bisect_right(times, end - window.seconds)
        if inside + 1 > window.limit:
            return True
    return False
