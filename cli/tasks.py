"""`guanxi tasks list|done`: the relationship managers' task inbox."""

from __future__ import annotations

import datetime as dt
import typing
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from guanxi.cli.common import (
    given_now,
    now_option,
    opened_store,
    project,
    rules_option,
    store_option,
)
from guanxi.cli.events import as_dict
from guanxi.cli.output import console, echo, print_json
from guanxi.engine.errors import GuanxiError
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row
from guanxi.engine.tasks import ClosedTask, Shown, close_task, list_tasks

COLUMNS = ["due", "customer", "task", "status", "key"]


@click.group()
def tasks() -> None:
    """The relationship managers' task inbox: list a manager's tasks, mark one done."""


@tasks.command("list")
@click.option("--rm", "owner", required=True, metavar="ID", help="The relationship manager's id.")
@click.option(
    "--status",
    type=click.Choice(typing.get_args(Shown)),
    default="open",
    show_default=True,
    help="Which tasks: open, done, or all.",
)
@rules_option
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
def list_command(
    owner: str, status: Shown, rules: Path | None, store: str | None, as_json: bool
) -> None:
    """A relationship manager's tasks, soonest due first, with due times in the project's
    time zone; the key in the last column is the ID `guanxi tasks done` takes."""
    ruleset, store = project(rules, store)
    opened = opened_store(ruleset, store)
    try:
        rows = list_tasks(opened, owner, status)
    finally:
        opened.close()
    if as_json:
        print_json({"rm": owner, "status": status, "tasks": rows})
    else:
        which = "in all" if status == "all" else status
        _print_tasks(rows, f"tasks of {owner}: {len(rows):,} {which}", ruleset)


@tasks.command("done")
@click.argument("task_id", metavar="ID")
@click.option(
    "--outcome",
    required=True,
    help="What came of it, one of the outcomes schema.yaml declares for task_outcome events"
    " by name or label (default rules: done, no_answer, complaint, declined,"
    " follow_up_needed; or 已完成, 未接通, …).",
)
@click.option("--note", default=None, help="A note kept with the task and its outcome event.")
@rules_option
@store_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the task and its planning as JSON.")
def done_command(
    task_id: str,
    outcome: str,
    note: str | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Mark a task done with its outcome. ID is the task's key or its follow-up's id. The
    outcome is recorded as a task_outcome event and planned, so playbook steps can react."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        closed = close_task(opened, ruleset, task_id, outcome, now, note=note)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if as_json:
        print_json(
            {"task": closed.task, "event_id": closed.event_id, "planned": as_dict(closed.planned)}
        )
    else:
        _print_closed(closed, ruleset)


def _print_tasks(rows: list[Row], title: str, ruleset: RuleSet) -> None:
    echo(f"{title} (due times in {ruleset.settings.timezone})")
    shown = Table()
    for column in COLUMNS:
        shown.add_column(column, no_wrap=True)
    for row in rows:
        shown.add_row(*[escape(cell) for cell in _cells(row, ruleset)])
    _print_unwrapped(shown)


def _cells(row: Row, ruleset: RuleSet) -> list[str]:
    status = f"done: {row['outcome']}" if row["status"] == "done" else row["status"]
    return [_local(row["due_at"], ruleset), row["customer_id"], row["title"], status, row["key"]]


def _print_unwrapped(shown: Table) -> None:
    """At least as wide as the table, so no title, name or key is cut or wrapped: a manager
    copies the key into `guanxi tasks done`."""
    width = console(width=10_000).measure(shown).maximum
    console(width=max(width, console().width)).print(shown)


def _print_closed(closed: ClosedTask, ruleset: RuleSet) -> None:
    task = closed.task
    echo(f"task {task['key']} done: {task['outcome']}; event {closed.event_id} recorded")
    planned = closed.planned
    click.echo(f"follow-ups planned: {planned.planned:,}; cancelled: {planned.cancelled:,}")
    if planned.no_profile:
        customer = task["customer_id"]
        echo(f"  customer {customer} is not loaded or not classified: no step can react")
    for followup in planned.created:
        due = _local(followup["due_at"], ruleset)
        status = "" if followup["status"] == "pending" else f" ({followup['status']})"
        echo(f"  {followup['step_id']} for {followup['customer_id']}, due {due}{status}")


def _local(moment: str | None, ruleset: RuleSet) -> str:
    if moment is None:
        return ""
    zone = ruleset.calendar.zone
    return dt.datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")
