"""The relationship managers' task inbox: tasks in the store, listed by manager, closed with an
outcome that comes back as an event.

    create   `insert_task`: one task per follow-up key (INSERT … ON CONFLICT DO NOTHING), so a
             send retried after a crash or a lost answer leaves exactly one task
    list     `list_tasks`: a manager's tasks by status, soonest due first
    close    `close_task`: the outcome (one the rule project declares for `task_outcome`
             events) goes on the task and, in the same transaction, into the events table as a
             `task_outcome` event (outcome, step, task); that event is then planned like any
             other, so a playbook step can react to it (a complaint gets a call-back)

A task is found by its key or by its follow-up's id. `now` is always given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from guanxi.engine.clock import local_time
from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.ingest import check_event
from guanxi.engine.plan.events import EventPlanReport, plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row, Store

OUTCOME_EVENT = "task_outcome"
OUTCOME_FIELD = "outcome"
Shown = Literal["open", "done", "all"]

TASK_COLUMNS = (
    "key",
    "followup_id",
    "customer_id",
    "step_id",
    "owner",
    "title",
    "body",
    "due_at",
    "created_at",
    "status",
    "outcome",
    "note",
    "done_at",
)
_SELECTED = ", ".join(TASK_COLUMNS)


class TaskError(GuanxiError):
    """A task cannot be found or closed as asked; the message says why."""


@dataclass(frozen=True)
class ClosedTask:
    """A task just marked done, the id of the event it became, and what planning made of it."""

    task: Row
    event_id: str
    planned: EventPlanReport
    classified_before: bool = True  # False: the store has no classification run yet


def insert_task(store: Store, task: Mapping[str, Any]) -> bool:
    """Create an open task (key, customer_id, step_id, owner, title, body, due_at, created_at);
    False when a task with that key is already there. The follow-up id is looked up by key
    (NULL when the store has no such follow-up)."""
    with store.transaction():
        created = store.execute(
            "INSERT INTO tasks (key, followup_id, customer_id, step_id, owner, title, body,"
            " due_at, created_at, status) VALUES (:key,"
            " (SELECT id FROM followups WHERE key = :key), :customer_id, :step_id, :owner,"
            " :title, :body, :due_at, :created_at, 'open')"
            " ON CONFLICT (key) DO NOTHING RETURNING key",
            {name: task[name] for name in _NEW_TASK},
        )
    return bool(created)


_NEW_TASK = ("key", "customer_id", "step_id", "owner", "title", "body", "due_at", "created_at")


def list_tasks(store: Store, owner: str, status: Shown = "open") -> list[Row]:
    """A manager's tasks with `status` ('all': open and done), soonest due first."""
    chosen = "" if status == "all" else " AND status = :status"
    return store.execute(
        f"SELECT {_SELECTED} FROM tasks WHERE owner = :owner{chosen}"
        " ORDER BY due_at IS NULL, due_at, key",
        {"owner": same_id(owner), "status": status},
    )


def find_task(store: Store, task_id: str) -> Row | None:
    """The task with key `task_id`, or whose follow-up has the id `task_id`."""
    task_id = same_id(task_id)
    rows = store.execute(
        f"SELECT {_SELECTED} FROM tasks WHERE key = :key OR followup_id = :followup_id",
        {"key": task_id, "followup_id": _followup_id(task_id)},
    )
    return rows[0] if rows else None


def declared_outcomes(ruleset: RuleSet) -> tuple[str, ...] | None:
    """The outcomes the rule project allows (None: any text); TaskError when it declares no
    `task_outcome` event with an `outcome` field, since outcomes could not feed back."""
    event = ruleset.schema.events.get(OUTCOME_EVENT)
    if event is None or OUTCOME_FIELD not in event.fields:
        raise TaskError(
            _(
                "the rule project declares no '{event}' event with an '{field}'"
                " field (schema.yaml, events:), so no outcome can be recorded;"
                " copy it from the default rules"
            ).format(event=OUTCOME_EVENT, field=OUTCOME_FIELD)
        )
    allowed = event.fields[OUTCOME_FIELD].values
    return tuple(allowed) if allowed is not None else None


