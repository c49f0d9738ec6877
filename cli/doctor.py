"""`guanxi doctor`: one line per thing a deployment needs, ok, warn or fail."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.cli.common import chosen, given_now_in, store_option
from guanxi.cli.options import rules_option
from guanxi.cli.output import echo, print_json
from guanxi.engine.diagnostics import display_width
from guanxi.engine.doctor import Check, run_checks
from guanxi.engine.i18n import N_, _

COLOURS = {"ok": "green", "warn": "yellow", "fail": "red"}
MARKS = {"ok": N_("ok"), "warn": N_("warn"), "fail": N_("fail")}  # --json keeps the English


@click.command("doctor")
@rules_option
@store_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=60),
    default=3.0,
    show_default=True,
    help="Seconds to wait for each server (SMTP, webhook, AMQP) to answer.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor_command(rules: Path | None, store: str | None, timeout: float, as_json: bool) -> None:
    """Check what guanxi needs: the store (there, answering, migrations applied, no customer,
    manager or group id kept under two spellings such as ＣＵＳＴ００１ and CUST001), the rule
    project (valid), each delivery adapter's server (SMTP host, webhook URL, AMQP broker
    answer), the time zone and calendar, Java (for --engine spark) and Chromium (for the
    report's picture). Exit 1 when any check fails;
    warnings do not fail. The calendar must know the make-up working days (调休) of the next
    three months."""
    choice = chosen(rules, store)
    now = given_now_in(None, "UTC")  # the clock: doctor looks at today's deployment
    checks = run_checks(choice.folder, store or choice.store, timeout, now)
    failed = any(c.status == "fail" for c in checks)
    if as_json:
        print_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        for check in checks:
            _print(check)
    if failed:
        raise SystemExit(1)


def _print(check: Check) -> None:
    word = _(MARKS[check.status])
    padding = " " * (4 - display_width(word))  # the details line up: '正常' is 4 columns wide
    mark = click.style(word + padding, fg=COLOURS[check.status])
    click.echo(f"{mark}  {check.name}: ", nl=False)
    echo(check.detail)
