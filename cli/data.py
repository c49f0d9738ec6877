"""Data into the store: `guanxi load customers|events FILE` and `guanxi demo-data`."""

from __future__ import annotations

import datetime as dt
import functools
import shlex
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from guanxi.cli.common import (
    csv_only,
    given_now,
    now_option,
    opened_store,
    project,
    store_failures,
    store_option,
    store_time,
)
from guanxi.cli.events import show as show_planned
from guanxi.cli.failures import said_here
from guanxi.cli.masking import masked_records
from guanxi.cli.options import encoding_option, rules_option
from guanxi.cli.output import console, named_write_errors, print_json, table
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.errors import DataError, TooManyQuarantined
from guanxi.engine.i18n import N_, _
from guanxi.engine.ingest import LoadReport, load_consents, load_customers, load_events
from guanxi.engine.ingest.limit import Loader, QuarantineLimit, load_within
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.privacy.views import quarantine_masker
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.base import shown_location

QUARANTINED_EXIT = 3  # loaded, but some rows were quarantined (documented in --help)
PROGRESS_FROM_BYTES = 5_000_000  # smaller files load in a blink: no bar
PROBLEMS_SHOWN = 10
COUNTS = ("read", "loaded", "warned", "inserted", "updated", "unchanged", "quarantined")
HEADINGS = {
    "read": N_("read"),
    "loaded": N_("loaded"),
    "warned": N_("of them with a warning"),
    "inserted": N_("inserted"),
    "updated": N_("updated"),
    "unchanged": N_("unchanged"),
    "quarantined": N_("not loaded (quarantined)"),
}
LOADED = {
    "customers": N_("customers from {source} into {store}"),
    "events": N_("events from {source} into {store}"),
    "consents": N_("consent records from {source} into {store}"),
}

