"""A timestamp in a date field (Parquet's, as pandas, Java and Spark write them): an instant
is its day in the rule project's zone when it is midnight there; one without a zone is its
wall clock, to the nanosecond."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from guanxi.engine.ingest import check_customer
from guanxi.engine.ingest.instants import Day, NotMidnight
from guanxi.engine.ingest.values import Invalid
from guanxi.engine.ruleset import load_ruleset

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
RULES = Path(__file__).parent.parent / "rules"
read = Day(SHANGHAI)


@pytest.mark.parametrize(
    "instant",
    [
        dt.datetime(2026, 11, 1, tzinfo=SHANGHAI),
        dt.datetime(2026, 10, 31, 16, tzinfo=dt.UTC),  # as Java and Spark write it
        dt.datetime(2026, 10, 31, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        pd.Timestamp("2026-10-31 16:00", tz="UTC"),  # pandas' nanoseconds
    ],
)
def test_an_instant_at_midnight_in_the_projects_zone_is_that_day(instant: dt.datetime) -> None:
    assert read(instant) == "2026-11-01"


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "2026-11-01 08:00:00+08:00"),
        (dt.datetime(2026, 11, 1, 8, tzinfo=SHANGHAI), "2026-11-01 08:00:00+08:00"),
        (dt.datetime(2026, 11, 1, 0, 0, 0, 1, SHANGHAI), "2026-11-01 00:00:00.000001+08:00"),
        (pd.Timestamp("2026-10-31 16:00:00.000000001", tz="UTC"),
         "2026-11-01 00:00:00.000000001+08:00"),
    ],
)  # fmt: skip
def test_an_instant_at_another_time_is_refused_shown_in_the_projects_zone(
    instant: dt.datetime, shown: str
) -> None:
    with pytest.raises(NotMidnight) as refused:
        read(instant)
    assert refused.value.value == shown
    assert str(refused.value).startswith(f"'{shown}' is a time of day, not a date")
    assert "midnight in Asia/Shanghai, the rule project's time zone" in str(refused.value)


def test_a_timestamp_without_a_zone_is_its_wall_clock_to_the_nanosecond() -> None:
    assert read(dt.datetime(2026, 11, 1)) == "2026-11-01"
    assert read(pd.Timestamp("2026-11-01")) == "2026-11-01"
    for not_midnight in (
        dt.datetime(2026, 11, 1, 8),
        pd.Timestamp("2026-11-01 00:00:00.000000001"),
    ):
        with pytest.raises(Invalid, match="expected a date"):
            read(not_midnight)


def test_an_instant_far_from_today_is_no_plausible_date() -> None:
    with pytest.raises(Invalid, match="not a plausible date"):
        read(dt.datetime(2199, 12, 31, 16, tzinfo=dt.UTC))  # 2200-01-01 in Shanghai


def test_the_quarantine_shows_the_instant_in_the_projects_zone() -> None:
    ruleset = load_ruleset(RULES)
    record = {"customer_id": "C1", "name": "张三",
              "last_txn_date": dt.datetime(2026, 6, 1, tzinfo=dt.UTC)}  # fmt: skip
    row, problems = check_customer(ruleset.schema, ruleset.settings.timezone, record)
    [(field, value, reason)] = problems
    assert (field, value) == ("last_txn_date", "2026-06-01 08:00:00+08:00")
    assert "is a time of day, not a date" in reason
    record["last_txn_date"] = dt.datetime(2026, 5, 31, 16, tzinfo=dt.UTC)
    row, problems = check_customer(ruleset.schema, ruleset.settings.timezone, record)
    assert (row["last_txn_date"], problems) == ("2026-06-01", [])


@pytest.mark.parametrize(
    ("written", "day"),
    [("2026-11-01 00:00:00+08:00", "2026-11-01"), ("2026-10-31T16:00:00Z", "2026-11-01"),
     ("2026-11-01T00:00+0800", "2026-11-01"), ("2026-11-01 00:00:00", "2026-11-01")],
)  # fmt: skip
def test_an_instant_written_as_text_is_read_as_the_timestamp(written: str, day: str) -> None:
    assert read(written) == day


def test_an_instant_written_as_text_at_another_time_is_refused_shown_in_the_projects_zone() -> None:
    with pytest.raises(NotMidnight) as refused:
        read("2026-11-01 00:00:00+00:00")
    assert refused.value.value == "2026-11-01 08:00:00+08:00"
    with pytest.raises(Invalid, match="is not a date: write it"):
        read("2026-11-01 08:00")  # no offset: a time of day on a date, as before


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00+08:00", "9999-12-31T23:00:00-12:00",
     dt.datetime(1, 1, 1, tzinfo=SHANGHAI), dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC)],
)  # fmt: skip
def test_an_instant_in_year_1_or_9999_is_refused_not_overflowed(instant: Any) -> None:
    """Found by the hostile pipeline: year 1 at +08:00 is year 0 in UTC."""
    with pytest.raises(Invalid):
        read(instant)
