"""Rule coverage: the tiers, levels, strategies, playbook steps and contact policies that no
scenario exercises, judged by what the pipeline did for the scenarios' customers (a rule is
exercised when some scenario's customer got it; a policy when it decided some scenario's
follow-up), not by what the scenarios expect."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.plan.policy_verdicts import channel_label
from guanxi.engine.ruleset import Ladder, RuleSet
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.scenarios.replay import Outcome
from guanxi.engine.timing import parse_duration

Verdict = tuple[str, str]  # (policy, reason) of one decision about a follow-up


@dataclass(frozen=True)
class Item:
    """One rule, step or policy: its kind, name and where it is written (or what it is)."""

    kind: str
    name: str
    where: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "where": self.where}


@dataclass(frozen=True)
class Coverage:
    total: int
    missed: tuple[Item, ...]

    @property
    def exercised(self) -> int:
        return self.total - len(self.missed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "exercised": self.exercised,
            "not_exercised": [item.to_dict() for item in self.missed],
        }


def coverage(ruleset: RuleSet, outcomes: Iterable[Outcome]) -> Coverage:
    done = list(outcomes)
    verdicts = {v for o in done for p in o.followups for v in p.verdicts}
    checks: list[tuple[Item, bool]] = []
    for kind, ladder in (("tier", ruleset.tiers), ("level", ruleset.levels)):
        checks += _ladder(kind, ladder, {getattr(o, kind) for o in done})
    checks += _ladder("strategy", ruleset.strategies, {o.strategy for o in done})
    steps = {p.step for o in done for p in o.followups}
    checks += [(Item("step", s.id, str(s.origin)), s.id in steps) for s in ruleset.steps]
    for item, exercised_by in policies(ruleset):
        checks.append((item, any(exercised_by(v) for v in verdicts)))
    return Coverage(len(checks), tuple(item for item, done_ in checks if not done_))


def _ladder(kind: str, ladder: Ladder | None, seen: set[Any]) -> list[tuple[Item, bool]]:
    rules = ladder.rules if ladder else ()
    return [(Item(kind, r.name, str(r.origin)), r.name in seen) for r in rules]


Check = Callable[[Verdict], bool]


def policies(ruleset: RuleSet) -> list[tuple[Item, Check]]:
    """Each contact policy the project sets, with how to tell a verdict of it."""
    found: list[tuple[Item, Check]] = []
    given = ruleset.policies
    if given is not None:
        found += _consent(given)
        found += [_cap(given, index) for index in range(len(given.caps))]
        if given.quiet_hours:
            quiet = f"{given.quiet_hours.start}–{given.quiet_hours.end}"
            found.append(_named("quiet_hours", _("messages wait out {hours}").format(hours=quiet)))
        if given.capacity:
            limit = _("{n} tasks a day per {owner}").format(
                n=given.capacity.tasks_per_day, owner=given.capacity.owner_field
            )
            found.append(_named("capacity", limit))
    if any(s.step.do == "task" for s in ruleset.steps):
        found.append(_named("business_days", _("tasks move off days that are not business days")))
    if any(s.expires for s in ruleset.steps):
        found.append(_named("expiry", _("a follow-up that would be late is suppressed")))
    return found


def _named(policy: str, what: str) -> tuple[Item, Check]:
    return Item("policy", policy, what), lambda verdict: verdict[0] == policy


def _consent(given: PoliciesFile) -> list[tuple[Item, Check]]:
    found = []
    if given.consent.do_not_contact_field:
        field = given.consent.do_not_contact_field
        found.append(_named("do_not_contact", _("field {field}").format(field=field)))
    if given.preferred:
        preferred = _("field {field} and fallback").format(field=given.preferred.field)
        found.append(_named("preferred_channel", preferred))
    consents = [n for n, c in given.channels.items() if c.consent_field]
    if consents:
        fields = _("consent fields of {channels}").format(channels=", ".join(consents))
        found.append(_named("channel_consent", fields))
    if given.consent.marketing_field:
        field = given.consent.marketing_field
        found.append(_named("marketing_consent", _("field {field}").format(field=field)))
    return found


def _cap(given: PoliciesFile, index: int) -> tuple[Item, Check]:
    """A cap is told apart from the others by its reason ('SMS cap 2 per 7 days reached'),
    worded as the planner words it, in the same language."""
    cap = given.caps[index]
    period = parse_duration(cap.per)
    what = _("message") if cap.channel == "all" else channel_label(given, cap.channel)
    reason = _("{what} cap {max} per {period} reached").format(
        what=what, max=cap.max, period=period
    )
    item = Item("policy", "frequency_cap", f"caps[{index}]: {reason.removesuffix(' reached')}")
    return item, lambda verdict: verdict[0] == "frequency_cap" and verdict[1].startswith(reason)
