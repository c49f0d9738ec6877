"""`guanxi demo`: the whole pipeline on reproducible demo customers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from guanxi.cli.classify import distribution_table
from guanxi.cli.common import RULES_DIR, given_now, now_option, validated
from guanxi.cli.output import console, print_json, table
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.demo import DemoReport, run_demo
from guanxi.engine.ruleset import RuleSet


@click.command()
@click.option(
    "--rules",
    "folder",
    type=RULES_DIR,
    default=None,
    help="Rule project (default: the shipped default rules).",
)
@click.option(
    "--customers",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="How many demo customers to generate.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed for the data.")
@click.option(
    "--dir",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("guanxi-demo"),
    show_default=True,
    help="Folder for the demo data and its store, guanxi.db.",
)
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def demo(
    folder: Path | None, customers: int, seed: int, out: Path, now_text: str | None, as_json: bool
) -> None:
    """Run the whole pipeline on demo customers: load, classify, plan follow-ups."""
    ruleset = validated(folder or default_rules_path(), as_json=False)
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
        raise click.ClickException(f"{out} holds other files; choose another folder with --dir")
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
    }


def show(report: DemoReport, ruleset: RuleSet) -> None:
    out = console()
    store = report.folder / "guanxi.db"
    loaded, events = report.customers, report.events
    out.print(
        f"[bold]{escape(ruleset.settings.name)}[/bold] · rule set {ruleset.hash} · store {store}"
    )
    out.print(
        f"customers: {loaded.loaded:,} loaded, {loaded.quarantined} quarantined · "
        f"events: {events.loaded:,} loaded, {events.quarantined} quarantined"
    )
    out.print(distribution_table(report.classification, ruleset))
    rows = [
        [r["step_id"], r["kind"], r["channel"], r["status"], f"{r['followups']:,}"]
        for r in report.followups
    ]
    out.print(
        table(
            "follow-ups planned",
            ["step", "kind", "channel", "status", "count"],
            rows,
        )
    )
    busiest = [[r["owner"] or "(none)", r["day"], r["tasks"]] for r in report.workload]
    out.print(
        table(
            "busiest relationship managers (upcoming tasks per day)",
            ["manager", "day", "tasks"],
            busiest,
        )
    )
    out.print(
        f"next: guanxi explain {report.example or '<customer id>'} --store {store}   ·   "
        f"guanxi followups list --store {store}"
    )
