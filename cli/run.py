"""`guanxi run`: the daemon, or with `--once` one tick of it (for cron or a systemd timer)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import (
    files_folder,
    given_now,
    now_option,
    opened_store,
    project,
    store_now,
    store_option,
)
from guanxi.cli.options import INTERVAL, rules_option
from guanxi.cli.output import print_json
from guanxi.engine.clock import Clock, FixedClock, ShiftedClock, StoreClock
from guanxi.engine.daemon import TickReport, heartbeat, tick
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.daemon.delivery import build_adapters
from guanxi.engine.daemon.logs import setup_logging
from guanxi.engine.daemon.running import dispatch_settings, worker_name
from guanxi.engine.daemon.shadow import Shadow, shadow_rules
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.releases.ledger import Release
from guanxi.engine.releases.live import live_ruleset
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.timing import parse_interval

RELEASE_CACHE = ".guanxi-releases"  # beside the store: the live release's files, by hash


@click.command("run")
@click.option("--once", is_flag=True, help="Do one tick and exit (for cron or a systemd timer).")
@click.option(
    "--every",
    type=INTERVAL,
    default=None,
    metavar="DURATION",
    help="With --once: how often cron or the timer runs it (15m, 2h, 1d, 15分钟), kept with "
    "the tick so that `guanxi health` reports it stalled after three missed runs.",
)
@click.option(
    "--outbox",
    "outbox_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The outbox adapter's file (default: its `path:` in guanxi.yaml, else "
    "outbox.jsonl next to the store).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /healthz and /metrics on 127.0.0.1:PORT (default: daemon.port in guanxi.yaml).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    help="Log lines as text or as JSON objects (customer ids and phone numbers are masked).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    help="The least important log lines shown.",
)
@rules_option
@store_option
@now_option
@click.option("--json", "as_json", is_flag=True, help="With --once: print the counts as JSON.")
def run_command(
    once: bool,
    every: dt.timedelta | None,
    outbox_path: Path | None,
    port: int | None,
    log_format: str,
    log_level: str,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Deliver follow-ups as they fall due: plan new events every tick, each recurring step
    on its schedule, re-classify nightly, and hand what is due to the adapters that
    guanxi.yaml's `delivery:` names (an outbox file by default). Stop with SIGTERM or Ctrl-C:
    the batch in flight is finished first. Edits to the rule project are picked up while it
    runs; an edit with errors is logged and the last good rules stay in use. With
    `rules: {mode: releases}` in guanxi.yaml it runs the store's live release instead, and
    picks up a newly approved one (guanxi release).

    With --once: one tick (plan new events and the coming month of recurring steps, deliver
    everything due), then exit; --every says how often cron runs it, for `guanxi health`.
    With --now the daemon's clock starts at that time."""
    if every is not None and not once:
        raise click.UsageError(
            _("--every is for --once (the daemon ticks as guanxi.yaml's daemon.tick_every says)")
        )
    ruleset, store = project(rules, store)
    overrides = {"outbox": {"path": str(outbox_path)}} if outbox_path else {}
    opened = opened_store(ruleset, store)
    try:
        if once:
            _once(opened, ruleset, store_now(now_text, ruleset, opened), every, overrides, as_json)
        else:
            setup_logging(json_lines=log_format == "json", level=log_level)
            clock = (
                ShiftedClock(given_now(now_text, ruleset))
                if now_text
                else StoreClock(opened.server_time)
            )
            _started(opened, ruleset, clock, overrides, port).run()
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()


def _started(
    store: Store,
    ruleset: RuleSet,
    clock: Clock,
    overrides: dict[str, dict[str, str]],
    port: int | None,
) -> Daemon:
    """The daemon, ready to run; one that cannot start (no live release that loads, an
    adapter or the store that cannot start) is recorded failing for `guanxi health`."""
    stage = "release"
    try:
        release, live_rules, cache = _live(store, ruleset)
        stage = "start"
        return Daemon(
            Path(ruleset.root),
            live_rules,
            store,
            clock,
            folder=files_folder(store),
            overrides=overrides,
            port=port,
            release=release,
            cache=cache,
        )
    except Exception as error:
        every = parse_interval(ruleset.settings.daemon.tick_every).total_seconds()
        with contextlib.suppress(Exception):  # the store may be what failed
            heartbeat.record_failed_start(store, worker_name(), clock.now(), stage, error, every)
        raise


def _live(store: Store, ruleset: RuleSet) -> tuple[Release | None, RuleSet, Path | None]:
    """With `rules: {mode: releases}`: the live release, its rules and the folder its files
    are written to; else the project's rules as they are."""
    if ruleset.settings.rules.mode != "releases":
        return None, ruleset, None
    cache = files_folder(store) / RELEASE_CACHE
    release, live_rules = live_ruleset(store, cache)
    return release, live_rules, cache


