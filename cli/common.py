"""What several commands share: the rule project they work on and the store they open."""

from __future__ import annotations

import datetime as dt
import sqlite3
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from guanxi.cli.failures import said_here
from guanxi.cli.output import print_diagnostics, print_diagnostics_json
from guanxi.engine.clock import StoreClock, SystemClock
from guanxi.engine.diagnostics import Diagnostic, nothing_changed
from guanxi.engine.errors import StoreError
from guanxi.engine.i18n import _
from guanxi.engine.ingest.values import DATE_FORMS, EARLIEST, LATEST, Invalid, time_or_day
from guanxi.engine.language.dates import impossible_day
from guanxi.engine.project import Choice, choose_project
from guanxi.engine.ruleset import RuleSet, Validation, read_settings, validate_project
from guanxi.engine.ruleset.models import Settings

if TYPE_CHECKING:
    from guanxi.engine.store import Store


def store_failures() -> tuple[type[Exception], ...]:
    """What a store's database raises when it fails underneath (a locked file, a lost server);
    psycopg is imported here, not at the top: `guanxi validate` never opens a store."""
    import psycopg

    return (sqlite3.Error, psycopg.Error)


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
    result = validate_project(rule_folder(folder))
    shown_or_exit(folder, result, as_json, failed=result.ruleset is None)
    assert result.ruleset is not None
    return result.ruleset


def rule_folder(folder: Path) -> Path:
    """`folder`, a usage error unless it is a folder."""
    if not folder.is_dir():
        raise click.UsageError(
            _("'{folder}' is not a folder with a rule project").format(folder=folder)
        )
    return folder


def shown_or_exit(folder: Path, result: Validation, as_json: bool, failed: bool) -> None:
    """Print the diagnostics of `result`; when it `failed`, say so and exit 1."""
    if as_json:
        print_diagnostics_json(result.diagnostics)
    else:
        print_diagnostics(result.diagnostics, result.lines)
    if failed:
        errors = sum(1 for d in result.diagnostics if d.severity == "error")
        if not as_json:
            click.echo(nothing_changed(folder, errors), err=True)
        raise SystemExit(1)


def project(rules: Path | None, store: str | None) -> tuple[RuleSet, str | None]:
    """The rule project (--rules, else the store's, else ./rules, else the shipped one; see
    engine/project), validated, and the store to open (None: the project's `store:`). Says
    on stderr which project, when --rules was not given."""
    choice = chosen(rules, store)
    ruleset = validated(choice.folder, as_json=False)
    _say_changed(choice, ruleset)
    return ruleset, store or choice.store


@dataclass(frozen=True)
class Settled:
    """What a command that only reads the store needs of the rule project: its settings,
    the store to open, and the project's first error (None: the project is valid)."""

    settings: Settings
    store: str
    problem: Diagnostic | None


def settled(rules: Path | None, store: str | None) -> Settled:
    """The rule project chosen as `project` does, even when it is broken: its first error
    is then kept, not printed, and the settings are guanxi.yaml's alone. When guanxi.yaml
    itself is broken, its diagnostics and exit 1, unless --store says where to look (the
    default settings are then used)."""
    choice = chosen(rules, store)
    result = validate_project(rule_folder(choice.folder))
    if result.ruleset is not None:
        shown_or_exit(choice.folder, result, False, failed=False)  # its warnings, as `project`
        _say_changed(choice, result.ruleset)
        settings = result.ruleset.settings
        return Settled(settings, store or choice.store or settings.store, None)
    alone = read_settings(choice.folder)
    if alone.settings is None and store is None:
        shown_or_exit(choice.folder, alone, False, failed=True)
    found = alone.settings or Settings()
    problem = next(d for d in result.diagnostics if d.severity == "error")
    return Settled(found, store or choice.store or found.store, problem)


def _say_changed(choice: Choice, ruleset: RuleSet) -> None:
    changed = choice.changed(ruleset.hash)
    if changed:
        click.echo(_("warning: {message}").format(message=changed), err=True)


def chosen(rules: Path | None, store: str | None) -> Choice:
    """The rule project to use, said on stderr when --rules was not given."""
    choice = _chosen(rules, store)
    for line in (choice.problem, choice.note(Path.cwd())):
        if line:
            click.echo(line, err=True)
    return choice


def folder_or_rules(folder: Path | None, rules: Path | None) -> Path | None:
    """FOLDER (the shorthand `guanxi validate rules`) or --rules; a usage error when both
    name different folders."""
    if folder is not None and rules is not None and folder != rules:
        raise click.UsageError(
            _("two rule projects given: '{folder}' and --rules '{rules}'").format(
                folder=folder, rules=rules
            )
        )
    return folder or rules


def _chosen(rules: Path | None, store: str | None) -> Choice:
    try:
        return choose_project(rules, store, Path.cwd())
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except store_failures() as error:
        if said_here(error):
            raise  # in words of its own (guanxi.cli.failures)
        raise click.ClickException(
            _("cannot open the store: {error}").format(error=error)
        ) from None


