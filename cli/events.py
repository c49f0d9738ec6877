"""`guanxi events post|plan`: events become follow-ups."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import given_now, now_option, opened_store, project, store_now, store_option
from guanxi.cli.options import ID, rules_option
from guanxi.cli.output import console, print_json, table
from guanxi.engine import consent
from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import status_word, step_kind_word
from guanxi.engine.ingest import check_event
from guanxi.engine.ingest.future_events import refusing_future
from guanxi.engine.ingest.reused import stored_differences
from guanxi.engine.ingest.values import quoted, shown
from guanxi.engine.plan.events import EventPlanReport, plan_new_events
from guanxi.engine.privacy.erasure import erased_on
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.base import Row

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def events() -> None:
    """Post one event, or plan the follow-ups of loaded events."""


@events.command("post")
@click.argument("event_type", metavar="TYPE")
@click.option("--customer", "customer_id", required=True, type=ID, help="The customer's id.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="NAME=VALUE",
    help="A field of the event, e.g. --field product=理财 (repeatable).",
)
@click.option("--id", "event_id", default=None, help="Event id (default: a new unique id).")
@click.option("--at", "at", default=None, metavar="ISO", help="When it happened (default: now).")
@rules_option
@store_option
@now_option
@json_option
def post(
    event_type: str,
    customer_id: str,
    fields: tuple[str, ...],
    event_id: str | None,
    at: str | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Record one event and plan the follow-ups it triggers."""
    ruleset, store = project(rules, store)
    opened = opened_store(ruleset, store)
    try:
        now = store_now(now_text, ruleset, opened)  # a withdrawal is in force on every machine
        record = {
            "id": event_id or f"post-{uuid.uuid4().hex[:16]}",
            "type": event_type,
            "customer_id": customer_id,
            "at": at or now.isoformat(),
            **_pairs(fields),
        }
        row = _checked(ruleset, record, now)
        refuse_erased(opened, customer_id)
        opened.prepare(ruleset.schema)
        refuse_reused(opened, row, at_given=at is not None)
        with opened.transaction():  # a withdrawal counts once stored (consent.record_events)
            inserted = opened.insert_events([{**row, "loaded_at": now.isoformat()}])["inserted"]
            consent.record_events(opened, [row], ruleset.policies, now)
        report = plan_new_events(opened, ruleset, now)
    finally:
        opened.close()
    if not inserted:
        click.echo(
            _("event {event} was already recorded; nothing new planned").format(event=record["id"]),
            err=True,
        )
    show(report, ruleset, as_json)


def _checked(ruleset: RuleSet, record: Row, now: dt.datetime) -> Row:
    """The event as stored; ClickException naming each problem (a date after `now` is one)."""
    check = refusing_future(functools.partial(check_event, ruleset), now, ruleset.calendar.zone)
    row, problems = check(record)
    if problems:
        event = _("event")
        reasons = "; ".join(f"{f or event}: {reason}" for f, _value, reason in problems)
        raise click.ClickException(
            _("the event was not recorded: {reasons}").format(reasons=reasons)
        )
    return row


def refuse_erased(store: Store, customer_id: str) -> None:
    """An erased customer's event is not recorded (a load quarantines it)."""
    erased = erased_on(store, customer_id)
    if erased is not None:
        message = _(
            "the event was not recorded: the customer was erased on {date} (receipt {receipt})"
            " at their request"
        )
        raise click.ClickException(message.format(date=erased.date, receipt=erased.receipt))


def refuse_reused(store: Store, row: Row, at_given: bool) -> None:
    """An event id names one event: given again with other content, the event is refused,
    as a load quarantines it. Without --at its time is the time of posting, which differs
    on every retry, so it is no difference then."""
    differing = [d for d in stored_differences(store, row) if at_given or d[0] != "at"]
    if not differing:
        return
    fields = ", ".join(
        _("{field} ({stored}, given {given})").format(
            field=name, stored=_shown(stored), given=_shown(given)
        )
        for name, stored, given in differing
    )
    message = _(
        "the event was not recorded: event id {id} is already stored with another {fields}:"
        " an event id names one event and a stored event is never changed; give this event"
        " an id of its own (--id)"
    )
    raise click.ClickException(message.format(id=quoted(row["id"]), fields=fields))


