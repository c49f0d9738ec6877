"""A scenario's `expect:` against what the pipeline decided: the differences, worded for the
people who wrote the scenario ("expected tier valuable, got low_value").

Follow-ups: each expected one needs a follow-up of its own (two expected calls need two
calls). `followups:` match those that will happen (pending, possibly deferred by a policy);
`suppressed:` those a policy suppressed or the step cancelled; `no_followups:` steps none of
whose follow-ups will happen. Other planned follow-ups are allowed. When a follow-up
expectation fails, the difference lists the expected ones not found (-) and the planned ones
no expectation took (+).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import N_, _
from guanxi.engine.i18n.terms import status_word
from guanxi.engine.ruleset.models import Expectation, ExpectedFollowup
from guanxi.engine.scenarios.replay import Outcome, Planned


@dataclass(frozen=True)
class Difference:
    """One failed expectation: `what` failed (tier, level, strategy, gold, follow-ups,
    measures), a one-line message, and for follow-ups the -/+ lines."""

    what: str
    message: str
    lines: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "message": self.message, "lines": list(self.lines)}


def differences(expect: Expectation, outcome: Outcome, zone: dt.tzinfo) -> list[Difference]:
    found = [d for d in (_assignment(expect, outcome, k) for k in ASSIGNED) if d is not None]
    followups = _Followups(outcome.followups, zone)
    followups.expect(expect.followups, happens=True)
    followups.expect(expect.suppressed, happens=False)
    followups.forbid(expect.no_followups)
    if followups.missing:
        found.append(followups.difference())
    for name, wanted in expect.measures.items():
        got = outcome.measures.get(name)
        if not _same(wanted, got):
            found.append(_measure(name, wanted, got))
    return found


def _same(wanted: float | None, got: Any) -> bool:
    """Equal up to the last digits of a double (engines add in different orders)."""
    if wanted is None or got is None:
        return wanted is None and got is None
    return math.isclose(float(got), wanted, rel_tol=1e-9, abs_tol=1e-9)


def _measure(name: str, wanted: float | None, got: Any) -> Difference:
    message = _("expected measure {name} {wanted}, got {got}").format(
        name=name, wanted=_number(wanted), got=_number(got)
    )
    return Difference("measures", message)


def _number(value: Any) -> str:
    """A measure as people write it: 2, 2.75, 3.333333 (six decimals at most)."""
    if value is None:
        return _word(None)
    return f"{round(float(value), 6):f}".rstrip("0").rstrip(".")


ASSIGNED = ("tier", "level", "strategy", "gold")
EXPECTED = {
    "tier": N_("expected tier {wanted}, got {got}"),
    "level": N_("expected level {wanted}, got {got}"),
    "strategy": N_("expected strategy {wanted}, got {got}"),
    "gold": N_("expected gold {wanted}, got {got}"),
}


def _assignment(expect: Expectation, outcome: Outcome, what: str) -> Difference | None:
    wanted, got = getattr(expect, what), getattr(outcome, what)
    if wanted is None or wanted == got:
        return None
    return Difference(what, _(EXPECTED[what]).format(wanted=_word(wanted), got=_word(got)))


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return _("(none)") if value is None else str(value)


class _Followups:
    """Matches expectations to planned follow-ups, each planned one taken at most once."""

    def __init__(self, planned: tuple[Planned, ...], zone: dt.tzinfo) -> None:
        self.planned, self.zone = planned, zone
        self.taken: set[int] = set()
        self.missing: list[tuple[int, str]] = []  # (place in the scenario, description)
        self.forbidden: set[int] = set()
        self.written = 0  # expectations seen so far: their order in the scenario

    def expect(self, expected: tuple[ExpectedFollowup, ...], happens: bool) -> None:
        # the most specific first, so that a vague expectation does not take what a precise
        # one needs
        ordered = sorted(enumerate(expected), key=lambda item: -_specificity(item[1]))
        for place, wanted in ordered:
            index = self._find(wanted, happens)
            if index is None:
                self.missing.append((self.written + place, describe_expected(wanted, happens)))
            else:
                self.taken.add(index)
        self.written += len(expected)

    def _find(self, wanted: ExpectedFollowup, happens: bool) -> int | None:
        for index, planned in enumerate(self.planned):
            free = index not in self.taken and planned.happens == happens
            if free and matches(wanted, planned, self.zone):
                return index
        return None

    def forbid(self, steps: tuple[str, ...]) -> None:
        for step in steps:
            found = [i for i, p in enumerate(self.planned) if p.step == step and p.happens]
            if found:
                unwanted = _("no {step} follow-up that happens").format(step=step)
                self.missing.append((self.written, unwanted))
                self.forbidden.update(found)
            self.written += 1

    def difference(self) -> Difference:
        expected = [text for _place, text in sorted(self.missing)]
        extra = [
            describe(p)
            for i, p in enumerate(self.planned)
            if i not in self.taken or i in self.forbidden
        ]
        lines = [f"- {text}" for text in _counted(expected)]
        lines += [f"+ {text}" for text in _counted(extra)]
        message = _("{n} follow-up expectation(s) not met (- expected, + planned)").format(
            n=len(expected)
        )
        return Difference("followups", message, tuple(lines))


def _counted(texts: list[str]) -> list[str]:
    """Equal lines once, with how many there are (26 calls due the same day are one line)."""
    counts = dict.fromkeys(texts, 0)
    for text in texts:
        counts[text] += 1
    return [text if n == 1 else f"{n} × {text}" for text, n in counts.items()]


def _specificity(wanted: ExpectedFollowup) -> int:
    return sum(v is not None for v in (wanted.due, wanted.channel, wanted.policy, wanted.reason))


def matches(wanted: ExpectedFollowup, planned: Planned, zone: dt.tzinfo) -> bool:
    if wanted.step != planned.step:
        return False
    if wanted.channel is not None and wanted.channel != planned.channel:
        return False
    if wanted.policy is not None and wanted.policy not in planned.policies:
        return False
    if wanted.reason is not None and not any(wanted.reason in r for r in planned.reasons):
        return False
    return wanted.due is None or due_matches(wanted.due, planned.due, zone)


def due_matches(text: str, due: dt.datetime, zone: dt.tzinfo) -> bool:
    """A date matches the local day of `due`; a time (in the project's zone unless it gives
    an offset) matches the instant."""
    given = dt.datetime.fromisoformat(text)
    if "T" not in text and " " not in text.strip():
        return given.date() == due.astimezone(zone).date()
    return (given if given.tzinfo else given.replace(tzinfo=zone)) == due


def describe_expected(wanted: ExpectedFollowup, happens: bool) -> str:
    parts = [wanted.step]
    parts += [wanted.channel] if wanted.channel else []
    parts += [_("due {due}").format(due=wanted.due)] if wanted.due else []
    parts += [] if happens else [_("suppressed or cancelled")]
    parts += [_("by {policy}").format(policy=wanted.policy)] if wanted.policy else []
    if wanted.reason:
        parts += [_('reason containing "{reason}"').format(reason=wanted.reason)]
    return " · ".join(parts)


def describe(planned: Planned) -> str:
    due = f"{planned.due:%Y-%m-%d %H:%M}"
    text = " · ".join(
        [planned.step, planned.channel, _("due {due}").format(due=due), status_word(planned.status)]
    )
    return text + (f" ({planned.policy}: {planned.reason})" if planned.policy else "")
