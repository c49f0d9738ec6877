"""What several commands share: the rule project they work on and the store they open."""

from __future__ import annotations

import datetime as dt
import sqlite3
import zoneinfo
from pathlib import Path

import click
import psycopg

from guanxi.cli.output import print_diagnostics, print_diagnostics_json
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.diagnostics import nothing_changed
from guanxi.engine.errors import StoreError
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store import Store, open_store

RULES_DIR = click.Path(file_okay=False, path_type=Path)

rules_option = click.option(
    "--rules",
    "rules",
    type=RULES_DIR,
    default=None,
    help="Rule project (default: ./rules if it exists, else the shipped default rules).",
)
STORE_FAILURES = (sqlite3.Error, psycopg.Error)
"""What a store's database raises when it fails underneath (a locked file, a lost server)."""

csv_option = click.option(
    "--csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write one CSV file per table into DIR (UTF-8 with a BOM, so Excel shows 中文).",
)
store_option = click.option(
    "--store",
    "store",
    default=None,
    help="Store to use (default: the rule project's `store:` setting, relative to here).",
)


def validated(folder: Path, as_json: bool) -> RuleSet:
    """The rule project's RuleSet; on errors, print the diagnostics and exit 1."""
    if not folder.is_dir():
        raise click.UsageError(f"'{folder}' is not a folder with a rule project")
    result = validate_project(folder)
    if as_json:
        print_diagnostics_json(result.diagnostics)
    else:
        print_diagnostics(result.diagnostics, result.lines)
    if result.ruleset is None:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        if not as_json:
            click.echo(nothing_changed(folder, errors), err=True)
        raise SystemExit(1)
    return result.ruleset


def rules_folder(folder: Path | None) -> Path:
    """--rules if given, else `rules` in the current folder, else the shipped default rules."""
    if folder is not None:
        return folder
    local = Path("rules")
    return local if local.is_dir() else default_rules_path()


def opened_store(ruleset: RuleSet, location: str | None, migrate: bool = True) -> Store:
    """The store named by --store, else by the rule project; a relative path is taken from the
    current folder (where the command runs), not from the rule project's folder. `migrate`:
    apply pending migrations on opening (every command but `migrate` itself)."""
    where = location or ruleset.settings.store
    try:
        return open_store(where, migrate=migrate)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except STORE_FAILURES as error:
        raise click.ClickException(f"cannot open the store '{where}': {error}") from None


now_option = click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO",
    help="Act as of this time (default: now); without an offset, in the project's zone.",
)


def given_now(text: str | None, ruleset: RuleSet) -> dt.datetime:
    """--now, or the current time: the only place the clock is read."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not an ISO date or time", "--now") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(ruleset.settings.timezone))
    return moment
