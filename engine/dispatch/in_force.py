"""Whether the rules in force still have a follow-up's step for its customer.

A bank that deletes a step, renames it (its old id is gone) or switches it off for a branch
(`enabled: false` in branches/<branch>.yaml) expects nothing more of it to go out, also what
was planned before the change: next month's recurring messages, a call due next week. So
dispatch cancels such a follow-up when it claims it and again right before it is sent (with
the consent checks, see recheck and instant): status 'cancelled', policy `withdrawn`, and a
reason naming the step. The rules in force are those the dispatcher runs at that instant.

A step a branch changed (its own version `<id>@<branch>`) is not switched off: the head
office's follow-ups planned before the change still go to that branch's customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.ruleset.ruleset import Origin
from guanxi.engine.store.dialect import json_array_rows, json_item, json_texts, quoted_name

WITHDRAWN = "withdrawn"  # the policy of a follow-up whose step is no longer in force


@dataclass(frozen=True)
class InForce:
    """The steps of the rules in force: every id, and the (step, branch) pairs switched off
    with the overlay line that does it."""

    steps: frozenset[str]
    off: dict[tuple[str, str], Origin]

    @classmethod
    def of(cls, ruleset: RuleSet) -> InForce:
        steps = frozenset(s.id for s in ruleset.steps)
        off = {
            (s.id, branch): origin
            for s in ruleset.steps
            for branch, origin in s.branches_apart
            if f"{s.id}@{branch}" not in steps
        }
        return cls(steps, off)

    def withdrawn_sql(self, dialect: str, followup: str = "f", customer: str = "c") -> str:
        """SQL: is the step of `followup` (of the customer `customer`) no longer in force?"""
        gone = f"{followup}.step_id NOT IN ({json_texts('in_force_steps', dialect)})"
        if not self.off:
            return f"({gone})"
        pairs = json_array_rows("switched_off", dialect)
        branch = f"{customer}.{quoted_name(BRANCH_FIELD)}"
        switched_off = (
            f"EXISTS (SELECT 1 FROM {pairs} WHERE {json_item(0, dialect)} = {followup}.step_id"
            f" AND {json_item(1, dialect)} = {branch})"
        )
        return f"({gone} OR {switched_off})"

    def params(self) -> dict[str, Any]:
        return {
            "in_force_steps": json.dumps(sorted(self.steps), ensure_ascii=False),
            "switched_off": json.dumps(sorted(self.off), ensure_ascii=False),
        }

    def branch_sql(self, customer: str = "c") -> str:
        """SQL: the customer's branch, where a branch switches a step off (else NULL)."""
        return f"{customer}.{quoted_name(BRANCH_FIELD)}" if self.off else "NULL"

    def reason(self, step_id: str, branch: str | None) -> str:
        """Why the follow-up of `step_id` (to a customer of `branch`) is not sent."""
        origin = self.off.get((step_id, branch)) if branch is not None else None
        if step_id in self.steps and origin is not None:
            return _(
                "step {step} is no longer in the rules for branch {branch}: {origin} switches"
                " it off"
            ).format(step=step_id, branch=branch, origin=origin)
        return _("step {step} is no longer in the rules (deleted or renamed)").format(step=step_id)
