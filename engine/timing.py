"""Durations ('3 business days'), times of day ('09:30') and schedules ('month', cron).

Pure parsing: nothing here reads the clock. Errors are ValueError with a message and a hint
that the rule loader turns into diagnostics.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, ParamSpec, TypeVar

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.numbers import chinese_number, number_hint
from guanxi.engine.said_business_days import (
    at_once_hint,
    first_business_day_hint,
    first_business_day_message,
    holiday_shift_hint,
    says_first_business_day,
)

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

Unit = Literal["business_days", "days", "weeks", "hours", "minutes"]
UNITS: dict[str, Unit] = {
    "business day": "business_days",
    "business days": "business_days",
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "hour": "hours",
    "hours": "hours",
    "minute": "minutes",
    "minutes": "minutes",
}
# a duration's length; a business day counted as a calendar day (a frequency cap's period)
DURATION_SECONDS: dict[Unit, int] = {
    "minutes": 60, "hours": 3_600, "days": 86_400, "business_days": 86_400, "weeks": 604_800
}  # fmt: skip
ALIASES = {"workday": "business day", "workdays": "business days", "working day": "business day",
           "working days": "business days"}  # fmt: skip
# As a Chinese sentence says it: 3个工作日, 三个工作日, 2小时, 1周
CHINESE_UNITS: dict[str, Unit] = {
    "工作日": "business_days",
    "交易日": "business_days",  # a bank's trading day is its business day
    "天": "days",
    "日": "days",
    "周": "weeks",
    "星期": "weeks",
    "礼拜": "weeks",
    "小时": "hours",
    "钟头": "hours",
    "分钟": "minutes",
}
_CHINESE = re.compile(rf"\s*(\S+?)\s*个?\s*({'|'.join(CHINESE_UNITS)})\s*")
MAX_AMOUNT = 100_000  # a duration's number: 100,000 seconds is about a day; days, 270 years
PERIODS = ("day", "week", "month", "quarter")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHINESE_PERIODS = {
    **dict.fromkeys(("每天", "每日", "天", "日"), "day"),
    **dict.fromkeys(("每周", "每星期", "每个星期", "周", "星期"), "week"),
    **dict.fromkeys(("每月", "每个月", "月"), "month"),
    **dict.fromkeys(("每季度", "每个季度", "每季", "季度"), "quarter"),
}
CHINESE_WEEKDAYS = {
    f"{prefix}{day}": WEEKDAYS[i]
    for prefix in ("周", "星期", "礼拜")
    for i, days in enumerate(("一", "二", "三", "四", "五", "六", "日天"))
    for day in days
}


class TimingError(ValueError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


P = ParamSpec("P")
R = TypeVar("R")


def _holiday_shift_answered(parse: Callable[P, R]) -> Callable[P, R]:
    """`parse`, whose error for a value said with `节假日顺延` (`day: 1 节假日顺延`) tells
    what moves a follow-up off a holiday instead of how to write the value."""

    @functools.wraps(parse)
    def answered(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except TimingError as error:
            said = " ".join(str(v) for v in (*args, *kwargs.values()) if v is not None)
            hint = holiday_shift_hint(said)
            if hint is None:
                raise
            raise TimingError(str(error), hint=hint) from None

    return answered


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: Unit

    def __str__(self) -> str:
        unit = self.unit.replace("_", " ")
        return f"{self.amount} {unit[:-1] if self.amount == 1 else unit}"


@_holiday_shift_answered
def parse_duration(text: str) -> Duration:
    chinese = _chinese_duration(str(text))
    if chinese is not None:
        return chinese
    match = re.fullmatch(r"\s*(\d+)\s+([a-z ]+?)\s*", str(text).lower())
    if not match:
        raise TimingError(
            _("'{text}' is not a duration").format(text=text),
            hint=_said_with_when(str(text))
            or _period_hint(str(text))
            or _months_hint(str(text))
            or _said_span_hint(str(text))
            or _numeral_hint(str(text))
            or _("write a number and a unit, e.g. '3 business days'"),
        )
    written = re.sub(r"\s+", " ", match.group(2))
    unit = UNITS.get(ALIASES.get(written, written))
    if unit is None:
        hint = _months_hint(str(text)) or did_you_mean(match.group(2), UNITS)
        hint = hint or _("units: {names}").format(names=", ".join(sorted(set(UNITS))))
        message = _("'{unit}' is not a unit of time").format(unit=match.group(2))
        raise TimingError(message, hint=hint)
    return Duration(int(match.group(1)), unit)


def parse_wait(text: str) -> Duration:
    """A step's `after:`: a duration, where `立即` (at once) and `当天` (the same day) are
    answered with what the rule language writes for them."""
    try:
        return parse_duration(text)
    except TimingError as error:
        hint = at_once_hint(str(text))
        if hint is None:
            raise
        raise TimingError(str(error), hint=hint) from None


def _numeral_hint(text: str) -> str | None:
    """`二百 days`: the number in Chinese numerals, to be written in digits."""
    amount, _space, unit = text.strip().partition(" ")
    return number_hint(amount) if unit and chinese_number(amount) is not None else None


# 3天后, 10天内: the word for 'after' or 'within' that the key already says
_WHEN_WORDS = ("以后", "之后", "后", "以内", "之内", "内")


def _said_with_when(text: str) -> str | None:
    """For a duration said with 'after' or 'within' (`3天后`, `10个工作日内`): the duration
    to write without it; None otherwise."""
    stripped = text.strip()
    for word in _WHEN_WORDS:
        duration = stripped.removesuffix(word).strip()
        if duration != stripped and _chinese_duration(duration) is not None:
            message = _("leave out '{word}' (the key says it already): write '{text}'")
            return message.format(word=word, text=duration)
    return _said_with_what_it_follows(stripped)


def _said_with_what_it_follows(text: str) -> str | None:
    """`销售后3个工作日`: what the wait follows is the step's trigger (on: sale), not the
    duration's; the duration to write, or None."""
    follows, after, duration = text.partition("后")
    if not follows or not after or _chinese_duration(duration.strip()) is None:
        return None
    message = _("the step's trigger (on: …) says what '{follows}' is: write '{text}'")
    return message.format(follows=follows + after, text=duration.strip())


