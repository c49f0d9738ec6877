"""`guanxi plan` (recurring steps for a window) and `guanxi followups list`."""

from __future__ import annotations

import calendar
import datetime as dt
import typing
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import (
    given_moment,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
)
from guanxi.cli.fit import Col, localized, number, text
from guanxi.cli.masking import View, unmask_option, view_masker, viewing
from guanxi.cli.options import ID, rules_option
from guanxi.cli.output import console, output_options, print_csv, print_json, table
from guanxi.cli.shown import beside, csv_row, local_minutes, names, step_labels
from guanxi.engine.dispatch import retry_dead
from guanxi.engine.dispatch.restored import release_restored
from guanxi.engine.errors import GuanxiError, UnknownFollowup
from guanxi.engine.i18n import N_, _, ngettext
from guanxi.engine.i18n.terms import status_word, step_kind_word
from guanxi.engine.plan.followups import Status
from guanxi.engine.plan.listing import FollowupFilter, count_followups, list_followups
from guanxi.engine.plan.recurring import PlanReport, plan_recurring
from guanxi.engine.report.migration import finished_runs
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row

STATUSES = typing.get_args(Status)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("plan")
@click.option(
    "--from",
    "start_text",
    default=None,
    metavar="DATE",
    help="First day of the window (default: today), in the project's time zone.",
)
@click.option(
    "--to",
    "end_text",
    default=None,
    metavar="DATE",
    help="End of the window, not included (default: one month after --from).",
)
@rules_option
@store_option
@now_option
@json_option
def plan_command(
    start_text: str | None,
    end_text: str | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Plan the recurring (`every:`) steps for every occurrence in a window, and print how
    many follow-ups each step got: new, already planned, and what the contact policy did."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    start = _moment(start_text, "--from", ruleset) or _midnight(now, ruleset)
    end = _moment(end_text, "--to", ruleset) or _one_month_later(start)
    opened = opened_store(ruleset, store)
    try:
        report = plan_recurring(opened, ruleset, start, end, now)
        unclassified = not finished_runs(opened)  # no level, so no step finds a customer
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if unclassified:
        click.echo(_("the store has no classification run yet: run 'guanxi classify'"), err=True)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    if as_json:
        print_json({"window": window, **report.to_dict()})
    else:
        _print_plan(report, window, ruleset)


def _moment(text: str | None, option: str, ruleset: RuleSet) -> dt.datetime | None:
    """A date (its midnight) or a time; without an offset, in the project's zone."""
    return None if text is None else given_moment(text, ruleset, option)


def _midnight(now: dt.datetime, ruleset: RuleSet) -> dt.datetime:
    zone = ruleset.calendar.zone
    return dt.datetime.combine(now.astimezone(zone).date(), dt.time(), tzinfo=zone)


def _one_month_later(start: dt.datetime) -> dt.datetime:
    """The same day and time next month (the month's last day when it is shorter)."""
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _outcome_word(label: str) -> str:
    """'held_out (holdout)' with its status in the reader's language; the policy is a name."""
    status, space, policy = label.partition(" ")
    return status_word(status) + space + policy


def _print_plan(report: PlanReport, window: dict[str, str], ruleset: RuleSet) -> None:
    rows = [
        (
            s.step_id,
            s.level,
            ", ".join(s.occurrences) or _("(none in the window)"),
            f"{s.new:,}",
            f"{s.already_planned:,}",
            ", ".join(f"{_outcome_word(label)} {n:,}" for label, n in s.outcomes.items()),
        )
        for s in report.steps
    ]
    out = console()
    title = _("recurring steps from {start} to {end}").format(
        start=window["from"], end=window["to"]
    )
    columns = [
        _("step"),
        _("level"),
        _("occurrences"),
        _("new"),
        _("already planned"),
        _("new follow-ups now"),
    ]
    out.print(table(title, columns, rows))
    for step in (s for s in report.steps if s.missed):
        out.print(
            _(
                "{step}: {count} occurrence(s) due before the latest one not planned"
                " ({first} to {last}): only the latest is sent"
            ).format(
                step=step.step_id,
                count=len(step.missed),
                first=step.missed[0],
                last=step.missed[-1],
            )
        )
    out.print(
        _(
            "{count} new follow-up(s) in batch {batch}; due times in {zone}: guanxi followups list"
        ).format(count=f"{report.new:,}", batch=report.batch, zone=ruleset.settings.timezone)
    )


@click.group()
def followups() -> None:
    """Look at planned follow-ups."""


@followups.command("list")
@click.option("--customer", default=None, metavar="ID", type=ID, help="Only this customer's.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only follow-ups with this status (repeatable).",
)
@click.option("--step", default=None, metavar="ID", help="Only this playbook step's.")
@click.option(
    "--due-before",
    "due_before",
    default=None,
    metavar="ISO",
    help="Only those due before this time; without an offset, in the project's zone.",
)
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Show at most this many, soonest due first.",
)
@rules_option
@store_option
@output_options
@unmask_option
def list_command(
    customer: str | None,
    statuses: tuple[str, ...],
    step: str | None,
    due_before: str | None,
    limit: int,
    rules: Path | None,
    store: str | None,
    output: str,
    unmask: bool,
) -> None:
    """List follow-ups, soonest due first, with due times in the project's time zone, each
    customer's name and each step's label. Personal data is masked unless --unmask is given."""
    ruleset, store = project(rules, store)
    before = _moment(due_before, "--due-before", ruleset)
    chosen = FollowupFilter(customer, statuses, step, before)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        rows, total = list_followups(opened, chosen, limit), count_followups(opened, chosen)
        ids = {row["customer_id"] for row in rows}
        known = names(opened, ruleset, ids)
        filters = {"status": list(statuses), "step": step, "due_before": due_before}
        view = View("followups list --unmask", given_now(None, ruleset), customer, filters)
        masker = view_masker(opened, ruleset, ids, unmask, view)
    finally:
        opened.close()
    with viewing(masker):
        _print_followup_list(rows, total, known, ruleset, output)


