"""Nothing silently empties a group: a run compared with the store's run before it, with a
warning at the rule to look at when the customers moved as a mistake moves them.

    group-emptied   a tier, level or strategy that held at least EMPTIED_SHARE (1 %) of the
                    customers, or at least EMPTIED_CUSTOMERS (100), holds none now
    group-shrinks   such a group keeps some customers but lost at least SHRUNK_SHARE (90 %)
                    of them, at least SHRUNK_CUSTOMERS (50)
    group-swallows  one tier, level or strategy (or none: no rule caught them) holds more
                    than SWALLOW_SHARE (90 %) of the customers, where it held less than
                    SWALLOWED_BEFORE (50 %)

The thresholds are for mistakes, not for the drift of a normal night: a group of 3 customers
among 10 million may empty on its own; 100 customers, or one in a hundred, do not leave
together without a cause, and a group does not go from under half to nine in ten of the
customers in one night. A threshold typed ten times too high (1000000 for 100000, 万 on an
amount already in 万元) rarely empties a group: it leaves it the few customers above the new
line, so losing nine in ten is warned as emptying is. Both runs are counted already (the
report's distribution and the previous run's `classification_runs.counts`): comparing them
costs no pass over customers.

The runs compare what the customers are assigned: a ladder's `hold:` keeps customers in
their group for some runs, so a warning comes at the run where they actually move (once: the
runs after it move no one), and says the hold kept them. The run where the rules' answers
empty, shrink or swallow a group while the hold still keeps its customers is warned too, once
(the answers of the runs after it are the same): it is the time to revert a mistake, before
the customers move and their on_leave and on_fall steps are planned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guanxi.engine.classify.coverage_warnings import KIND_WORDS, warning_at
from guanxi.engine.classify.hold import holds
from guanxi.engine.classify.report import Groups, HeldGroup, PreviousRun, RunReport
from guanxi.engine.diagnostics import Diagnostic, sort_key
from guanxi.engine.i18n import _, ngettext
from guanxi.engine.ruleset import CompiledRule, Ladder, RuleSet

EMPTIED_SHARE = 0.01
EMPTIED_CUSTOMERS = 100
SHRUNK_SHARE = 0.90
SHRUNK_CUSTOMERS = 50  # fewer may cross a line together in a normal night
SWALLOW_SHARE = 0.90
SWALLOWED_BEFORE = 0.50

Lines = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Shift:
    """One group whose share moved past a threshold between two runs."""

    code: str  # group-emptied, group-shrinks or group-swallows
    kind: str  # tier, level or strategy
    group: str | None  # None: the customers no rule of the ladder caught
    before: int
    before_total: int
    now: int
    now_total: int


def shifts(before: Groups, now: Groups, kinds: Sequence[str]) -> list[Shift]:
    """The groups of `kinds` that emptied, shrank or swallowed the customers from `before`
    to `now`."""
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
    lost = before - now
    if group is not None and before > 0 and held:
        if now == 0:
            return "group-emptied"
        if lost >= SHRUNK_CUSTOMERS and lost >= SHRUNK_SHARE * before:
            return "group-shrinks"
    if now / total > SWALLOW_SHARE and before / before_total < SWALLOWED_BEFORE:
        return "group-swallows"
    return None


def shift_warnings(report: RunReport, ruleset: RuleSet, lines: Lines) -> list[Diagnostic]:
    """A warning at the likely rule for each group `report`'s run emptied, shrank or made
    swallow the customers, against the run before it; none for a store's first run.
    `lines`: the rule files' lines (`ladder_lines`), to point at the group's name."""
    previous = report.previous
    if previous is None:
        return []
    ladders, now = _ladders(ruleset), report.assigned()
    moved = shifts(previous.groups, now, list(ladders))
    warnings = [
        _Warning(shift, ladders[shift.kind], previous, report, ruleset).diagnostic(lines, now)
        for shift in moved
    ]
    return sorted(warnings + _held_warnings(report, ruleset, lines, moved), key=sort_key)


def _held_warnings(
    report: RunReport, ruleset: RuleSet, lines: Lines, moved: Sequence[Shift]
) -> list[Diagnostic]:
    """A warning for each group the rules' answers emptied, shrank or made swallow the
    customers at this run while a `hold:` keeps the customers where they are."""
    previous = report.previous
    assert previous is not None
    ladders, answers, hold = _ladders(ruleset), report.groups(), holds(ruleset)
    warned = {(s.code, s.kind, s.group) for s in moved}
    return [
        _Warning(s, ladders[s.kind], previous, report, ruleset, hold[s.kind] - 1).diagnostic(
            lines, answers
        )
        for s in shifts(previous.answered(), answers, list(ladders))
        if (s.code, s.kind, s.group) not in warned and _holding(s, report.held_groups)
    ]


def _holding(shift: Shift, held: Sequence[HeldGroup]) -> list[HeldGroup]:
    """The customers of `held` a hold keeps in the group `shift` empties or shrinks (or out
    of the group it makes swallow)."""
    emptying = shift.code in ("group-emptied", "group-shrinks")
    return [
        h
        for h in held
        if h.kind == shift.kind and (h.kept if emptying else h.waiting) == shift.group
    ]


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
    more_runs: int = 0  # runs a `hold:` still keeps the customers where they are (0: moved)

    def diagnostic(self, lines: Lines, now: Groups) -> Diagnostic:
        rule = self.rule()
        message, parts = self.message(), [self.cause(), self.look(), self.grew(now)]
        if self.more_runs:  # what to do before they move, where an emptied group's went
            message = f"{message}; {self.kept()}"
            parts[2] = _("act before they move: their on_leave/on_fall steps are planned then")
        hint = "; ".join(p for p in parts if p)
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

    def message(self) -> str:
        if self.more_runs:
            answers = {"group-emptied": self.answers_empty, "group-shrinks": self.answers_shrink}
            return answers.get(self.shift.code, self.answers_swallow)()
        messages = {"group-emptied": self.emptied, "group-shrinks": self.shrinks}
        return messages.get(self.shift.code, self.swallows)()

    def kept(self) -> str:
        return ngettext(
            "'hold:' keeps them where they are for {n} more run",
            "'hold:' keeps them where they are for {n} more runs",
            self.more_runs,
        ).format(n=self.more_runs)

    def numbers(self) -> dict[str, str]:
        """The shift's counts and shares, as the messages show them."""
        s = self.shift
        return {
            "group": self.group(),
            "run": self.last_run(),
            "before": f"{s.before:,}",
            "before_total": f"{s.before_total:,}",
            "before_share": _share(s.before, s.before_total),
            "now": f"{s.now:,}",
            "total": f"{s.now_total:,}",
            "now_share": _share(s.now, s.now_total),
            "lost": _share(s.before - s.now, s.before),
        }

    def answers_empty(self) -> str:
        return _(
            "the rules' answers empty {group}: {before} → 0 of {total} customers since {run}"
        ).format(**self.numbers())

    def answers_shrink(self) -> str:
        return _(
            "the rules' answers shrink {group}: {before} → {now} of {total} customers since"
            " {run} ({lost} would leave)"
        ).format(**self.numbers())

    def answers_swallow(self) -> str:
        return _(
            "the rules' answers put {now} of {total} customers ({now_share}) in {group}:"
            " {before} ({before_share}) at {run}"
        ).format(**self.numbers())

    def emptied(self) -> str:
        n = self.numbers()
        return _(
            "{group} held {before} of {before_total} customers ({share}) at the last"
            " classification ({run}); it holds none of the {total} now"
        ).format(**n, share=n["before_share"])

    def shrinks(self) -> str:
        n = self.numbers()
        return _(
            "{group} held {before} of {before_total} customers ({share}) at the last"
            " classification ({run}); {now} of the {total} now ({now_share}): {lost} of them left"
        ).format(**n, share=n["before_share"])

    def swallows(self) -> str:
        n = self.numbers()
        return _(
            "{group} now holds {now} of {total} customers ({share}); at the last"
            " classification ({run}) it held {before} of {before_total} ({before_share})"
        ).format(**n, share=n["now_share"])

    @property
    def emptying(self) -> bool:
        return self.shift.code in ("group-emptied", "group-shrinks")

    def released(self) -> list[HeldGroup]:
        """The customers the run before kept in (or out of) the group by a `hold:`: the ones
        that most likely moved now, their hold over."""
        return [] if self.more_runs else _holding(self.shift, self.previous.held_groups)

    @property
    def since(self) -> int | None:
        """The run the released customers' new answer first came out of (None: none held)."""
        return min((h.since for h in self.released()), default=None)

    @property
    def old_rules(self) -> str:
        """The rules the moved customers were assigned under: the run before's, or for a
        hold's release, those before the run the new answer first came out of."""
        if self.since is None:
            return self.previous.ruleset_hash
        return self.previous.rules_before.get(self.since) or self.previous.ruleset_hash

    @property
    def same_rules(self) -> bool:
        return self.old_rules == self.report.ruleset_hash

    def cause(self) -> str:
        if self.since is not None:  # the hint must stay short: no hashes, the run says when
            if self.same_rules:
                return _(
                    "the rules are the same: the data changed at run {run}, 'hold:' kept them"
                    " until now"
                ).format(run=self.since)
            return _("the rules changed at run {run}, 'hold:' kept them until now").format(
                run=self.since
            )
        if self.same_rules:
            return _("the rules are the same as at that run: the customers' data changed")
        if self.more_runs:  # the hint must stay short
            return _("the rules changed since that run")
        return _("the rules changed since that run ({old} → {new})").format(
            old=self.old_rules, new=self.report.ruleset_hash
        )

    def look(self) -> str:
        """What to check: the last load when the rules are the same, else the likely rule."""
        s = self.shift
        if self.same_rules and self.since is not None:
            return _("check that load (a column missing or empty, amounts in other units)")
        if self.same_rules:
            return _("check the last load (a column missing or empty, amounts in other units)")
        if s.group is not None and s.group not in self.ladder.names:
            return _("'{name}' is no longer a {kind}: renamed or removed on purpose?").format(
                name=s.group, kind=self.kind
            )
        if s.code == "group-shrinks":
            return _(
                "check its condition and the {kind} rules above it: a threshold 10 times too high?"
            ).format(kind=self.kind)
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
        if not self.emptying:
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
    return f"{count / total:.1%}" if total else "0.0%"  # a group that held nobody lost nobody