PERIOD_LENGTHS = {"day": "1 day", "week": "7 days", "quarter": "90 days"}  # month: _months_hint


def _period_hint(text: str) -> str | None:
    """`每周`, `week`: a period where a duration goes (a cap's window); its length."""
    period = CHINESE_PERIODS.get(text.strip(), text.strip().lower())
    if period == "month":
        return _months_hint("1个月")
    if period not in PERIOD_LENGTHS:
        return None
    return _("write the window's length: '{duration}'").format(duration=PERIOD_LENGTHS[period])


_MONTHS = re.compile(r"\s*(\S+?)\s*个?\s*月\s*|\s*(\d+)\s+months?\s*", re.IGNORECASE)


def _months_hint(text: str) -> str | None:
    """`3个月`, `三个月`, `3 months`: a month has no fixed number of days; say them."""
    match = _MONTHS.fullmatch(text)
    written = (match.group(1) or match.group(2)) if match else None
    months = None
    if written is not None:
        months = int(written) if written.isdigit() else chinese_number(written)
    if not months:
        return None
    return _("a month has no fixed number of days: write '{days} days'").format(days=months * 30)


_NEXT_DAY = ("次日", "第二天", "隔天", "隔日", "翌日", "明天", "第2天")
_HALF_MONTH = ("半个月", "半月")
_YEARS = re.compile(r"\s*(\S+?)\s*个?\s*年\s*")


def _said_span_hint(text: str) -> str | None:
    """`次日`, `半个月`, `半年`, `一年`: the days to write."""
    written = text.strip()
    if written in _NEXT_DAY:
        return _("write '1 day'")
    if written in _HALF_MONTH:
        return _("a month has no fixed number of days: write '{days} days'").format(days=15)
    match = _YEARS.fullmatch(written)
    if match is None:
        return None
    years = 0.5 if match[1] == "半" else _numeral(match[1])
    if not years or years * 365 > MAX_AMOUNT:
        return None
    days = 180 if years == 0.5 else int(years * 365)
    return _("a year has no fixed number of days: write '{days} days'").format(days=days)


