"""`guanxi audit list`: who viewed personal data unmasked, exported or erased it, or changed
the rules, and when (the append-only audit log, see `guanxi.engine.privacy.audit`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import given_moment, opened_store, project, store_option
from guanxi.cli.fit import Col, localized, text
from guanxi.cli.options import ID, newest_first_limit, rules_option
from guanxi.cli.output import console, output_options, print_csv, print_json, table
from guanxi.cli.shown import local_iso, local_minutes
from guanxi.engine.i18n import N_, _
from guanxi.engine.privacy import audit as audit_log
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Row

COLUMNS = [
    Col(N_("time")),
    text(N_("who")),
    text(N_("what")),
    Col(N_("customer or release")),
    text(N_("detail"), drop=1),
]
CSV_COLUMNS = ["id", "at", "actor", "action", "subject", "detail"]


@click.group()
def audit() -> None:
    """The audit log: who viewed personal data unmasked, exported or erased it, and when."""


@audit.command("list")
@click.option(
    "--customer", default=None, metavar="ID", type=ID, help="Only entries about this customer."
)
@click.option("--actor", default=None, metavar="WHO", help="Only what this person did.")
@click.option(
    "--since",
    default=None,
    metavar="ISO",
    help="Only entries from this date or time on; without an offset, in the project's zone.",
)
@newest_first_limit(100)
@rules_option
@store_option
@output_options
def list_command(
    customer: str | None,
    actor: str | None,
    since: str | None,
    limit: int,
    rules: Path | None,
    store: str | None,
    output: str,
) -> None:
    """List the audit log, newest first: when, who (GUANXI_ACTOR, else the OS user), what
    (`explain --unmask`, `customer export` …), about which customer, and the details."""
    ruleset, store = project(rules, store)
    start = given_moment(since, ruleset, "--since") if since is not None else None
    opened = opened_store(ruleset, store)
    try:
        rows = audit_log.entries(opened, customer, actor, start, limit)
    finally:
        opened.close()
    if output == "json":
        print_json({"entries": [{**row, "at": local_iso(row["at"], ruleset)} for row in rows]})
    elif output == "csv":
        print_csv(CSV_COLUMNS, [_csv_row(row, ruleset) for row in rows])
    else:
        _print_entries(rows, ruleset)


def _csv_row(row: Row, ruleset: RuleSet) -> list[Any]:
    detail = json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)
    at = local_iso(row["at"], ruleset)
    return [row["id"], at, row["actor"], row["action"], row["subject"], detail]


def _print_entries(rows: list[Row], ruleset: RuleSet) -> None:
    title = _("audit log: {count}, newest first (times in {zone})").format(
        count=f"{len(rows):,}", zone=ruleset.settings.timezone
    )
    shown = [
        [
            local_minutes(row["at"], ruleset),
            row["actor"],
            row["action"],
            row["subject"] or "",
            _detail(row["detail"]),
        ]
        for row in rows
    ]
    console().print(table(title, localized(COLUMNS), shown))


def _detail(detail: dict[str, Any]) -> str:
    """`customers=3 json=false`: the details given, empty ones left out, and not the
    pseudonyms of the customers viewed (`customers` counts them; --json lists them)."""
    given = {k: v for k, v in detail.items() if v not in (None, [], "", {}) and k != "viewed"}
    return " ".join(f"{k}={_value(v)}" for k, v in sorted(given.items()))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
