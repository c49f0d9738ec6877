"""How much a release moves, read from the simulation summary its proposal keeps: the share
of the customers it classifies differently, and the follow-ups it adds in the simulated
window against a normal day under the live release.

A release over either bar is loud: the day it goes live, every customer it moves gets the
on-enter, rise and fall steps of their new tier and level at once. Approving it takes an
explicit confirmation; the four eyes still decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A threshold tuned on purpose moves the customers near the line: a few in a hundred. A fifth
# of the bank moving at once is what a typo in a threshold or a new level does.
MOVED_SHARE = 0.20
# Follow-ups added in the window worth two normal days of the live release: the managers'
# queues and the SMS volume take an extra day's work or more on top of their own, which is
# what a mass move's on-enter steps pile onto the day the release goes live.
WAVE_DAYS = 2


@dataclass(frozen=True)
class Impact:
    """What a release changes against the live one in its simulated window."""

    moved: int  # customers classified differently
    customers: int | None  # customers simulated; None for a proposal kept without the total
    added: int  # follow-ups under the release minus those under the live release
    by_step: dict[str, int]  # the steps with more follow-ups, how many more, most first
    days: int
    baseline: int  # follow-ups under the live release in the window

    @property
    def share(self) -> float | None:
        """The share of the customers classified differently, None when the total is unknown."""
        if not self.customers:
            return None
        return self.moved / self.customers

    @property
    def normal_day(self) -> float:
        """Follow-ups on an average day under the live release (at least one, so that a bank
        that sends nothing today is still warned of a release that starts sending)."""
        return max(self.baseline / self.days, 1.0)

    @property
    def many_moved(self) -> bool:
        return self.share is not None and self.share >= MOVED_SHARE

    @property
    def wave(self) -> bool:
        return self.added >= WAVE_DAYS * self.normal_day

    @property
    def loud(self) -> bool:
        """Whether approving the release needs an explicit confirmation."""
        return self.many_moved or self.wave

    def to_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "classified_differently": self.moved,
            "customers": self.customers,
            "share": None if share is None else round(share, 4),
            "followups_added": self.added,
            "followups_added_by_step": self.by_step,
            "normal_day": round(self.normal_day, 1),
            "loud": self.loud,
        }


def impact_of(summary: dict[str, Any]) -> Impact | None:
    """The impact a kept simulation summary shows; None when it compared nothing (no live
    release, or no simulation run)."""
    if "baseline_deliveries" not in summary:
        return None
    baseline = int(summary["baseline_deliveries"])
    added = [(s["step"], s["added"]) for s in summary.get("steps", []) if s.get("added", 0) > 0]
    return Impact(
        moved=int(summary["classified_differently"]),
        customers=summary.get("customers"),
        added=int(summary["deliveries"]) - baseline,
        by_step=dict(sorted(added, key=lambda item: -item[1])),
        days=int(summary["days"]),
        baseline=baseline,
    )
