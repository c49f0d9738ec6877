"""`guanxi health`: the daemons' state as they left it in the store, and the dead letters
(see `guanxi.engine.daemon.heartbeat`); exit 1 when something needs a person."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import now_option, opened_at, settled, store_now_in, store_option
from guanxi.cli.options import INTERVAL, rules_option
from guanxi.cli.output import console, print_json, table
from guanxi.cli.shown import zone_minutes
from guanxi.engine.daemon import heartbeat
from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.dispatch.restored import Restore
from guanxi.engine.i18n import N_, _, ngettext
from guanxi.engine.i18n.terms import stage_word

STATUSES = {
    "ok": N_("ok"),
    "failing": N_("failing"),
    "stalled": N_("stalled"),
    "stopped": N_("stopped"),
}


@click.command()
@click.option(
    "--max-dead",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Also unhealthy when more than N follow-ups are dead letters (default: only shown).",
)
@click.option(
    "--max-age",
    type=INTERVAL,
    default=None,
    metavar="DURATION",
    help="Stalled when the last tick is older than this (15m, 2h, 1d, 15分钟, 2小时, 1天): "
    "catches a `run --once` that cron stopped running.",
)
@rules_option
@store_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def health_command(
    max_dead: int | None,
    max_age: dt.timedelta | None,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """The daemons sharing the store (and `run --once`), as their last ticks left them: ok,
    failing (a tick or a scheduled job raised: where, and the error), stalled (no tick for
    three intervals, or for longer than --max-age, no clean stop: when the last tick was and
    how late) or stopped; and the dead letters waiting. Exit 1 when no daemon runs, one fails
    or stalls, or (with --max-dead) too many letters are dead. A broken rule project is
    shown too (its first error; exit 1), after the daemons: it is read only for the store
    and the time zone of guanxi.yaml."""
    project = settled(rules, store)
    timezone = project.settings.timezone
    opened = opened_at(project.store)
    try:
        found = heartbeat.health(
            opened, store_now_in(now_text, timezone, opened), max_dead, max_age
        )
    finally:
        opened.close()
    found = dataclasses.replace(found, rules_problem=project.problem)
    if as_json:
        print_json(found.to_dict())
    else:
        _print(found, timezone)
    if not found.healthy:
        raise click.ClickException(_verdict(found))


def _print(found: heartbeat.Health, timezone: str) -> None:
    zone = zoneinfo.ZoneInfo(timezone)
    title = _("daemons (times in {zone})").format(zone=timezone)
    columns = [_("daemon"), _("status"), _("last tick"), _("detail")]
    rows = [
        [
            d["worker"],
            _(STATUSES[d["status"]]),
            zone_minutes(d["at"], zone),
            _detail(d, found, zone),
        ]
        for d in found.daemons
    ]
    console().print(table(title, columns, rows))
    dead = _("dead letters: {count}").format(count=f"{found.dead_letters:,}")
    if found.dead_letters:
        oldest = zone_minutes(found.oldest_dead, zone)
        dead += " " + _("(oldest {at}; guanxi followups list --status dead)").format(at=oldest)
    click.echo(dead)
    if found.restored is not None:
        click.echo(_restored(found.restored, zone))
    if found.rules_problem is not None:
        click.echo(_rules_problem(found.rules_problem))


def _restored(restore: Restore, zone: zoneinfo.ZoneInfo) -> str:
    return ngettext(
        "the store was restored from a backup (found {at}): {count} follow-up due by {due_by} is"
        " held, as it may have been sent before the restore; check the receivers' logs (guanxi"
        " followups list --status suppressed), then `guanxi followups release-restored` sends"
        " what they did not get",
        "the store was restored from a backup (found {at}): {count} follow-ups due by {due_by}"
        " are held, as they may have been sent before the restore; check the receivers' logs"
        " (guanxi followups list --status suppressed), then `guanxi followups release-restored`"
        " sends what they did not get",
        restore.held,
    ).format(
        at=zone_minutes(restore.at, zone),
        count=f"{restore.held:,}",
        due_by=zone_minutes(restore.due_by, zone),
    )


def _rules_problem(first: Diagnostic) -> str:
    return _("the rule project has errors (guanxi validate lists them): {first}").format(
        first=first.headline()
    )


def _detail(daemon: dict[str, Any], found: heartbeat.Health, zone: zoneinfo.ZoneInfo) -> str:
    parts = [_silence(daemon, found)] if "late_seconds" in daemon else []
    if daemon.get("failed_stage") or daemon.get("error"):
        stage = stage_word(daemon["failed_stage"]) if daemon.get("failed_stage") else "?"
        parts.append(f"{stage}: {daemon.get('error', '')}")
    parts += [f"{job}: {error}" for job, error in daemon.get("failed_jobs", {}).items()]
    if daemon.get("stopped_at"):
        at = zone_minutes(daemon["stopped_at"], zone)
        parts.append(_("stopped at {at}").format(at=at))
    return "; ".join(parts)


def _silence(daemon: dict[str, Any], found: heartbeat.Health) -> str:
    """How long a stalled daemon has been silent, against what it was allowed, and for a
    `run --once` the fix: its cron line."""
    silent = _("no tick for {time}, {late} late ").format(
        time=spoken(daemon["silent_seconds"]), late=spoken(daemon["late_seconds"])
    )
    if daemon.get("tick_every"):
        silent += _("(ticks every {every})").format(every=spoken(daemon["tick_every"]))
    if found.max_age is not None:
        limit = spoken(found.max_age.total_seconds())
        silent += _("(--max-age {limit})").format(limit=limit)
    if str(daemon["worker"]).endswith(":once"):
        host = str(daemon["worker"]).rpartition(":")[0]
        fix = _("; check that cron (or the systemd timer) on {host} still runs `guanxi run --once`")
        silent += fix.format(host=host)
    return silent


def spoken(seconds: float) -> str:
    """A span as a person says it, its two largest units: `2 h 5 min`, `3 d 4 h`, `40 s`."""
    left = round(seconds)
    parts = []
    for size, unit in ((86_400, _("{n} d")), (3_600, _("{n} h")), (60, _("{n} min"))):
        if left >= size:
            parts.append(unit.format(n=left // size))
            left %= size
    if not parts:
        parts.append(_("{n} s").format(n=left))
    return " ".join(parts[:2])


def _verdict(found: heartbeat.Health) -> str:
    if not found.daemons:
        return _("no daemon has reported to this store: is `guanxi run` running?")
    troubled = [d for d in found.daemons if d["status"] in ("failing", "stalled")]
    if troubled:
        named = ", ".join(f"{d['worker']} {_(STATUSES[d['status']])}" for d in troubled)
        return _("not healthy: {daemons}").format(daemons=named)
    if not found.running:
        return _("no daemon is running: every one has stopped")
    if found.max_dead is not None and found.dead_letters > found.max_dead:
        return _("not healthy: {count} dead letters, more than {limit}").format(
            count=f"{found.dead_letters:,}", limit=found.max_dead
        )
    if found.restored is not None:
        return _("not healthy: the store was restored from a backup and follow-ups are held")
    return _("not healthy: the rule project has errors")
