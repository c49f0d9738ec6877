"""`guanxi tasks list|done`: the relationship managers' task inbox."""

from __future__ import annotations

import typing
from pathlib import Path

import click

from guanxi.cli.common import given_now, now_option, opened_store, project, store_option
from guanxi.cli.events import as_dict
from guanxi.cli.fit import Col, localized, text
from guanxi.cli.masking import View, unmask_option, view_masker, viewing
from guanxi.cli.options import ID, rules_option
from guanxi.cli.output import console, echo, output_options, print_csv, print_json, table
from guanxi.cli.shown import beside, csv_row, local_minutes, names, step_labels
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import N_, _
from guanxi.engine.i18n.terms import status_word
from guanxi.engine.plan.events import WAITS_AT_MOST
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row
from guanxi.engine.tasks import ClosedTask, Shown, close_task, list_tasks

WHICH = {"all": N_("in all"), "open": N_("open"), "done": N_("done")}


def columns(status: Shown) -> list[Col]:
    """On a narrow terminal the columns with the highest `drop` are left out first; the
    status only when every task listed has the same."""
    return localized(
        [
            Col(N_("due")),
            text(N_("customer")),  # the id, then the name (which may wrap)
            text(N_("step"), drop=5),
            text(N_("task"), drop=1),
            Col(N_("status"), drop=4 if status == "open" else 0),
            Col(N_("key")),
        ]
    )


CSV_TIMES = ("due_at", "created_at", "done_at")
CSV_COLUMNS = [
    "key", "due_at", "customer_id", "customer_name", "step_id", "step_label", "title", "body",
    "status", "outcome", "note", "owner", "created_at", "done_at", "followup_id",
]  # fmt: skip


@click.group()
def tasks() -> None:
    """The relationship managers' task inbox: list a manager's tasks, mark one done."""


@tasks.command("list")
@click.option(
    "--rm", "owner", required=True, metavar="ID", type=ID, help="The relationship manager's id."
)
@click.option(
    "--status",
    type=click.Choice(typing.get_args(Shown)),
    default="open",
    show_default=True,
    help="Which tasks: open, done, or all.",
)
@rules_option
@store_option
@output_options
@unmask_option
def list_command(
    owner: str, status: Shown, rules: Path | None, store: str | None, output: str, unmask: bool
) -> None:
    """A relationship manager's tasks, soonest due first, with due times in the project's
    time zone, each customer's name and each step's label; the key in the last column is the
    ID `guanxi tasks done` takes. Personal data is masked unless --unmask is given."""
    ruleset, store = project(rules, store)
    opened = opened_store(ruleset, store)
    try:
        rows = list_tasks(opened, owner, status)
        ids = {row["customer_id"] for row in rows}
        known = names(opened, ruleset, ids)
        filters = {"rm": owner, "status": status}
        view = View("tasks list --unmask", given_now(None, ruleset), None, filters)
        masker = view_masker(opened, ruleset, ids, unmask, view)
    finally:
        opened.close()
    with viewing(masker):
        _print_task_list(rows, known, owner, status, output, ruleset)


def _print_task_list(
    rows: list[Row], known: dict[str, str], owner: str, status: Shown, output: str, ruleset: RuleSet
) -> None:
    if output == "json":
        print_json({"rm": owner, "status": status, "tasks": rows})
    elif output == "csv":
        labels = step_labels(ruleset)
        print_csv(
            CSV_COLUMNS,
            [csv_row(row, CSV_COLUMNS, CSV_TIMES, (known, labels), ruleset) for row in rows],
        )
    else:
        which = _(WHICH[status]) if status in WHICH else status
        title = _("tasks of {owner}: {count} {which}").format(
            owner=owner, count=f"{len(rows):,}", which=which
        )
        _print_tasks(rows, known, title, columns(status), ruleset)


@tasks.command("done")
@click.argument("task_id", metavar="ID", type=ID)
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


def _print_tasks(
    rows: list[Row], known: dict[str, str], title: str, shown_columns: list[Col], ruleset: RuleSet
) -> None:
    """The key is never cut or wrapped: a manager copies it into `guanxi tasks done`."""
    labels = step_labels(ruleset)
    shown = [
        [
            local_minutes(row["due_at"], ruleset),
            beside(row["customer_id"], known),
            labels.get(row["step_id"]) or row["step_id"],
            row["title"],
            _("done: {outcome}").format(outcome=row["outcome"])
            if row["status"] == "done"
            else status_word(row["status"]),
            row["key"],
        ]
        for row in rows
    ]
    title = _("{title} (due times in {zone})").format(title=title, zone=ruleset.settings.timezone)
    console().print(table(title, shown_columns, shown))


def _print_closed(closed: ClosedTask, ruleset: RuleSet) -> None:
    task = closed.task
    echo(
        _("task {task} done: {outcome}; event {event} recorded").format(
            task=task["key"], outcome=task["outcome"], event=closed.event_id
        )
    )
    planned = closed.planned
    click.echo(
        _("follow-ups planned: {planned}; cancelled: {cancelled}").format(
            planned=f"{planned.planned:,}", cancelled=f"{planned.cancelled:,}"
        )
    )
    customer = task["customer_id"]
    if planned.waiting:
        echo("  " + _waiting_line(customer, closed.classified_before))
    if planned.no_profile:
        echo(
            "  "
            + _("customer {customer} is not loaded or not classified: no step can react").format(
                customer=customer
            )
        )
    for followup in planned.created:
        due = local_minutes(followup["due_at"], ruleset)
        status = "" if followup["status"] == "pending" else f" ({status_word(followup['status'])})"
        line = _("{step} for {customer}, due {due}").format(
            step=followup["step_id"], customer=followup["customer_id"], due=due
        )
        echo(f"  {line}{status}")


def _waiting_line(customer: str, classified_before: bool) -> str:
    """Before the store's first classification an outcome waits for that run, however long."""
    if not classified_before:
        return _(
            "customer {customer} is not classified yet, and neither is anyone in this store:"
            " the outcome waits for the store's first classification (guanxi classify) and is"
            " planned at the first planning after it"
        ).format(customer=customer)
    return _(
        "customer {customer} is not classified yet: the outcome waits for their first"
        " classification (at most {days} days) and is planned at the first planning"
        " after it"
    ).format(customer=customer, days=WAITS_AT_MOST.days)
