"""The `guanxi` command: thin click commands over the engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.markup import escape

from guanxi.cli.common import RULES_DIR, chosen, folder_or_rules, rules_option, validated
from guanxi.cli.coverage import (
    CoverageRequest,
    coverage_options,
    rules_with_store,
    validate_with_store,
)
from guanxi.cli.failures import GuanxiGroup
from guanxi.cli.output import console, print_json, table
from guanxi.engine.defaults import default_rules_path
from guanxi.engine.ruleset import RuleSet

EXIT_CODES = """\b
Exit codes:
  0  done
  1  an error: bad rules, a bad file, no store, a failed scenario or check
  2  a mistake in the command (an unknown option, a missing argument)
  3  guanxi load: loaded, but some rows were quarantined (guanxi quarantine list)
"""


@click.group(
    cls=GuanxiGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.version_option(package_name="guanxi")
def cli() -> None:
    """guanxi 关系 — rules-based customer-relationship orchestration for banks.

    Every command takes the rule project as --rules DIR (default: the one the store was
    last classified with, else ./rules, else the shipped default rules) and the store as
    --store (default: the rule project's `store:` setting)."""


folder_argument = click.argument("folder", type=RULES_DIR, required=False)


@cli.command()
@folder_argument
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON.")
@coverage_options
def validate(
    folder: Path | None, rules: Path | None, as_json: bool, coverage: CoverageRequest
) -> None:
    """Check a rule project (FOLDER, short for --rules FOLDER) and report every problem with
    its file, line and column; with --store, also how many of the store's customers each rule
    and step catches."""
    where = chosen(folder_or_rules(folder, rules), coverage.store).folder
    if coverage.store is not None:
        return validate_with_store(where, coverage, as_json)
    ruleset = validated(where, as_json)
    if as_json:
        return
    click.echo(f"{where}: valid (rule-set hash {ruleset.hash})", err=True)


@cli.command()
@click.argument("folder", type=RULES_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def init(folder: Path, as_json: bool) -> None:
    """Create a new rule project in FOLDER from the default rules."""
    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(f"{folder} already exists and is not empty")
    shutil.copytree(
        default_rules_path(),
        folder,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"),
    )
    if as_json:
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        print_json({"created": str(folder), "files": files})
        return
    click.echo(
        f"created {folder}: edit its YAML and CSV files, then run 'guanxi validate {folder}'"
    )


@cli.command()
@folder_argument
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@coverage_options
def rules(
    folder: Path | None, rules: Path | None, as_json: bool, coverage: CoverageRequest
) -> None:
    """Show what a rule project contains (FOLDER, short for --rules FOLDER); with --store,
    also how many of the store's customers each rule and step catches."""
    where = chosen(folder_or_rules(folder, rules), coverage.store).folder
    if coverage.store is not None:
        summary = None if as_json else _print_summary
        return rules_with_store(where, coverage, summary)
    ruleset = validated(where, as_json=False)
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
                r.condition.compiled_text if r.condition else "(others)",
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

    from guanxi.cli.quarantine import quarantine

    cli.add_command(quarantine)

    from guanxi.cli.doctor import doctor_command

    cli.add_command(doctor_command)


_register_commands()


def main() -> None:
    cli(prog_name="guanxi")