def _chinese_duration(text: str) -> Duration | None:
    """'3个工作日', '三个工作日', '2 小时' read as their English twins; None when `text` is not
    written so."""
    match = _CHINESE.fullmatch(text)
    if match is None:
        return None
    written = match.group(1)
    amount = int(written) if written.isascii() and written.isdigit() else chinese_number(written)
    if amount is None:
        return None
    if amount > MAX_AMOUNT:
        hint = _("a duration's number is at most {limit}").format(limit=f"{MAX_AMOUNT:,}")
        raise TimingError(_("the number in this duration is too large"), hint)
    return Duration(amount, CHINESE_UNITS[match.group(2)])


INTERVAL_UNITS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
# As guanxi.yaml's writer may say them in Chinese: 30秒, 5分钟, 1小时, 一天
CHINESE_INTERVALS = {"秒钟": 1, "秒": 1, "分钟": 60, "分": 60, "小时": 3600, "钟头": 3600,
                     "天": 86400, "日": 86400}  # fmt: skip
_CHINESE_INTERVAL = re.compile(rf"\s*(\S+?)\s*个?\s*({'|'.join(CHINESE_INTERVALS)})\s*")


def parse_interval(text: str) -> dt.timedelta:
    """A plain interval for the daemon's settings: '30 seconds', '5 minutes', '1 hour', or
    in Chinese ('30秒', '5 分钟', '一小时')."""
    seconds = _english_interval(str(text)) or _chinese_interval(str(text))
    if not seconds:
        raise TimingError(
            _("'{text}' is not an interval").format(text=text),
            hint=_(
                "write a number above 0 and seconds, minutes, hours or days, e.g. '30 seconds'"
                " or '30秒'"
            ),
        )
    return dt.timedelta(seconds=seconds)


def _english_interval(text: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+)\s*([a-z]+?)s?\s*", text.lower())
    seconds = INTERVAL_UNITS.get(match.group(2)) if match else None
    return int(match.group(1)) * seconds if match and seconds else None


def _chinese_interval(text: str) -> int | None:
    match = _CHINESE_INTERVAL.fullmatch(text)
    if match is None:
        return None
    written = match.group(1)
    amount = int(written) if written.isascii() and written.isdigit() else chinese_number(written)
    if not amount or amount > MAX_AMOUNT:  # as a number in digits is bounded (models.py)
        return None
    return amount * CHINESE_INTERVALS[match.group(2)]


# An interval typed as a command's option: 15m, 2h, 1d (and 30s, 1w)
SHORT_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
MAX_OPTION_INTERVAL = 366 * 86_400  # seconds: a year, far past any cron line


def parse_option_interval(text: str) -> dt.timedelta:
    """`15m`, `2h`, `1d`, or as guanxi.yaml or a rule writes it (`15 minutes`, `2小时`, `1天`)."""
    seconds = _option_seconds(str(text))
    if not seconds or seconds > MAX_OPTION_INTERVAL:
        raise TimingError(
            _("'{text}' is not an interval").format(text=text),
            hint=_("write a number above 0 and a unit, up to a year: 15m, 2h, 1d or 15分钟"),
        )
    return dt.timedelta(seconds=seconds)


def _option_seconds(text: str) -> int | None:
    short = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text.lower())
    if short is not None:
        return int(short.group(1)) * SHORT_UNITS[short.group(2)]
    try:
        return int(parse_interval(text).total_seconds())
    except TimingError:
        pass
    try:
        duration = parse_duration(text)
    except TimingError:
        return None
    return duration.amount * DURATION_SECONDS[duration.unit]


WINDOW_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}
MAX_WINDOW_DAYS = 100 * 366  # a century: far past any retention rule, and no date overflows


