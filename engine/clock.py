"""Clocks: the one place the engine's callers take `now` from.

The engine never reads the time itself; commands and the daemon pass `now` in, taken from a
clock. `SystemClock` is the real one; `FixedClock` stands still (tests, `--once --now`);
`ShiftedClock` runs at real speed from a chosen start (`guanxi run --now`, replaying a day).
`StoreClock` is the store's: what every machine sharing a PostgreSQL store tells time by.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from typing import Protocol


def stored_in_zone(stored: str, zone: str) -> dt.datetime:
    """A stored time (ISO, UTC when it has no offset) in the time zone `zone`: a night's run
    at 02:00 in Shanghai is stored the evening before."""
    moment = dt.datetime.fromisoformat(stored)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zoneinfo.ZoneInfo(zone))


def local_time(instant: dt.datetime, zone: dt.tzinfo) -> str:
    """An instant as people read it: the local date and time in `zone`."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, with a time zone."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """Stands still at `at` until moved with `advance`."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, by: dt.timedelta) -> None:
        self.at += by


class ShiftedClock:
    """Starts at `start` and runs at real speed from there."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.began = time.monotonic()

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self.began)


class StoreClock:
    """The time of the store's server (`read`; None: the store is on this machine, whose
    clock it keeps). Daemons and commands on several machines then agree on leases, quiet
    hours, expiry and when a consent record takes effect, however far a machine's own clock
    is off. `machine` runs between readings; the server is read again every `every`, and a
    reading that fails keeps the last correction until the next."""

    def __init__(
        self,
        read: Callable[[], dt.datetime | None],
        machine: Clock | None = None,
        every: dt.timedelta = dt.timedelta(minutes=1),
        stopwatch: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.machine = read, machine or SystemClock()
        self.every, self.stopwatch = every.total_seconds(), stopwatch
        self.offset = dt.timedelta(0)
        self._read_at: float | None = None

    def now(self) -> dt.datetime:
        at = self.stopwatch()
        if self._read_at is None or at - self._read_at >= self.every:
            self._read_at = at
            self._correct()
        return self.machine.now() + self.offset

    def _correct(self) -> None:
        before = self.machine.now()
        try:
            server = self.read()
        except Exception:  # the store is down: the tick that needs it fails and says so
            return
        after = self.machine.now()
        self.offset = (
            dt.timedelta(0) if server is None else server - (before + (after - before) / 2)
        )
