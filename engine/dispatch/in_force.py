"""Whether the rules in force still have a follow-up's step for its customer.

A bank that deletes a step, renames it (its old id is gone) or switches it off for a branch
(`enabled: false` in branches/<branch>.yaml) expects nothing more of it to go out, also what
was planned before the change: next month's recurring messages, a call due next week. So
dispatch cancels such a follow-up when it claims it and again right before it is sent (with
the consent checks, see recheck and instant): status 'cancelled', policy `withdrawn`, and a
reason naming the step. The rules in force are those the dispatcher runs at that instant.

A follow-up goes out in the version of its step that the customer's branch has at that
instant: a branch's own version (`<id>@<branch>`, a step the branch changed) only to a
customer still of that branch, the head office's only to a customer whose branch neither
changed nor switched it off. A customer who moved to another branch, and the customers of a
branch that changed a step after it was planned, have it cancelled (`withdrawn`) and the
version in force for them planned in its place: for the same occurrence (the month of a
monthly step), due and expiring when the one it replaces was, decided by the contact policy
as any new follow-up. The customer gets that occurrence once, in their branch's version: the
planner plans no version of a step for an occurrence whose customer has another one that is
not cancelled (see plan/recurring). A version withdrawn earlier (the customer moved away and
back before the occurrence was sent) is planned again under its own key; a branch's version
whose overlay is gone gives way to the head office's step. One attempted already (a retry
waiting: the gateway may have taken it) is not withdrawn for another version: it is retried
under its key, which the gateway recognises; where no version is in force for the customer
(their branch switched the step off) it is withdrawn as any other.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import COLUMNS, followup_key, iso, new_batch, step_values
from guanxi.engine.plan.policy import apply_policies
from guanxi.engine.ruleset import CompiledStep, RuleSet
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.ruleset.ruleset import Origin
from guanxi.engine.store.base import Row, Store, key_part_sql
from guanxi.engine.store.dialect import json_array_rows, json_item, json_texts, quoted_name

WITHDRAWN = "withdrawn"  # the policy of a follow-up whose step is no longer in force
BRANCH = f"COALESCE(c.{quoted_name(BRANCH_FIELD)}, '')"  # the branch of the customer `c` now


@dataclass(frozen=True)
class InForce:
    """The steps of the rules in force: every id; the (step, branch) pairs where a branch
    changed or switched off a head office step, with the overlay line that does it; and each
    branch's own version of a step, with the head office step and the branch."""

    steps: frozenset[str]
    apart: dict[tuple[str, str], Origin]
    own: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, ruleset: RuleSet) -> InForce:
        steps = frozenset(s.id for s in ruleset.steps)
        apart = {
            (s.id, branch): origin for s in ruleset.steps for branch, origin in s.branches_apart
        }
        own = {s.id: _head_and_branch(s) for s in ruleset.steps if s.branch is not None}
        return cls(steps, apart, own)

    @property
    def branched(self) -> bool:
        return bool(self.apart or self.own)

    def withdrawn_sql(self, dialect: str, followup: str = "f") -> str:
        """SQL: is the step of `followup` (of the customer `c`) no longer in force for them?
        Another version in force for them does not withdraw one that was attempted already:
        the gateway may have taken it (its answer lost), and its retry, under its key, is
        recognised there; another version would be a second message."""
        steps = json_texts("in_force_steps", dialect)
        gone = f"{followup}.step_id NOT IN ({steps})"
        attempted = (
            f"EXISTS (SELECT 1 FROM deliveries d WHERE d.followup_id = {followup}.id"
            " AND d.attempt > 0)"
        )
        step, branch = json_item(0, dialect), json_item(1, dialect)
        head_in_force = (
            f"EXISTS (SELECT 1 FROM {json_array_rows('heads', dialect)}"
            f" WHERE substr({followup}.step_id, 1, length({step}) + 1) = {step} || '@')"
        )
        replaced = f"{gone} AND {head_in_force}"  # a branch's version whose overlay is gone
        if not self.branched:
            return f"({gone} AND NOT ({replaced} AND {attempted}))"
        switched_off, changed = (
            f"EXISTS (SELECT 1 FROM {json_array_rows(pairs, dialect)}"
            f" WHERE {step} = {followup}.step_id AND {branch} = {BRANCH})"
            for pairs in ("switched_off", "changed")
        )
        elsewhere = (
            f"EXISTS (SELECT 1 FROM {json_array_rows('branch_versions', dialect)}"
            f" WHERE {step} = {followup}.step_id AND {branch} <> {BRANCH})"
        )
        versioned = f"({replaced} OR {changed} OR {elsewhere})"
        off_here = self._head_switched_off(followup, dialect)
        retried = f"{versioned} AND {attempted} AND NOT {off_here}"
        return f"(({gone} OR {switched_off} OR {versioned}) AND NOT ({retried}))"

    @staticmethod
    def _head_switched_off(followup: str, dialect: str) -> str:
        """SQL: has the customer's branch switched off the head office step that `followup`'s
        step is (or is a version of)? Then no version is in force for them: an attempted one
        is withdrawn too, not retried."""
        step, branch = json_item(0, dialect), json_item(1, dialect)
        return (
            f"EXISTS (SELECT 1 FROM {json_array_rows('switched_off', dialect)}"
            f" WHERE ({step} = {followup}.step_id"
            f" OR substr({followup}.step_id, 1, length({step}) + 1) = {step} || '@')"
            f" AND {branch} = {BRANCH})"
        )

    def params(self) -> dict[str, Any]:
        changed = {pair for pair in self.apart if f"{pair[0]}@{pair[1]}" in self.steps}
        return {
            "in_force_steps": json.dumps(sorted(self.steps), ensure_ascii=False),
            "heads": json.dumps([[step] for step in sorted(self.steps)], ensure_ascii=False),
            "switched_off": json.dumps(sorted(set(self.apart) - changed), ensure_ascii=False),
            "changed": json.dumps(sorted(changed), ensure_ascii=False),
            "branch_versions": json.dumps(
                sorted([step, branch] for step, (_head, branch) in self.own.items()),
                ensure_ascii=False,
            ),
        }

    def branch_sql(self) -> str:
        """SQL: the branch of the customer `c` ('' for none), where branches change steps
        (else NULL)."""
        return BRANCH if self.branched else "NULL"

    def version_for(self, step_id: str, branch: str | None) -> str | None:
        """The version of `step_id`'s step in force for a customer of `branch` ('' or None:
        none): the branch's own, else the head office's unless the branch switched it off."""
        head = self.own[step_id][0] if step_id in self.own else self.head_of(step_id)
        mine = f"{head}@{branch}"
        if branch and mine in self.steps:
            return mine
        if head in self.steps and (head, branch or "") not in self.apart:
            return head
        return None

    def head_of(self, step_id: str) -> str:
        """The head office step in force that `step_id` is a branch's version of (`<head>@<branch>`,
        also when the branch's overlay is gone), else `step_id` itself."""
        heads = [step_id[:at] for at, char in enumerate(step_id) if char == "@"]
        return next((head for head in reversed(heads) if head in self.steps), step_id)

    def reason(self, step_id: str, branch: str | None) -> str:
        """Why the follow-up of `step_id` (to a customer of `branch`) is not sent."""
        if step_id in self.own:
            head, own = self.own[step_id]
            return _(
                "step {step} is branch {branch}'s own version of {head}, and the customer is"
                " no longer of {branch}"
            ).format(step=step_id, branch=own, head=head)
        origin = self.apart.get((step_id, branch)) if branch else None
        if step_id in self.steps and origin is not None:
            if f"{step_id}@{branch}" in self.steps:
                return _(
                    "branch {branch} has its own version of step {step} ({origin}): that"
                    " version goes to its customers instead"
                ).format(step=step_id, branch=branch, origin=origin)
            return _(
                "step {step} is no longer in the rules for branch {branch}: {origin} switches"
                " it off"
            ).format(step=step_id, branch=branch, origin=origin)
        return _("step {step} is no longer in the rules (deleted or renamed)").format(step=step_id)