def _print_followup_list(
    rows: list[Row], total: int, known: dict[str, str], ruleset: RuleSet, output: str
) -> None:
    if output == "json":
        print_json({"total": total, "followups": rows})
    elif output == "csv":
        labels = step_labels(ruleset)
        print_csv(
            CSV_COLUMNS,
            [csv_row(row, CSV_COLUMNS, CSV_TIMES, (known, labels), ruleset) for row in rows],
        )
    else:
        _print_followups(rows, total, known, ruleset)


@followups.command("retry")
@click.argument("followup_id", metavar="ID", type=int)
@rules_option
@store_option
@now_option
@json_option
def retry_command(
    followup_id: int, rules: Path | None, store: str | None, now_text: str | None, as_json: bool
) -> None:
    """Put a dead-lettered follow-up back in the queue; the next `guanxi run --once` sends it."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        requeued = retry_dead(opened, followup_id, now)
    except UnknownFollowup as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if not requeued:
        raise click.ClickException(
            _("follow-up {followup} is not a dead letter").format(followup=followup_id)
        )
    if as_json:
        print_json({"followup": followup_id, "status": "pending"})
        return
    click.echo(
        _("follow-up {followup} is pending again; the next run sends it").format(
            followup=followup_id
        )
    )


@followups.command("release-restored")
@rules_option
@store_option
@now_option
@json_option
def release_restored_command(
    rules: Path | None, store: str | None, now_text: str | None, as_json: bool
) -> None:
    """Send the follow-ups held when the store was restored from a backup: only once the
    receivers' logs show they did not get them (`guanxi followups list --status suppressed`
    lists them, their reason naming the restore)."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        released = release_restored(opened, now)
    finally:
        opened.close()
    if as_json:
        print_json({"released": released})
        return
    said = ngettext(
        "{count} follow-up held after the restore is pending again; the next run sends it",
        "{count} follow-ups held after the restore are pending again; the next run sends them",
        released,
    )
    click.echo(said.format(count=f"{released:,}"))


# On a narrow terminal the columns with the highest `drop` are left out first.
COLUMNS = [
    Col(N_("due")),
    text(N_("customer")),  # the id, then the name (which may wrap)
    text(N_("step")),  # the id, then the label
    Col(N_("kind"), drop=7),
    Col(N_("channel"), drop=6),
    Col(N_("owner"), drop=5),
    Col(N_("status")),
    text(N_("reason"), drop=3),
    number("id", drop=4),  # what `guanxi followups retry` takes
]
CSV_TIMES = ("due_at", "planned_due_at", "expires_at")
CSV_COLUMNS = [
    "id", "due_at", "customer_id", "customer_name", "step_id", "step_label", "kind", "channel",
    "owner", "status", "policy", "reason", "planned_due_at", "expires_at", "key",
]  # fmt: skip


def _print_followups(rows: list[Row], total: int, known: dict[str, str], ruleset: RuleSet) -> None:
    labels = step_labels(ruleset)
    title = _("follow-ups: {shown} of {total} (due times in {zone})").format(
        shown=f"{len(rows):,}", total=f"{total:,}", zone=ruleset.settings.timezone
    )
    shown = [_shown(row, known, labels, ruleset) for row in rows]
    console().print(table(title, localized(COLUMNS), shown))


def _shown(row: Row, known: dict[str, str], labels: dict[str, str], ruleset: RuleSet) -> list[Any]:
    return [
        local_minutes(row["due_at"], ruleset),
        beside(row["customer_id"], known),
        beside(row["step_id"], labels),
        step_kind_word(row["kind"]),
        row["channel"],
        row["owner"] or "",
        status_word(row["status"]),
        row["reason"] or row["policy"] or "",
        row["id"],
    ]
