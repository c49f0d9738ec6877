"""Instants as the store writes them and as files give them: the quick ways of writing and
reading them agree with the general ones on every instant."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.ingest.values import Invalid, Moment
from guanxi.engine.plan.followups import iso

ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=8)), zoneinfo.ZoneInfo("Asia/Shanghai")]
)
INSTANTS = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=ZONES
)


@given(INSTANTS)
def test_iso_writes_what_strftime_writes(instant: dt.datetime) -> None:
    assert iso(instant) == instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@given(
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31)),
    st.sampled_from(["", "Z", "+08:00", "-05:30"]),
    st.sampled_from(["minutes", "seconds", "microseconds"]),
)
def test_a_datetime_written_iso_reads_as_its_slashed_twin(
    moment: dt.datetime, offset: str, timespec: str
) -> None:
    """YYYY-MM-DDT… is read in one step; YYYY/MM/DDT… the general way: the same instant."""
    written = moment.isoformat(timespec=timespec) + offset
    slashed = written[:10].replace("-", "/") + written[10:]
    read = Moment(zoneinfo.ZoneInfo("Asia/Shanghai"))
    assert read(written) == read(slashed)


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("2026-02-30T10:00:00", "'2026-02-30T10:00:00' is not a real calendar date"),
        ("2026-11-03T25:00:00", "'2026-11-03T25:00:00' is not a real date and time"),
    ],
)
def test_an_unreal_iso_day_or_time_is_refused_as_before(written: str, why: str) -> None:
    with pytest.raises(Invalid, match=f"^{re.escape(why)}$"):
        Moment(zoneinfo.ZoneInfo("Asia/Shanghai"))(written)


@pytest.mark.parametrize(
    ("written", "write"),
    [
        ("2026年12月1日 10点", "2026-12-01 10:00"),
        ("2026年12月1日10点", "2026-12-01 10:00"),
        ("2026-12-01 下午3点半", "2026-12-01 15:30"),
        ("2026/12/01 凌晨2点", "2026-12-01 02:00"),
    ],
)
def test_a_time_said_in_words_is_refused_with_the_instant_to_write(
    written: str, write: str
) -> None:
    """Refused as the rule files refuse a time said in words, told what to write."""
    with pytest.raises(Invalid) as refused:
        Moment(zoneinfo.ZoneInfo("Asia/Shanghai"))(written)
    assert str(refused.value) == f"'{written}' says the time in words: write {write}"


@pytest.mark.parametrize("written", ["2026-02-30 10点", "hello 10点", "2026年12月1日"])
def test_what_is_no_date_with_a_time_said_is_refused_as_before(written: str) -> None:
    with pytest.raises(Invalid, match="is not a date and time: write the date"):
        Moment(zoneinfo.ZoneInfo("Asia/Shanghai"))(written)
