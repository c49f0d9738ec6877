"""Business days in China, with make-up working days and the bank's own overrides."""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guanxi.engine.calendar import TABLED_YEARS, BusinessCalendar, read_overrides
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.timing import Duration

RULES = Path(__file__).parent.parent / "rules"

SHANGHAI = ZoneInfo("Asia/Shanghai")
CN = BusinessCalendar("CN", "Asia/Shanghai")


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 10, 1), False),  # National Day
        (dt.date(2026, 10, 7), False),  # a weekday given off (调休)
        (dt.date(2026, 10, 10), True),  # the Saturday worked in exchange
        (dt.date(2026, 10, 11), False),  # an ordinary Sunday
        (dt.date(2026, 10, 12), True),
    ],
)
def test_public_holidays_and_make_up_days(day: dt.date, expected: bool) -> None:
    assert CN.is_business_day(day) is expected


def test_every_make_up_working_day_of_2026_is_a_business_day() -> None:
    """国务院办公厅关于2026年部分节假日安排的通知: the weekend days worked (two are Sundays)."""
    weekend_worked = [
        day
        for day in (dt.date(2026, 1, 1) + dt.timedelta(n) for n in range(365))
        if day.weekday() >= 5 and CN.is_business_day(day)
    ]
    worked = [(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)]
    assert weekend_worked == [dt.date(2026, month, day) for month, day in worked]


def test_a_year_whose_make_up_days_are_not_announced_is_named_until_the_bank_adds_them() -> None:
    """The State Council announces each year's moved days late in the year before; `holidays`
    knows those announced before its release, so a later year counts statutory holidays alone
    (2040 stands for such a year: no release can know it yet)."""
    assert CN.unannounced_year(dt.date(2026, 6, 1), dt.date(2026, 9, 1)) is None
    assert CN.unannounced_year(dt.date(2040, 1, 1), dt.date(2040, 3, 1)) == 2040
    announced = BusinessCalendar("CN", overrides={dt.date(2040, 2, 4): True})
    assert announced.unannounced_year(dt.date(2040, 1, 1), dt.date(2040, 3, 1)) is None
    assert BusinessCalendar("FR").unannounced_year(dt.date(2040, 1, 1), dt.date(2040, 3, 1)) is None


def test_a_pickled_calendar_counts_as_the_original() -> None:
    """Pickled (a rule project kept on disk) without the country's holidays, which it builds
    again when first asked: the same business days, overrides included."""
    calendar = BusinessCalendar("CN", "Asia/Shanghai", {dt.date(2026, 10, 8): True})
    calendar.add_business_days(dt.date(2026, 9, 30), 3)
    data = pickle.dumps(calendar)
    assert b"holidays" not in data
    copy = pickle.loads(data)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    assert [copy.is_business_day(d) for d in days] == [calendar.is_business_day(d) for d in days]
    assert copy == calendar and copy.zone == calendar.zone
    assert copy.add_business_days(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)


def test_a_pickled_calendar_answers_its_tabled_years_without_building_the_holidays() -> None:
    """A kept calendar carries the days off of TABLED_YEARS (building a country's holidays
    imports every country's module): a night counts business days without them, and each
    day's answer is the one the holidays give; a day outside the years asks them."""
    calendar = BusinessCalendar("CN", "Asia/Shanghai", {dt.date(2026, 10, 8): True})
    copy = pickle.loads(pickle.dumps(calendar))
    first = dt.date(TABLED_YEARS.start, 1, 1)
    days = [first + dt.timedelta(n) for n in range((dt.date(TABLED_YEARS.stop, 1, 1) - first).days)]
    answers = [copy.is_business_day(day) for day in days]
    assert copy._public is None  # answered from the table
    assert answers == [calendar.is_business_day(day) for day in days]
    assert copy.add_business_days(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)
    assert copy._public is None
    assert copy.is_business_day(dt.date(1999, 10, 1)) is False  # National Day, from the holidays
    assert copy._public is not None


def test_three_business_days_skip_the_national_day_holidays() -> None:
    sold = local(2026, 9, 29, 15, 0)  # Tuesday afternoon before the holidays
    due = CN.due(sold, Duration(3, "business_days"), dt.time(10, 0))
    # 30 Sep is a business day; 1-7 Oct are off; 8 Oct and 9 Oct follow.
    assert due == local(2026, 10, 9, 10, 0).astimezone(dt.UTC)


def test_calendar_days_hours_and_next_time() -> None:
    start = local(2026, 11, 27, 22, 30)
    assert CN.due(start, Duration(2, "hours")) == local(2026, 11, 28, 0, 30).astimezone(dt.UTC)
    assert CN.due(start, Duration(1, "weeks")) == local(2026, 12, 4, 22, 30).astimezone(dt.UTC)
    assert CN.due(start, None, dt.time(10, 0)) == local(2026, 11, 28, 10, 0).astimezone(dt.UTC)
    assert CN.due(start) == start.astimezone(dt.UTC)


