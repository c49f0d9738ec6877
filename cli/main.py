"""The `guanxi` command: thin click commands over the engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from guanxi.cli.failures import GuanxiGroup
from guanxi.cli.lazy import Lazy

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet

RULES_DIR = click.Path(file_okay=False, path_type=Path)

# Command groups that live in their own modules (one module per area of the CLI), imported
# when first used: name -> Lazy("module:command", the one line `guanxi --help` shows).
COMMANDS = {
    "load": Lazy("guanxi.cli.data:load", "Load customers or events into the store."),
    "demo-data": Lazy(
        "guanxi.cli.data:demo_data",
        "Write reproducible demo customers and events to load and try rules on.",
    ),
    "classify": Lazy(
        "guanxi.cli.classify:classify_command",
        "Sort every customer into a tier, a relationship level and a strategy; print the tier"
        " × level table and how many customers moved; plan the follow-ups their moves trigger"
        " (on_enter / on_leave steps).",
    ),
    "explain": Lazy(
        "guanxi.cli.classify:explain_command",
        "Explain one customer's tier, level and strategy: every rule tried, the facts that"
        " failed it, and the file and line of each rule; then the customer's follow-ups"
        " (newest first) with every contact-policy decision about them, and their recent"
        " events.",
    ),
    "events": Lazy(
        "guanxi.cli.events:events", "Post one event, or plan the follow-ups of loaded events."
    ),
    "demo": Lazy(
        "guanxi.cli.demo:demo",
        "Run the whole pipeline on demo customers: load, classify, plan follow-ups.",
    ),
    "plan": Lazy(
        "guanxi.cli.plan:plan_command",
        "Plan the recurring (`every:`) steps for every occurrence in a window, and print how"
        " many follow-ups each step got: new, already planned, and what the contact policy"
        " did.",
    ),
    "followups": Lazy("guanxi.cli.plan:followups", "Look at planned follow-ups."),
    "run": Lazy(
        "guanxi.cli.run:run_command",
        "Deliver follow-ups as they fall due: plan new events every tick, each recurring step"
        " on its schedule, re-classify nightly, and hand what is due to the adapters that"
        " guanxi.yaml's `delivery:` names (an outbox file by default).",
    ),
    "tasks": Lazy(
        "guanxi.cli.tasks:tasks",
        "The relationship managers' task inbox: list a manager's tasks, mark one done.",
    ),
    "report": Lazy(
        "guanxi.cli.report:report_command",
        "Reports from the store: customers by tier × level; concentration (the share of"
        " deposits and contribution the top 1/5/10/20 % hold); migration of tiers and levels"
        " between two classification runs (default: the last two); satisfaction, loyalty and"
        " contribution by tier and level; follow-up outcomes by step; relationship-manager"
        " workload.",
    ),
    "simulate": Lazy(
        "guanxi.cli.simulate:simulate_command",
        "Dry run: the real pipeline (nightly classification and the steps tier and level moves"
        " trigger, event rules, recurring steps, contact policy and capacity, delivery) over a"
        " copy of the store, on a virtual clock, hour by hour.",
    ),
    "test": Lazy(
        "guanxi.cli.test:test_command",
        "Run the scenario tests in FOLDER/tests/*.yaml through the real pipeline, each on a"
        " throw-away store, and print pass or fail for each with what differed; exit 1 if any"
        " fails.",
    ),
    "migrate": Lazy(
        "guanxi.cli.migrate:migrate_command",
        "Apply the store's pending schema migrations, on a SQLite file or a PostgreSQL database"
        " (`--store postgresql://…`).",
    ),
}


@click.group(cls=GuanxiGroup, lazy=COMMANDS)
@click.version_option(package_name="guanxi")
def cli() -> None:
    """guanxi 关系 — rules-based customer-relationship orchestration for banks."""


@cli.command()
@click.argument("folder", type=RULES_DIR, default="rules", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON.")
def validate(folder: Path, as_json: bool) -> None:
    """Check a rule project and report every problem with its file, line and column."""
    from guanxi.cli.common import validated

    ruleset = validated(folder, as_json)
    if as_json:
        return
    click.echo(f"{folder}: valid (rule-set hash {ruleset.hash})", err=True)


@cli.command()
@click.argument("folder", type=RULES_DIR)
def init(folder: Path) -> None:
    """Create a new rule project in FOLDER from the default rules."""
    from guanxi.engine.defaults import default_rules_path

    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} already exists and is not empty")
    shutil.copytree(
        default_rules_path(),
        folder,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"),
    )
    click.echo(
        f"created {folder}: edit its YAML and CSV files, then run 'guanxi validate {folder}'"
    )


@cli.command()
@click.argument("folder", type=RULES_DIR, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def rules(folder: Path | None, as_json: bool) -> None:
    """Show what a rule project contains (default: the shipped default rules)."""
    from guanxi.cli.common import validated
    from guanxi.cli.output import print_json
    from guanxi.engine.defaults import default_rules_path

    ruleset = validated(folder or default_rules_path(), as_json=False)
    if as_json:
        print_json(ruleset.summary())
        return
    _print_summary(ruleset)


def _print_summary(ruleset: RuleSet) -> None:
    from rich.markup import escape

    from guanxi.cli.output import console, table

    out = console()
    out.print(
        f"[bold]{escape(ruleset.settings.name)}[/bold]  rule-set {ruleset.hash}  "
        f"({ruleset.settings.timezone}, calendar {ruleset.settings.calendar})"
    )
    for ladder in (ruleset.tiers, ruleset.levels, ruleset.strategies):
        if ladder is None:
            continue
        rows = [
            (
                r.name,
                r.label,
                r.label_en or "",
                r.condition.text if r.condition else "(others)",
                f"{Path(r.origin.file).name}:{r.origin.line}",
            )
            for r in ladder.rules
        ]
        title = f"{ladder.kind}s (hit policy: {ladder.hit_policy})"
        out.print(table(title, ["name", "标签", "label", "when", "rule"], rows))
    steps = [
        (s.level, s.id, _trigger(s), s.step.do, s.step.channel, s.step.template, s.step.priority)
        for s in ruleset.steps
    ]
    out.print(
        table(
            "playbook steps",
            ["level", "step", "trigger", "do", "channel", "template", "priority"],
            steps,
        )
    )


def _trigger(step: object) -> str:
    s = getattr(step, "step")  # noqa: B009 - CompiledStep.step, the rule file's step
    timing = f" +{s.after}" if s.after else ""
    for key in ("on", "every", "on_enter", "on_leave"):
        if getattr(s, key):
            return f"{key}: {getattr(s, key)}{timing}"
    return "?"


def main() -> None:
    cli(prog_name="guanxi")
