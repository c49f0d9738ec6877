"""`guanxi validate --store STORE` and `guanxi rules --store STORE`: how many of the store's
customers each tier, level, strategy, table row and playbook step catches, with a warning at
each rule that catches none (or all); `--against PROJECT` sets another project beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from guanxi.cli.common import given_now, opened_store, store_failures, validated
from guanxi.cli.coverage_options import CoverageRequest
from guanxi.cli.output import console, print_diagnostics, print_json, rich_table
from guanxi.engine.classify.coverage import Coverage, coverage
from guanxi.engine.classify.coverage_warnings import Difference, coverage_warnings, differences
from guanxi.engine.diagnostics import Diagnostic, nothing_changed
from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import decision_kind_word
from guanxi.engine.report.model import Column, Table, share
from guanxi.engine.ruleset import RuleSet, validate_project
from guanxi.engine.store.base import is_postgresql, shown_location


def validate_with_store(folder: Path, request: CoverageRequest, as_json: bool) -> None:
    """`validate --store`: the project's diagnostics and the coverage warnings, then the
    counts (stdout); exit 1 on errors only."""
    if not folder.is_dir():
        raise click.UsageError(
            _("'{folder}' is not a folder with a rule project").format(folder=folder)
        )
    result = validate_project(folder)
    if result.ruleset is None:
        _failed(folder, result.diagnostics, result.lines, as_json)
    assert result.ruleset is not None
    counted = _count(result.ruleset, request)
    diagnostics = result.diagnostics + coverage_warnings(counted[0], result.ruleset, result.lines)
    if as_json:
        print_json({"diagnostics": [d.as_json() for d in diagnostics], **_as_dict(*counted)})
        return
    print_diagnostics(diagnostics, result.lines)
    _show(folder, request, *counted)
    valid = _("{folder}: valid (rule-set hash {hash})")
    click.echo(valid.format(folder=folder, hash=result.ruleset.hash), err=True)


def rules_with_store(
    folder: Path, request: CoverageRequest, summary: Callable[[RuleSet], None] | None
) -> None:
    """`rules --store`: the summary (`summary` prints it; None: as JSON), then the counts."""
    result = validate_project(folder)
    if result.ruleset is None:
        _failed(folder, result.diagnostics, result.lines, as_json=False)
    ruleset = result.ruleset
    assert ruleset is not None
    counted = _count(ruleset, request)
    warnings = coverage_warnings(counted[0], ruleset, result.lines)
    print_diagnostics(result.diagnostics + warnings, result.lines)
    if summary is None:
        print_json({**ruleset.summary(), **_as_dict(*counted)})
        return
    summary(ruleset)
    _show(folder, request, *counted)


def _failed(
    folder: Path, diagnostics: list[Diagnostic], lines: dict[str, list[str]], as_json: bool
) -> None:
    if as_json:
        print_json({"diagnostics": [d.as_json() for d in diagnostics], "coverage": None})
    else:
        print_diagnostics(diagnostics, lines)
        errors = sum(1 for d in diagnostics if d.severity == "error")
        click.echo(nothing_changed(folder, errors), err=True)
    raise SystemExit(1)


def _count(ruleset: RuleSet, request: CoverageRequest) -> tuple[Coverage, Coverage | None]:
    """The counts under the project and, with --against, under the other one."""
    other = validated(request.against, as_json=False) if request.against else None
    now = given_now(request.now_text, ruleset)
    where = request.store or ruleset.settings.store
    if not is_postgresql(where) and not Path(where).is_file():
        raise click.ClickException(
            _("no store at '{store}': give the store the customers were loaded into").format(
                store=where
            )
        )
    store = opened_store(ruleset, where, migrate=False)
    try:
        return coverage(store, ruleset, now), coverage(
            store, other, now, with_unheld=False
        ) if other else None
    except store_failures() as error:
        message = _("cannot read the store '{store}': {error}").format(
            store=shown_location(where), error=error
        )
        raise click.ClickException(message) from None
    finally:
        store.close()


def _as_dict(mine: Coverage, theirs: Coverage | None) -> dict[str, Any]:
    if theirs is None:
        return {"coverage": mine.to_dict()}
    found = [d.to_dict() for d in differences(mine, theirs)]
    return {"coverage": mine.to_dict(), "against": theirs.to_dict(), "differences": found}


def _show(folder: Path, request: CoverageRequest, mine: Coverage, theirs: Coverage | None) -> None:
    out = console()
    where = shown_location(request.store or "")
    if mine.customers == 0:
        out.print(
            _(
                "the store {store} has no customers: nothing to count"
                " (load them with 'guanxi load customers FILE')"
            ).format(store=where),
            markup=False,
        )
        return
    counted = _("{count} customers in {store}, as of {today}").format(
        count=f"{mine.customers:,}", store=where, today=mine.today
    )
    out.print(counted, markup=False)
    for kind in ("tier", "level", "strategy"):
        _ladder_table(out, mine, kind)
    _steps_table(out, mine)
    if theirs is not None:
        _differences_table(out, folder, request, differences(mine, theirs))


def _ladder_table(out: Any, cov: Coverage, kind: str) -> None:
    rows = [
        (r.name, r.where, r.alone, share(r.alone, cov.customers), *_gets(cov, r.gets, r.reached))
        for r in cov.rules
        if r.kind == kind
    ]
    if not rows:
        return
    if cov.unmatched.get(kind):
        rows.append(
            (
                _("(no {kind})").format(kind=decision_kind_word(kind)),
                "",
                None,
                None,
                *_gets(cov, cov.unmatched[kind], True),
            )
        )
    columns = (
        Column(kind, decision_kind_word(kind)),
        Column("rule", _("rule")),
        Column("alone", _("condition alone"), "count"),
        Column("alone_share", "%", "share"),
        Column("gets", _("gets (first hit)"), "count"),
        Column("gets_share", "%", "share"),
    )
    title = _("{kind}: customers each rule catches").format(kind=decision_kind_word(kind))
    out.print(rich_table(Table(kind, title, columns, tuple(rows))))


def _gets(cov: Coverage, gets: int, reached: bool) -> tuple[int | None, float | None]:
    """What a rule gets; nothing for a rule after a catch-all (never tried)."""
    return (gets, share(gets, cov.customers)) if reached else (None, None)


def _steps_table(out: Any, cov: Coverage) -> None:
    rows = tuple(
        (
            s.level,
            s.step,
            (s.when or "") + ("" if s.when_counted else " " + _("(reads the event: not counted)")),
            s.customers,
            share(s.customers, cov.customers),
        )
        for s in cov.steps
    )
    columns = (
        Column("level", _("level")),
        Column("step", _("step")),
        Column("when", "when"),
        Column("customers", _("could act on"), "count"),
        Column("share", "%", "share"),
    )
    title = _("playbook steps: customers of the step's level who meet its when:")
    out.print(rich_table(Table("steps", title, columns, rows)))


def _differences_table(
    out: Any, folder: Path, request: CoverageRequest, found: list[Difference]
) -> None:
    rows = tuple((d.kind, d.name, d.rules, d.against, d.delta) for d in found)
    columns = (
        Column("kind", ""),
        Column("name", _("name")),
        Column("rules", str(folder), "count"),
        Column("against", str(request.against), "count"),
        Column("delta", _("difference"), "count"),
    )
    title = _("customers each gets: {rules} against {against}").format(
        rules=folder, against=request.against
    )
    out.print(rich_table(Table("differences", title, columns, rows)))