def test_zero_business_days_means_today_if_it_is_one() -> None:
    assert CN.add_business_days(dt.date(2026, 11, 27), 0) == dt.date(2026, 11, 27)
    assert CN.add_business_days(dt.date(2026, 11, 28), 0) == dt.date(2026, 11, 30)


def test_the_banks_overrides_win() -> None:
    overrides, problems = read_overrides(
        "date,status,name\n2026-11-30,holiday,盘点\n2026-11-29,上班,调休\n\n2026-13-01,holiday,\n"
        "2026-12-01,maybe,\n"
    )
    assert problems == [
        (5, "'2026-13-01' is not a date (write 2027-02-03)"),
        (6, "'maybe' is neither 'working' nor 'holiday'"),
    ]
    calendar = BusinessCalendar("CN", "Asia/Shanghai", overrides)
    assert calendar.next_business_day(dt.date(2026, 11, 28)) == dt.date(2026, 11, 29)
    assert calendar.next_business_day(dt.date(2026, 11, 29)) == dt.date(2026, 12, 1)


def test_a_file_without_the_header_is_refused() -> None:
    assert read_overrides("2026-11-30,holiday\n")[1] == [
        (1, "the first line must be the header 'date,status,name'")
    ]


def test_a_project_names_its_overrides_file(tmp_path: Path) -> None:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project)
    settings = project / "guanxi.yaml"
    text = settings.read_text(encoding="utf-8") + "calendar_overrides: days.csv\n"
    settings.write_text(text, encoding="utf-8")
    missing = validate_project(project)
    assert [(d.code, d.line) for d in missing.diagnostics] == [("missing-file", text.count("\n"))]
    (project / "days.csv").write_text("date,status\n2026-11-30,holiday\n2026-12-01,??\n")
    invalid = validate_project(project)
    assert [(d.file.endswith("days.csv"), d.line) for d in invalid.diagnostics] == [(True, 3)]
    (project / "days.csv").write_text("date,status\n2026-11-30,holiday\n")
    ruleset = load_ruleset(project)
    assert ruleset.calendar.next_business_day(dt.date(2026, 11, 27)) == dt.date(2026, 12, 1)


# 国务院办公厅关于2025年、2026年部分节假日安排的通知: the days off that fall on weekdays, and
# the weekend days worked in exchange.
OFF_ON_WEEKDAYS = {
    2025: [(1, 1), (1, 28), (1, 29), (1, 30), (1, 31), (2, 3), (2, 4), (4, 4), (5, 1), (5, 2),
           (5, 5), (6, 2), (10, 1), (10, 2), (10, 3), (10, 6), (10, 7), (10, 8)],
    2026: [(1, 1), (1, 2), (2, 16), (2, 17), (2, 18), (2, 19), (2, 20), (2, 23), (4, 6),
           (5, 1), (5, 4), (5, 5), (6, 19), (9, 25), (10, 1), (10, 2), (10, 5), (10, 6),
           (10, 7)],
}  # fmt: skip
WEEKENDS_WORKED = {
    2025: [(1, 26), (2, 8), (4, 27), (9, 28), (10, 11)],
    2026: [(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)],
}


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_business_days_of_a_year_are_those_of_the_state_councils_notice(year: int) -> None:
    days = [dt.date(year, 1, 1) + dt.timedelta(n) for n in range(365)]
    off = {dt.date(year, m, d) for m, d in OFF_ON_WEEKDAYS[year]}
    worked = {dt.date(year, m, d) for m, d in WEEKENDS_WORKED[year]}
    expected = [(d.weekday() < 5 and d not in off) or d in worked for d in days]
    assert [CN.is_business_day(d) for d in days] == expected


@pytest.mark.parametrize(
    ("sold", "due"),
    [
        # a Friday before National Day 2025: the Sunday worked (28 Sep) counts
        ((2025, 9, 26, 16), (2025, 9, 30)),
        # the Friday before the Spring Festival 2025: Sunday 26 Jan worked, then 28 Jan-4 Feb off
        ((2025, 1, 24, 11), (2025, 2, 5)),
        # the day before National Day 2026: 1-7 Oct off, then 8, 9 and the Saturday worked
        ((2026, 9, 30, 15), (2026, 10, 10)),
        # on the Saturday worked: the next three business days, Sunday 11 Oct not among them
        ((2026, 10, 10, 10), (2026, 10, 14)),
        # a Friday before the Saturday worked
        ((2026, 10, 9, 17), (2026, 10, 13)),
        # in the holidays (a sale online): 8 Oct is the first, the Saturday worked the third
        ((2026, 10, 3, 9), (2026, 10, 10)),
        # an ordinary Friday
        ((2026, 11, 27, 15), (2026, 12, 2)),
    ],
)
def test_a_call_three_business_days_after_a_sale(
    sold: tuple[int, int, int, int], due: tuple[int, int, int]
) -> None:
    called = CN.due(local(*sold), Duration(3, "business_days"), dt.time(10, 0))
    assert called == local(*due, 10, 0).astimezone(dt.UTC)
