"""`guanxi rules --branch B`: the rules in effect for one branch's customers."""

from __future__ import annotations

from pathlib import Path

import click

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.branches import branch_view


def print_branch(ruleset: RuleSet, branch: str, as_json: bool) -> None:
    from guanxi.cli.output import print_json

    branch = same_id(branch)  # as the overlays' names are read
    if branch not in ruleset.branches:
        message = _("no overlay for branch '{branch}' in branches/").format(branch=branch)
        hint = did_you_mean(branch, list(ruleset.branches))
        known = ", ".join(ruleset.branches) or _("none")
        listed = _("overlays: {names}").format(names=known)
        raise click.ClickException(f"{message} ({hint or listed})")
    if as_json:
        print_json(branch_view(ruleset, branch))
        return
    _print_effective(ruleset, branch)


def _print_effective(ruleset: RuleSet, branch: str) -> None:
    from rich.markup import escape

    from guanxi.cli.main import LADDER_TITLES
    from guanxi.cli.output import console, table

    out = console()
    mark = branch  # in the column of the rules the branch wrote itself
    out.print(
        _("rules in effect for the customers of {branch} (rule-set {hash})").format(
            branch=escape(branch), hash=ruleset.hash
        )
    )
    for ladder in (ruleset.tiers, ruleset.levels, ruleset.strategies):
        if ladder is None:
            continue
        rows = []
        for rule in ladder.rules:
            condition, origin, own = rule.seen_by(branch)
            text = condition.compiled_text if condition else _("(others)")
            rows.append(
                (
                    rule.name,
                    rule.label,
                    text,
                    f"{_file(origin.file)}:{origin.line}",
                    mark if own else "",
                )
            )
        title = _(LADDER_TITLES[ladder.kind]).format(policy=ladder.hit_policy)
        out.print(table(title, [_("name"), _("标签"), "when", _("rule"), _("branch")], rows))
    steps = [
        (
            s.level,
            s.id,
            s.step.after or "",
            s.step.channel,
            f"{_file(s.origin.file)}:{s.origin.line}",
            mark if s.branch else "",
        )
        for s in ruleset.steps
        if s.applies_to(branch)
    ]
    headings = [_("level"), _("step"), "after", _("channel"), _("rule"), _("branch")]
    out.print(table(_("playbook steps"), headings, steps))
    off = branch_view(ruleset, branch)["switched_off"]
    for item in off:
        out.print(
            _("switched off for {branch}: {step} ({origin})").format(
                branch=branch, step=item["step"], origin=item["origin"]
            ),
            markup=False,
        )
    _print_capacity(ruleset, branch)


def _print_capacity(ruleset: RuleSet, branch: str) -> None:
    from guanxi.cli.output import console

    own = ruleset.capacities.get(branch)
    head = ruleset.tasks_per_day(None)
    if own is not None:
        origin = f"{_file(own.origin.file)}:{own.origin.line}"
        line = _(
            "capacity: {n} tasks a day per relationship manager for this branch's customers"
            " (head office: {head}; {origin})"
        ).format(n=own.tasks_per_day, head=head, origin=origin)
    elif head is not None:
        line = _("capacity: {n} tasks a day per relationship manager (head office)").format(n=head)
    else:
        return
    console().print(line, markup=False)


def _file(path: str) -> str:
    """A rule's file within the project: tiers.yaml, branches/长沙分行.yaml."""
    shown = Path(path)
    return f"{shown.parent.name}/{shown.name}" if shown.parent.name == "branches" else shown.name
