"""`guanxi release propose|approve|reject|rollback|list|show`: rule changes under four eyes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import given_now, now_option, opened_store, project, store_option
from guanxi.cli.options import RULES_DIR, rules_option
from guanxi.cli.output import console, echo, print_diagnostics, print_json, table
from guanxi.cli.shown import local_minutes
from guanxi.cli.test import print_result
from guanxi.engine.diagnostics import nothing_changed
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.releases import ledger
from guanxi.engine.releases.files import differences
from guanxi.engine.releases.impact import Impact, impact_of
from guanxi.engine.releases.ledger import STATUSES, Release
from guanxi.engine.releases.proposal import Candidate, checked, simulation_summary
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

json_option = click.option("--json", "as_json", is_flag=True, help="Print the release as JSON.")
reason_option = click.option(
    "--reason", required=True, help="Why, in a few words (kept in the audit log)."
)


@click.group()
def release() -> None:
    """Rule changes under four eyes (四眼原则): propose a rule project as a release, have
    another person approve it, roll it back; with `rules: {mode: releases}` in guanxi.yaml
    the daemon runs only the approved release."""


@release.command("propose")
@click.argument("folder", type=RULES_DIR)
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=7,
    show_default=True,
    help="How many days the simulation against the live release covers.",
)
@store_option
@now_option
@json_option
def propose_command(
    folder: Path, days: int, store: str | None, now_text: str | None, as_json: bool
) -> None:
    """Propose the rule project FOLDER as a release: it must validate and pass its scenario
    tests; a simulation against the live release (on a copy of a SQLite store) is kept with
    it. Another person then approves it with `guanxi release approve ID`."""
    with _checked(folder) as (candidate, ruleset), _store(ruleset, store) as opened:
        proposed = _propose(opened, candidate, ruleset, days, now_text)
    if as_json:
        impact = impact_of(proposed.simulation)
        print_json({**proposed.to_dict(), "impact": impact.to_dict() if impact else None})
        return
    echo(
        _("release {id} proposed by {actor}: rule set {hash}, against {base}").format(
            id=proposed.id, actor=proposed.proposer, hash=proposed.hash, base=_base(proposed)
        )
    )
    _print_checks(proposed)
    _print_simulation(proposed.simulation)
    _warn_if_loud(proposed)
    click.echo(
        _("another person approves it with: guanxi release approve {id}").format(id=proposed.id)
    )


@release.command("approve")
@click.argument("release_id", metavar="ID", type=int)
@click.option(
    "--yes",
    is_flag=True,
    help="Approve without asking, even a release that moves many customers at once.",
)
@rules_option
@store_option
@now_option
@json_option
def approve_command(
    release_id: int,
    yes: bool,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
    as_json: bool,
) -> None:
    """Approve release ID and make it live: daemons in `rules: {mode: releases}` take it at
    their next check, without a restart. Not by the person who proposed it (GUANXI_ACTOR,
    else the OS user), and only while the release it was proposed against is still live. A
    release that moves many customers (a fifth of them, or follow-ups worth two normal days)
    is approved only once confirmed: at the prompt, or with --yes."""
    ruleset, store = project(rules, store)
    with _store(ruleset, store) as opened:
        asked = ledger.get(opened, release_id)
        ledger.check_approver(asked)  # refused anyway: no warning, no question
        impact = _warn_if_loud(asked)
        if impact is not None and impact.loud and not yes:
            _confirm_loud(release_id)
        approved = ledger.approve(opened, release_id, given_now(now_text, ruleset))
    if as_json:
        print_json({**approved.to_dict(), "impact": impact.to_dict() if impact else None})
        return
    echo(
        _("release {id} approved by {actor} and live: rule set {hash}").format(
            id=approved.id, actor=approved.approver, hash=approved.hash
        )
    )


@release.command("reject")
@click.argument("release_id", metavar="ID", type=int)
@reason_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@rules_option
@store_option
@now_option
def reject_command(
    release_id: int,
    reason: str,
    as_json: bool,
    rules: Path | None,
    store: str | None,
    now_text: str | None,
) -> None:
    """Turn down proposed release ID (its proposer may withdraw it this way too)."""
    ruleset, store = project(rules, store)
    with _store(ruleset, store) as opened:
        ledger.reject(opened, release_id, given_now(now_text, ruleset), reason)
    if as_json:
        print_json({"rejected": release_id, "reason": reason})
        return
    click.echo(_("release {id} rejected").format(id=release_id))


@release.command("rollback")
@reason_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@rules_option
@store_option
@now_option
def rollback_command(
    reason: str, as_json: bool, rules: Path | None, store: str | None, now_text: str | None
) -> None:
    """Make the release that was live before the current one live again, at once: its files
    were approved by two people already, and a rollback is for an incident. Who, when and
    why go into the audit log."""
    ruleset, store = project(rules, store)
    with _store(ruleset, store) as opened:
        undone, restored = ledger.rollback(opened, given_now(now_text, ruleset), reason)
    if as_json:
        print_json({"rolled_back": undone.id, "live": restored.id, "hash": restored.hash})
        return
    echo(
        _("release {old} rolled back: release {new} is live again (rule set {hash})").format(
            old=undone.id, new=restored.id, hash=restored.hash
        )
    )


@release.command("list")
@rules_option
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the releases as JSON.")
def list_command(rules: Path | None, store: str | None, as_json: bool) -> None:
    """Every release, the newest first: its status, rule-set hash, who proposed and who
    approved it, and when it went live."""
    ruleset, store = project(rules, store)
    with _store(ruleset, store) as opened:
        found = ledger.releases(opened)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    title = _("releases (times in {zone})").format(zone=ruleset.settings.timezone)
    columns = [_("id"), _("release status"), _("rule set"), _("proposed by"), _("proposed at")]
    columns += [_("approved by"), _("live since")]
    rows = [_list_row(r, ruleset) for r in found]
    console().print(table(title, columns, rows))


@release.command("show")
@click.argument("release_id", metavar="ID", type=int)
@rules_option
@store_option
@json_option
def show_command(release_id: int, rules: Path | None, store: str | None, as_json: bool) -> None:
    """Release ID: who proposed and approved it, its checks, its simulation summary, and
    its changes against the live release (a live release: against the one it replaced)."""
    ruleset, store = project(rules, store)
    with _store(ruleset, store) as opened:
        shown = ledger.get(opened, release_id)
        against = _compared_with(opened, shown)
        old = ledger.files_of(opened, against) if against is not None else {}
        diff = differences(old, ledger.files_of(opened, shown.id))
    impact = impact_of(shown.simulation)
    if as_json:
        extra = {"impact": impact.to_dict() if impact else None}
        print_json({**shown.to_dict(), **extra, "compared_with": against, "diff": diff})
        return
    _print_release(shown, ruleset)
    if against is None:
        click.echo(_("changes: every file is new (no release to compare with)"))
    else:
        click.echo(_("changes against release {id}:").format(id=against))
    for line in diff or [_("(none)")]:
        echo(f"  {line}")
    if shown.status == "proposed":
        _warn_before_approval(shown)


# --- helpers -------------------------------------------------------------------------------


@contextmanager
def _checked(folder: Path) -> Iterator[tuple[Candidate, RuleSet]]:
    """The project checked, and its rules; on errors or failed scenarios, say what failed
    and exit 1."""
    if not folder.is_dir():
        raise click.UsageError(
            _("'{folder}' is not a folder with a rule project").format(folder=folder)
        )
    try:
        with checked(folder) as candidate:
            yield candidate, _refuse_unless_ok(candidate)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None


def _refuse_unless_ok(candidate: Candidate) -> RuleSet:
    validation, folder = candidate.validation, candidate.folder
    print_diagnostics(validation.diagnostics, validation.lines)
    if candidate.suite is None or candidate.ruleset is None:
        errors = sum(1 for d in validation.diagnostics if d.severity == "error")
        click.echo(nothing_changed(folder, errors), err=True)
        raise click.ClickException(_("release not proposed: the rule project has errors"))
    failed = [r for r in candidate.suite.results if r.status != "passed"]
    for result in failed:
        print_result(result)
    if failed:
        message = _(
            "release not proposed: {failed} of {total} scenario tests failed (guanxi test {folder})"
        )
        total = len(candidate.suite.results)
        raise click.ClickException(message.format(failed=len(failed), total=total, folder=folder))
    return candidate.ruleset


def _propose(
    store: Store, candidate: Candidate, ruleset: RuleSet, days: int, now_text: str | None
) -> Release:
    """Keep the checked project as a release against the live one, with its simulation."""
    now = given_now(now_text, ruleset)
    base = ledger.live(store)
    baseline = ledger.files_of(store, base.id) if base else None
    first = now.astimezone(ruleset.calendar.zone).date() + dt.timedelta(days=1)
    return ledger.propose(
        store,
        candidate.files,
        ruleset.hash,
        now,
        source=str(candidate.folder.resolve()),
        checks=candidate.checks(),
        simulation=simulation_summary(store.location, ruleset, baseline, first, days),
        base_id=base.id if base else None,
    )


@contextmanager
def _store(ruleset: RuleSet, location: str | None) -> Iterator[Store]:
    """The store, closed afterwards; a release refused is an error message, exit 1."""
    opened = opened_store(ruleset, location)
    try:
        yield opened
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()


def _compared_with(store: Store, release: Release) -> int | None:
    current = ledger.live(store)
    if current is None or current.id == release.id:
        return release.base_id
    return current.id


def _warn_before_approval(release: Release) -> None:
    impact = _warn_if_loud(release)
    if impact is not None and impact.loud:
        approve = _("approve it only once reviewed, with: guanxi release approve {id} --yes")
        echo("  " + approve.format(id=release.id), err=True)


def _confirm_loud(release_id: int) -> None:
    """Ask whether to approve a loud release; refused, say how to confirm."""
    refused = _(
        "release {id} not approved: it moves many customers at once; once its moves are"
        " reviewed, approve it with: guanxi release approve {id} --yes"
    ).format(id=release_id)
    question = _("approve release {id} all the same?").format(id=release_id)
    try:
        confirmed = click.confirm(question, err=True)
    except click.Abort:  # no answer (not a terminal) or Ctrl-C
        click.echo(err=True)  # end the prompt's line
        raise click.ClickException(refused) from None
    if not confirmed:
        raise click.ClickException(refused)


def _base(release: Release) -> str:
    if release.base_id is None:
        return _("no release (none was live)")
    return _("release {id}").format(id=release.base_id)


def _list_row(release: Release, ruleset: RuleSet) -> list[Any]:
    return [
        release.id,
        _(STATUSES[release.status]),
        release.hash,
        release.proposer,
        local_minutes(release.proposed_at, ruleset),
        release.approver or "",
        local_minutes(release.live_at, ruleset),
    ]


def _print_release(release: Release, ruleset: RuleSet) -> None:
    zone = ruleset.settings.timezone
    echo(
        _("release {id} ({status}): rule set {hash}, from {source}").format(
            id=release.id,
            status=_(STATUSES[release.status]),
            hash=release.hash,
            source=release.source,
        )
    )
    when = local_minutes(release.proposed_at, ruleset)
    echo(
        "  "
        + _("proposed by {actor} at {when} ({zone}), against {base}").format(
            actor=release.proposer, when=when, zone=zone, base=_base(release)
        )
    )
    if release.approver:
        when = local_minutes(release.approved_at, ruleset)
        echo("  " + _("approved by {actor} at {when}").format(actor=release.approver, when=when))
    if release.live_at:
        echo("  " + _("live since {when}").format(when=local_minutes(release.live_at, ruleset)))
    if release.note:
        echo("  " + _("reason: {note}").format(note=release.note))
    _print_checks(release)
    _print_simulation(release.simulation)


def _print_checks(release: Release) -> None:
    scenarios = release.checks.get("scenarios", {})
    warnings = release.checks.get("warnings", [])
    click.echo(
        _("checks: valid, {warnings} warning(s); scenario tests: {passed} passed").format(
            warnings=len(warnings), passed=scenarios.get("passed", 0)
        )
    )


def _print_simulation(summary: dict[str, Any]) -> None:
    if summary.get("skipped") == "postgresql":
        click.echo(
            _("simulation: not run (guanxi simulate copies a SQLite store; this one is PostgreSQL)")
        )
        return
    line = _("simulation: {days} days from {start}: {deliveries} deliveries").format(
        days=summary["days"], start=summary["start"], deliveries=f"{summary['deliveries']:,}"
    )
    impact = impact_of(summary)
    if impact is None:
        click.echo(line + _(" (no live release to compare with)"))
        return
    baseline = f"{summary['baseline_deliveries']:,}"
    click.echo(line + _(" (live release: {baseline})").format(baseline=baseline))
    delivered = f"{summary['delivered_differently']:,}"
    echo("  " + _moved(impact) + _(", {delivered} served differently").format(delivered=delivered))
    echo("  " + _followups(impact))
    for step in summary.get("steps", []):
        echo(
            "  "
            + _("{step}: {gained} gain it, {lost} lose it, {changed} on other days").format(**step)
        )
    for move in summary.get("moves", []):
        echo(
            "  "
            + _("{what} {old} → {new}: {customers} customer(s)").format(
                what=move["what"], old=move["from"], new=move["to"], customers=move["customers"]
            )
        )


def _moved(impact: Impact) -> str:
    if impact.customers is None:
        return _(
            "{moved} customer(s) classified differently, of a total unknown"
            " (this proposal was kept before the total was)"
        ).format(moved=f"{impact.moved:,}")
    return _("{moved} of {total} customers ({share}) classified differently").format(
        moved=f"{impact.moved:,}", total=f"{impact.customers:,}", share=_percent(impact.share)
    )


def _followups(impact: Impact) -> str:
    if impact.added < 0:
        return _("{count} fewer follow-ups").format(count=f"{-impact.added:,}")
    if impact.added == 0:
        return _("as many follow-ups as under the live release")
    more = _("{count} more follow-ups").format(count=f"{impact.added:,}")
    if not impact.by_step:
        return more
    steps = ", ".join(f"{step} {count:,}" for step, count in impact.by_step.items())
    return more + _("; of which {steps}").format(steps=steps)


def _percent(share: float | None) -> str:
    if share is None:
        return "?"
    if 0 < share < 0.01:
        return "< 1 %"  # a few customers of a large bank are not "0 %"
    return f"{share:.0%}".replace("%", " %")


def _warn_if_loud(release: Release) -> Impact | None:
    """The release's impact; on stderr, a warning when it is loud (see impact.py)."""
    impact = impact_of(release.simulation)
    if impact is None or not impact.loud:
        return impact
    echo(_("warning: {message}").format(message="; ".join(_loud(release, impact))), err=True)
    hint = _(
        "the day it goes live, every customer it moves gets the steps of the new tier and"
        " level at once; see who moves with: guanxi simulate --rules {source} --baseline DIR"
        " --start {start} --days {days} (DIR: the rules in use)"
    ).format(source=release.source or "DIR", start=release.simulation["start"], days=impact.days)
    echo("  " + _("hint:") + " " + hint, err=True)
    return impact


def _loud(release: Release, impact: Impact) -> list[str]:
    """What makes the release loud: the share it moves, the follow-ups it adds."""
    found = []
    if impact.many_moved:
        found.append(
            _("release {id} classifies {moved} of {total} customers ({share}) differently").format(
                id=release.id,
                moved=f"{impact.moved:,}",
                total=f"{impact.customers:,}",
                share=_percent(impact.share),
            )
        )
    if impact.wave:
        message = _(
            "release {id} adds {added} follow-ups in {days} days, {ratio} times a normal day"
            " under the live release"
        )
        ratio = f"{impact.added / impact.normal_day:,.1f}"
        found.append(
            message.format(id=release.id, added=f"{impact.added:,}", days=impact.days, ratio=ratio)
        )
    return found