@dataclass(frozen=True)
class Window:
    """How long a kind of record is kept: '400 days', '18 months', '3 years'."""

    amount: int
    unit: str  # day, week, month or year

    def before(self, moment: dt.datetime) -> dt.datetime:
        """`moment` less the window; a month or year back from the 31st or the 29th of
        February lands on the last day of that month."""
        if self.unit in ("day", "week"):
            return moment - dt.timedelta(days=self.amount * WINDOW_DAYS[self.unit])
        months = moment.year * 12 + moment.month - 1
        months -= self.amount * (12 if self.unit == "year" else 1)
        year, month = divmod(months, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return moment.replace(year=year, month=month + 1, day=min(moment.day, last))

    def shortest_days(self) -> int:
        """The fewest whole days the window keeps, whatever day it counts back from: a month
        back from 1 March is 28 days (every day of four years: each pattern of leap years)."""
        if self.unit in ("day", "week"):
            return self.amount * WINDOW_DAYS[self.unit]
        start = dt.datetime(2024, 1, 1)
        days = (start + dt.timedelta(days=n) for n in range(4 * 366))
        return min((day - self.before(day)).days for day in days)


def parse_window(text: str) -> Window:
    """'400 days', '18 months', '3 years' (or weeks), up to a century. Raises TimingError."""
    match = re.fullmatch(r"\s*(\d+)\s*(day|week|month|year)s?\s*", str(text).lower())
    if match is None or not 0 < int(match[1]) * WINDOW_DAYS[match[2]] <= MAX_WINDOW_DAYS:
        raise TimingError(
            _("'{text}' is not a retention window").format(text=text),
            hint=_("write a number above 0 and days, weeks, months or years, e.g. '3 years'"),
        )
    return Window(int(match[1]), match[2])


@_holiday_shift_answered
def parse_time_of_day(text: str) -> dt.time:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(text).strip())
    if not match:
        said = said_time(str(text))
        hint = _("write hours:minutes, e.g. '09:30'")
        if said is not None:
            hint = _("write '{time}'").format(time=said.strftime("%H:%M"))
        raise TimingError(_("'{text}' is not a time of day").format(text=text), hint=hint)
    return dt.time(int(match.group(1)), int(match.group(2)))


_CHINESE_TIME = re.compile(
    r"(?P<part>凌晨|早晨|上午|早上|中午|下午|傍晚|晚上)?\s*(?P<h>\d{1,2}|[零一二两三四五六七八九十]+)\s*[点时]"
    r"\s*(?:(?P<half>半)|(?P<m>\d{1,2})\s*分?)?"
)
_AFTERNOON = ("下午", "傍晚", "晚上")
_CHINESE_DAY = re.compile(r"(?:每月|每个月)?\s*(\d{1,2}|[一二三四五六七八九十]+)\s*[号日]?")


def said_time(text: str) -> dt.time | None:
    """`10点`, `上午10点半`, `下午3点`, `9点30分`: the time of day said, or None."""
    match = _CHINESE_TIME.fullmatch(text.strip())
    if match is None:
        return None
    hour = int(match["h"]) if match["h"].isdigit() else chinese_number(match["h"])
    if hour is None:
        return None
    if match["part"] in _AFTERNOON and hour < 12:
        hour += 12
    if match["part"] == "凌晨" and hour == 12:  # 凌晨12点 is midnight
        hour = 0
    minute = 30 if match["half"] else int(match["m"] or 0)
    if hour > 23 or minute > 59:
        return None
    return dt.time(hour, minute)


@dataclass(frozen=True)
class Schedule:
    """A recurring schedule as cron fields (minute hour day month day_of_week)."""

    period: str
    cron: str

    def trigger(self, timezone: dt.tzinfo) -> CronTrigger:
        return _trigger(self.cron, timezone)


CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # cron: 0 and 7 are Sunday
CRON_FIELDS = (  # the five fields of a cron expression, in order, with what each may hold
    (N_("minute"), 0, 59),
    (N_("hour"), 0, 23),
    (N_("day of the month"), 1, 31),
    (N_("month"), 1, 12),
    (N_("day of the week"), 0, 7),
)
CRON_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # a leap year: 29 February happens


class _WeekdayError(ValueError):
    """A day-of-week field guanxi itself refused, with a message already in the user's words."""


