"""`guanxi run --once`: one tick of the daemon (plan what is new, deliver what is due)."""

from __future__ import annotations

import random
from pathlib import Path

import click

from guanxi.adapters.base import address_fields
from guanxi.adapters.registry import load_adapter
from guanxi.cli.common import (
    given_now,
    now_option,
    opened_store,
    rules_folder,
    rules_option,
    store_option,
    validated,
)
from guanxi.cli.output import print_json
from guanxi.engine.daemon import TickReport, tick
from guanxi.engine.errors import GuanxiError
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore

OUTBOX = "outbox.jsonl"


@click.command("run")
@click.option(
    "--once",
    is_flag=True,
    required=True,
    help="Do one tick and exit (for cron or a systemd timer); required for now.",
)
@click.option(
    "--outbox",
    "outbox_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Outbox file (JSON lines; default: {OUTBOX} next to the store).",
)
@rules_option
@store_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def run_command(
    once: bool,
    outbox_path: Path | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Plan new events and the coming month of recurring steps, then deliver every due
    follow-up. Only `--once` exists yet: the long-running daemon is not available.

    Every channel, messages and relationship managers' tasks alike, goes to the outbox file
    for now: the managers' task inbox (rm_tasks) does not exist yet."""
    ruleset = validated(rules_folder(rules), as_json=False)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    try:
        opened.prepare(ruleset.schema)
        path = outbox_path or _default_outbox(opened)
        fields = address_fields(ruleset.policies)
        with load_adapter("outbox", path=path, address_fields=fields) as outbox:
            adapters = dict.fromkeys(_channels(opened, ruleset), outbox)
            report = tick(opened, ruleset, adapters, now, random.Random())
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    if as_json:
        print_json({"outbox": str(path), **report.to_dict()})
    else:
        _print_report(report, path)


def _default_outbox(store: Store) -> Path:
    folder = store.path.parent if isinstance(store, SQLiteStore) else Path.cwd()
    return folder / OUTBOX


def _channels(store: Store, ruleset: RuleSet) -> set[str]:
    """Every channel a follow-up may have: declared, used by a step, or already planned."""
    names: set[str] = set()
    if ruleset.policies is not None:
        names.update(ruleset.policies.channels or {})
    names.update(s.step.channel for s in ruleset.steps if s.step.channel)
    names.update(r["channel"] for r in store.execute("SELECT DISTINCT channel FROM followups"))
    names.discard(PREFERRED)
    return names


def _print_report(report: TickReport, path: Path) -> None:
    click.echo(f"planned from events: {report.planned_events:,}")
    click.echo(f"planned recurring:   {report.planned_recurring:,}")
    click.echo(f"sent:                {report.sent:,} (to {path})")
    click.echo(f"retried:             {report.retried:,}")
    click.echo(f"dead:                {report.dead:,}")
    waiting = sum(report.waiting.values())
    detail = ", ".join(f"{c} {n:,}" for c, n in report.waiting.items())
    click.echo(f"waiting:             {waiting:,}" + (f" ({detail})" if detail else ""))