FILE = click.Path(dir_okay=False, path_type=Path)
DEMO_DIR = click.Path(file_okay=False, path_type=Path)
DEMO_CUSTOMERS = 2000
demo_dir_option = click.option(
    "--dir",
    "out",
    type=DEMO_DIR,
    default=Path("guanxi-demo"),
    show_default=True,
    help="Folder for the demo data (customers.csv, events.jsonl; `guanxi demo` adds its"
    " store, guanxi.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


@click.group()
def load() -> None:
    """Load customers, events or consent records into the store. Bad rows are quarantined
    with their line number and reason, never dropped; loading the same file again changes
    nothing."""


def _limit(ctx: click.Context, param: click.Parameter, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return QuarantineLimit.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


max_quarantine_option = click.option(
    "--max-quarantine",
    "limit",
    default=None,
    metavar="N|P%",
    callback=_limit,
    help="Refuse the whole file (load nothing, exit 1) when more than N rows, or more than"
    " P% of the rows, would be quarantined.",
)


@load.command("customers")
@click.argument("file", type=FILE)
@rules_option
@store_option
@max_quarantine_option
@encoding_option
@json_option
@click.option(
    "--existing",
    is_flag=True,
    help="The file's customers not classified yet are established customers (a branch going"
    " live after the first classification): their first classification is a baseline for them,"
    " on_enter steps plan nothing for them unless they say initial: true.",
)
def customers(
    file: Path,
    rules: Path | None,
    store: str | None,
    limit: QuarantineLimit | None,
    encoding: str,
    as_json: bool,
    existing: bool,
) -> None:
    """Load customers from a CSV (UTF-8, or GB18030 with --encoding), JSONL or Parquet file,
    by key. Exit code 3 when some rows were quarantined (the others are loaded)."""
    loader = functools.partial(load_customers, established=existing)
    _load(Load(loader, file, limit, encoding), rules, store, as_json)


@load.command("events")
@click.argument("file", type=FILE)
@rules_option
@store_option
@max_quarantine_option
@encoding_option
@json_option
@now_option
def events(
    file: Path,
    rules: Path | None,
    store: str | None,
    limit: QuarantineLimit | None,
    encoding: str,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Load events from a JSONL, CSV or Parquet file (known ids are kept), then plan the
    follow-ups the new events trigger. Exit code 3 when some rows were quarantined."""
    loader = functools.partial(load_events, refuse_future=True)
    _load(Load(loader, file, limit, encoding), rules, store, as_json, now_text, plan=True)


@load.command("consents")
@click.argument("file", type=FILE)
@rules_option
@store_option
@max_quarantine_option
@encoding_option
@json_option
def consents(
    file: Path,
    rules: Path | None,
    store: str | None,
    limit: QuarantineLimit | None,
    encoding: str,
    as_json: bool,
) -> None:
    """Add consent records from a CSV (UTF-8 or GB18030), Excel, JSONL or Parquet file to the
    consent ledger: customer_id, channel ('all': every channel), purpose (service, marketing;
    'all': a record for each), granted, source (branch, app, call, file, event), evidence and
    effective_at (both optional). Exit code 3 when some rows were quarantined."""
    _load(Load(load_consents, file, limit, encoding), rules, store, as_json)


@dataclass(frozen=True)
class Load:
    loader: Loader
    file: Path
    limit: QuarantineLimit | None
    encoding: str = "utf-8"


def _load(
    load: Load,
    rules: Path | None,
    location: str | None,
    as_json: bool,
    now_text: str | None = None,
    plan: bool = False,
) -> None:
    csv_only(load.file, load.encoding)
    ruleset, location = project(rules, location)
    if not load.file.exists():  # checked before the store is opened: a typo creates no store
        raise click.ClickException(_("{file}: no such file").format(file=load.file))
    fixed = given_now(now_text, ruleset) if now_text else None  # a bad --now makes no store
    store = opened_store(ruleset, location, create=True)
    where = shown_location(location or ruleset.settings.store)
    try:
        now = fixed or store_time(store)
        report = _masked(_run(load, store, ruleset, now, where, as_json), ruleset)
        planned = plan_new_events(store, ruleset, now) if plan else None
    finally:
        store.close()
    if as_json and planned is None:
        print_json(report.as_dict())
    elif not as_json:
        _print_report(report, where)
    if planned is not None:
        show_planned(planned, ruleset, as_json, **report.as_dict())
    _end(report, where)


def _end(report: LoadReport, where: str) -> None:
    """Exit code 3 when rows were quarantined, so that cron and scripts notice."""
    if report.quarantined:
        click.echo(
            _(
                "{count} row(s) of {source} quarantined, not loaded:"
                " guanxi quarantine list --store {store}"
            ).format(
                count=f"{report.quarantined:,}",
                source=report.source,
                store=shlex.quote(where),  # a PostgreSQL URL's ? and & pasted into a shell
            ),
            err=True,
        )
        raise SystemExit(QUARANTINED_EXIT)


def _run(
    load: Load, store: Store, ruleset: RuleSet, now: dt.datetime, where: str, as_json: bool
) -> LoadReport:
    try:
        with _progress_bar(load.file) as progress:
            return load_within(
                load.loader, load.limit, store, ruleset, load.file, now, progress, load.encoding
            )
    except TooManyQuarantined as error:
        refused = _masked(typing.cast(LoadReport, error.report), ruleset)
        if as_json:
            print_json({"refused": str(error), **refused.as_dict()})
        else:
            _print_report(refused, where)
        raise click.ClickException(str(error)) from None
    except DataError as error:
        raise click.ClickException(str(error)) from None
    except store_failures() as error:
        if said_here(error):
            raise  # said as every command says it (guanxi.cli.failures)
        raise click.ClickException(_("the store failed: {error}").format(error=error)) from None


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
        task = bar.add_task(
            _("loading {file}").format(file=file.name), total=None if rows else file.stat().st_size
        )
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _masked(report: LoadReport, ruleset: RuleSet) -> LoadReport:
    """The report with its problems' personal data masked: a load's output lands in terminals,
    cron mails and logs; `guanxi quarantine list --unmask` shows them whole, audited."""
    problems = masked_records(report.problems, quarantine_masker(ruleset.schema, report.problems))
    return replace(report, problems=problems)


def _print_report(report: LoadReport, store: str) -> None:
    for warning in report.warnings:
        click.echo(
            _("warning: {source}: {warning}").format(source=report.source, warning=warning),
            err=True,
        )
    if report.more_warnings:
        more = _("warning: {source}: {count} more warnings not shown")
        click.echo(more.format(source=report.source, count=f"{report.more_warnings:,}"), err=True)
    out = console()
    counts = report.counts()
    title = _(LOADED[report.kind]).format(source=report.source, store=store)
    headings = [_(HEADINGS[name]) for name in COUNTS]
    out.print(table(title, headings, [[f"{counts[name]:,}" for name in COUNTS]]))
    if report.problems:
        title = _("quarantined {count} row(s); all problems: guanxi quarantine list").format(
            count=f"{report.quarantined:,}"
        )
        rows = [_problem_row(p) for p in report.problems[:PROBLEMS_SHOWN]]
        unit = _("row") if report.source.lower().endswith(".parquet") else _("line")
        out.print(table(title, [unit, _("field"), _("value"), _("reason")], rows))


def _problem_row(problem: dict[str, Any]) -> list[str]:
    value = problem["value"]
    shown = "" if value is None else value if len(value) <= 40 else value[:39] + "…"
    return [str(problem["row_number"]), problem["field"] or "", shown, problem["reason"]]


@click.command("demo-data")
@click.option(
    "--customers",
    "count",
    type=click.IntRange(min=1),
    default=DEMO_CUSTOMERS,
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
@demo_dir_option
@click.option("--out", "out_alias", type=DEMO_DIR, default=None, hidden=True)  # --dir's old name
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day the data ends on, YYYY-MM-DD (default: today).",
)
@click.option("--clean", is_flag=True, help="Write no deliberately bad rows.")
@json_option
def demo_data(
    count: int,
    seed: int,
    out: Path,
    out_alias: Path | None,
    today: dt.datetime | None,
    clean: bool,
    as_json: bool,
) -> None:
    """Write reproducible demo customers and events to load and try rules on.

    The same --customers, --seed and --today give byte-identical files."""
    out = out_alias or out
    day = today.date() if today else dt.date.today()
    with named_write_errors(out, the_failing_file=True):
        summary = write_demo_data(out, count, seed, day, bad_rows=not clean)
    if as_json:
        print_json({"out": str(out), "today": day.isoformat(), "seed": seed, **asdict(summary)})
        return
    click.echo(
        _(
            "wrote {customers} customers ({bad_customers} deliberately bad)"
            " to {customers_file} and {events} events"
            " ({bad_events} deliberately bad) to {events_file}"
        ).format(
            customers=f"{summary.customers:,}",
            bad_customers=summary.bad_customer_rows,
            customers_file=out / "customers.csv",
            events=f"{summary.events:,}",
            bad_events=summary.bad_event_rows,
            events_file=out / "events.jsonl",
        )
    )
    next_step = _("next: guanxi load customers {file}").format(file=out / "customers.csv")
    click.echo(next_step, err=True)