def _trigger(expression: str, timezone: dt.tzinfo) -> CronTrigger:
    """APScheduler 3 numbers weekdays from Monday = 0, cron from Sunday = 0: numbered days
    are handed over as explicit lists of day names, which both read the same way."""
    minute, hour, day, month, weekdays = expression.split()
    named = ",".join(_day_names(part) for part in weekdays.split(","))
    from apscheduler.triggers.cron import CronTrigger  # with asyncio: 25 ms a night never spends

    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=named, timezone=timezone
    )


def _day_names(part: str) -> str:
    """One comma-separated part of a cron day-of-week field: '1-5', '*/2', '0', 'mon-fri'."""
    match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
    if match is None or (match.group(1) == "*" and match.group(3) is None):
        return part  # '*', or names such as 'mon-fri', which mean the same to both
    first = 0 if match.group(1) == "*" else int(match.group(1))
    last = 6 if match.group(1) == "*" else int(match.group(2) or first)
    step = int(match.group(3) or 1)
    if not 0 <= first <= 7 or not 0 <= last <= 7:
        raise _WeekdayError(_("day of week '{part}' is out of range (0-7)").format(part=part))
    if last < first:
        raise _WeekdayError(_("the day-of-week range '{part}' runs backwards").format(part=part))
    return ",".join(dict.fromkeys(CRON_DAYS[d] for d in range(first, last + 1, step)))


@_holiday_shift_answered
def parse_schedule(every: str, day: int | str | None = None, at: str | None = None) -> Schedule:
    """`every: month` with `day: 1` and `at: "10:00"`, or a five-field cron expression."""
    text = str(every).strip().lower()
    text = CHINESE_PERIODS.get(text, text)
    if (said := _said_cadence(text, str(every).strip(), day, at)) is not None:
        raise said
    if " " in text:
        return Schedule("cron", _checked_cron(str(every).strip()))
    if text not in PERIODS:
        hint = _period_and_day(text) or _period_once(text) or did_you_mean(text, PERIODS)
        hint = hint or _("use day, week, month, quarter or a cron expression")
        raise TimingError(_("'{text}' is not a schedule").format(text=every), hint=hint)
    if text == "quarter" and (_is_month_end(day) or _QUARTER_END_SAID.fullmatch(str(day))):
        raise _quarter_end_answer(day, at)
    time = parse_time_of_day(at) if at else dt.time(9, 0)
    return Schedule(text, _checked_cron(_period_cron(text, day, time)))


_NUMERAL = r"(\d{1,2}|[一二三四五六七八九十]+)"
_YEAR_DATE = re.compile(rf"每年\s*{_NUMERAL}\s*月份?\s*(?:{_NUMERAL}\s*[日号])?")
_TWICE_MONTHLY = N_("at {time} on the 1st and the 15th of every month")
_QUARTER_END_SAID = re.compile(r"(?:每个?)?季度?的?(?:末|底|最后一天)|quarter[- ]?end")
_QUARTER_END = N_("at {time} on the last day of each quarter")
_CRON_CADENCES = (  # said cadences cron can hold: pattern, day and month fields, what it says
    (
        re.compile(r"每一?年(?:一次)?|一年一次|年度?|(?:1 ?)?years?|yearly|annual(?:ly)?"),
        "{day} 1",
        N_("at {time} on day {day} of January, every year"),
    ),
    (
        re.compile(r"每?半年(?:一次)?|半年度|half[- ]?yearly|semi-?annual(?:ly)?|6 ?months"),
        "{day} 1,7",
        N_("at {time} on day {day} of January and of July"),
    ),
    (
        _QUARTER_END_SAID,
        "last 3,6,9,12",
        _QUARTER_END,
    ),
    (
        re.compile(r"每?半个?月(?:一次)?|semi-?monthly|twice a month"),
        "1,15 *",
        _TWICE_MONTHLY,
    ),
    (
        re.compile(r"(?:每隔?|隔)?[两二2]个月(?:一次)?|每?隔一个月|双月|bi-?monthly|2 ?months"),
        "{day} */2",
        N_("at {time} on day {day} of every other month: January, March, May …"),
    ),
)
_FORTNIGHTLY = re.compile(
    r"(?:每隔?|隔)?[两二2]个?(?:周|星期|礼拜)(?:一次)?|每?隔一?(?:周|星期|礼拜)|双周"
    r"|bi-?weekly|fortnightly|(?:every )?(?:2|two|other) ?weeks?"
)


