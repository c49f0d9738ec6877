"""`guanxi quarantine list|show|clear`: the rows loads could not take, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import given_now, opened_store, project, store_option
from guanxi.cli.masking import View, audited_whole, masked_records, unmask_option
from guanxi.cli.options import newest_first_limit, rules_option
from guanxi.cli.output import console, echo, print_json, table, write_file
from guanxi.cli.shown import local_minutes
from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import quarantine_kind_word
from guanxi.engine.ingest.quarantine import (
    QuarantineFilter,
    RowCounts,
    clear_quarantine,
    count_quarantined,
    count_rows,
    list_quarantined,
    quarantined_row,
    status,
    write_quarantine_csv,
)
from guanxi.engine.privacy.views import Masker, quarantine_masker
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.base import Row

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
kind_option = click.option(
    "--kind",
    type=click.Choice(["customers", "events", "consents"]),
    default=None,
    help="Only rows of customers (files and snapshots), of events or of consent records.",
)
source_option = click.option(
    "--source", default=None, metavar="FILE", help="Only rows of this file (its path or name)."
)
customer_option = click.option(
    "--customer",
    default=None,
    metavar="ID",
    help="Only rows of this customer (rows whose customer id itself was good).",
)
VALUE_SHOWN = 40


@click.group()
def quarantine() -> None:
    """The rows `guanxi load` could not take: which file, which line, which field, why."""


@quarantine.command("list")
@kind_option
@source_option
@customer_option
@newest_first_limit(50)
@rules_option
@store_option
@json_option
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write them to FILE as CSV (UTF-8 with a BOM, so Excel shows 中文).",
)
@unmask_option
def list_command(
    kind: str | None,
    source: str | None,
    customer: str | None,
    limit: int,
    rules: Path | None,
    store: str | None,
    as_json: bool,
    csv_file: Path | None,
    unmask: bool,
) -> None:
    """List quarantined rows, newest first; ID (the first column) is what `show` takes.
    STATUS tells a row not loaded from one loaded with a warning (a value left out, an
    address no message can go to). Personal data in values and reasons is masked unless
    --unmask is given."""
    chosen = QuarantineFilter(kind, source, customer)
    ruleset, opened = _opened(rules, store)
    try:
        rows, total = list_quarantined(opened, chosen, limit), count_quarantined(opened, chosen)
        counts = count_rows(opened, chosen)
        filters = {"kind": kind, "source": source, "customer": customer}
        filters["csv"] = csv_file is not None
        view = View("quarantine list --unmask", given_now(None, ruleset), None, filters)
        rows = masked_records(rows, _masker(opened, ruleset, rows, unmask, view))
    finally:
        opened.close()
    if csv_file is not None:
        write_file(csv_file, lambda path: write_quarantine_csv(rows, path))
        click.echo(
            _("wrote {count} row(s) to {file}").format(count=f"{len(rows):,}", file=csv_file),
            err=True,
        )
    if as_json:
        rows_by_status = {"not_loaded": counts.not_loaded, "loaded_with_warning": counts.loaded}
        print_json({"total": total, "rows": rows_by_status, "quarantined": rows})
    elif csv_file is None:
        _print(rows, _title(counts, len(rows), total))


def _title(counts: RowCounts, shown: int, total: int) -> str:
    """The rows not loaded apart from those loaded with a warning, then the records shown."""
    return _(
        "not loaded: {not_loaded} row(s); loaded, with a warning: {loaded} row(s)"
        " ({shown} of {total} records, newest first)"
    ).format(
        not_loaded=f"{counts.not_loaded:,}",
        loaded=f"{counts.loaded:,}",
        shown=f"{shown:,}",
        total=f"{total:,}",
    )


@quarantine.command("show")
@click.argument("record_id", metavar="ID", type=int)
@rules_option
@store_option
@json_option
@unmask_option
def show_command(
    record_id: int, rules: Path | None, store: str | None, as_json: bool, unmask: bool
) -> None:
    """One quarantined row: every problem found in it, with the value as it was read
    (personal data masked unless --unmask is given)."""
    ruleset, opened = _opened(rules, store)
    try:
        rows = quarantined_row(opened, record_id)
        view = View("quarantine show --unmask", given_now(None, ruleset), None, {"id": record_id})
        rows = masked_records(rows, _masker(opened, ruleset, rows, unmask, view)) if rows else rows
    finally:
        opened.close()
    if not rows:
        raise click.ClickException(
            _("no quarantined row {id}: 'guanxi quarantine list' shows their ids").format(
                id=record_id
            )
        )
    if as_json:
        print_json({"quarantined": rows})
        return
    first = rows[0]
    parquet = str(first["source"]).lower().endswith(".parquet")
    where = (
        _("{kind} row {number} of {source} ({at})")
        if parquet
        else _("{kind} line {number} of {source} ({at})")
    )
    kind = first["kind"]  # customers, events or snapshot: what --kind takes
    number, source = first["row_number"], first["source"]
    at = f"{local_minutes(first['at'], ruleset)} {ruleset.settings.timezone}"
    row = where.format(kind=quarantine_kind_word(kind), number=number, source=source, at=at)
    echo(_("{row}: {status}").format(row=row, status=status(first)))
    whole = _("(the row)")
    for row in rows:
        echo(f"  {row['field'] or whole}: {row['reason']}")
        if row["value"] is not None:
            echo("      " + _("value: {value}").format(value=row["value"] or _("(empty)")))


@quarantine.command("clear")
@kind_option
@source_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@rules_option
@store_option
@json_option
def clear_command(
    kind: str | None,
    source: str | None,
    yes: bool,
    rules: Path | None,
    store: str | None,
    as_json: bool,
) -> None:
    """Delete quarantined rows (all, or those --kind and --source choose), once corrected."""
    chosen = QuarantineFilter(kind, source)
    _ruleset, opened = _opened(rules, store)
    try:
        if not yes:
            count = count_quarantined(opened, chosen)
            question = _("delete {count} quarantined row(s)?").format(count=f"{count:,}")
            click.confirm(question, abort=True, err=True)
        cleared = clear_quarantine(opened, chosen)
    finally:
        opened.close()
    if as_json:
        print_json({"cleared": cleared})
    else:
        click.echo(_("cleared {count} quarantined row(s)").format(count=f"{cleared:,}"))


def _opened(rules: Path | None, store: str | None) -> tuple[RuleSet, Store]:
    ruleset, location = project(rules, store)
    return ruleset, opened_store(ruleset, location)


def _masker(store: Store, ruleset: RuleSet, rows: list[Row], unmask: bool, view: View) -> Masker:
    """Masks the records' personal data; --unmask shows it whole, audited first."""
    if unmask:
        return audited_whole(store, view, {"records": len(rows)})
    return quarantine_masker(ruleset.schema, rows)


def _print(rows: list[Row], title: str) -> None:
    columns = [_("id"), _("status"), _("kind"), _("source"), _("line"), _("field"), _("value")]
    columns.append(_("reason"))
    console().print(table(title, columns, [_cells(row) for row in rows]))


def _cells(row: Row) -> list[Any]:
    value = row["value"]
    shown = "" if value is None else value if len(value) <= VALUE_SHOWN else value[:39] + "…"
    return [
        row["id"],
        status(row),
        quarantine_kind_word(row["kind"]),
        row["source"],
        row["row_number"],
        row["field"] or "",
        shown,
        row["reason"],
    ]
