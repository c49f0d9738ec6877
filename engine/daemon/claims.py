"""The follow-ups a daemon has claimed: each dispatch pass claims under a lease that ends at
a time of its own, so the ends this process claimed under name its claims, and only those,
to give back (pending again, no attempt counted) when it stops."""

from __future__ import annotations

from dataclasses import dataclass, field

from guanxi.engine.store.base import Store

KEPT = 100  # lease ends remembered: bounds the list and the query that gives claims back


@dataclass
class Leases:
    """The lease ends this process has claimed under, so that it can give back its own
    claims (and only those) when it stops."""

    ends: list[str] = field(default_factory=list)

    def add(self, end: str) -> None:
        self.ends = [*self.ends[-(KEPT - 1) :], end]

    def give_back(self, store: Store) -> int:
        """Give back the follow-ups still claimed under these leases; how many."""
        if not self.ends:
            return 0
        marks = ", ".join(f":l{i}" for i in range(len(self.ends)))
        with store.transaction():
            rows = store.execute(
                "UPDATE followups SET status = 'pending', lease_until = NULL"
                f" WHERE status = 'claimed' AND lease_until IN ({marks}) RETURNING id",
                {f"l{i}": end for i, end in enumerate(self.ends)},
            )
        return len(rows)
