"""`guanxi shadow report`: what the shadow rules decided against the live ones, over the days
the shadow ran (see engine/daemon/shadow.py), compared as `simulate --baseline` compares two
runs: the shadow stands for the rules, the live store for the baseline.

Deliveries are each store's ledger (`sent` from the shadow's start on; in the shadow store,
what it would have sent then), on the local day sent; tiers, levels, strategies and gold
flags are each store's assignments now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from guanxi.engine.daemon.shadow import STARTED, ShadowError
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso
from guanxi.engine.report.labels import labels_of
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.compare import (
    Comparison,
    DifferenceSection,
    SampleSection,
    Side,
    compare,
)
from guanxi.engine.simulate.results import RunResult, tiers_and_levels
from guanxi.engine.simulate.run import Counts, Delivery, Window
from guanxi.engine.store.base import Store


@dataclass(frozen=True)
class ShadowDifference(DifferenceSection):
    @property
    def title(self) -> str:
        return _("What the shadow rules decide differently from the live rules")


@dataclass
class ShadowReport:
    started: dt.datetime
    until: dt.datetime
    comparison: Comparison

    def sections(self) -> list[DifferenceSection | SampleSection]:
        labels = labels_of(self.comparison.rules.ruleset)
        return [ShadowDifference(self.comparison, labels), SampleSection(self.comparison)]


def shadow_report(
    live: Store,
    live_rules: RuleSet,
    shadow: Store,
    shadow_rules: RuleSet,
    until: dt.datetime,
    sample: int = 10,
) -> ShadowReport:
    """Compare the shadow store's decisions with the live store's, from the shadow's start to
    `until`; explain `sample` of the customers they differ on."""
    started = shadow_start(shadow)
    zone = live_rules.calendar.zone
    first = started.astimezone(zone).date()
    days = max(1, (until.astimezone(zone).date() - first).days + 1)
    window = Window(first, days, zone)
    ours = Side(_result("rules", shadow, shadow_rules, window, started, until), shadow)
    theirs = Side(_result("baseline", live, live_rules, window, started, until), live)
    return ShadowReport(started, until, compare(ours, theirs, sample))


def shadow_start(shadow: Store) -> dt.datetime:
    rows = shadow.execute(
        "SELECT min(at) AS at FROM audit_log WHERE action = :started", {"started": STARTED}
    )
    if not rows or rows[0]["at"] is None:
        raise ShadowError(_("this store holds no shadow run"))
    return dt.datetime.fromisoformat(rows[0]["at"])


def delivered(
    store: Store, window: Window, since: dt.datetime, until: dt.datetime
) -> list[Delivery]:
    """What the store's ledger says was sent in [since, until], on the local day sent."""
    rows = store.execute(
        "SELECT d.key, f.customer_id, f.step_id, f.channel, f.kind, f.owner, f.due_at, d.at"
        " FROM deliveries d JOIN followups f ON f.id = d.followup_id"
        " WHERE d.outcome = 'sent' AND d.at >= :since AND d.at <= :until ORDER BY d.id",
        {"since": iso(since), "until": iso(until)},
    )
    start = iso(since)
    return [
        Delivery(
            r["key"],
            r["customer_id"],
            r["step_id"],
            r["channel"],
            r["kind"],
            r["owner"],
            _instant(r["at"]).astimezone(window.zone).date(),
            r["due_at"] < start,
        )
        for r in rows
    ]


def _result(
    label: str,
    store: Store,
    ruleset: RuleSet,
    window: Window,
    since: dt.datetime,
    until: dt.datetime,
) -> RunResult:
    [night] = store.execute("SELECT max(started_at) AS at FROM classification_runs")
    return RunResult(
        label,
        ruleset,
        window,
        delivered(store, window, since, until),
        Counts(),
        [],
        {},
        tiers_and_levels(store),
        {},
        _instant(night["at"]) if night["at"] else None,
        0.0,
    )


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
