"""Days as Chinese staff write them: `2026/3/1`, `2026.3.1`, `2026-3-1` and `2026年3月1日` are
all 2026-03-01 (the year first). Conditions and scenarios take only `2026-03-01`; these forms
are read to say exactly what to write instead, and a decision-table cell (which Excel rewrites
as `2026/3/1` when it saves) is read as the day it names. `1/3/2026` could be day or month
first, so it is never read.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from guanxi.engine.i18n import _

_WRITTEN_DAY = re.compile(
    r"(?P<y>\d{4})(?:(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})"
    r"|年\s*(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*[日号]?)",
    re.ASCII,
)
_YEARLESS_DAY = re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?", re.ASCII)
_ANY_DAY = re.compile(
    r"(?P<y>\d{4})(?:(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})"
    r"|年\s*(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*[日号]?)"
    r"|(?P<ym>\d{1,2})\s*月\s*(?P<yd>\d{1,2})\s*[日号]?",
    re.ASCII,
)
_TIME = re.compile(r"(?:\s+|T)(?P<h>\d{1,2})[:：](?P<min>\d{2})")


def written_day(text: str) -> dt.date | None:
    """The day `text` names in one of the forms above, or None."""
    match = _WRITTEN_DAY.fullmatch(text.strip())
    return None if match is None else _day(match)


def date_literal_hint(text: str) -> str | None:
    """The DATE literal to write for a day written the Chinese way: `2026年3月1日` is
    `DATE '2026-03-01'`; `3月1日` has no year, so the year is left for the user to add."""
    day = written_day(text)
    if day is not None:
        return _("write {text}").format(text=f"DATE '{day.isoformat()}'")
    yearless = yearless_day(text)
    return impossible_day(text) if yearless is None else year_needed(f"DATE '{yearless}'")


def impossible_day(text: str) -> str | None:
    """For a day written in one of the forms above that no calendar has (`2月30日`,
    `2026-02-29`, `13月1日`): how many days its month has, or which months there are.
    None for any other text. A time may follow the day."""
    match = _ANY_DAY.match(text.strip())
    if match is None:
        return None
    month = int(match["m"] or match["cm"] or match["ym"])
    day = int(match["d"] or match["cd"] or match["yd"])
    if not 1 <= month <= 12:
        return _("there is no month {month}: months go from 1 to 12").format(month=month)
    if match["y"] is None:
        longest = calendar.monthrange(2000, month)[1]  # 2000 had a 29 February
        return None if 1 <= day <= longest else _month_has(month, day, longest)
    year = int(match["y"])
    if not 1 <= year <= 9999:
        return None
    days = calendar.monthrange(year, month)[1]
    if 1 <= day <= days:
        return None
    last = dt.date(year, month, days).isoformat()
    message = _("month {month} of {year} has only {days} days: its last day is {last}")
    return message.format(year=year, month=month, days=days, last=last)


def _month_has(month: int, day: int, longest: int) -> str:
    message = _("month {month} has no day {day}: it has at most {days} days")
    return message.format(month=month, day=day, days=longest)


def year_needed(written: str) -> str:
    """The hint for a day written without its year, `written` as the place takes it."""
    return _("a date needs its year: write {text}, YYYY being the year").format(text=written)


def yearless_day(text: str) -> str | None:
    """`3月1日`, `3月1号` as `YYYY-03-01`, the year left for the user to write; or None."""
    match = _YEARLESS_DAY.fullmatch(text.strip())
    if match is None or _day_of_leap_year(int(match["m"]), int(match["d"])) is None:
        return None
    return f"YYYY-{int(match['m']):02d}-{int(match['d']):02d}"


_COUNTED_DAYS = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "当天": 0}
_COUNTED_DAYS.update({"明天": 1, "明日": 1, "次日": 1, "后天": 2, "大后天": 3})


def counted_day(text: str) -> tuple[int, str] | None:
    """`明天`, `后天上午10点`: the days the word counts from today (-1 for 昨天), and what
    follows it (a time, or nothing); None for text that does not start with such a word."""
    stripped = text.strip()
    for word in sorted(_COUNTED_DAYS, key=len, reverse=True):  # 大后天 before 后天
        if stripped.startswith(word):
            return _COUNTED_DAYS[word], stripped[len(word) :].strip()
    return None


def _day_of_leap_year(month: int, day: int) -> dt.date | None:
    try:
        return dt.date(2000, month, day)  # 2000 had a 29 February
    except ValueError:
        return None


def written_moment(text: str) -> str | None:
    """`text` as ISO text (`2026-03-01`, or `2026-03-01T09:30` with a time), or None."""
    stripped = text.strip()
    match = _WRITTEN_DAY.match(stripped)
    if match is None or (day := _day(match)) is None:
        return None
    rest = stripped[match.end() :]
    if not rest:
        return day.isoformat()
    time = _TIME.fullmatch(rest)
    if time is None or int(time.group("h")) > 23 or int(time.group("min")) > 59:
        return None
    return f"{day.isoformat()}T{int(time.group('h')):02d}:{time.group('min')}"


def _day(match: re.Match[str]) -> dt.date | None:
    month = match.group("m") or match.group("cm")
    day = match.group("d") or match.group("cd")
    try:
        return dt.date(int(match.group("y")), int(month), int(day))
    except ValueError:
        return None