def _once(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    every: dt.timedelta | None,
    overrides: dict[str, dict[str, str]],
    as_json: bool,
) -> None:
    # no live release that loads, a store or an adapter that cannot start: a failing tick too
    report = TickReport(stage="release")
    folder = Path(ruleset.root)  # the project's, not the live release's written copy
    try:
        _release, ruleset, _cache = _live(store, ruleset)
        report.stage = "start"
        store.prepare(ruleset.schema)
        adapters = build_adapters(ruleset, store, files_folder(store), overrides, FixedClock(now))
    except Exception as error:
        _record_failure(store, now, report.stage, error, every)
        raise
    shadow = _ShadowOnce(store, ruleset, folder, now)  # its store: a copy from before the tick
    try:
        passes = ShiftedClock(now).now  # each dispatch pass at its own time, from `now` on
        tick(
            store, ruleset, adapters, now, random.Random(),
            settings=dispatch_settings(ruleset), clock=passes, report=report,
            mark_sends=True,
        )  # fmt: skip
    except Exception as error:
        _record_failure(store, now, report.stage, error, every)
        raise
    else:
        trouble = report.trouble()
        if trouble is None and not report.tried_to_send():
            trouble = heartbeat.once_dispatch_failure(store)
        if trouble is None:
            heartbeat.record_once(store, now, report.stage, None, every)
        else:
            _record_failure(store, now, trouble.stage, trouble.reason, every)
    finally:
        adapters.close()
    targets = sorted({_target(a) for a in adapters.values()})
    done = shadow.tick(now)
    if as_json:
        print_json({"delivered_to": targets, **report.to_dict(), **done})
    else:
        _print_report(report, targets)
        _print_shadow(done)


def _record_failure(
    store: Store, now: dt.datetime, stage: str, error: Exception | str, every: dt.timedelta | None
) -> None:
    with contextlib.suppress(Exception):  # the store may be what failed
        heartbeat.record_once(store, now, stage, error, every)


class _ShadowOnce:
    """With `shadow:` in guanxi.yaml, the same tick for the shadow run, which sends nothing;
    what it raises is said, never raised (the live tick is done)."""

    def __init__(self, store: Store, ruleset: RuleSet, folder: Path, now: dt.datetime) -> None:
        self.shadow: Shadow | None = None
        self.failure: Exception | None = None
        rules = shadow_rules(folder, ruleset)  # `shadow:` is relative to the project folder
        if rules is not None:
            try:
                self.shadow = Shadow.start(rules, store, ruleset.schema, now, dispatch_settings)
            except Exception as error:
                self.failure = error

    def tick(self, now: dt.datetime) -> dict[str, Any]:
        """What the shadow did, for the report: {} without a shadow."""
        if self.shadow is not None:
            try:
                report = self.shadow.tick(now, recurring=True)
                planned = report.planned_events + report.planned_recurring
                return {"shadow": {"status": "ok", "planned": planned, "would_send": report.sent}}
            except Exception as error:
                self.failure = error
            finally:
                self.shadow.close()
        if self.failure is None:
            return {}
        error = f"{type(self.failure).__name__}: {self.failure}"
        return {"shadow": {"status": "failing", "error": error}}


def _print_shadow(shadow: dict[str, Any]) -> None:
    done = shadow.get("shadow")
    if done is None:
        return
    if done["status"] == "ok":
        line = _("shadow run:          planned {planned}, would send {sent} (sent nothing)")
        click.echo(line.format(planned=f"{done['planned']:,}", sent=f"{done['would_send']:,}"))
    else:
        click.echo(_("shadow run failed (the live tick is done): {error}").format(**done))


def _target(adapter: Any) -> str:
    path = getattr(adapter, "path", None)
    return f"{adapter.name} ({path})" if path else str(adapter.name)


def _print_report(report: TickReport, targets: list[str]) -> None:
    click.echo(_("planned from events: {count}").format(count=f"{report.planned_events:,}"))
    click.echo(_("planned recurring:   {count}").format(count=f"{report.planned_recurring:,}"))
    if report.too_old_events:
        too_old = _("too old to act on:   {count} events (windows closed)")
        click.echo(too_old.format(count=f"{report.too_old_events:,}"))
    sent = _("sent:                {count} (to {targets})")
    click.echo(sent.format(count=f"{report.sent:,}", targets=", ".join(targets) or _("nothing")))
    click.echo(_("retried:             {count}").format(count=f"{report.retried:,}"))
    click.echo(_("dead:                {count}").format(count=f"{report.dead:,}"))
    expired = _("expired:             {count} (too late to send: not sent)")
    click.echo(expired.format(count=f"{report.expired:,}"))
    refused = sum(report.suppressed.values())
    reasons = ", ".join(f"{p} {n:,}" for p, n in sorted(report.suppressed.items()))
    suppressed = _("suppressed now:      {count}").format(count=f"{refused:,}")
    click.echo(suppressed + (f" ({reasons})" if reasons else ""))
    held = sum(report.deferred.values())
    reasons = ", ".join(f"{p} {n:,}" for p, n in sorted(report.deferred.items()))
    deferred = _("deferred now:        {count}").format(count=f"{held:,}")
    click.echo(deferred + (f" ({reasons})" if reasons else ""))
    withdrawn = sum(report.cancelled.values())
    cancelled = _("cancelled now:       {count} (steps no longer in the rules)")
    click.echo(cancelled.format(count=f"{withdrawn:,}"))
    if report.held_restored:
        held_back = _(
            "held:                {count} (the store was restored from a backup: they may have"
            " been sent before; guanxi health)"
        )
        click.echo(held_back.format(count=f"{report.held_restored:,}"))
    waiting = sum(report.waiting.values())
    detail = ", ".join(f"{c} {n:,}" for c, n in report.waiting.items())
    waits = _("waiting:             {count}").format(count=f"{waiting:,}")
    click.echo(waits + (f" ({detail})" if detail else ""))
