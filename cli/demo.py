"""`guanxi demo`: the whole pipeline on reproducible demo customers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from guanxi.cli.classify import distribution_table
from guanxi.cli.common import chosen, given_now, now_option, validated
from guanxi.cli.data import DEMO_CUSTOMERS, DEMO_DIR, demo_dir_option
from guanxi.cli.options import rules_option
from guanxi.cli.output import console, print_json, print_sections, table
from guanxi.engine.demo import DemoReport, run_demo
from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import status_word, step_kind_word
from guanxi.engine.ruleset import RuleSet


@click.command()
@rules_option
@click.option(
    "--customers",
    type=click.IntRange(min=10),
    default=DEMO_CUSTOMERS,
    show_default=True,
    help="How many demo customers to generate.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed for the data.")
@demo_dir_option
@click.option("--out", "out_alias", type=DEMO_DIR, default=None, hidden=True)  # as demo-data
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def demo(
    rules: Path | None,
    customers: int,
    seed: int,
    out: Path,
    out_alias: Path | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Run the whole pipeline on demo customers: load, classify, plan follow-ups."""
    out = out_alias or out
    ruleset = validated(chosen(rules, None).folder, as_json=False)
    _clear_earlier_demo(out)
    report = run_demo(out, ruleset, customers, seed, given_now(now_text, ruleset))
    if as_json:
        print_json(summary(report))
    else:
        show(report, ruleset)


DEMO_FILES = ("customers.csv", "events.jsonl", "guanxi.db", "guanxi.db-wal", "guanxi.db-shm")


def _clear_earlier_demo(out: Path) -> None:
    """A folder holding only an earlier demo's files is reused; anything else is left alone."""
    if not out.exists():
        return
    found = list(out.iterdir())
    if any(p.name not in DEMO_FILES for p in found):
        raise click.ClickException(
            _("{folder} holds other files; choose another folder with --dir").format(folder=out)
        )
    for path in found:
        path.unlink()


def summary(report: DemoReport) -> dict[str, Any]:
    return {
        "folder": str(report.folder),
        "customers": report.customers.counts(),
        "events": report.events.counts(),
        "classification": report.classification.to_dict(),
        "followups": report.followups,
        "busiest_managers": report.workload,
        "example_customer": report.example,
        "experiments": report.experiments.to_dict(),
    }


def show(report: DemoReport, ruleset: RuleSet) -> None:
    out = console()
    store = report.folder / "guanxi.db"
    loaded, events = report.customers, report.events
    out.print(
        f"[bold]{escape(ruleset.settings.name)}[/bold] · "
        + _("rule set {hash} · store {store}").format(hash=ruleset.hash, store=store)
    )
    out.print(
        _(
            "customers: {customers} loaded, {customers_quarantined} quarantined · "
            "events: {events} loaded, {events_quarantined} quarantined"
        ).format(
            customers=f"{loaded.loaded:,}",
            customers_quarantined=loaded.quarantined,
            events=f"{events.loaded:,}",
            events_quarantined=events.quarantined,
        )
    )
    out.print(distribution_table(report.classification, ruleset))
    rows = [
        [
            r["step_id"],
            step_kind_word(r["kind"]),
            r["channel"],
            status_word(r["status"]),
            f"{r['followups']:,}",
        ]
        for r in report.followups
    ]
    out.print(
        table(
            _("follow-ups planned"),
            [_("step"), _("kind"), _("channel"), _("status"), _("count")],
            rows,
        )
    )
    busiest = [[r["owner"] or _("(none)"), r["day"], r["tasks"]] for r in report.workload]
    out.print(
        table(
            _("busiest relationship managers (upcoming tasks per day)"),
            [_("manager"), _("day"), _("tasks")],
            busiest,
        )
    )
    print_sections([report.experiments])
    out.print(
        _(
            "next: guanxi explain {customer} --store {store}   ·   "
            "guanxi followups list --store {store}"
        ).format(customer=report.example or _("<customer id>"), store=store)
    )
