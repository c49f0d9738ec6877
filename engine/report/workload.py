"""Relationship-manager workload: tasks (follow-ups of kind task) per manager per day, in
the project's time zone, against the capacity the contact policy allows.

Counted are the tasks that reach or will reach the manager: pending, claimed or sent;
suppressed, cancelled and failed ones are not work. A day that is not a business day in the
project's calendar (a weekend, a holiday; a make-up working Saturday, 调休, is one) is marked
as a day off, so that work on it shows as such.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guanxi.engine.calendar import BusinessCalendar
from guanxi.engine.i18n import N_, _
from guanxi.engine.report.model import Column, Table
from guanxi.engine.store import Store

WORK = ("pending", "claimed", "sent")
NO_OWNER = N_("(no manager)")  # a task no manager owns, in the reader's language: _(NO_OWNER)


@dataclass(frozen=True)
class ManagerLoad:
    owner: str
    days: int
    tasks: int
    busiest: int
    over_capacity: int  # days with more tasks than the capacity
    days_off: int = 0  # days with tasks that are not business days

    @property
    def mean(self) -> float:
        return self.tasks / self.days


@dataclass(frozen=True)
class Workload:
    per_day: dict[tuple[str, dt.date], int]  # (owner, local date) -> tasks
    capacity: int | None  # tasks per manager per day, from the contact policy
    timezone: str
    days_off: frozenset[dt.date] = frozenset()  # days of `per_day` that are not business days
    name: str = "workload"

    @property
    def title(self) -> str:
        return _("Relationship-manager workload (tasks per day)")

    def managers(self) -> list[ManagerLoad]:
        """Busiest first: by the most tasks on one day, then by all tasks."""
        days: dict[str, list[int]] = {}
        off: Counter[str] = Counter()
        for (owner, day), n in self.per_day.items():
            days.setdefault(owner, []).append(n)
            off[owner] += day in self.days_off
        loads = [
            ManagerLoad(owner, len(ns), sum(ns), max(ns), self._days_over(ns), off[owner])
            for owner, ns in days.items()
        ]
        return sorted(loads, key=lambda m: (-m.busiest, -m.tasks, m.owner))

    def _days_over(self, tasks_per_day: list[int]) -> int:
        if self.capacity is None:
            return 0
        return sum(1 for n in tasks_per_day if n > self.capacity)

    def notes(self) -> list[str]:
        capacity = f"{self.capacity}" if self.capacity else _("none")
        notes = [
            _("capacity per day: {capacity}; days in {zone}").format(
                capacity=capacity, zone=self.timezone
            )
        ]
        return notes + self.days_off_notes()

    def days_off_notes(self) -> list[str]:
        """The days with tasks that are not business days, when there are some."""
        if not self.days_off:
            return []
        days = ", ".join(day.isoformat() for day in sorted(self.days_off))
        said = _("tasks fall on days that are not business days (weekends, holidays): {days}")
        return [said.format(days=days)]

    def tables(self) -> list[Table]:
        columns = (
            Column("owner", _("manager")),
            Column("days", _("days with tasks"), "count"),
            Column("tasks", _("tasks"), "count"),
            Column("busiest_day", _("busiest day"), "count"),
            Column("mean_per_day", _("mean per day"), "number"),
            Column("days_over_capacity", _("days over capacity"), "count"),
            Column("days_off", _("days off with tasks"), "count"),
        )
        rows = tuple(
            (m.owner, m.days, m.tasks, m.busiest, m.mean, m.over_capacity, m.days_off)
            for m in self.managers()
        )
        return [Table("workload_by_manager", _("by manager"), columns, rows), self.by_day()]

    def by_day(self, name: str = "workload_by_day", title: str | None = None) -> Table:
        """Each manager's tasks on each day, the days that are not business days marked."""
        columns = (
            Column("owner", _("manager")),
            Column("day", _("day")),
            Column("tasks", _("tasks"), "count"),
            Column("business_day", _("business day")),
        )
        rows = tuple(
            (o, d.isoformat(), n, d not in self.days_off)
            for (o, d), n in sorted(self.per_day.items())
        )
        return Table(name, title or _("by day"), columns, rows, detail=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "timezone": self.timezone,
            "managers": [{**m.__dict__, "mean_per_day": m.mean} for m in self.managers()],
            "per_day": self.by_day().records(),
        }


def workload(store: Store, calendar: BusinessCalendar, capacity: int | None) -> Workload:
    """Tasks counted by UTC minute in the store, then put on local days (in the calendar's
    zone) here: exact for any zone, and few rows (tasks are planned at a handful of times of
    day); the days that are not business days in the calendar marked."""
    zone = calendar.zone
    marks = ", ".join(f"'{status}'" for status in WORK)
    rows = store.execute(
        "SELECT owner, substr(due_at, 1, 16) AS minute, COUNT(*) AS n FROM followups"
        f" WHERE kind = 'task' AND status IN ({marks}) GROUP BY owner, substr(due_at, 1, 16)"
    )
    per_day: Counter[tuple[str, dt.date]] = Counter()
    for row in rows:
        moment = dt.datetime.fromisoformat(row["minute"]).replace(tzinfo=dt.UTC)
        per_day[row["owner"] or _(NO_OWNER), moment.astimezone(zone).date()] += int(row["n"])
    return marked_workload(per_day, calendar, capacity)


def marked_workload(
    per_day: Mapping[tuple[str, dt.date], int], calendar: BusinessCalendar, capacity: int | None
) -> Workload:
    """Tasks per (manager, local day), the days that are not business days in `calendar`
    marked: the report's workload and each simulated run's."""
    days_off = frozenset(day for _owner, day in per_day if not calendar.is_business_day(day))
    return Workload(dict(per_day), capacity, str(calendar.zone), days_off)
