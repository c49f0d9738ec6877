"""Tasks: business days, then relationship-manager capacity (客户经理容量).

A task is work in a relationship manager's list for a day, not a contact at an instant, so it
keeps its time of day and only its day moves:

- a task due on a day that is not a business day (in the project's calendar and time zone)
  moves to the next business day; mandatory tasks too, since nobody is at work to do them;
- each owner (`followups.owner`, the customer's `capacity.owner_field`) has at most
  `tasks_per_day` tasks a business day. Tasks already planned for the owner and day (pending,
  claimed or sent, from any other batch) stand and count. This batch's tasks take the free
  places day by day: mandatory ones first, then by priority, earlier due time and key; the
  rest move to the next business day and compete there again, until they fit;
- a mandatory task always keeps its day. On a full day it takes the place of the owner's
  lowest-ranked task of another batch that is still pending and not mandatory (the complaint
  call-backs of a holiday week push the routine calls planned for the first day after it
  further on), and that task moves on as the batch's do. With no such task left the day goes
  over capacity: the task keeps a verdict `over_capacity` (policy `capacity`) whose reason
  says so, and `guanxi report` and `guanxi simulate` count the day over capacity;
- a branch's overlay may give its relationship managers another `tasks_per_day`: a task of a
  customer of that branch takes a place only while the owner has fewer tasks that day than
  the branch allows (so a manager serving two branches fills each one's tasks to its limit);
- a task without an owner waits in the unassigned queue, which has no capacity;
- a task that would move past its expiry is suppressed instead and takes no place.

Planners in several processes at once (a daemon, `guanxi events plan`, a load of events) each
count the tasks the others committed: on PostgreSQL the pass takes a lock of the schema until
its transaction ends, so a second planner counts the first one's tasks instead of filling the
same day again (SQLite's write transaction holds the whole database already).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.calendar import BusinessCalendar
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.policy_verdicts import (
    COUNTED,
    Batch,
    Counts,
    Verdict,
    parse_instant,
    settle,
)
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.store.dialect import json_texts, quoted_name, transaction_lock, unindexed

CAPACITY_LOCK = 7_416_014  # with the schema's hash, the advisory lock's key
OVER_CAPACITY = "over_capacity"  # the verdict on a mandatory task kept on a full day
BATCH_PENDING = "f.batch = :batch AND f.status = 'pending'"


@dataclass
class Task:
    id: int
    owner: str | None
    priority: int
    mandatory: bool
    key: str
    due: dt.datetime  # local, in the project's zone
    expires: dt.datetime | None
    limit: int | None = None  # tasks a day its owner takes (its customer's branch's capacity)
    day: dt.date = field(init=False)
    holiday: dt.date | None = None  # the day it was due on, when that is no business day
    full: list[dt.date] = field(default_factory=list)  # days it found fully booked
    policy: str | None = None  # the policy that decided it last
    bumped: bool = False  # another batch's task, whose place a mandatory task took
    over: bool = False  # mandatory, kept on a full day
    expired: bool = False

    def __post_init__(self) -> None:
        self.day = self.due.date()

    @property
    def rank(self) -> tuple[bool, int, dt.datetime, str]:
        return (not self.mandatory, -self.priority, self.due, self.key)

    @property
    def moved(self) -> dt.datetime:
        return dt.datetime.combine(self.day, self.due.timetz())

    def move(self, day: dt.date) -> None:
        self.day = day
        self.expired = self.expires is not None and self.moved > self.expires


def task_days(run: Batch) -> Counts:
    """Move the batch's tasks to business days within capacity (see the module docstring)."""
    if run.survey.tasks == 0:
        return []
    tasks = [_task(run, row) for row in _pending_tasks(run)]
    if not tasks:
        return []
    for task in tasks:
        if not run.calendar.is_business_day(task.day):
            task.holiday = task.day
            task.move(run.calendar.next_business_day(task.day))
    loads: dict[str, Counter[dt.date]] = {}
    if run.policies.capacity is not None:
        owned = [t for t in tasks if t.owner and not t.expired]
        if owned and (lock := transaction_lock(CAPACITY_LOCK, run.store.dialect)):
            run.store.execute(lock)
        loads = _booked(run, owned)
        movable = _movable(run, [t for t in owned if t.mandatory])
        for owner, group in _by_owner(owned).items():
            tasks += fit(group, loads[owner], run.calendar, movable.get(owner, {}))
    decided = [t for t in tasks if t.day != t.due.date() or (t.over and t.policy != "capacity")]
    return settle(run, [_verdict(run, t, loads) for t in decided])


