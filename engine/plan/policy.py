"""Contact policy over one planned batch of follow-ups (see apply_policies)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store


@dataclass
class PolicyReport:
    """How many follow-ups of a batch each policy suppressed or deferred, by reason."""

    planned: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)


def apply_policies(store: Store, ruleset: RuleSet, batch: str, now: dt.datetime) -> PolicyReport:
    """Decide every pending follow-up of `batch`: resolve channels, suppress or defer."""
    raise NotImplementedError("contact policy is being written")
