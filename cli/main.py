"""The `guanxi` command: thin click commands over the engine."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from guanxi.cli.coverage_options import CoverageRequest, coverage_options
from guanxi.cli.failures import GuanxiGroup
from guanxi.cli.lang import lang_option
from guanxi.cli.lazy import Lazy
from guanxi.cli.options import RULES_DIR, rules_option
from guanxi.engine.i18n import N_, _

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet
    from guanxi.engine.ruleset.ruleset import CompiledRule

# Command groups that live in their own modules (one module per area of the CLI), imported
# when first used: name -> Lazy("module:command", the one line `guanxi --help` shows).
COMMANDS = {
    "load": Lazy(
        "guanxi.cli.data:load", "Load customers, events or consent records into the store."
    ),
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
    "consent": Lazy(
        "guanxi.cli.consent:consent_group",
        "Record a customer's consent or its withdrawal, with its source and evidence; show"
        " the customer's consent history and the consent in force.",
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
    "shadow": Lazy(
        "guanxi.cli.shadow:shadow",
        "Shadow runs: a candidate rule project (`shadow: DIR` in guanxi.yaml) that the daemon"
        " runs beside the live one, deciding on the same customers, events and nights and"
        " sending nothing.",
    ),
    "test": Lazy(
        "guanxi.cli.test:test_command",
        "Run the scenario tests in the rule project's tests/*.yaml (FOLDER, short for --rules"
        " FOLDER) through the real pipeline, each on a throw-away store, and print pass or"
        " fail for each with what differed; exit 1 if any fails.",
    ),
    "release": Lazy(
        "guanxi.cli.release:release",
        "Rule changes under four eyes (四眼原则): propose a rule project as a release, have"
        " another person approve it, roll it back; with `rules: {mode: releases}` in"
        " guanxi.yaml the daemon runs only the approved release.",
    ),
    "migrate": Lazy(
        "guanxi.cli.migrate:migrate_command",
        "Apply the store's pending schema migrations, on a SQLite file or a PostgreSQL database"
        " (`--store postgresql://…`).",
    ),
    "quarantine": Lazy(
        "guanxi.cli.quarantine:quarantine",
        "The rows `guanxi load` could not take: which file, which line, which field, why.",
    ),
    "customer": Lazy(
        "guanxi.cli.customer:customer",
        "A customer's requests under the personal-information law: everything held about them"
        " (export), and their erasure.",
    ),
    "retention": Lazy(
        "guanxi.cli.retention:retention_command",
        "Remove the records older than their window in guanxi.yaml's `retention:` (the daemon"
        " does it each night), a batch at a time, archived to Parquet first with `archive:"
        " parquet`; only final follow-ups (sent, suppressed, cancelled, dead, expired) go.",
    ),
    "audit": Lazy(
        "guanxi.cli.audit:audit",
        "The audit log: who viewed personal data unmasked, exported or erased it, and when.",
    ),
    "health": Lazy(
        "guanxi.cli.health:health_command",
        "The daemons sharing the store (and `run --once`), as their last ticks left them: ok,"
        " failing (a tick or a scheduled job raised: where, and the error), stalled (no tick"
        " for three intervals, or for longer than --max-age, no clean stop: when the last tick"
        " was and how late) or stopped; and the dead letters waiting.",
    ),
    "doctor": Lazy(
        "guanxi.cli.doctor:doctor_command",
        "Check what guanxi needs: the store (there, answering, migrations applied, no customer,"
        " manager or group id kept under two spellings such as ＣＵＳＴ００１ and CUST001),"
        " the rule project (valid), each delivery adapter's server (SMTP host, webhook URL,"
        " AMQP broker answer), the time zone and calendar, Java (for --engine spark) and"
        " Chromium (for the report's picture).",
    ),
}


EXIT_CODES = """\b
Exit codes:
  0  done
  1  an error: bad rules, a bad file, no store, a failed scenario or check
  2  a mistake in the command (an unknown option, a missing argument)
  3  guanxi load: loaded, some rows quarantined (guanxi quarantine list)
  130  interrupted by Ctrl-C: run the command again to carry on