def _shown(value: Any) -> str:
    return _("no value") if value is None else shown(value)


@events.command("plan")
@rules_option
@store_option
@now_option
@json_option
def plan(rules: Path | None, store: str | None, now_text: str | None, as_json: bool) -> None:
    """Plan the follow-ups of every loaded event not planned yet."""
    ruleset, store = project(rules, store)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        report = plan_new_events(opened, ruleset, given_now(now_text, ruleset))
    finally:
        opened.close()
    show(report, ruleset, as_json)


# The event's own fields, each given by its option: a `--field customer_id=…` would record
# the event for another customer than --customer names, past the check for erased customers.
ENVELOPE_OPTIONS = {"id": "--id", "type": "TYPE", "customer_id": "--customer", "at": "--at"}


def _pairs(fields: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for text in fields:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(
                _("'{text}' is not NAME=VALUE").format(text=text), param_hint="--field"
            )
        if name.strip() in ENVELOPE_OPTIONS:
            option = ENVELOPE_OPTIONS[name.strip()]
            message = _("'{name}' is not given with --field; give it with {option}")
            raise click.BadParameter(
                message.format(name=name.strip(), option=option), param_hint="--field"
            )
        if pairs.get(name.strip(), value) != value:
            message = _("'{name}' is given twice ({first}, then {second}); give it once")
            raise click.BadParameter(
                message.format(name=name.strip(), first=pairs[name.strip()], second=value),
                param_hint="--field",
            )
        pairs[name.strip()] = value
    return pairs


def show(report: EventPlanReport, ruleset: RuleSet, as_json: bool, **extra: Any) -> None:
    """The counts, then the first follow-ups created, with due times in the project zone."""
    if as_json:
        print_json({**extra, "planned": as_dict(report)} if extra else as_dict(report))
        return
    out = console()
    counts = [
        report.events,
        report.matched,
        report.planned,
        report.cancelled,
        report.no_profile,
        report.too_old,
        report.failed,
    ]
    out.print(
        table(
            _("events planned"),
            [
                _("events"),
                _("triggered a step"),
                _("follow-ups planned"),
                _("cancelled"),
                _("customer unknown or unclassified"),
                _("too old to act on"),
                _("could not be planned"),
            ],
            [[f"{n:,}" for n in counts]],
        )
    )
    if report.waiting:
        out.print(
            _(
                "{count} events wait for their customer's first classification: they are"
                " planned at the first planning after it. `guanxi explain CUSTOMER` shows them."
            ).format(count=f"{report.waiting:,}"),
            markup=False,
            highlight=False,
        )
    if report.too_old:
        out.print(
            _(
                "{count} events came after the window of a step they trigger had closed"
                " (the step's expires:, or the default in policies.yaml): they are kept for"
                " history and reports, and nothing is planned for those steps."
                " `guanxi explain CUSTOMER` shows which."
            ).format(count=f"{report.too_old:,}"),
            markup=False,
            highlight=False,
        )
    if report.failures:
        out.print(
            table(
                _("events that could not be planned (not tried again)"),
                [_("event"), _("reason")],
                [[f["id"], f["reason"]] for f in report.failures],
            )
        )
    if report.created:
        out.print(
            table(
                _("follow-ups created"),
                [
                    _("due"),
                    _("customer"),
                    _("step"),
                    _("kind"),
                    _("channel"),
                    _("owner"),
                    _("status"),
                    _("reason"),
                ],
                [_row(f, ruleset) for f in report.created],
            )
        )


def _row(followup: dict[str, Any], ruleset: RuleSet) -> list[str]:
    import datetime as dt

    due = dt.datetime.fromisoformat(followup["due_at"]).astimezone(ruleset.calendar.zone)
    return [
        due.strftime("%Y-%m-%d %H:%M"),
        followup["customer_id"],
        followup["step_id"],
        step_kind_word(followup["kind"]),
        followup["channel"],
        followup["owner"] or "",
        status_word(followup["status"]),
        followup["reason"] or "",
    ]


def as_dict(report: EventPlanReport) -> dict[str, Any]:
    policy = [vars(p) for p in report.policy]
    data = {k: v for k, v in vars(report).items() if k != "policy"}
    return json.loads(json.dumps({**data, "policy": policy}, default=str))
