"""The contact policy's consent checks again at send time, over a claimed batch.

Consent may have been withdrawn, or do-not-contact set, since the follow-up was planned. The
checks are the planner's own (`consent_sql` in engine/plan/policy.py, the one place they are
written), read against the customer as the store holds them now and under the rule set now
in force: a mandatory notice still goes out to a customer who asked not to be contacted,
but not on a channel they withdrew consent for, exactly as the planner decides.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from guanxi.engine.plan.policy import FOLLOWUP_FIELDS, consent_sql, preferred_channel_sql
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_texts


class Refusal(NamedTuple):
    """Why the contact policy no longer allows a follow-up: the failed check and its reason."""

    policy: str
    reason: str


def refusals(store: Store, ruleset: RuleSet, rows: Sequence[Row]) -> dict[int, Refusal]:
    """The follow-ups of `rows` (by id) that a consent check now refuses; one query."""
    policies = ruleset.policies
    if policies is None or not rows:
        return {}
    resolved = preferred_channel_sql(policies, "f.kind", "c")
    followup = {name: f"f.{name}" for name in FOLLOWUP_FIELDS}
    followup["resolved"] = f"CASE WHEN f.channel = '{PREFERRED}' THEN {resolved} END"
    verdict = consent_sql(policies, "c", followup)
    key = '"' + ruleset.schema.key.replace('"', '""') + '"'
    found = store.execute(
        f"SELECT f.id, {verdict.policy} AS policy, {verdict.reason} AS reason"
        f" FROM followups f LEFT JOIN customers c ON c.{key} = f.customer_id"
        f" WHERE f.id IN ({json_texts('ids', store.dialect, 'BIGINT')})"
        f" AND {verdict.status} IS NOT NULL",
        {"ids": json.dumps([row["id"] for row in rows]), **verdict.params},
    )
    return {row["id"]: Refusal(row["policy"], row["reason"]) for row in found}