def _pending_tasks(run: Batch, which: str = BATCH_PENDING, **params: Any) -> list[dict[str, Any]]:
    """The tasks `which` picks (the batch's pending ones unless told), with their customer's
    branch when branches have their own capacity."""
    branch, customers = "NULL", ""
    if run.ruleset.capacities:
        branch, customers = f"c.{quoted_name(BRANCH_FIELD)}", run.joined_customers()
    return run.query(
        "SELECT f.id, f.owner, f.priority, f.mandatory, f.key, f.due_at, f.expires_at,"
        f" f.policy, {branch} AS branch FROM followups f {customers}"
        f" WHERE {which} AND f.kind = 'task'",
        **params,
    )


def _task(run: Batch, row: dict[str, Any]) -> Task:
    expires = parse_instant(row["expires_at"]) if row["expires_at"] else None
    due = parse_instant(row["due_at"]).astimezone(run.zone)
    return Task(
        row["id"], row["owner"] or None, row["priority"], bool(row["mandatory"]), row["key"],
        due, expires, run.ruleset.tasks_per_day(row["branch"]), policy=row["policy"],
    )  # fmt: skip


def _by_owner(tasks: list[Task]) -> dict[str, list[Task]]:
    groups: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        groups[str(task.owner)].append(task)
    return groups


def _booked(run: Batch, tasks: list[Task]) -> dict[str, Counter[dt.date]]:
    """Tasks each owner already has a day, from other batches, on and after the first day any
    of `tasks` is due (found by owner and due time: the unary `+` keeps SQLite off the
    status index)."""
    loads: dict[str, Counter[dt.date]] = defaultdict(Counter)
    if not tasks:
        return loads
    first = min(t.day for t in tasks)
    start = dt.datetime.combine(first, dt.time(), tzinfo=run.zone)
    owners = json.dumps(sorted({str(t.owner) for t in tasks}), ensure_ascii=False)
    d = run.store.dialect
    rows = run.query(
        "SELECT owner, due_at FROM followups WHERE kind = 'task'"
        f" AND owner IN ({json_texts('owners', d)}) AND due_at >= :start"
        f" AND {unindexed('status', d)} IN {COUNTED}"
        " AND NOT (batch = :batch AND status = 'pending')",
        owners=owners,
        start=iso(start),
    )
    for row in rows:
        loads[row["owner"]][parse_instant(row["due_at"]).astimezone(run.zone).date()] += 1
    return loads


def _movable(run: Batch, mandatory: list[Task]) -> dict[str, dict[dt.date, list[Task]]]:
    """The tasks of other batches that `mandatory` tasks may push on: pending, not mandatory,
    of their owners on their days; each owner's by day, the lowest-ranked last. Read by owner
    and due time (the unary `+` keeps SQLite off the status index, as in `_booked`)."""
    movable: dict[str, dict[dt.date, list[Task]]] = defaultdict(lambda: defaultdict(list))
    if not mandatory:
        return movable
    days = {(str(t.owner), t.day) for t in mandatory}
    first, last = min(t.day for t in mandatory), max(t.day for t in mandatory)
    start = dt.datetime.combine(first, dt.time(), tzinfo=run.zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=run.zone)
    owners = sorted({owner for owner, _day in days})
    d = run.store.dialect
    rows = _pending_tasks(
        run,
        f"f.owner IN ({json_texts('owners', d)}) AND f.due_at >= :start AND f.due_at < :end"
        f" AND {unindexed('f.status', d)} = 'pending' AND f.batch <> :batch AND f.mandatory = 0",
        owners=json.dumps(owners, ensure_ascii=False),
        start=iso(start),
        end=iso(end),
    )
    for task in (_task(run, row) for row in rows):
        if (str(task.owner), task.day) in days:
            movable[str(task.owner)][task.day].append(task)
    for by_day in movable.values():
        for found in by_day.values():
            found.sort(key=lambda t: t.rank)
    return movable


