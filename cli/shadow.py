"""`guanxi shadow report`: the shadow rules' decisions against the live ones."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import (
    chosen,
    csv_option,
    given_now,
    now_option,
    opened_store,
    store_option,
    validated,
)
from guanxi.cli.options import rules_option
from guanxi.cli.output import print_json, print_sections, write_tables
from guanxi.cli.report import wrote_csv
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _


@click.group()
def shadow() -> None:
    """Shadow runs: a candidate rule project (`shadow: DIR` in guanxi.yaml) that the daemon
    runs beside the live one, deciding on the same customers, events and nights and sending
    nothing."""


@shadow.command("report")
@rules_option
@click.option(
    "--sample",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="How many customers the two rule sets differ on to explain.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@csv_option
@now_option
@store_option
def report(
    rules: Path | None,
    sample: int,
    as_json: bool,
    csv_dir: Path | None,
    now_text: str | None,
    store: str | None,
) -> None:
    """Compare the shadow's decisions with the live ones since the shadow started: the
    customers whose tier, level, strategy, gold flag or follow-ups differ, deliveries per
    day and channel, and managers' tasks, as `simulate --baseline` shows a rule change (the
    shadow in the place of the rules, the live rules in the place of the baseline)."""
    from guanxi.engine.daemon.shadow import open_shadow_store, shadow_location, shadow_rules
    from guanxi.engine.simulate.shadow import shadow_report
    from guanxi.engine.store.base import shown_location

    choice = chosen(rules, store)
    ruleset = validated(choice.folder, as_json=False)
    folder = shadow_rules(choice.folder, ruleset)
    if folder is None:
        raise click.ClickException(
            _("the rule project names no shadow: add `shadow: DIR` to guanxi.yaml")
        )
    candidate = validated(folder, as_json=False)
    live = opened_store(ruleset, store or choice.store)
    try:
        shadow_store = open_shadow_store(live)
        if shadow_store is None:
            raise click.ClickException(
                _("no shadow run yet: '{store}' is made when `guanxi run` starts").format(
                    store=shown_location(shadow_location(live))
                )
            )
        try:
            found = shadow_report(
                live, ruleset, shadow_store, candidate, given_now(now_text, ruleset), sample
            )
        finally:
            shadow_store.close()
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        live.close()
    sections = found.sections()
    if as_json:
        print_json(
            {
                "start": found.started.isoformat(),
                "until": found.until.isoformat(),
                **{s.name: s.to_dict() for s in sections},
            }
        )
    if csv_dir is not None:
        written = write_tables(sections, csv_dir)
        click.echo(wrote_csv(len(written), csv_dir), err=True)
    if not (as_json or csv_dir):
        print_sections(sections)
