"""A synthetic world for the experiments report: the months before the demo's day planned as
the daemon would have planned them, the treated follow-ups sent, and the goal's events drawn
with known probabilities per group. The report must find what was put in: the demo shows an
experiments section with a real uplift, and the tests check the counts and intervals."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Mapping

from guanxi.engine.plan.experiments import HELD_OUT
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store.base import Store
from guanxi.engine.timing import parse_duration

# the chance of the goal event within the goal's window, per step and group
TRUE_RATES: dict[str, dict[str, float]] = {
    "proactive_product_news": {HELD_OUT: 0.04, "treated": 0.07},
    "growth_wealth_service": {"growth_wealth_service": 0.05, "growth_wealth_story": 0.07},
}
MONTH = dt.timedelta(days=30)
HISTORY_ADAPTER = "demo_history"  # the ledger's name for what the history "sent"


def write_experiment_history(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    seed: int,
    months: int = 3,
    rates: Mapping[str, Mapping[str, float]] = TRUE_RATES,
) -> Counter[tuple[str, str, bool]]:
    """Plan the steps of `rates` for the `months` before `now`, send the treated, and draw
    each follow-up's goal event. Returns (step, group, succeeded) -> follow-ups."""
    steps = {s.id: s for s in ruleset.steps if s.id in rates and s.step.goal}
    for back in range(months, 0, -1):
        start = now - back * MONTH
        plan_recurring(store, ruleset, start, start + MONTH, start, only=list(steps))
    marks = ", ".join(f"'{step}'" for step in steps) or "NULL"
    _sent(store, marks, now)
    rng, drawn = random.Random(seed), Counter[tuple[str, str, bool]]()
    events = []
    for row in store.execute(
        "SELECT id, customer_id, step_id, arm, variant, planned_due_at FROM followups"
        f" WHERE step_id IN ({marks}) AND arm IS NOT NULL ORDER BY id"
    ):
        group = row["arm"] if row["arm"] == HELD_OUT else row["variant"] or row["arm"]
        goal = steps[row["step_id"]].step.goal
        due = dt.datetime.fromisoformat(row["planned_due_at"])
        window = dt.timedelta(days=parse_duration(goal.within).amount) if goal else MONTH
        if goal is None or goal.event is None or due + window > now:
            continue  # the report counts only closed windows
        succeeded = rng.random() < rates[row["step_id"]][group]
        if succeeded:
            at = due + window * rng.random() * 0.999
            events.append(_event(f"X{row['id']}", goal.event, row["customer_id"], at, now))
        drawn[row["step_id"], group, succeeded] += 1
    store.insert_events(events)
    # history, not news: nothing is planned from these events
    store.execute("UPDATE events SET planned_at = :now WHERE id LIKE 'X%'", {"now": iso(now)})
    return drawn


def _sent(store: Store, steps: str, now: dt.datetime) -> None:
    """The treated follow-ups of the months before are sent, each with its line in the
    delivery ledger (adapter `demo_history`), as the daemon would have left them."""
    due = f"step_id IN ({steps}) AND status = 'pending' AND due_at < :now"
    store.execute(
        "INSERT INTO deliveries (followup_id, key, attempt, at, adapter, outcome)"
        f" SELECT id, key, 1, due_at, '{HISTORY_ADAPTER}', 'sent' FROM followups WHERE {due}",
        {"now": iso(now)},
    )
    store.execute(f"UPDATE followups SET status = 'sent' WHERE {due}", {"now": iso(now)})


def _event(
    event_id: str, event_type: str, customer_id: str, at: dt.datetime, now: dt.datetime
) -> dict[str, object]:
    return {
        "id": event_id,
        "type": event_type,
        "customer_id": customer_id,
        "at": at.astimezone(dt.UTC).isoformat(),
        "payload": {"product": "定期存款", "amount": 50000},
        "loaded_at": iso(now),
    }
