"""`guanxi consent record|show`: the consent ledger of one customer (engine/consent.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import click

from guanxi.cli.common import (
    given_moment,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
    store_time,
)
from guanxi.cli.fit import Col, localized, text
from guanxi.cli.options import ID, rules_option
from guanxi.cli.output import console, echo, output_options, print_csv, print_json, table
from guanxi.cli.shown import local_iso, local_minutes
from guanxi.engine import consent
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import N_, _, current_language
from guanxi.engine.ingest.consent_rows import read_named
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row

CSV_COLUMNS = ["id", *consent.COLUMNS, "recorded_at"]
COLUMNS = [
    Col(N_("record")),
    Col(N_("effective")),
    Col(N_("channel")),
    Col(N_("purpose")),
    Col(N_("consent")),
    Col(N_("source")),
    text(N_("evidence"), drop=1),
    Col(N_("recorded"), drop=2),
]


@click.group("consent")
def consent_group() -> None:
    """Record a customer's consent or its withdrawal, with its source and evidence; show
    the customer's consent history and the consent in force."""


@consent_group.command("record")
@click.argument("customer_id", metavar="ID", type=ID)
@click.option(
    "--channel",
    default=consent.ALL,
    show_default=True,
    help="A channel of policies.yaml by name or label (sms, 短信, …), or 'all' (全部) for every"
    " channel.",
)
@click.option(
    "--purpose",
    required=True,
    help="service: may the customer be contacted on the channel at all; marketing: may they"
    " be sent marketing there; all: both (a record for each). Also as 服务, 营销, 全部.",
)
@click.option("--grant/--withdraw", "granted", default=None, help="Consent given, or withdrawn.")
@click.option(
    "--source",
    required=True,
    help="Where the consent was given or withdrawn: branch, app, call, file or event (also as"
    " 网点, 手机银行, 电话, 文件, 事件).",
)
@click.option("--evidence", default=None, help="What proves it: a form number, a recording, …")
@click.option(
    "--at",
    "at_text",
    default=None,
    metavar="ISO",
    help="When it takes effect (default: now); without an offset, in the project's zone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record added as JSON.")
@rules_option
@store_option
@now_option
def record_command(
    customer_id: str,
    channel: str,
    purpose: str,
    granted: bool | None,
    source: str,
    evidence: str | None,
    at_text: str | None,
    as_json: bool,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
) -> None:
    """Add a consent record for customer ID. Records are never changed: the latest one for a
    channel and purpose (or for 'all' channels) is the consent in force, at planning and
    again when a message is sent. For 'all' purposes one record is added for each."""
    if granted is None:
        raise click.UsageError(_("say --grant or --withdraw"))
    ruleset, store = project(rules, store)
    fixed = given_now(now_text, ruleset) if now_text else None  # a bad --now makes no store
    at = given_moment(at_text, ruleset, "--at") if at_text else None
    opened = opened_store(ruleset, store, create=True)
    try:
        now = fixed or store_time(opened)  # a withdrawal is in force at once on every machine
        at = at or now
        channel, purpose, source = (
            read_named(name, written, ruleset.policies)
            for name, written in (("channel", channel), ("purpose", purpose), ("source", source))
        )
        given = consent.Record(customer_id, channel, purpose, granted, source, evidence, iso(at))
        opened.prepare(ruleset.schema)
        consent.refuse_near_id(opened, ruleset.schema.key, customer_id)
        added = consent.record(opened, ruleset.policies, given, now)
        unknown = consent.unknown_customer(opened, ruleset.schema.key, customer_id)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if as_json:
        print_json({"id": added[0], "ids": added, **given.__dict__})
    else:
        word = _("granted") if granted else _("withdrawn")
        for number, stored in zip(added, given.each_purpose(), strict=True):
            echo(
                _("consent record #{id}: {customer} {channel} {purpose} {word}").format(
                    id=number, customer=customer_id, channel=stored.channel,
                    purpose=_word(stored.purpose), word=word,
                )
            )  # fmt: skip
    if unknown:
        message = _(
            "warning: the store has no customer {customer}: the record takes effect when a"
            " customer with this id is loaded, and if the id is mistyped it protects no one;"
            " check it with guanxi explain"
        )
        echo(message.format(customer=customer_id), err=True)


@consent_group.command("show")
@click.argument("customer_id", metavar="ID", type=ID)
@rules_option
@store_option
@output_options
@now_option
def show_command(
    customer_id: str, rules: Path | None, store: str | None, output: str, now_text: str | None
) -> None:
    """Customer ID's consent records, oldest first, then the consent in force for each
    channel and purpose."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    try:
        records = consent.history(opened, customer_id)
        key = ruleset.schema.key
        missing = "" if records else consent.none_recorded(opened, key, customer_id)
    finally:
        opened.close()
    if output == "json":
        in_force = consent.current(records, iso(now)).values()
        print_json({"customer_id": customer_id, "records": records, "current": list(in_force)})
    elif output == "csv":
        print_csv(CSV_COLUMNS, [_csv_row(row, ruleset) for row in records])
    elif missing:
        echo(missing)
    else:
        print_ledger(customer_id, records, ruleset, now)


def print_ledger(customer_id: str, records: list[Row], ruleset: RuleSet, now: dt.datetime) -> None:
    """The customer's consent records, then the one in force at `now` for each channel and
    purpose (`explain` prints them too)."""
    if not records:
        echo(_("no consent records for {customer}: the consent columns decide").format(
            customer=customer_id))  # fmt: skip
        return
    title = _("consent records of {customer} (times in {zone})").format(
        customer=customer_id, zone=ruleset.settings.timezone
    )
    console().print(table(title, localized(COLUMNS), _rows(records, ruleset)))
    in_force = consent.current(records, iso(now))
    title = _("consent in force for {customer}").format(customer=customer_id)
    console().print(table(title, localized(COLUMNS), _rows(in_force.values(), ruleset)))


def _rows(records: Iterable[Row], ruleset: RuleSet) -> list[list[str]]:
    return [
        [
            f"#{row['id']}",
            local_minutes(row["effective_at"], ruleset),
            _("all channels") if row["channel"] == consent.ALL else row["channel"],
            _word(row["purpose"]),
            _("granted") if row["granted"] else _("withdrawn"),
            _word(row["source"]),
            row["evidence"] or "",
            local_minutes(row["recorded_at"], ruleset),
        ]
        for row in records
    ]


def _word(name: str) -> str:
    """A purpose or source as people read it: in Chinese, the label a file may write too."""
    labels = {**consent.PURPOSES, **consent.SOURCES}
    return labels.get(name, name) if current_language() == "zh" else name


def _csv_row(row: Row, ruleset: RuleSet) -> list[object]:
    """Raw values, the times as ISO in the project's zone."""
    times = ("effective_at", "recorded_at")
    return [local_iso(row[c], ruleset) if c in times else row[c] for c in CSV_COLUMNS]
