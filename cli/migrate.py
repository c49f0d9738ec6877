"""`guanxi migrate`: bring the store's tables up to date."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import opened_store, project, store_option
from guanxi.cli.options import rules_option
from guanxi.cli.output import print_json
from guanxi.engine.errors import StoreError
from guanxi.engine.i18n import _
from guanxi.engine.store.base import shown_location


@click.command("migrate")
@rules_option
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print what was applied as JSON.")
def migrate_command(rules: Path | None, store: str | None, as_json: bool) -> None:
    """Apply the store's pending schema migrations, on a SQLite file or a PostgreSQL database
    (`--store postgresql://…`). Every other command applies them too when it opens the store;
    run this to migrate on purpose, before the daemons start."""
    ruleset, store = project(rules, store)
    opened = opened_store(ruleset, store, migrate=False, create=True)
    try:
        applied = opened.migrate()
        where = shown_location(opened.location)
    except StoreError as error:  # a schema not created yet: the message says how
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if as_json:
        print_json({"store": where, "applied": applied})
    elif applied:
        click.echo(
            _("{store}: applied {count} migration(s): {names}").format(
                store=where, count=len(applied), names=", ".join(applied)
            )
        )
    else:
        click.echo(_("{store}: up to date, nothing to apply").format(store=where))