def fit(
    tasks: list[Task],
    load: Counter[dt.date],
    calendar: BusinessCalendar,
    movable: dict[dt.date, list[Task]] | None = None,
) -> list[Task]:
    """Give each of one owner's tasks a business day with a free place within its limit (see
    the docstring); `load` counts the places taken and is updated. A mandatory task on a full
    day pushes on the lowest-ranked of `movable` (the owner's tasks of other batches, by
    day); those pushed are returned."""
    movable = movable or {}
    pushed: list[Task] = []
    waiting: dict[dt.date, list[Task]] = defaultdict(list)
    for task in tasks:
        waiting[task.day].append(task)
    while waiting:
        day = min(waiting)
        for task in sorted(waiting.pop(day), key=lambda t: t.rank):
            if task.limit is None or load[day] < task.limit:
                load[day] += 1
            elif task.mandatory and movable.get(day):
                bumped = movable[day].pop()
                bumped.bumped = True
                pushed.append(_push_on(bumped, calendar, waiting))
            elif task.mandatory:
                task.over = True
                load[day] += 1
            else:
                _push_on(task, calendar, waiting)
    return pushed


def _push_on(task: Task, calendar: BusinessCalendar, waiting: dict[dt.date, list[Task]]) -> Task:
    """Move `task` off its full day to the next business day, where it waits for a place."""
    task.full.append(task.day)
    task.move(calendar.next_business_day(task.day))
    if not task.expired:
        waiting[task.day].append(task)
    return task


def _verdict(run: Batch, task: Task, loads: dict[str, Counter[dt.date]]) -> Verdict:
    why = _why(task, loads)
    if task.expired:
        expires = run.local(task.expires) if task.expires else ""
        reason = _("expired before it could be done ({reason}; it expires {time})").format(
            reason=why, time=expires
        )
        return Verdict(task.id, "suppressed", "expiry", reason)
    if task.over:
        return Verdict(task.id, OVER_CAPACITY, "capacity", why, iso(task.moved))
    policy = "capacity" if task.full else "business_days"
    return Verdict(task.id, "deferred", policy, why, iso(task.moved))


def _why(task: Task, loads: dict[str, Counter[dt.date]]) -> str:
    parts = [_("{day} is not a business day").format(day=task.holiday)] if task.holiday else []
    if task.full:
        first, last = task.full[0], task.full[-1]
        count = loads[str(task.owner)][first]
        booked = _("{owner} has {count} tasks on {day}").format(
            owner=task.owner, count=count, day=first
        )
        if last != first:
            booked = _("{booked} and is fully booked until {day}").format(booked=booked, day=last)
        if task.bumped:
            booked = _("{booked}: a mandatory task took its place").format(booked=booked)
        parts.append(booked)
    if task.over:
        count = loads[str(task.owner)][task.day]
        parts.append(
            _("{owner} has {count} tasks on {day}: kept there as it is mandatory").format(
                owner=task.owner, count=count, day=task.day
            )
        )
    reasons = "; ".join(parts)
    if task.day == task.due.date():
        return reasons
    return _("{reasons}, moved to {day}").format(reasons=reasons, day=task.day)