"""


@click.group(
    cls=GuanxiGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@lang_option
@click.version_option(package_name="guanxi")
def cli() -> None:
    """guanxi 关系 — rules-based customer-relationship orchestration for banks.

    Every command takes the rule project as --rules DIR (default: the one the store was
    last classified with, else this folder if it holds a guanxi.yaml, else ./rules, else
    the shipped default rules) and the store as --store (default: the rule project's
    `store:` setting)."""


folder_argument = click.argument("folder", type=RULES_DIR, required=False)


@cli.command()
@folder_argument
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics as JSON.")
@click.option(
    "--fix",
    is_flag=True,
    help="First replace full-width punctuation (，：（）…) where ASCII is needed, save a "
    "GBK or UTF-16 file as UTF-8, print what changed, then check.",
)
@coverage_options
def validate(
    folder: Path | None,
    rules: Path | None,
    as_json: bool,
    coverage: CoverageRequest,
    fix: bool,
) -> None:
    """Check a rule project (FOLDER, short for --rules FOLDER) and report every problem with
    its file, line and column; with --store, also how many of the store's customers each rule
    and step catches."""
    from guanxi.cli.common import chosen, folder_or_rules, validated

    where = chosen(folder_or_rules(folder, rules), coverage.store).folder
    if fix and where.is_dir():
        from guanxi.engine.ruleset.fix import fix_project

        click.echo(fix_project(where) or _("nothing to fix"), err=as_json)
    if coverage.store is not None:
        from guanxi.cli.coverage import validate_with_store

        return validate_with_store(where, coverage, as_json)
    ruleset = validated(where, as_json)
    if as_json:
        return
    valid = _("{folder}: valid (rule-set hash {hash})")
    click.echo(valid.format(folder=where, hash=ruleset.hash), err=True)


@cli.command()
@click.argument("folder", type=RULES_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print what was created as JSON.")
def init(folder: Path, as_json: bool) -> None:
    """Create a new rule project in FOLDER from the default rules."""
    from guanxi.cli.output import print_json
    from guanxi.engine.defaults import default_rules_path

    if folder.exists() and any(folder.iterdir()):
        raise click.ClickException(
            _("{folder} already exists and is not empty").format(folder=folder)
        )
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
        _(
            "created {folder}: edit its YAML and CSV files, then run 'guanxi validate {folder}'"
        ).format(folder=folder)
    )


@cli.command()
@folder_argument
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--branch",
    help="Show the rules in effect for the customers of this branch: its overlay"
    " (branches/BRANCH.yaml) over the head office's rules.",
)
@coverage_options
def rules(
    folder: Path | None,
    rules: Path | None,
    as_json: bool,
    branch: str | None,
    coverage: CoverageRequest,
) -> None:
    """Show what a rule project contains (FOLDER, short for --rules FOLDER); with --store,
    also how many of the store's customers each rule and step catches."""
    from guanxi.cli.common import chosen, folder_or_rules, validated
    from guanxi.cli.output import print_json

    where = chosen(folder_or_rules(folder, rules), coverage.store).folder
    if coverage.store is not None:
        from guanxi.cli.coverage import rules_with_store

        summary = None if as_json else _print_summary
        return rules_with_store(where, coverage, summary)
    ruleset = validated(where, as_json=False)
    if branch is not None:
        from guanxi.cli.branches import print_branch

        return print_branch(ruleset, branch, as_json)
    if as_json:
        print_json(ruleset.summary())
        return
    _print_summary(ruleset)


def _print_summary(ruleset: RuleSet) -> None:
    from rich.markup import escape

    from guanxi.cli.output import console, table

    out = console()
    out.print(
        f"[bold]{escape(ruleset.settings.name)}[/bold]  "
        + _("rule-set {hash}  ({zone}, calendar {calendar})").format(
            hash=ruleset.hash, zone=ruleset.settings.timezone, calendar=ruleset.settings.calendar
        )
    )
    for ladder in (ruleset.tiers, ruleset.levels, ruleset.strategies):
        if ladder is None:
            continue
        rows = [
            (
                r.name,
                r.label,
                r.label_en or "",
                _head_text(r),
                f"{Path(r.origin.file).name}:{r.origin.line}" + _branch_mark(r),
            )
            for r in ladder.rules
        ]
        title = _(LADDER_TITLES[ladder.kind]).format(policy=ladder.hit_policy)
        headings = [_("name"), _("标签"), _("label"), "when", _("rule")]
        out.print(table(title, headings, rows))
    steps = [
        (s.level, s.id, _trigger(s), s.step.do, s.step.channel, s.step.template, s.step.priority)
        for s in ruleset.steps
    ]
    out.print(
        table(
            _("playbook steps"),
            [
                _("level"),
                _("step"),
                _("trigger"),
                "do",
                _("channel"),
                _("template"),
                _("priority"),
            ],
            steps,
        )
    )


def _head_text(rule: CompiledRule) -> str:
    """The head office's condition of a rule (branches' own ones are shown by --branch)."""
    condition = rule.seen_by(None)[0]
    return condition.compiled_text if condition else _("(others)")


def _branch_mark(rule: CompiledRule) -> str:
    if not rule.branch_rules:
        return ""
    names = ", ".join(b.branch for b in rule.branch_rules)
    return " " + _("(branches of their own: {names})").format(names=names)


LADDER_TITLES = {
    "tier": N_("tiers (hit policy: {policy})"),
    "level": N_("levels (hit policy: {policy})"),
    "strategy": N_("strategies (hit policy: {policy})"),
}


def _trigger(step: object) -> str:
    s = getattr(step, "step")  # noqa: B009 - CompiledStep.step, the rule file's step
    timing = f" +{s.after}" if s.after else ""
    for key in ("on", "every", "on_enter", "on_leave", "on_fall", "on_rise"):
        value = getattr(s, key)
        if value:
            shown = f"[{', '.join(value)}]" if isinstance(value, tuple) else value
            return f"{key}: {shown}{timing}"
    return "?"


def main() -> None:
    cli(prog_name="guanxi")


if __name__ == "__main__":  # python -m guanxi.cli.main
    main()
