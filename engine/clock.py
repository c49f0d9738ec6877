"""Clocks: the one place the engine's callers take `now` from.

The engine never reads the time itself; commands and the daemon pass `now` in, taken from a
clock. `SystemClock` is the real one; `FixedClock` stands still (tests, `--once --now`);
`ShiftedClock` runs at real speed from a chosen start (`guanxi run --now`, replaying a day).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


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
