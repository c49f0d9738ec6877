"""What the coverage counts say to a rule author: warnings at the rule, and the difference
from another rule project.

    catches-no-customer     a tier, level, strategy, table row or step that no customer reaches,
                            or a branch overlay for a branch no customer is of
    catches-every-customer  a rule with a condition that gets every customer: nothing is left
                            for the rules after it
    value-held-by-nobody    a text compared with a free-text field (no `values:`) that no
                            customer holds: a slip such as 公务元 for 公务员 drops every
                            customer it was meant for, while the rule still catches others
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from guanxi.engine.classify.coverage import Coverage, RuleCount, StepCount
from guanxi.engine.classify.held_values import Unheld
from guanxi.engine.diagnostics import Diagnostic, did_you_mean, sort_key
from guanxi.engine.i18n import N_, _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.ruleset import Origin

Lines = Mapping[str, Sequence[str]]
YAML_SUFFIXES = (".yaml", ".yml")
YAML_COMMENT = re.compile(r"(?:^|\s)#")  # a '#' that starts a comment: first, or after a space
BRANCHES_SHOWN = 5  # the largest branches of the store, named when an overlay's is none
VALUES_SHOWN = 5  # of a free-text field's values, the most held, when none is close
FEWEST_PARTS = 3  # of a condition's parts, the ones met least are the likely mistakes

KIND_WORDS = {"tier": N_("tier"), "level": N_("level"), "strategy": N_("strategy")}


def coverage_warnings(cov: Coverage, ruleset: RuleSet, lines: Lines) -> list[Diagnostic]:
    """One warning per rule or step that catches no customer, or a rule that catches all of
    them; none for an empty store (there is nothing to catch). `lines`: the rule files' lines,
    to point at the rule's name."""
    if cov.customers == 0:
        return []
    found = [_rule_warning(cov, ruleset, r, lines) for r in cov.rules if r.reached]
    found += [_step_warning(cov, s, lines) for s in cov.steps if s.customers == 0]
    found += [
        _consent_warning(cov, s, lines) for s in cov.steps if s.customers and s.consenting == 0
    ]
    found += [
        _branch_warning(cov, branch, origin, lines)
        for branch, origin in ruleset.branches.items()
        if not cov.branches.get(branch)
    ]
    unheld = sorted((_unheld_warning(u, ruleset) for u in cov.unheld), key=sort_key)
    return [d for d in found if d is not None] + unheld


def _unheld_warning(unheld: Unheld, ruleset: RuleSet) -> Diagnostic:
    at = unheld.compared
    label = ruleset.schema.fields[at.field].label if at.field in ruleset.schema.fields else None
    message = _(
        "'{value}' is held by no customer in the store ({field}: {count} customers have one)"
    ).format(
        value=at.value,
        field=f"{at.field} ({label})" if label else at.field,
        count=f"{unheld.holders:,}",
    )
    return Diagnostic(
        at.file,
        at.line,
        at.col,
        "value-held-by-nobody",
        message,
        hint=_held_hint(unheld),
        severity="warning",
        length=at.length,
    )


def _held_hint(unheld: Unheld) -> str:
    """The values it may have meant, else the ones held most."""
    field = unheld.compared.field
    if not unheld.held:
        return _("no customer in the store has a {field}: check that it is loaded").format(
            field=field
        )
    near = unheld.close()
    if near:
        shown = [
            _("'{value}' ({count} customers)").format(value=v, count=f"{n:,}") for v, n in near
        ]
        return _("did you mean {values}?").format(values=_(" or ").join(shown))
    common = ", ".join(f"'{v}' {n:,}" for v, n in unheld.held[:VALUES_SHOWN])
    return _("the {field} held most: {values}").format(field=field, values=common)


