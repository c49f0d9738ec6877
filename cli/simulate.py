"""`guanxi simulate`: a dry run of the real pipeline over a copy of the store."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from guanxi.cli.common import (
    csv_only,
    csv_option,
    given_now,
    no_store_message,
    project,
    store_option,
    validated,
)
from guanxi.cli.options import RULES_DIR, encoding_option, rules_option
from guanxi.cli.output import print_json, print_sections, write_tables
from guanxi.cli.report import wrote_csv
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate import MAX_DAYS, Request, Simulation, simulate
from guanxi.engine.simulate.simulation import Progress as Report


@click.command("simulate")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="DATE",
    help="The first day simulated, from midnight in the project's time zone (default: tomorrow).",
)
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    default=30,
    show_default=True,
    help="How many days to simulate.",
)
@rules_option
@click.option(
    "--baseline",
    type=RULES_DIR,
    default=None,
    metavar="DIR",
    help="Run this rule project too (the one in use, say) on the same data and events, and "
    "show what the --rules change against it.",
)
@click.option(
    "--events",
    "events_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Events to replay at their timestamps (JSON Lines, CSV or Parquet, as "
    "`guanxi load events` reads them).",
)
@click.option(
    "--synthetic-events",
    is_flag=True,
    help="Draw sales and complaints at the rates of the store's last 180 days of events.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="The seed of --synthetic-events."
)
@click.option(
    "--sample",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="With --baseline: how many affected customers to explain.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "duckdb", "sqlite"]),
    default="auto",
    show_default=True,
    help="Classify each night inside the copy, as the daemon does (sqlite), or on DuckDB over a "
    "snapshot of the copy's customers, which do not change during a simulation (duckdb; "
    "faster from about 10,000 customers, where auto picks it).",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Keep the copies the runs leave in DIR (simulation.db, baseline.db), for "
    "`guanxi report --store DIR/simulation.db`.",
)
@encoding_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@csv_option
@store_option
def simulate_command(
    start: dt.datetime | None,
    days: int,
    rules: Path | None,
    baseline: Path | None,
    events_file: Path | None,
    synthetic_events: bool,
    seed: int,
    sample: int,
    engine: str,
    keep: Path | None,
    encoding: str,
    as_json: bool,
    csv_dir: Path | None,
    store: str | None,
) -> None:
    """Dry run: the real pipeline (nightly classification and the steps tier and level moves
    trigger, event rules, recurring steps, contact policy and capacity, delivery) over a
    copy of the store, on a virtual clock, hour by hour. The store is never written to and
    no channel is called: every follow-up goes to a recording adapter. Shows follow-ups per
    day per channel, each manager's tasks against the capacity, what the contact policy
    suppressed or deferred and why, and customers by tier × level at the start and the end.
    With --baseline, the same run under that rule set and the difference: who gains or
    loses each step, volumes per channel and day, managers' workload, and why, customer by
    customer."""
    csv_only(events_file, encoding)
    ruleset, store = project(rules, store)
    other = validated(baseline, as_json=False) if baseline is not None else None
    first = start.date() if start else _tomorrow(ruleset)
    request = Request(
        first,
        days,
        events=events_file,
        events_encoding=encoding,
        synthetic_seed=seed if synthetic_events else None,
        sample=sample,
        keep=keep,
        engine=engine,
    )
    live = _live(ruleset, store)  # before the progress bar starts
    with _progress(not as_json) as progress:
        try:
            simulation = simulate(live, ruleset, request, other, progress)
        except GuanxiError as error:
            raise click.ClickException(str(error)) from None
    _show(simulation, as_json, csv_dir)
    if keep is not None:
        click.echo(
            _("kept the copies in {folder}: guanxi report --store {folder}/simulation.db").format(
                folder=keep
            ),
            err=True,
        )


def _tomorrow(ruleset: RuleSet) -> dt.date:
    today = given_now(None, ruleset).astimezone(ruleset.calendar.zone).date()
    return today + dt.timedelta(days=1)


def _live(ruleset: RuleSet, location: str | None) -> Path:
    """The live store's file; simulate copies SQLite stores."""
    where = location or ruleset.settings.store
    if "://" in where:
        raise click.ClickException(
            _("simulate copies a SQLite store file, not '{store}'").format(store=where)
        )
    if not Path(where).is_file():
        raise click.ClickException(no_store_message(where))
    return Path(where)


@contextlib.contextmanager
def _progress(shown: bool) -> Iterator[Report | None]:
    """A progress bar per run on standard error (nothing when it is not a terminal)."""
    err = Console(stderr=True)
    if not (shown and err.is_terminal):  # rich would still end a log's lines with a blank one
        yield None
        return
    bar = Progress(
        TextColumn(_("simulating {run}").format(run="{task.description}")),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("hours")),
        console=err,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def advance(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done)

    with bar:
        yield advance


def _show(simulation: Simulation, as_json: bool, csv_dir: Path | None) -> None:
    if as_json:
        print_json(simulation.to_dict())
    if csv_dir is not None:
        written = write_tables(simulation.sections, csv_dir)
        click.echo(wrote_csv(len(written), csv_dir), err=True)
    if not (as_json or csv_dir):
        print_sections(simulation.sections)