def opened_store(
    ruleset: RuleSet, location: str | None, migrate: bool = True, create: bool = False
) -> Store:
    """The store named by --store, else by the rule project; a relative path is taken from the
    current folder (where the command runs), not from the rule project's folder. `migrate`:
    apply pending migrations on opening (every command but `migrate` itself). `create`: a
    store that is not there yet is made (load, migrate); for the other commands it is an
    error, so that a mistyped --store creates nothing."""
    return opened_at(location or ruleset.settings.store, migrate, create)


def opened_at(where: str, migrate: bool = True, create: bool = False) -> Store:
    """The store at `where` (see `opened_store`)."""
    from guanxi.engine.store import open_store, store_exists

    try:
        if not create and not store_exists(where):
            raise click.ClickException(no_store_message(where))
        return open_store(where, migrate=migrate)
    except StoreError as error:
        raise click.ClickException(str(error)) from None
    except store_failures() as error:
        if said_here(error):
            raise  # in words of its own (guanxi.cli.failures)
        why = _no_file_there(where) if _cannot_open(error) else str(error)
        raise click.ClickException(
            _("cannot open the store '{store}': {error}").format(store=where, error=why)
        ) from None


def _cannot_open(error: Exception) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_CANTOPEN


def _no_file_there(where: str) -> str:
    """Why SQLite could not open or make its file: SQLite only says 'unable to open'."""
    folder = Path(where).parent
    if not folder.is_dir():
        return _("there is no folder '{folder}'; make it first, or check --store").format(
            folder=folder
        )
    return _("the folder '{folder}' may not be written by this user").format(folder=folder)


def files_folder(store: Store) -> Path:
    """Where adapters (and retention's archive) write their files by default: next to a
    SQLite store, else the current folder."""
    from guanxi.engine.store.sqlite import SQLiteStore

    return store.path.parent if isinstance(store, SQLiteStore) else Path.cwd()


def no_store_message(where: str) -> str:
    from guanxi.engine.store.base import shown_location

    return _(
        "no store at '{store}' — create one with 'guanxi load customers FILE'"
        " (or 'guanxi demo'), or check --store"
    ).format(store=shown_location(where))


now_option = click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO",
    help="Act as of this time (default: now); without an offset, in the project's zone.",
)


def given_now(text: str | None, ruleset: RuleSet) -> dt.datetime:
    """--now, or the current time."""
    return given_now_in(text, ruleset.settings.timezone)


def given_now_in(text: str | None, timezone: str) -> dt.datetime:
    """--now (without an offset, in `timezone`), or the current time: the only place the
    clock is read."""
    if text is None:
        return SystemClock().now()
    return moment_in(text, timezone, "--now")


def store_now(text: str | None, ruleset: RuleSet, store: Store) -> dt.datetime:
    """--now, or the store's time (see StoreClock): for what other machines sharing the
    store act on, as when a consent record takes effect."""
    return store_now_in(text, ruleset.settings.timezone, store)


def store_now_in(text: str | None, timezone: str, store: Store) -> dt.datetime:
    """--now (without an offset, in `timezone`), or the store's time."""
    return given_now_in(text, timezone) if text else store_time(store)


def store_time(store: Store) -> dt.datetime:
    """The time of the store's server (see StoreClock)."""
    return StoreClock(store.server_time).now()


def given_moment(text: str, ruleset: RuleSet, option: str) -> dt.datetime:
    """An option's date or time, in any form a data file may write it (2026/12/1,
    2026年12月7日); without an offset, in the project's zone."""
    return moment_in(text, ruleset.settings.timezone, option)


def moment_in(text: str, timezone: str, option: str) -> dt.datetime:
    """An option's date or time (see `given_moment`); without an offset, in `timezone`."""
    try:
        moment = time_or_day(text.strip())
    except Invalid:
        raise click.BadParameter(_not_a_moment(text), param_hint=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    if not EARLIEST <= moment.date() <= LATEST:  # year 1 or 9999 in UTC would overflow
        raise click.BadParameter(
            _(
                "{value} is not a plausible date: dates from {earliest} to {latest}"
                " are accepted (is the year mistyped?)"
            ).format(value=f"'{text}'", earliest=EARLIEST, latest=LATEST),
            param_hint=option,
        )
    return moment


def _not_a_moment(text: str) -> str:
    """Why `text` is no date or time: the day its calendar lacks, or the forms to write."""
    impossible = impossible_day(text)
    if impossible is not None:
        return _("'{text}' is not a date: {why}").format(text=text, why=impossible)
    message = _("'{text}' is not a date or time: write the date {forms}, then the time if any")
    return message.format(text=text, forms=_(DATE_FORMS))


def csv_only(file: Path | None, encoding: str) -> None:
    """A usage error when a file other than CSV is to be read in an encoding but UTF-8."""
    if file is not None and encoding != "utf-8" and file.suffix.lower() != ".csv":
        raise click.UsageError(
            _(
                "--encoding {encoding} is for CSV files: {file} is not one (JSON Lines are UTF-8"
                " by the JSON standard; Parquet and Excel files say their own encoding)"
            ).format(encoding=encoding, file=file)
        )
