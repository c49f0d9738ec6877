"""The `guanxi` command: thin click commands over the engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.markup import escape

from guanxi.cli.common import RULES_DIR, validated
from guanxi.cli.failures import GuanxiGroup
from guanxi.cli.lang import lang_option
from guanxi.cli.output import console, print_json, table
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet


@click.group(cls=GuanxiGroup)
@lang_option
@click.version_option(package_name="guanxi")
def cli() -> None:
    """guanxi 关系 — rules-based customer-relationship orchestration for banks."""


@cli.command()
@click.argument("folder", type=RULES_DIR, default="rules", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON.")
def validate(folder: Path, as_json: bool) -> None:
    """Check a rule project and report every problem with its file, line and column."""
    ruleset = validated(folder, as_json)
    if as_json:
        return
    click.echo(f"{folder}: valid (rule-set hash {ruleset.hash})", err=True)


@cli.command()
@click.argument("folder", type=RULES_DIR)
def init(folder: Path) -> None:
    """Create a new rule project in FOLDER from the default rules."""
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
    ruleset = validated(folder or default_rules_path(), as_json=False)
    if as_json:
        print_json(ruleset.summary())
        return
    _print_summary(ruleset)


def _print_summary(ruleset: RuleSet) -> None:
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


def _register_commands() -> None:
    """Command groups that live in their own modules (one module per area of the CLI)."""
    # Each area adds one line here: from guanxi.cli.<module> import <command>; cli.add_command(…)
    from guanxi.cli.data import demo_data, load

    cli.add_command(load)
    cli.add_command(demo_data)

    from guanxi.cli.classify import classify_command, explain_command

    cli.add_command(classify_command)
    cli.add_command(explain_command)

    from guanxi.cli.events import events

    cli.add_command(events)

    from guanxi.cli.demo import demo

    cli.add_command(demo)

    from guanxi.cli.plan import followups, plan_command

    cli.add_command(plan_command)
    cli.add_command(followups)

    from guanxi.cli.run import run_command

    cli.add_command(run_command)

    from guanxi.cli.tasks import tasks

    cli.add_command(tasks)

    from guanxi.cli.report import report_command

    cli.add_command(report_command)

    from guanxi.cli.simulate import simulate_command

    cli.add_command(simulate_command)

    from guanxi.cli.test import test_command

    cli.add_command(test_command)

    from guanxi.cli.migrate import migrate_command

    cli.add_command(migrate_command)


_register_commands()


def main() -> None:
    cli(prog_name="guanxi")
