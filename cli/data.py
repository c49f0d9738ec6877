"""Data into the store: `guanxi load customers|events FILE` and `guanxi demo-data`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from guanxi.cli.common import (
    given_now,
    now_option,
    opened_store,
    rules_folder,
    rules_option,
    store_failures,
    store_option,
    validated,
)
from guanxi.cli.events import show as show_planned
from guanxi.cli.output import console, print_json, table
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import LoadReport, load_customers, load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

PROGRESS_FROM_BYTES = 5_000_000  # smaller files load in a blink: no bar
PROBLEMS_SHOWN = 10
COUNTS = ("read", "loaded", "inserted", "updated", "unchanged", "quarantined")
Loader = Callable[..., LoadReport]

FILE = click.Path(dir_okay=False, path_type=Path)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@click.group()
def load() -> None:
    """Load customers or events into the store. Bad rows are quarantined with their line
    number and reason, never dropped; loading the same file again changes nothing."""


@load.command("customers")
@click.argument("file", type=FILE)
@rules_option
@store_option
@json_option
def customers(file: Path, rules: Path | None, store: str | None, as_json: bool) -> None:
    """Load customers from a CSV (UTF-8), JSONL or Parquet file, by key."""
    _load(load_customers, file, rules, store, as_json)


@load.command("events")
@click.argument("file", type=FILE)
@rules_option
@store_option
@json_option
@now_option
def events(
    file: Path, rules: Path | None, store: str | None, as_json: bool, now_text: str | None
) -> None:
    """Load events from a JSONL, CSV or Parquet file (known ids are kept), then plan the
    follow-ups the new events trigger."""
    _load(load_events, file, rules, store, as_json, now_text, plan=True)


def _load(
    loader: Loader,
    file: Path,
    rules: Path | None,
    location: str | None,
    as_json: bool,
    now_text: str | None = None,
    plan: bool = False,
) -> None:
    ruleset = validated(rules_folder(rules), as_json=False)
    if not file.exists():  # checked before the store is opened, so a typo creates no store
        raise click.ClickException(f"{file}: no such file")
    now = given_now(now_text, ruleset)
    store = opened_store(ruleset, location)
    try:
        report = _run(loader, store, ruleset, file, now)
        planned = plan_new_events(store, ruleset, now) if plan else None
    finally:
        store.close()
    if as_json and planned is None:
        print_json(report.as_dict())
    elif not as_json:
        _print_report(report, location or ruleset.settings.store)
    if planned is not None:
        show_planned(planned, ruleset, as_json, **report.as_dict())


def _run(
    loader: Loader, store: Store, ruleset: RuleSet, file: Path, now: dt.datetime
) -> LoadReport:
    try:
        with _progress_bar(file) as progress:
            return loader(store, ruleset, file, now, progress)
    except DataError as error:
        raise click.ClickException(str(error)) from None
    except store_failures() as error:
        raise click.ClickException(f"the store failed: {error}") from None


@contextmanager
def _progress_bar(file: Path) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr, for a large file and a terminal only."""
    err = Console(stderr=True)
    if not err.is_terminal or not file.is_file() or file.stat().st_size < PROGRESS_FROM_BYTES:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    rows = file.suffix.lower() == ".parquet"  # counted in rows, text files in bytes
    unit = () if rows else (DownloadColumn(),)
    with Progress(*columns, *unit, console=err, transient=True) as bar:
        task = bar.add_task(f"loading {file.name}", total=None if rows else file.stat().st_size)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_report(report: LoadReport, store: str) -> None:
    for warning in report.warnings:
        click.echo(f"warning: {report.source}: {warning}", err=True)
    out = console()
    counts = report.counts()
    title = f"{report.kind} from {report.source} into {store}"
    out.print(table(title, list(COUNTS), [[f"{counts[name]:,}" for name in COUNTS]]))
    if report.problems:
        title = (
            f"quarantined {report.quarantined:,} row(s); all problems: {store}, table quarantine"
        )
        rows = [_problem_row(p) for p in report.problems[:PROBLEMS_SHOWN]]
        unit = "row" if report.source.lower().endswith(".parquet") else "line"
        out.print(table(title, [unit, "field", "value", "reason"], rows))


def _problem_row(problem: dict[str, Any]) -> list[str]:
    value = problem["value"]
    shown = "" if value is None else value if len(value) <= 40 else value[:39] + "…"
    return [str(problem["row_number"]), problem["field"] or "", shown, problem["reason"]]


@click.command("demo-data")
@click.option(
    "--customers",
    "count",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="How many customers to write.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed and date give the same files.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write customers.csv and events.jsonl into.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day the data ends on, YYYY-MM-DD (default: today).",
)
@click.option("--clean", is_flag=True, help="Write no deliberately bad rows.")
@json_option
def demo_data(
    count: int, seed: int, out: Path, today: dt.datetime | None, clean: bool, as_json: bool
) -> None:
    """Write reproducible demo customers and events to load and try rules on.

    The same --customers, --seed and --today give byte-identical files."""
    day = today.date() if today else dt.date.today()
    try:
        summary = write_demo_data(out, count, seed, day, bad_rows=not clean)
    except OSError as error:
        raise click.ClickException(f"cannot write to {out}: {error.strerror or error}") from None
    if as_json:
        print_json({"out": str(out), "today": day.isoformat(), "seed": seed, **asdict(summary)})
        return
    click.echo(
        f"wrote {summary.customers:,} customers ({summary.bad_customer_rows} deliberately bad)"
        f" to {out / 'customers.csv'} and {summary.events:,} events"
        f" ({summary.bad_event_rows} deliberately bad) to {out / 'events.jsonl'}"
    )
    click.echo(f"next: guanxi load customers {out / 'customers.csv'}", err=True)