def _branch_warning(cov: Coverage, branch: str, origin: Origin, lines: Lines) -> Diagnostic:
    message = _(
        "{file} adjusts the rules for the customers of branch '{branch}', but none of the"
        " {total} customers is of it: the overlay changes nothing"
    ).format(file=Path(origin.file).name, branch=branch, total=f"{cov.customers:,}")
    largest = sorted(cov.branches, key=lambda name: -cov.branches[name])[:BRANCHES_SHOWN]
    hint = did_you_mean(branch, list(cov.branches)) or _(
        "name the file (or its branch: key) as the customers' branch field writes it: {branches}"
    ).format(branches=", ".join(largest) or _("no customer has a branch"))
    return warning_at(origin, branch, lines, "catches-no-customer", message, hint)


def _rule_warning(
    cov: Coverage, ruleset: RuleSet, rule: RuleCount, lines: Lines
) -> Diagnostic | None:
    total, kind = f"{cov.customers:,}", _kind(rule.kind)
    if rule.gets == 0 and rule.condition is None:
        message = _("{kind} '{name}' ({where}) gets 0 of {total} customers").format(
            kind=kind, name=rule.name, where=rule.where, total=total
        )
        hint = _("the {kind} rules above it already catch every customer").format(kind=kind)
        return warning_at(rule.origin, rule.name, lines, "catches-no-customer", message, hint)
    if rule.gets == 0:
        message = _(
            "{kind} '{name}' ({where}) gets 0 of {total} customers;"
            " its condition alone matches {alone}"
        ).format(kind=kind, name=rule.name, where=rule.where, total=total, alone=f"{rule.alone:,}")
        hint = _unknown_name(ruleset, rule) or _nobody_hint(rule)
        return warning_at(rule.origin, rule.name, lines, "catches-no-customer", message, hint)
    if rule.gets == cov.customers and rule.condition is not None:
        message = _("{kind} '{name}' ({where}) gets all {total} customers").format(
            kind=kind, name=rule.name, where=rule.where, total=total
        )
        hint = _(
            "no customer is left for the other {kind} rules: check its condition;"
            " a rule meant for everyone belongs last, without 'when:'"
        ).format(kind=kind)
        return warning_at(rule.origin, rule.name, lines, "catches-every-customer", message, hint)
    return None


def _nobody_hint(rule: RuleCount) -> str:
    if rule.alone == 0:
        return _nobody_meets(rule)
    return _(
        "the {count} customers it matches all get an earlier {kind}:"
        " move it up, or narrow the rules above it"
    ).format(count=f"{rule.alone:,}", kind=_kind(rule.kind))


def _nobody_meets(rule: RuleCount) -> str:
    """Which part of the condition no customer meets, or that each part is met by some
    customers but never all together."""
    never = [text for text, count in rule.parts if count == 0]
    if never:
        message = _("no customer in the store meets '{part}': check the value it compares with")
        return message.format(part=never[0])
    if rule.parts:
        fewest = sorted(rule.parts, key=lambda part: part[1])[:FEWEST_PARTS]
        counted = ", ".join(f"'{text}' {count:,}" for text, count in fewest)
        message = _(
            "each part is met by some customers, but none meets them all;"
            " the parts met least: {parts}"
        )
        return message.format(parts=counted)
    if rule.condition is not None:
        message = _("no customer in the store meets '{part}': check the value it compares with")
        return message.format(part=rule.condition)
    return _("no customer in the store meets its condition: check the values it compares with")


def _kind(kind: str) -> str:
    return _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind


def _unknown_name(ruleset: RuleSet, rule: RuleCount) -> str | None:
    """'low_valu' is not a tier: for a condition comparing tier, level or strategy with a
    name the project does not define."""
    names = {
        "tier": ruleset.tiers.names,
        "level": ruleset.levels.names,
        "strategy": ruleset.strategies.names if ruleset.strategies else (),
    }
    for kind, value in _compared_names(rule, ruleset):
        if value not in names[kind]:
            suggestion = did_you_mean(value, names[kind])
            message = _("'{value}' is not a {kind}").format(value=value, kind=_kind(kind))
            return message + (f"; {suggestion}" if suggestion else "")
    return None


