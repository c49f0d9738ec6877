"""What to write for a policy setting said as a sentence where a block of keys goes:
`quiet_hours: 22:00-8:00` (or 晚上10点到早上8点), `capacity: 每天30个`, a cap `- 每周最多2次`.
The block, with the times or the number the sentence says, else an example's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.timing import TimingError, parse_time_of_day, said_time

_RANGE = re.compile(r"\s*(.+?)\s*(?:-|~|～|—|–|至|到)\s*(.+?)\s*")
_NUMBER = re.compile(r"\d+")


def said_setting_hint(loc: Sequence[str | int], given: Any, keys: Sequence[str]) -> str | None:
    """The hint for `given` (text or a number) where the block at `loc`, of these `keys`,
    goes, or None."""
    if not loc or given is None or isinstance(given, dict | list):
        return None
    text = str(given)
    if loc[-1] == "quiet_hours":
        start, end = _said_range(text) or (dt.time(22, 0), dt.time(8, 0))
        block = f'{{start: "{start:%H:%M}", end: "{end:%H:%M}"}}'
        return _("write {text}").format(text=f"quiet_hours: {block}")
    if loc[-1] == "capacity":
        count = _number(text) or "25"
        owner = "owner_field: rm_id, " if "owner_field" in keys else ""  # not a branch's
        block = f"{{{owner}tasks_per_day: {count}}}"
        return _("write {text}").format(text=f"capacity: {block}")
    if len(loc) == 2 and loc[0] == "caps":
        count = _number(text) or "2"
        return _("write {text}").format(text=f"- {{channel: all, max: {count}, per: 7 days}}")
    return None


def _said_range(text: str) -> tuple[dt.time, dt.time] | None:
    """`22:00-8:00`, `晚上10点到早上8点`: the two times of day, or None."""
    found = _RANGE.fullmatch(text)
    start, end = (_time(found.group(i)) for i in (1, 2)) if found else (None, None)
    return (start, end) if start is not None and end is not None else None


def _time(text: str) -> dt.time | None:
    try:
        return parse_time_of_day(text)
    except TimingError:
        return said_time(text)


def _number(text: str) -> str | None:
    """The one number in `text`, or None when it has none or several."""
    numbers = _NUMBER.findall(text)
    return numbers[0] if len(numbers) == 1 else None
