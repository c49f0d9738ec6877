"""`guanxi retention`: remove (or, with --dry-run, count) the records past guanxi.yaml's
retention windows."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import (
    files_folder,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
)
from guanxi.cli.options import rules_option
from guanxi.cli.output import console, print_json, table
from guanxi.engine.i18n import _
from guanxi.engine.privacy import retention
from guanxi.engine.privacy.files import adapter_files
from guanxi.engine.privacy.retention import KindReport


@click.command()
@click.option("--dry-run", is_flag=True, help="Only count what would go; change nothing.")
@rules_option
@store_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def retention_command(
    dry_run: bool, rules: Path | None, store: str | None, now_text: str | None, as_json: bool
) -> None:
    """Remove the records older than their window in guanxi.yaml's `retention:` (the daemon
    does it each night), a batch at a time, archived to Parquet first with `archive:
    parquet`; only final follow-ups (sent, suppressed, cancelled, dead, expired) go. The
    kinds: events, follow-ups, deliveries, decisions, quarantined rows, tier moves, field
    values and consent records superseded before the window, the outbox's lines. Prints, for
    each kind, how many rows go and the oldest kept."""
    ruleset, location = project(rules, store)
    settings = ruleset.settings.retention
    if not settings.windows():
        click.echo(_("no retention window in guanxi.yaml: every record is kept"))
        return
    opened = opened_store(ruleset, location)
    now = given_now(now_text, ruleset)
    outbox = adapter_files(ruleset, files_folder(opened))
    try:
        if dry_run:
            reports = retention.plan(opened, settings, now, outbox)
        else:
            folder = files_folder(opened) / settings.archive_folder
            archive = folder if settings.archive == "parquet" else None
            reports, _left = retention.apply(opened, settings, now, archive, files=outbox)
    finally:
        opened.close()
    if as_json:
        print_json({"dry_run": dry_run, "kinds": [r.to_dict() for r in reports]})
    else:
        _print(reports, dry_run)


def _print(reports: list[KindReport], dry_run: bool) -> None:
    """Dates only: a window is days to years long."""
    title = _("retention (dry run: nothing removed)") if dry_run else _("retention")
    columns = [_("kind"), _("window"), _("older than"), _("would go") if dry_run else _("removed")]
    columns += [] if dry_run else [_("archived")]
    rows = []
    for r in reports:
        gone = [f"{r.due:,}"] if dry_run else [f"{r.removed:,}", f"{r.archived:,}"]
        rows.append([r.kind, r.window, r.cutoff[:10], *gone, (r.oldest_kept or "")[:10]])
    console().print(table(title, [*columns, _("oldest kept")], rows))