def close_task(
    store: Store,
    ruleset: RuleSet,
    task_id: str,
    outcome: str,
    now: dt.datetime,
    note: str | None = None,
) -> ClosedTask:
    """Mark an open task done with `outcome`, record its `task_outcome` event and plan it."""
    outcome, task_id = _check_outcome(ruleset, outcome), same_id(task_id)
    with store.transaction():
        task = _mark_done(store, task_id, outcome, note, now)
        if task is None:
            raise TaskError(_why_not_open(store, task_id, ruleset.calendar.zone))
        event = _outcome_event(ruleset, task, now)
        store.insert_events([{**event, "loaded_at": iso(now)}])
    planned = plan_new_events(store, ruleset, now)
    return ClosedTask(task, event["id"], planned, classified_before=_has_run(store))


def _has_run(store: Store) -> bool:
    """Whether the store has been classified at least once (events wait longer before)."""
    return bool(store.execute("SELECT 1 AS one FROM classification_runs LIMIT 1"))


def _check_outcome(ruleset: RuleSet, outcome: str) -> str:
    """The outcome's name (it may be given by its label, e.g. 未接通); TaskError if unknown."""
    allowed = declared_outcomes(ruleset)
    spec = ruleset.schema.events[OUTCOME_EVENT].fields[OUTCOME_FIELD]
    named = (spec.accepted_values() or {}).get(outcome)
    if allowed is None or named is not None:
        return named or outcome
    message = _("unknown outcome '{outcome}'; the outcomes are: {outcomes}").format(
        outcome=outcome, outcomes=", ".join(allowed)
    )
    hint = did_you_mean(outcome, allowed)
    raise TaskError(f"{message}; {hint}" if hint else message)


def _mark_done(
    store: Store, task_id: str, outcome: str, note: str | None, now: dt.datetime
) -> Row | None:
    """Close the task in one statement, so two managers closing it at once cannot both win;
    None when it is not open."""
    rows = store.execute(
        "UPDATE tasks SET status = 'done', outcome = :outcome, note = :note, done_at = :now"
        " WHERE (key = :key OR followup_id = :followup_id) AND status = 'open'"
        f" RETURNING {_SELECTED}",
        {
            "outcome": outcome,
            "note": note,
            "now": iso(now),
            "key": task_id,
            "followup_id": _followup_id(task_id),
        },
    )
    return rows[0] if rows else None


def _why_not_open(store: Store, task_id: str, zone: dt.tzinfo) -> str:
    task = find_task(store, task_id)
    if task is None:
        return _("no task '{task}' (give a task key or a follow-up id: guanxi tasks list)").format(
            task=task_id
        )
    return _("task {task} is already done: {outcome} at {at}; an outcome is recorded once").format(
        task=task["key"], outcome=task["outcome"], at=_local(task["done_at"], zone)
    )


def _local(stored: str, zone: dt.tzinfo) -> str:
    """A stored time as `2026-12-07 02:59 (Asia/Shanghai)`."""
    moment = dt.datetime.fromisoformat(stored)
    return f"{local_time(moment, zone)} ({zone})"


def _outcome_event(ruleset: RuleSet, task: Row, now: dt.datetime) -> Row:
    """The `task_outcome` event of a closed task, checked against the schema like any event.
    Its id comes from the task key: one task, one outcome event."""
    record = {
        "id": f"{OUTCOME_EVENT}:{task['key']}",
        "type": OUTCOME_EVENT,
        "customer_id": task["customer_id"],
        "at": now.isoformat(),
        "outcome": task["outcome"],
        "step": task["step_id"],
        "task": task["key"],
        "note": task["note"],
    }
    row, problems = check_event(ruleset, record)
    if problems:
        reasons = "; ".join(f"{name or _('event')}: {reason}" for name, _v, reason in problems)
        raise TaskError(
            _("the outcome of task {task} is not a valid event: {reasons}").format(
                task=task["key"], reasons=reasons
            )
        )
    return row


def _followup_id(task_id: str) -> int | None:
    """A follow-up id when `task_id` is a number; keys (step:customer:occurrence) never are."""
    return int(task_id) if task_id.isdigit() else None
