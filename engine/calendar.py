"""Business days: a country's public holidays and make-up working days, plus the bank's own.

China moves weekend days around its holidays (调休): a Saturday can be a working day and a
Monday a day off. `holidays` knows these; the bank adds what it decides itself (a branch
closure, a late announcement) in an overrides file:

    date,status,name
    2027-02-03,holiday,分行年终盘点
    2027-02-20,working,调休上班

Everything here is pure: instants in, instants out; nothing reads the clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from guanxi.engine.i18n import _
from guanxi.engine.timing import Duration

REMEMBERED_DAYS = 10_000  # (day, count) answers of add_business_days a calendar keeps
# the years whose days off a kept calendar carries, answered without the `holidays` package:
# building a country's holidays imports every country's module (0.1 s of CPU a night)
TABLED_YEARS = range(2000, 2061)
WORKING = {"working", "work", "上班", "工作日"}
HOLIDAY = {"holiday", "off", "休息", "假日", "节假日"}


def _country_holidays(country: str) -> Any:
    """The `holidays` package's calendar of `country`; the package is imported here, when
    first needed (50 ms of CPU a night answered from TABLED_YEARS does without)."""
    import holidays

    return holidays.country_holidays(country)


class CalendarRangeError(ValueError):
    """A date past the calendar's range: Python's dates run from 0001-01-01 to 9999-12-31."""


def _past_range(what: str) -> CalendarRangeError:
    return CalendarRangeError(
        _("{what} falls outside the calendar, which runs from 0001-01-01 to 9999-12-31").format(
            what=what
        )
    )


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are business days, and how to count in them, in one time zone."""

    country: str = "CN"
    timezone: str = "Asia/Shanghai"
    overrides: Mapping[dt.date, bool] = field(default_factory=dict)  # True: a working day
    _public: Any = field(default=None, compare=False, repr=False)
    # business days counted from a day, remembered: planning asks the same few days again
    _counted: dict[tuple[dt.date, int], dt.date] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    _zone: Any = field(default=None, init=False, compare=False, repr=False)
    # the ordinals of TABLED_YEARS' days that are not working days, once kept (unpickled)
    _days_off: frozenset[int] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_public", _country_holidays(self.country))
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a rule project kept on disk) without the country's holidays, built again
        when first asked (unpickling them would import every country's module), and with the
        days off of TABLED_YEARS as the holidays answer them."""
        return {**self.__dict__, "_public": None, "_counted": {}, "_days_off": self._tabled()}

    def _tabled(self) -> frozenset[int]:
        if self._days_off is not None:
            return self._days_off
        public = self._holidays()
        first = dt.date(TABLED_YEARS.start, 1, 1).toordinal()
        last = dt.date(TABLED_YEARS.stop, 1, 1).toordinal()
        days = (dt.date.fromordinal(ordinal) for ordinal in range(first, last))
        return frozenset(day.toordinal() for day in days if not public.is_working_day(day))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone  # type: ignore[no-any-return]

    def local_day(self, instant: dt.datetime) -> dt.date:
        """The day `instant` falls on in the calendar's zone."""
        try:
            return instant.astimezone(self.zone).date()
        except OverflowError:
            raise _past_range(instant.isoformat()) from None

    def is_business_day(self, day: dt.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if self._days_off is not None and day.year in TABLED_YEARS:
            return day.toordinal() not in self._days_off
        return bool(self._holidays().is_working_day(day))

    def unannounced_year(self, first: dt.date, last: dt.date) -> int | None:
        """The first year from `first` to `last` whose moved days (调休) are unknown: the
        country moves days, each year by a notice (China's State Council publishes the next
        year's late in the year), the `holidays` package has no notice for that year yet and
        the overrides give no day of it. None when every year is known."""
        public = self._holidays()
        if not public.has_substituted_holidays:
            return None
        announced = max(public.special_public_holidays, default=first.year - 1)
        overridden = {day.year for day in self.overrides}
        years = range(max(first.year, announced + 1), last.year + 1)
        return next((year for year in years if year not in overridden), None)

    def _holidays(self) -> Any:
        public = self._public
        if public is None:  # unpickled
            public = _country_holidays(self.country)
            object.__setattr__(self, "_public", public)
        return public

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after `day`."""
        following = day
        try:
            following += dt.timedelta(days=1)
            while not self.is_business_day(following):
                following += dt.timedelta(days=1)
        except OverflowError:
            raise _past_range(_("the business day after {day}").format(day=day)) from None
        return following

    def add_business_days(self, day: dt.date, count: int) -> dt.date:
        """`count` business days after `day`; with 0, `day` itself or the next business day."""
        counted = self._counted.get((day, count))
        if counted is None:
            counted = self._add_business_days(day, count)
            if len(self._counted) >= REMEMBERED_DAYS:
                self._counted.clear()
            self._counted[(day, count)] = counted
        return counted

    def _add_business_days(self, day: dt.date, count: int) -> dt.date:
        if count == 0:
            return day if self.is_business_day(day) else self.next_business_day(day)
        try:
            counted = day
            for _day in range(count):
                counted = self.next_business_day(counted)
        except CalendarRangeError:
            what = _("{duration} after {day}").format(
                duration=Duration(count, "business_days"), day=day
            )
            raise _past_range(what) from None
        return counted

    def due(
        self, start: dt.datetime, after: Duration | None = None, at: dt.time | None = None
    ) -> dt.datetime:
        """When a step triggered at `start` is due, in UTC.

        Business days and days keep the local time of `start` unless `at` gives one; hours and
        minutes are exact. Without `after`, `at` means the next such time from `start`.
        A due time past the calendar's range is a CalendarRangeError, never an OverflowError.
        """
        try:
            return self._due(start, after, at)
        except (OverflowError, CalendarRangeError):  # the question the user asked, in full
            what = start.isoformat()
            if after:
                what = _("{duration} after {day}").format(duration=after, day=what)
            raise _past_range(what) from None

    def _due(self, start: dt.datetime, after: Duration | None, at: dt.time | None) -> dt.datetime:
        local = start.astimezone(self.zone)
        if after is None:
            return self._next_time(local, at) if at else start.astimezone(dt.UTC)
        if after.unit in ("hours", "minutes"):
            return (start + dt.timedelta(**{after.unit: after.amount})).astimezone(dt.UTC)
        if after.unit == "business_days":
            day = self.add_business_days(local.date(), after.amount)
        else:
            days = after.amount * (7 if after.unit == "weeks" else 1)
            day = local.date() + dt.timedelta(days=days)
        return self._at(day, at or local.time().replace(tzinfo=None))

    def _next_time(self, local: dt.datetime, at: dt.time) -> dt.datetime:
        candidate = self._at(local.date(), at)
        if candidate < local:
            candidate = self._at(local.date() + dt.timedelta(days=1), at)
        return candidate

    def _at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=self.zone).astimezone(dt.UTC)


def read_overrides(text: str) -> tuple[dict[dt.date, bool], list[tuple[int, str]]]:
    """The overrides in a CSV text, and the problems found as (line number, message)."""
    overrides: dict[dt.date, bool] = {}
    problems: list[tuple[int, str]] = []
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows, [])]
    if header[:2] != ["date", "status"]:
        return overrides, [(1, _("the first line must be the header 'date,status,name'"))]
    for number, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            day, working = _override(row)
        except ValueError as error:
            problems.append((number, str(error)))
            continue
        overrides[day] = working
    return overrides, problems


def _override(row: list[str]) -> tuple[dt.date, bool]:
    text, status = [*row, "", ""][:2]
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(_("'{text}' is not a date (write 2027-02-03)").format(text=text)) from None
    word = status.strip().lower()
    if word not in WORKING | HOLIDAY:
        raise ValueError(_("'{status}' is neither 'working' nor 'holiday'").format(status=status))
    return day, word in WORKING
