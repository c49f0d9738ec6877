"""`guanxi report`: what CRM is judged by, for business users, from a store."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import (
    csv_option,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
)
from guanxi.cli.masking import unmask_option
from guanxi.cli.options import rules_option
from guanxi.cli.output import echo, print_json, print_sections, write_file, write_tables
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.report import (
    SECTIONS,
    Report,
    ReportRequest,
    build_report,
    render_html,
)
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store


@click.command("report")
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(SECTIONS),
    help="Only this section (repeatable; default: all of them).",
)
@click.option(
    "--from-run",
    type=int,
    default=None,
    metavar="N",
    help="Migration from this run (default: the run before --to-run).",
)
@click.option(
    "--to-run",
    type=int,
    default=None,
    metavar="N",
    help="Migration to this run (default: the latest).",
)
@click.option(
    "--by",
    "pareto_fields",
    multiple=True,
    metavar="FIELD",
    help="Concentration of this numeric customer field (repeatable; default: the deposit "
    "balance and the contribution gold customers are found by).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@csv_option
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write one self-contained page with charts (opens offline).",
)
@now_option
@rules_option
@store_option
@unmask_option
def report_command(
    sections: tuple[str, ...],
    from_run: int | None,
    to_run: int | None,
    pareto_fields: tuple[str, ...],
    as_json: bool,
    csv_dir: Path | None,
    html_file: Path | None,
    now_text: str | None,
    rules: Path | None,
    store: str | None,
    unmask: bool,
) -> None:
    """Reports from the store: customers by tier × level; concentration (the share of
    deposits and contribution the top 1/5/10/20 % hold); migration of tiers and levels
    between two classification runs (default: the last two); satisfaction, loyalty and
    contribution by tier and level; follow-up outcomes by step; relationship-manager
    workload. Also customers by industry, by system and by corporate group (集团), and the
    experiments: each step's goal rate against its holdout or variants, with 95% intervals.
    Tables here, or --json, --csv DIR, --html FILE. The values of fields the schema marks
    personal are masked unless --unmask is given."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    request = ReportRequest(
        sections or SECTIONS, from_run, to_run, pareto_fields, now=now, unmask=unmask
    )
    report = _build(ruleset, store, request)
    if as_json:
        print_json(report.to_dict())
    if csv_dir is not None:
        written = write_tables(report.sections, csv_dir)
        click.echo(wrote_csv(len(written), csv_dir), err=True)
    if html_file is not None:
        page = render_html(report)
        write_file(html_file, lambda path: path.write_text(page, encoding="utf-8"))
        click.echo(_("wrote {file}").format(file=html_file), err=True)
    if not (as_json or csv_dir or html_file):
        echo(_header(report))
        print_sections(report.sections)


def _header(report: Report) -> str:
    """The rule set and the latest classification, its time in the project's zone."""
    header = _("rule set {hash}").format(hash=report.ruleset_hash)
    run = report.latest_run
    if run is None:
        return header
    if run.customers is None:
        latest = _("latest classification: run {run}, {time} ({zone})")
    else:
        latest = _("latest classification: run {run}, {time} ({zone}), {customers} customers")
    shown = latest.format(
        run=run.id,
        time=report.latest_run_at,
        zone=report.timezone,
        customers=f"{run.customers:,}" if run.customers is not None else "",
    )
    return f"{header} · {shown}"


def wrote_csv(count: int, folder: Path) -> str:
    return _("wrote {count} CSV file(s) into {folder}").format(count=count, folder=folder)


def _build(ruleset: RuleSet, location: str | None, request: ReportRequest) -> Report:
    opened = opened_store(ruleset, location)
    try:
        report = build_report(opened, ruleset, request)
        if request.unmask:
            _audited(opened, ruleset, request)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if report.latest_run is None:
        click.echo(_("the store has no classification run yet: run 'guanxi classify'"), err=True)
    return report


def _audited(store: Store, ruleset: RuleSet, request: ReportRequest) -> None:
    """An unmasked report is in the audit log: who, when, which sections."""
    from guanxi.engine.privacy import audit

    at = request.now or given_now(None, ruleset)
    audit.record(store, at, "report --unmask", None, {"sections": list(request.sections)})
