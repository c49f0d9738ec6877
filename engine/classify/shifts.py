"""Nothing silently empties a group: a run compared with the store's run before it, with a
warning at the rule to look at when the customers moved as a mistake moves them.

    group-emptied   a tier, level or strategy that held at least EMPTIED_SHARE (1 %) of the
                    customers, or at least EMPTIED_CUSTOMERS (100), holds none now
    group-swallows  one tier, level or strategy (or none: no rule caught them) holds more
                    than SWALLOW_SHARE (90 %) of the customers, where it held less than
                    SWALLOWED_BEFORE (50 %)

The thresholds are for mistakes, not for the drift of a normal night: a group of 3 customers
among 10 million may empty on its own; 100 customers, or one in a hundred, do not leave
together without a cause, and a group does not go from under half to nine in ten of the
customers in one night. Both runs are counted already (the report's distribution and the
previous run's `classification_runs.counts`): comparing them costs no pass over customers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guanxi.engine.classify.coverage_warnings import KIND_WORDS, warning_at
from guanxi.engine.classify.report import Groups, PreviousRun, RunReport
from guanxi.engine.diagnostics import Diagnostic, sort_key
from guanxi.engine.i18n import _
from guanxi.engine.ruleset import CompiledRule, Ladder, RuleSet

EMPTIED_SHARE = 0.01
EMPTIED_CUSTOMERS = 100
SWALLOW_SHARE = 0.90
SWALLOWED_BEFORE = 0.50

Lines = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Shift:
    """One group whose share moved past a threshold between two runs."""

    code: str  # group-emptied or group-swallows
    kind: str  # tier, level or strategy
    group: str | None  # None: the customers no rule of the ladder caught
    before: int
    before_total: int
    now: int
    now_total: int


def shifts(before: Groups, now: Groups, kinds: Sequence[str]) -> list[Shift]:
    """The groups of `kinds` that emptied or swallowed the customers from `before` to `now`."""
    found: list[Shift] = []
    for kind in kinds:
        old, new = before.get(kind, {}), now.get(kind, {})
        old_total, new_total = sum(old.values()), sum(new.values())
        if old_total == 0 or new_total == 0:
            continue
        for group in [*old, *(g for g in new if g not in old)]:
            counts = (old.get(group, 0), old_total, new.get(group, 0), new_total)
            code = _moved(group, *counts)
            if code is not None:
                found.append(Shift(code, kind, group, *counts))
    return found


def _moved(group: str | None, before: int, before_total: int, now: int, total: int) -> str | None:
    held = before >= EMPTIED_CUSTOMERS or before / before_total >= EMPTIED_SHARE
    if group is not None and now == 0 and before > 0 and held:
        return "group-emptied"
    if now / total > SWALLOW_SHARE and before / before_total < SWALLOWED_BEFORE:
        return "group-swallows"
    return None


def shift_warnings(report: RunReport, ruleset: RuleSet, lines: Lines) -> list[Diagnostic]:
    """A warning at the likely rule for each group `report`'s run emptied or made swallow
    the customers, against the run before it; none for a store's first run. `lines`: the
    rule files' lines (`ladder_lines`), to point at the group's name."""
    previous = report.previous
    if previous is None:
        return []
    ladders, now = _ladders(ruleset), report.groups()
    found = shifts(previous.groups, now, list(ladders))
    warnings = [
        _Warning(shift, ladders[shift.kind], previous, report, ruleset).diagnostic(lines, now)
        for shift in found
    ]
    return sorted(warnings, key=sort_key)


def _ladders(ruleset: RuleSet) -> dict[str, Ladder]:
    found = {"tier": ruleset.tiers, "level": ruleset.levels}
    return found | ({"strategy": ruleset.strategies} if ruleset.strategies else {})


def ladder_lines(ruleset: RuleSet) -> dict[str, list[str]]:
    """The lines of the files the ladders were read from (unreadable ones left out)."""
    found: dict[str, list[str]] = {}
    for ladder in _ladders(ruleset).values():
        for file in {rule.origin.file for rule in ladder.rules} - set(found):
            try:
                found[file] = Path(file).read_text("utf-8-sig").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
    return found


@dataclass(frozen=True)
class _Warning:
    shift: Shift
    ladder: Ladder
    previous: PreviousRun
    report: RunReport
    ruleset: RuleSet

    def diagnostic(self, lines: Lines, now: Groups) -> Diagnostic:
        rule = self.rule()
        message = self.emptied() if self.shift.code == "group-emptied" else self.swallows()
        hint = "; ".join(p for p in (self.cause(), self.look(), self.grew(now)) if p)
        name = self.shift.group or rule.name
        return warning_at(rule.origin, name, lines, self.shift.code, message, hint)

    def rule(self) -> CompiledRule:
        """The group's first rule; for no group, or one the rules no longer have, the last."""
        named = [r for r in self.ladder.rules if r.name == self.shift.group]
        return named[0] if named else self.ladder.rules[-1]

    @property
    def kind(self) -> str:
        return _(KIND_WORDS[self.shift.kind])

    def group(self) -> str:
        if self.shift.group is None:
            return _("(no {kind})").format(kind=self.kind)
        name, label = self.shift.group, self.ladder.label_of(self.shift.group)
        if not label or label == name:
            return f"{self.kind} '{name}'"
        return _("{kind} '{name}' ({label})").format(kind=self.kind, name=name, label=label)

    def last_run(self) -> str:
        day = self.previous.started_at.astimezone(self.ruleset.calendar.zone).date()
        return _("run {run} of {day}").format(run=self.previous.run_id, day=day.isoformat())

    def emptied(self) -> str:
        s = self.shift
        return _(
            "{group} held {before} of {before_total} customers ({share}) at the last"
            " classification ({run}); it holds none of the {total} now"
        ).format(
            group=self.group(),
            before=f"{s.before:,}",
            before_total=f"{s.before_total:,}",
            share=_share(s.before, s.before_total),
            run=self.last_run(),
            total=f"{s.now_total:,}",
        )

    def swallows(self) -> str:
        s = self.shift
        return _(
            "{group} now holds {now} of {total} customers ({share}); at the last"
            " classification ({run}) it held {before} of {before_total} ({before_share})"
        ).format(
            group=self.group(),
            now=f"{s.now:,}",
            total=f"{s.now_total:,}",
            share=_share(s.now, s.now_total),
            run=self.last_run(),
            before=f"{s.before:,}",
            before_total=f"{s.before_total:,}",
            before_share=_share(s.before, s.before_total),
        )

    @property
    def same_rules(self) -> bool:
        return self.previous.ruleset_hash == self.report.ruleset_hash

    def cause(self) -> str:
        if self.same_rules:
            return _("the rules are the same as at that run: the customers' data changed")
        return _("the rules changed since that run ({old} → {new})").format(
            old=self.previous.ruleset_hash, new=self.report.ruleset_hash
        )

    def look(self) -> str:
        """What to check: the last load when the rules are the same, else the likely rule."""
        s = self.shift
        if self.same_rules:
            return _("check the last load (a column missing or empty, amounts in other units)")
        if s.group is not None and s.group not in self.ladder.names:
            return _("'{name}' is no longer a {kind}: renamed or removed on purpose?").format(
                name=s.group, kind=self.kind
            )
        if s.code == "group-emptied":
            return _("check its condition and the {kind} rules above it").format(kind=self.kind)
        if s.group is None:
            return _(
                "no {kind} rule catches them: check the conditions, or end the list with a"
                " rule without 'when:'"
            ).format(kind=self.kind)
        condition = self.rule().condition
        if condition is None or condition.is_always_true:
            return _(
                "it is the rule for everyone left: check the conditions of the {kind} rules"
                " above it"
            ).format(kind=self.kind)
        return _("check its condition: it now catches most customers (元 where 万元 was meant?)")

    def grew(self, now: Groups) -> str | None:
        """Where an emptied group's customers most likely went: the group that grew most."""
        if self.shift.code != "group-emptied":
            return None
        before = self.previous.groups.get(self.shift.kind, {})
        grown = {g: n - before.get(g, 0) for g, n in now.get(self.shift.kind, {}).items()}
        if not grown or max(grown.values()) <= 0:
            return None
        to = max(grown, key=lambda g: grown[g])
        group = _("(no {kind})").format(kind=self.kind) if to is None else f"'{to}'"
        return _("the one that grew most: {group} (+{count})").format(
            group=group, count=f"{grown[to]:,}"
        )


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%}"