def _head_and_branch(step: CompiledStep) -> tuple[str, str]:
    branch = step.branch or ""
    return step.id.removesuffix(f"@{branch}"), branch


def plan_in_place(store: Store, ruleset: RuleSet, withdrawn: list[int], now: dt.datetime) -> int:
    """For each `withdrawn` follow-up whose customer's branch has another version of its step
    in force, plan that version for the same occurrence (see the module), unless the customer
    has it already; one withdrawn before (the customer moved away and back) is planned again
    (`_revive`). The contact policy decides the new ones. How many are new."""
    if not withdrawn:
        return 0
    in_force = InForce.of(ruleset)
    key = quoted_name(ruleset.schema.key)
    rows = store.execute(
        f"SELECT f.id, f.step_id, f.customer_id, f.occurrence, {BRANCH} AS branch"
        " FROM followups f"
        f" LEFT JOIN customers c ON c.{key} = f.customer_id"
        f" WHERE f.id IN ({json_texts('ids', store.dialect, 'BIGINT')})",
        {"ids": json.dumps(withdrawn)},
    )
    steps = {s.id: s for s in ruleset.steps}
    batch, new = new_batch(), 0
    for row in rows:
        version = in_force.version_for(row["step_id"], row["branch"])
        if version is not None and version != row["step_id"]:
            planned = _plan_version(store, ruleset, steps[version], row["id"], batch, now)
            new += planned or _revive(store, ruleset, steps[version], row, batch, now)
    if new:
        apply_policies(store, ruleset, batch, now)
    return new