def _said_cadence(
    text: str, written: str, day: int | str | None, at: str | None
) -> TimingError | None:
    """A cadence no period names (每年, 每两周): the cron expression to write for it, or,
    for every other week, which cron cannot count, that it cannot be written and the
    nearest that can."""
    time = _time_or_nine(at)
    if says_first_business_day(text):
        return TimingError(first_business_day_message(written), hint=first_business_day_hint())
    if _FORTNIGHTLY.fullmatch(text):
        message = _(
            "'{text}' cannot be scheduled: a schedule repeats every day, week, month or"
            " quarter, or as a cron expression says, and none of them can skip a week"
        )
        hint = _("the nearest: 'every: week' (each week), or every: \"{cron}\" ({when})").format(
            cron=f"{time.minute} {time.hour} 1,15 * *",
            when=_(_TWICE_MONTHLY).format(time=f"{time:%H:%M}"),
        )
        return TimingError(message.format(text=written), hint=hint + _keys_to_remove(day, at))
    for pattern, fields, when in _CRON_CADENCES:
        if pattern.fullmatch(text):
            dom = str(day) if isinstance(day, int) and 1 <= day <= 28 else "1"
            cron = f"{time.minute} {time.hour} {fields.format(day=dom)} *"
            return _cron_answer(
                written, cron, _(when).format(time=f"{time:%H:%M}", day=dom), day, at
            )
    for pattern, weekdays, when in _WEEKDAY_CADENCES:
        if pattern.fullmatch(text):
            cron = f"{time.minute} {time.hour} * * {weekdays}"
            return _cron_answer(written, cron, _(when).format(time=f"{time:%H:%M}"), day, at)
    return _year_date_answer(text, written, time, day, at)


_WEEKEND = N_("at {time} on Saturday and on Sunday")
_WEEKDAY_CADENCES = (  # said cadences of some days of every week: pattern, cron weekdays, what
    (re.compile(r"(?:每个?)?(?:周末|星期六日|礼拜六日)|weekends?"), "sat,sun", _WEEKEND),
    (
        re.compile(r"(?:每个?)?(?:工作日|周一至周五|周一到周五)|weekdays?"),
        "mon-fri",
        N_("at {time} Monday to Friday, public holidays included"),
    ),
)


def _year_date_answer(
    text: str, written: str, time: dt.time, day: int | str | None, at: str | None
) -> TimingError | None:
    """`每年3月15日`: the cron expression for that day of every year."""
    match = _YEAR_DATE.fullmatch(text)
    month = _numeral(match[1]) if match else None
    dom = _numeral(match[2] or "1") if match else None
    if match is None or month is None or dom is None or not 1 <= month <= 12:
        return None
    if not 1 <= dom <= calendar.monthrange(2000, month)[1]:  # a leap year: 29 February is
        return None
    cron = f"{time.minute} {time.hour} {dom} {month} *"
    when = _("at {time} on day {day} of month {month}, every year")
    return _cron_answer(
        written, cron, when.format(time=f"{time:%H:%M}", day=dom, month=month), day, at
    )


def _cron_answer(
    text: str, cron: str, when: str, day: int | str | None, at: str | None
) -> TimingError:
    hint = _('write every: "{cron}", a cron expression ({when})').format(cron=cron, when=when)
    message = _("'{text}' is not a schedule").format(text=text)
    return TimingError(message, hint=hint + _keys_to_remove(day, at))


def _keys_to_remove(day: int | str | None, at: str | None) -> str:
    """A cron expression holds its own day and time: the step's `day:` and `at:` go."""
    keys = [f"'{key}:'" for key, value in (("day", day), ("at", at)) if value is not None]
    if not keys:
        return ""
    return _("; a cron expression holds its own day and time: remove {keys}").format(
        keys=_(" and ").join(keys)
    )


