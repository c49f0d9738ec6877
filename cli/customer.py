"""`guanxi customer export|erase|erasures`: a person's access and erasure requests."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import (
    files_folder,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
)
from guanxi.cli.options import ID, newest_first_limit, rules_option
from guanxi.cli.output import console, echo, json_text, print_json, table, write_file
from guanxi.cli.shown import local
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.privacy.erasure import Receipt, fields_of
from guanxi.engine.privacy.files import written_files
from guanxi.engine.privacy.requests import (
    erase_request,
    export_request,
    receipts,
    refuse_unknown,
)
from guanxi.engine.ruleset import RuleSet

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def customer() -> None:
    """A customer's requests under the personal-information law: everything held about them
    (export), and their erasure."""


@customer.command("export")
@click.argument("customer_id", metavar="ID", type=ID)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the JSON to FILE instead of the screen.",
)
@rules_option
@store_option
@now_option
def export_command(
    customer_id: str,
    output: Path | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
) -> None:
    """Everything the store holds about customer ID, as JSON, for an access request: every
    table's rows that are theirs or mention their phone or e-mail, and who looked at their
    data. Recorded in the audit log."""
    ruleset, location = project(rules, store)
    opened = opened_store(ruleset, location)
    try:
        found = export_request(
            opened, fields_of(ruleset), customer_id, given_now(now_text, ruleset)
        )
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    text = json_text(found)
    if output is None:
        click.echo(text)
        return
    write_file(output, lambda path: path.write_text(text + "\n", "utf-8"))
    rows = sum(len(r) for r in found["tables"].values())
    click.echo(
        _("wrote {rows} row(s) from {tables} table(s) to {file}").format(
            rows=f"{rows:,}", tables=len(found["tables"]), file=output
        ),
        err=True,
    )


@customer.command("erase")
@click.argument("customer_id", metavar="ID", type=ID)
@click.option(
    "--also",
    "also",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    metavar="PATH",
    help="Also erase the customer from these files or folders: kept simulation copies"
    " (simulate --keep), other outbox files (.jsonl), Parquet archives. Repeatable.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@rules_option
@store_option
@now_option
@json_option
def erase_command(
    customer_id: str,
    also: tuple[Path, ...],
    yes: bool,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Erase customer ID at their request, for good: their rows are deleted, the follow-ups,
    decisions, deliveries and tasks kept for the accounts carry a pseudonym instead of the
    id and lose their name, phone and e-mail; the outbox files, retention's archive and the
    files given by --also lose their lines and rows. A later load of the same id is refused
    (quarantined). Prints the erasure receipt; recorded in the audit log."""
    ruleset, location = project(rules, store)
    opened = opened_store(ruleset, location)
    try:
        files = [*written_files(ruleset, files_folder(opened)), *also]
        fields, now = fields_of(ruleset), given_now(now_text, ruleset)
        if not yes:
            refuse_unknown(opened, fields, customer_id, now, files)  # before asking
            question = _("erase customer {id} for good? This cannot be undone").format(
                id=customer_id
            )
            click.confirm(question, abort=True, err=True)
        receipt = erase_request(opened, fields, customer_id, now, files)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if as_json:
        print_json(receipt.to_dict())
    else:
        _print_receipt(receipt, ruleset)


@customer.command("erasures")
@newest_first_limit(50)
@rules_option
@store_option
@json_option
def erasures_command(limit: int, rules: Path | None, store: str | None, as_json: bool) -> None:
    """The erasure receipts, newest first: when, by whom, under which pseudonym, and what was
    removed from each table and file."""
    ruleset, location = project(rules, store)
    opened = opened_store(ruleset, location)
    try:
        found = receipts(opened, limit)
    finally:
        opened.close()
    if as_json:
        print_json({"erasures": found})
        return
    for row in found:
        _print_receipt(Receipt(row["id"], row["at"], row["actor"], row["pseudonym"],
                               row["tables"], row["files"]), ruleset)  # fmt: skip
    if not found:
        click.echo(_("no customer was erased"))


def _print_receipt(receipt: Receipt, ruleset: RuleSet) -> None:
    at = local(receipt.at, ruleset)
    echo(
        _("erasure receipt {number}: {at}, by {actor}; now called {pseudonym}").format(
            number=receipt.number,
            at=at.replace(microsecond=0).isoformat() if at else receipt.at,
            actor=receipt.actor,
            pseudonym=receipt.pseudonym,
        )
    )
    done = ("deleted", "pseudonymised", "scrubbed", "stopped")
    columns = [_("table or file"), _("deleted"), _("pseudonymised"), _("scrubbed"), _("stopped")]
    # sorted: the receipt shows alike when erasing and, read back from the store, in `erasures`
    tables = sorted(receipt.tables.items())
    rows = [[name, *(counts.get(d, 0) for d in done)] for name, counts in tables]
    rows += [[path, removed, 0, 0, 0] for path, removed in sorted(receipt.files.items())]
    console().print(table(_("what was erased"), columns, rows))