def _plan_version(
    store: Store,
    ruleset: RuleSet,
    version: CompiledStep,
    followup_id: int,
    batch: str,
    now: dt.datetime,
) -> int:
    """Plan `version` for the customer and occurrence of the follow-up `followup_id`, due and
    expiring as it was; the owner as the customer's record names it now."""
    capacity = ruleset.policies.capacity if ruleset.policies else None
    owner = f"c.{quoted_name(capacity.owner_field)}" if capacity else "NULL"
    added = store.execute(
        f"INSERT INTO followups ({', '.join(COLUMNS)})"
        f" SELECT :step || ':' || {key_part_sql('f.customer_id')} || ':' || f.occurrence,"
        " f.customer_id, :step, f.level, :kind, :channel, :template, :priority, :mandatory,"
        f" :purpose, {owner}, f.occurrence, f.event_id, f.payload, f.planned_due_at, f.due_at,"
        " f.expires_at, 'pending', NULL, NULL, :batch, :hash, :now, :now FROM followups f"
        f" LEFT JOIN customers c ON c.{quoted_name(ruleset.schema.key)} = f.customer_id"
        " WHERE f.id = :id ON CONFLICT (key) DO NOTHING RETURNING id",
        {
            "id": followup_id,
            "step": version.id,
            **step_values(version.step),
            "batch": batch,
            "hash": ruleset.hash,
            "now": iso(now),
        },
    )
    return len(added)


def _revive(
    store: Store,
    ruleset: RuleSet,
    version: CompiledStep,
    withdrawn: Row,
    batch: str,
    now: dt.datetime,
) -> int:
    """Plan again the customer's follow-up of `version` for the occurrence of `withdrawn` if
    it was itself withdrawn (never sent): a customer who moved away and back before it was
    sent gets it after all, under its own key, due and expiring as `withdrawn` was."""
    capacity = ruleset.policies.capacity if ruleset.policies else None
    owner = "owner"
    if capacity:
        key, field = quoted_name(ruleset.schema.key), quoted_name(capacity.owner_field)
        owner = f"(SELECT c.{field} FROM customers c WHERE c.{key} = followups.customer_id)"
    revived = store.execute(
        "UPDATE followups SET status = 'pending', policy = NULL, reason = NULL,"
        " lease_until = NULL, kind = :kind, channel = :channel, template = :template,"
        " priority = :priority, mandatory = :mandatory, purpose = :purpose,"
        f" owner = {owner}, planned_due_at = w.planned_due_at, due_at = w.due_at,"
        " expires_at = w.expires_at, batch = :batch, ruleset_hash = :hash, updated_at = :now"
        " FROM (SELECT planned_due_at, due_at, expires_at FROM followups WHERE id = :id) AS w"
        " WHERE key = :key AND status = 'cancelled' AND policy = :withdrawn RETURNING id",
        {
            "id": withdrawn["id"],
            "key": followup_key(version.id, withdrawn["customer_id"], withdrawn["occurrence"]),
            "withdrawn": WITHDRAWN,
            **step_values(version.step),
            "batch": batch,
            "hash": ruleset.hash,
            "now": iso(now),
        },
    )
    return len(revived)