def _compared_names(rule: RuleCount, ruleset: RuleSet) -> Iterable[tuple[str, str]]:
    ladder = {"tier": ruleset.tiers, "level": ruleset.levels, "strategy": ruleset.strategies}
    found = ladder[rule.kind]
    rules = found.rules if found is not None else ()
    condition = next((r.condition for r in rules if r.origin == rule.origin), None)
    if condition is None:
        return
    for column in condition.tree.find_all(exp.Column):
        parent = column.parent
        if column.name in ladder and isinstance(parent, exp.EQ | exp.NEQ | exp.In):
            for literal in parent.find_all(exp.Literal):
                if literal.is_string:
                    yield column.name, literal.this


def _step_warning(cov: Coverage, step: StepCount, lines: Lines) -> Diagnostic:
    of_level = cov.of_level(step.level)
    level = _("any level") if step.level == "all" else _("level '{name}'").format(name=step.level)
    message = _("step '{id}' ({file} line {line}) could act on 0 of {total} customers").format(
        id=step.step,
        file=Path(step.origin.file).name,
        line=step.origin.line,
        total=f"{cov.customers:,}",
    )
    if of_level == 0:
        hint = _("no customer has {level}").format(level=level)
    else:
        hint = _("none of the {count} customers of {level} meets its when: {when}").format(
            count=f"{of_level:,}", level=level, when=step.when
        )
    return warning_at(step.origin, step.step, lines, "catches-no-customer", message, hint)


def _consent_warning(cov: Coverage, step: StepCount, lines: Lines) -> Diagnostic:
    message = _(
        "step '{id}' ({file} line {line}) could act on {count} customers, but none of them"
        " consents to its channel ({field}): every follow-up would be suppressed"
    ).format(
        id=step.step,
        file=Path(step.origin.file).name,
        line=step.origin.line,
        count=f"{step.customers:,}",
        field=step.consent_field,
    )
    hint = _("send it on a channel its customers consent to, or on channel: preferred")
    return warning_at(step.origin, step.step, lines, "catches-no-customer", message, hint)


def warning_at(
    origin: Origin, name: str, lines: Lines, code: str, message: str, hint: str
) -> Diagnostic:
    """A warning pointing at `name` on the rule's line (else at the line's start), never
    into a comment after it or on that line."""
    source = lines.get(origin.file, ())
    text = source[origin.line - 1] if 0 < origin.line <= len(source) else ""
    if origin.file.endswith(YAML_SUFFIXES):
        text = YAML_COMMENT.split(text, maxsplit=1)[0]
    start = text.find(name)
    col = start + 1 if start >= 0 else 1
    length = len(name) if start >= 0 else 1
    return Diagnostic(
        origin.file, origin.line, col, code, message, hint=hint, severity="warning", length=length
    )


@dataclass(frozen=True)
class Difference:
    """One rule or step under both projects; None where a project does not have it."""

    kind: str  # tier, level, strategy or step
    name: str
    rules: int | None
    against: int | None

    @property
    def delta(self) -> int | None:
        return None if self.rules is None or self.against is None else self.rules - self.against

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "rules": self.rules,
            "against": self.against,
            "delta": self.delta,
        }


def differences(mine: Coverage, theirs: Coverage) -> list[Difference]:
    """Customers each tier, level, strategy and step gets under both projects, by name (the
    rows of one name in a decision table add up), in the order of `mine`, then theirs."""
    ours, other = _totals(mine), _totals(theirs)
    keys = list(ours) + [k for k in other if k not in ours]
    return [Difference(k[0], k[1], ours.get(k), other.get(k)) for k in keys]


def _totals(cov: Coverage) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for rule in cov.rules:
        key = (rule.kind, rule.name)
        totals[key] = totals.get(key, 0) + rule.gets
    for step in cov.steps:
        totals[("step", step.step)] = step.customers
    return totals
