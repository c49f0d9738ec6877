"""The answers a stored assignment keeps waiting (`hold: N runs`), for `explain`: which answer,
since which run, and until when — the run that makes it count and, by the project's
classification schedule, the time of that run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from guanxi.engine.classify.hold import PENDING, holds
from guanxi.engine.classify.predicates import Record
from guanxi.engine.i18n import _, current_language
from guanxi.engine.ruleset import RuleSet

KINDS = ("tier", "level", "strategy")


@dataclass(frozen=True)
class Hold:
    """A new answer a ladder's `hold:` keeps waiting: the customer keeps `kept` meanwhile."""

    kind: str  # tier, level or strategy
    kept: str | None
    pending: str | None
    since_run: int  # the first run that gave the new answer
    runs: int  # runs in a row that gave it
    needed: int  # runs in a row it needs
    reason: str  # in plain words, English and Chinese
    until_run: int = 0  # the run that makes it count, if it gives the answer too
    until: dt.datetime | None = None  # when that run is scheduled (None: no schedule)


def stored_holds(ruleset: RuleSet, stored: Record | None, now: dt.datetime) -> tuple[Hold, ...]:
    """The answers waiting in the stored assignment (its pending columns, taken out of it)."""
    if stored is None:
        return ()
    found = {column: stored.pop(column) for column in PENDING}
    needed = holds(ruleset)
    return tuple(
        _hold(ruleset, kind, stored[kind], found, needed[kind], now)
        for kind in KINDS
        if found[f"pending_{kind}_runs"]
    )


def _hold(
    ruleset: RuleSet, kind: str, kept: str | None, found: Record, needed: int, now: dt.datetime
) -> Hold:
    pending = found[f"pending_{kind}"]
    since, runs = int(found[f"pending_{kind}_since"]), int(found[f"pending_{kind}_runs"])
    until_run = since + needed - 1
    until = scheduled_run(ruleset, now, needed - runs)
    words = {
        "pending": named(ruleset, kind, pending),
        "since": since,
        "runs": runs,
        "needed": needed,
        "kept": named(ruleset, kind, kept),
        "until": until_run,
    }
    if until is None:
        reason = _(
            "qualifies for {pending} since run {since}, {runs} of {needed} runs;"
            " stays {kept} until run {until} gives it too"
        ).format(**words)
    else:
        reason = _(
            "qualifies for {pending} since run {since}, {runs} of {needed} runs;"
            " stays {kept} until run {until} gives it too (the scheduled classification"
            " of {when})"
        ).format(**words, when=until.strftime("%Y-%m-%d %H:%M"))
    return Hold(kind, kept, pending, since, runs, needed, reason, until_run, until)


def scheduled_run(ruleset: RuleSet, now: dt.datetime, ahead: int) -> dt.datetime | None:
    """The time of the `ahead`-th classification the schedule (`classify_every`) fires after
    `now`, in the project's time zone; None without a schedule. A classification run by hand
    in between counts as well, so the move may come sooner."""
    schedule = ruleset.settings.classify_schedule()
    if schedule is None or ahead < 1:
        return None
    trigger = schedule.trigger(ruleset.calendar.zone)
    moment: dt.datetime | None = now
    for _run in range(ahead):
        assert moment is not None
        moment = trigger.get_next_fire_time(None, moment + dt.timedelta(seconds=1))
        if moment is None:
            return None
    return moment


def named(ruleset: RuleSet, kind: str, name: str | None) -> str:
    """A tier, level or strategy as its reader knows it: by name in English, by the rule
    files' Chinese label (有价值客户) in Chinese."""
    if name is None:
        return _("(none)")
    if current_language() != "zh":
        return name
    ladder = {"tier": ruleset.tiers, "level": ruleset.levels}.get(kind, ruleset.strategies)
    rules = ladder.rules if ladder else ()
    return next((r.label for r in rules if r.name == name and r.label), name)