def _time_or_nine(at: str | None) -> dt.time:
    """The step's `at:` time, or 09:00 (a schedule's own default) when none or unreadable."""
    try:
        return parse_time_of_day(at) if at else dt.time(9, 0)
    except TimingError:
        return dt.time(9, 0)


def _numeral(written: str) -> int | None:
    return int(written) if written.isdigit() else chinese_number(written)


def _period_and_day(text: str) -> str | None:
    """`每月5日`, `每周一`: a period and its day said together, which a step writes apart."""
    weekday = text.removeprefix("每")
    if weekday in CHINESE_WEEKDAYS:
        return _("write 'every: week' and 'day: {day}'").format(day=CHINESE_WEEKDAYS[weekday])
    for prefix in ("每月", "每个月"):
        day = _chinese_day_of_month(text.removeprefix(prefix)) if text.startswith(prefix) else None
        if day is not None and 1 <= day <= 28:
            return _("write 'every: month' and 'day: {day}'").format(day=day)
    return None


def _period_once(text: str) -> str | None:
    """`每周一次`, `每月初`: a period said with 'once' or with its first day."""
    period = CHINESE_PERIODS.get(text.removesuffix("一次"))
    if text.endswith("一次") and period:
        return _("write 'every: {period}'").format(period=period)
    if text in ("每月初", "月初", "每个月初"):
        return _("write 'every: month' and 'day: {day}'").format(day=1)
    if _is_month_end(text) or text in ("month-end", "month end", "end of month"):
        return _("write 'every: month' and 'day: {day}'").format(day=LAST_DAY)
    return _quarter_start(text)


def _quarter_start(text: str) -> str | None:
    """`季初`, `每季度第一个月`: a quarterly step runs in the quarter's first month."""
    if text in ("季初", "每季初", "每季度初", "每个季度初", "季度初"):
        return _("write 'every: quarter' and 'day: {day}'").format(day=1)
    if text in ("每季度第一个月", "每个季度第一个月", "每季第一个月", "季度第一个月"):
        return _(
            "write 'every: quarter' (it runs in each quarter's first month: January, April,"
            " July, October) and its day of the month, e.g. 'day: 1'"
        )
    return None


def _period_cron(period: str, day: int | str | None, time: dt.time) -> str:
    clock = f"{time.minute} {time.hour}"
    if period == "day":
        return f"{clock} * * *"
    if period == "week":
        return f"{clock} * * {_weekday(day, time)}"
    day_of_month = _day_of_month(day, period)
    months = "*" if period == "month" else "1,4,7,10"
    return f"{clock} {day_of_month} {months} *"


LAST_DAY = "last"  # APScheduler's cron day for a month's last day: 28, 29, 30 or 31
_MONTH_END = re.compile(
    r"last|(?:每个?)?月的?(?:底|末|最后一天|最后一日|最后1天)|(?:每个?月的?)?最后一天|月末最后一天"
)


def _is_month_end(day: int | str | None) -> bool:
    """`day: last`, or the month's end said in words: 月底, 月末, 每月最后一天."""
    return isinstance(day, str) and _MONTH_END.fullmatch(day.strip().lower()) is not None


def _quarter_end_answer(day: int | str | None, at: str | None) -> TimingError:
    """`every: quarter` runs in the quarter's first month: its last day is a cron expression."""
    time = _time_or_nine(at)
    cron = f"{time.minute} {time.hour} {LAST_DAY} 3,6,9,12 *"
    when = _(_QUARTER_END).format(time=f"{time:%H:%M}")
    message = _(
        "'day: {day}' cannot be used with 'every: quarter': a quarterly step runs in the"
        " quarter's first month (January, April, July, October)"
    ).format(day=day)
    hint = _('write every: "{cron}", a cron expression ({when})')
    return TimingError(message, hint=hint.format(cron=cron, when=when) + _keys_to_remove(day, at))


def _weekday(day: int | str | None, time: dt.time = dt.time(9, 0)) -> str:
    if day is None:
        return "mon"
    if isinstance(day, int) and 1 <= day <= 7:
        return WEEKDAYS[day - 1]
    written = str(day).strip()
    if written in CHINESE_WEEKDAYS:
        return CHINESE_WEEKDAYS[written]
    name = written.lower()[:3]
    if name in WEEKDAYS:
        return name
    hint = _("use monday … sunday or 1 … 7")
    if written in ("周末", "每周末", "weekend"):
        hint = _(
            "a weekly step has one day: write 'day: sat' or 'day: sun'; for both, a cron"
            " expression: every: \"{cron}\", and no 'day:' or 'at:'"
        ).format(cron=f"{time.minute} {time.hour} * * sat,sun")
    raise TimingError(_("'{day}' is not a day of the week").format(day=day), hint=hint)


def _day_of_month(day: int | str | None, period: str = "month") -> str:
    if day is None:
        return "1"
    if isinstance(day, int) and 1 <= day <= 28:
        return str(day)
    if _is_month_end(day):
        if str(day).strip().lower() == LAST_DAY:
            return LAST_DAY
        raise TimingError(
            _("'{day}' is the month's last day said in words").format(day=day),
            hint=_("write day: last (the 28th, 29th, 30th or 31st, as the month has)"),
        )
    said = _chinese_day_of_month(str(day))
    if said is not None and 1 <= said <= 28:
        raise TimingError(
            _("'{day}' is written in words; a day of the month is a number").format(day=day),
            hint=_("write the day's number alone: day: {day}").format(day=said),
        )
    if says_first_business_day(str(day)):
        raise TimingError(first_business_day_message(str(day)), hint=first_business_day_hint())
    hint = _("use a day from 1 to 28 (every month has those)")
    if period == "month":
        hint = _(
            "use a day from 1 to 28 (every month has those), or 'last' for each month's last day"
        )
    raise TimingError(
        _("'{day}' is not a day of the month guanxi can use every month").format(day=day),
        hint=hint,
    )


def _chinese_day_of_month(text: str) -> int | None:
    """`5号`, `5日`, `每月5日`, `五号` or `五`: the day of the month said, or None."""
    match = _CHINESE_DAY.fullmatch(text.strip())
    if match is None:
        return None
    return _numeral(match.group(1))


def _checked_cron(expression: str) -> str:
    if len(expression.split()) != 5:
        raise TimingError(
            _("'{text}' is not a cron expression").format(text=expression),
            hint=_("cron has five fields: minute hour day-of-month month day-of-week"),
        )
    try:
        trigger = _trigger(expression, dt.UTC)
    except ValueError as error:
        message = _("'{text}' is not a valid cron expression: {problem}")
        problem = error if isinstance(error, _WeekdayError) else _cron_problem(expression)
        raise TimingError(
            message.format(text=expression, problem=problem), hint=_last_day_hint(expression)
        ) from None
    if trigger.get_next_fire_time(None, CRON_EPOCH) is None:  # 31 February: a step never due
        raise TimingError(
            _("'{text}' never happens: none of its months has that day").format(text=expression),
            hint=_("check the day of the month (third field) and the months (fourth)"),
        )
    return expression


def _last_day_hint(expression: str) -> str | None:
    """`L`, the last day in other cron dialects, is `last` here."""
    parts = expression.split()
    if parts[2].upper() != "L":
        return None
    parts[2] = LAST_DAY
    return _("the last day of the month is written 'last': every: \"{cron}\"").format(
        cron=" ".join(parts)
    )


def _cron_problem(expression: str) -> str:
    """Which field of a refused cron expression is wrong, in the user's words (APScheduler
    says it in English)."""
    parts = expression.split()
    for index, (noun, low, high) in enumerate(CRON_FIELDS):
        alone = ["*"] * len(parts)
        alone[index] = parts[index]
        try:
            _trigger(" ".join(alone), dt.UTC)
        except ValueError:
            message = _("the {field} '{part}' is not a number from {low} to {high}")
            return message.format(field=_(noun), part=parts[index], low=low, high=high)
    return _("its fields name no time that exists")
