"""The contact policy again at send time: a claimed batch decided for the instant it is sent.

Between planning and sending consent may be withdrawn, other messages may go out, and a
message may be claimed inside the quiet hours (late, or after a daemon was down). So when a
batch is claimed, in the claim's own transaction, the planner's rules (engine/plan/policy*.py,
the one place they are written) are decided again for `now`:

0. the step: a follow-up whose step the rules in force no longer have (deleted, renamed, or
   switched off for the customer's branch), or not in the version of the customer's branch,
   is cancelled (policy `withdrawn`, see in_force), with or without a contact policy; the
   version of their branch is planned in its place;
1. consent and do-not-contact: the planner's checks (`consent_sql`) against the customer as
   the store holds them now, under the rule set now in force; a mandatory notice still goes
   to a customer who asked not to be contacted, but not on a channel they withdrew; and a
   step of a level's playbook goes only to a customer still at that level (policy `level`:
   a run that moved them since it was planned made it stale; `keep_when_left` steps stay);
2. quiet hours: a message claimed inside them, mandatory or not, is deferred to their end
   plus its spread (the planner's `defer`, for `now` instead of the due time), or suppressed
   when it would expire first;
3. frequency caps: the planner's arbitration (`arbitrate`). What stands is what the customer
   was actually sent (the ledger's 'sent' entries, at their time) and what another dispatcher
   has claimed (at its claim time, which is when its ledger entry will be), and a message
   waiting for a retry (at its first attempt: a lost answer may hide a delivery); the batch's
   messages compete at `now`, by priority, then due time, and one that would overfill a
   window is suppressed with the cap as the reason. Mandatory notices neither count nor stop.

The sends of a batch follow its claim for up to most of its lease; expiry, consent and quiet
hours are decided once more right before each message is sent (see instant), and what they
stop then is written here too (`take_back`).

A follow-up already past its expiry is left to the expiry check. Every verdict is written as
the planner writes its own (status or due time, policy, reason, a row in followup_decisions);
a suppression or a cancellation also goes into the ledger (attempt 0, nothing sent).

Two dispatchers must not both spend a customer's last slot. In SQLite the claim transaction
holds the write lock. In PostgreSQL the claim takes a transaction-scoped advisory lock on each
customer whose messages compete for a cap (customers share a bounded number of locks), all in
one order (no two claims deadlock), before it counts: a claim of the same customer by another
dispatcher has committed by then, and is counted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from guanxi.engine.dispatch import ledger
from guanxi.engine.dispatch.in_force import WITHDRAWN, InForce, plan_in_place
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import iso, past_bound
from guanxi.engine.plan.policy import (
    FOLLOWUP_FIELDS,
    ConsentSql,
    consent_sql,
    preferred_channel_sql,
)
from guanxi.engine.plan.policy_messages import Message, Quiet, Window, arbitrate, cap_windows, defer
from guanxi.engine.plan.policy_verdicts import Batch, Survey, Verdict, open_scratch, settle
from guanxi.engine.privacy.erasure import ERASURE_REASON
from guanxi.engine.privacy.erasure import PREFIX as ERASED_PREFIX
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import EVERY_LEVEL, PREFERRED
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.assignments import current_value
from guanxi.engine.store.assignments import joined as assignment_joined
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_array_rows, json_item, json_texts

CUSTOMER_LOCKS = 1_735_917_569  # the first key of the advisory locks on customers' cap slots
LOCK_SLOTS = 256  # customers share this many locks: a claim holds at most this many
STALE = "level"  # the policy of a step the customer's current level has no more
LEVEL = current_value("a", "n", "level")  # the customer's level now (see _stale_sql)


class Refusal(NamedTuple):
    """Why a follow-up may no longer be sent: the failed check, its reason and the verdict
    (suppressed by the contact policy, cancelled when its step is withdrawn)."""

    policy: str
    reason: str
    verdict: str = "suppressed"

    def of(self, followup_id: int) -> Verdict:
        return Verdict(followup_id, self.verdict, self.policy, self.reason)


@dataclass
class SendPolicy:
    """Decides each claimed batch at `now` (see the module) and counts the verdicts; the
    ledger names `worker` as the dispatcher of the suppressions."""

    store: Store
    ruleset: RuleSet
    now: dt.datetime
    worker: str | None = None
    suppressed: dict[str, int] = field(default_factory=dict)  # policy → how many
    deferred: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)  # their steps withdrawn

    @property
    def decided(self) -> int:
        counts = (self.suppressed, self.deferred, self.cancelled)
        return sum(n for by_policy in counts for n in by_policy.values())

    def __call__(self, rows: Sequence[Row]) -> set[int]:
        """Decide the claimed `rows` inside the claim's transaction; the ids it took back
        (deferred, suppressed or cancelled)."""
        if not rows:
            return set()
        live = [row for row in rows if not past_bound(row["expires_at"], self.now)]
        verdicts = self._verdicts(live, [row["id"] for row in rows])
        if verdicts:
            self._write(verdicts, rows)
        return {verdict.id for verdict in verdicts}

    def _verdicts(self, rows: Sequence[Row], batch: list[int]) -> list[Verdict]:
        refused = refusals(self.store, self.ruleset, rows, self.now)
        verdicts = [refusal.of(i) for i, refusal in refused.items()]
        policies = self.ruleset.policies
        if policies is None:
            return verdicts
        messages = [r for r in rows if r["kind"] == "message" and r["id"] not in refused]
        zone = self.ruleset.calendar.zone
        quiet = Quiet.of(policies)
        if quiet is not None and quiet.holds(self.now.astimezone(zone)):
            return verdicts + [defer(quiet, zone, row, self.now) for row in messages]
        return verdicts + list(self._capped(policies, messages, batch))

    def _capped(
        self, policies: PoliciesFile, messages: Sequence[Row], batch: list[int]
    ) -> Iterable[Verdict]:
        """The messages that would overfill a cap if sent now (`batch`: every id claimed)."""
        windows = cap_windows(policies)
        counted = [row for row in messages if not row["mandatory"]]
        if not windows or not counted:
            return []
        customers = sorted({str(row["customer_id"]) for row in counted})
        lock_customers(self.store, customers)
        at = int(self.now.timestamp())
        competing = [
            Message(row["id"], str(row["customer_id"]), row["channel"], at, row["priority"],
                    row["key"], True, int(dt.datetime.fromisoformat(row["due_at"]).timestamp()))
            for row in counted
        ]  # fmt: skip
        standing = self._standing(customers, windows, batch)
        return arbitrate([*standing, *competing], windows)

    def _standing(
        self, customers: list[str], windows: list[Window], batch: list[int]
    ) -> list[Message]:
        """The customers' other messages that count, within the widest window's length of
        now either side: those the ledger says were sent (at their first send), those
        another dispatcher has claimed (at its claim) and those waiting for a retry (at their
        first attempt, see `_counted_at`). The ledger is read follow-up by follow-up through
        its index, whatever the planner believes about its size."""
        among = json_texts("customers", self.store.dialect)
        rows = self.store.execute(
            "SELECT f.id, f.customer_id, f.channel, f.priority, f.key, f.status, f.updated_at,"
            " (SELECT min(d.at) FROM deliveries d WHERE d.followup_id = f.id"
            "  AND d.outcome = 'sent') AS sent_at,"
            " (SELECT min(d.at) FROM deliveries d WHERE d.followup_id = f.id"
            "  AND d.outcome = 'retry') AS tried_at"
            f" FROM followups f WHERE f.customer_id IN ({among}) AND f.kind = 'message'"
            " AND f.mandatory = 0",
            {"customers": json.dumps(customers, ensure_ascii=False)},
        )
        reach = dt.timedelta(seconds=max(window.seconds for window in windows))
        ours = set(batch)
        standing = []
        for row in rows:
            at = _counted_at(row) if row["id"] not in ours else None
            if at is not None and abs(at - self.now) < reach:
                standing.append(
                    Message(row["id"], str(row["customer_id"]), row["channel"],
                            int(at.timestamp()), row["priority"], row["key"], False)
                )  # fmt: skip
        return standing

    def _write(self, verdicts: list[Verdict], rows: Sequence[Row]) -> None:
        for (verdict, policy), count in take_back(
            self.store, self.ruleset, verdicts, rows, self.now, self.worker
        ).items():
            into = {"suppressed": self.suppressed, "cancelled": self.cancelled}
            counts = into.get(verdict, self.deferred)
            counts[policy] = counts.get(policy, 0) + count


def _counted_at(row: Row) -> dt.datetime | None:
    """When a message counts towards a cap: its first send, else its claim, if claimed,
    else its first attempt, if it waits for a retry. A failed attempt may have reached the
    customer (the gateway took it, its answer was lost) and the retry will be sent: until
    then it keeps its place, so that other messages sent meanwhile do not overfill the cap.
    A dead letter waits for nothing and holds no place."""
    at = row["sent_at"]
    if at is None and row["status"] == "claimed":
        at = row["updated_at"]
    elif at is None and row["status"] == "pending":
        at = row["tried_at"]
    return dt.datetime.fromisoformat(at) if at else None


def take_back(
    store: Store,
    ruleset: RuleSet,
    verdicts: Sequence[Verdict],
    rows: Sequence[Row],
    now: dt.datetime,
    worker: str | None,
) -> Counter[tuple[str, str]]:
    """Give the decided follow-ups of the claimed `rows` back to the queue, those whose claim
    still holds, then write their verdicts, reached at `now`, as the planner writes its own;
    the suppressions and cancellations into the ledger too (inside the caller's
    transaction); and the version of a withdrawn step that the customer's branch has in its
    place (see in_force). How many of each (verdict, policy) were written."""
    leases = json.dumps(sorted({row["lease_until"] for row in rows if row["lease_until"]}))
    held = store.execute(
        "UPDATE followups SET status = 'pending', lease_until = NULL"
        f" WHERE id IN ({json_texts('ids', store.dialect, 'BIGINT')}) AND status = 'claimed'"
        f" AND lease_until IN ({json_texts('leases', store.dialect)}) RETURNING id",
        {"ids": json.dumps([verdict.id for verdict in verdicts]), "leases": leases},
    )
    still_held = {row["id"] for row in held}
    kept = [verdict for verdict in verdicts if verdict.id in still_held]
    if not kept:
        return Counter()
    open_scratch(store)
    policies = ruleset.policies or PoliciesFile(channels={})  # settling reads none of it
    run = Batch(store, ruleset, policies, "", now, Survey())
    counts = Counter({(verdict, policy): n for verdict, policy, n in settle(run, kept)})
    plan_in_place(store, ruleset, [v.id for v in kept if v.policy == WITHDRAWN], now)
    keys = {row["id"]: row["key"] for row in rows}
    entries = [_unsent(v, keys[v.id]) for v in kept if v.verdict != "deferred"]
    ledger.record_all(store, entries, now, worker)
    return counts


def _unsent(verdict: Verdict, key: str) -> ledger.Entry:
    """The ledger's entry of a follow-up suppressed or cancelled at send time: nothing sent."""
    outcome: ledger.Outcome = "cancelled" if verdict.verdict == "cancelled" else "suppressed"
    return ledger.Entry(verdict.id, key, 0, outcome, error=verdict.reason)


def lock_customers(store: Store, customers: list[str]) -> None:
    """Hold the customers' cap slots until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole database). Locked in order, so no two claims deadlock.

    Customers share LOCK_SLOTS locks by a hash of their key: PostgreSQL's lock table is
    shared and bounded, and a claim of 100,000 follow-ups must not take 100,000 locks. Two
    customers in one slot only wait for each other's claim, which is short."""
    if store.dialect != "postgres":
        return
    store.execute(
        f"SELECT pg_advisory_xact_lock({CUSTOMER_LOCKS}, slot) FROM (SELECT DISTINCT"
        f" abs(hashtext(c) % {LOCK_SLOTS}) AS slot"
        f" FROM ({json_texts('customers', store.dialect)}) AS given(c)) AS slots ORDER BY slot",
        {"customers": json.dumps(customers, ensure_ascii=False)},
    )


def refusals(
    store: Store, ruleset: RuleSet, rows: Sequence[Row], now: dt.datetime
) -> dict[int, Refusal]:
    """The follow-ups of `rows` (by id) whose step the rules no longer have for their
    customer, that a consent check refuses at `now`, or whose customer was erased since they
    were read (an erasure that took a claim as lapsed while its dispatcher still sends); one
    query."""
    policies = ruleset.policies
    if not rows:
        return {}
    in_force = InForce.of(ruleset)
    verdict = _consent_verdict(policies)
    stale = _stale_sql(store.dialect) if policies is not None else "FALSE"
    withdrawn = in_force.withdrawn_sql(store.dialect)
    found = store.execute(
        f"SELECT f.id, f.step_id, {LEVEL} AS current_level, f.customer_id LIKE :erased AS erased,"
        f" {verdict.policy} AS policy, {verdict.reason} AS reason, {stale} AS stale,"
        f" {withdrawn} AS withdrawn, {in_force.branch_sql()} AS branch"
        f" FROM followups f{_customer_joined(ruleset.schema.key)}"
        f" {assignment_joined('a', 'n', 'f.customer_id')}"
        f" WHERE f.id IN ({json_texts('ids', store.dialect, 'BIGINT')}) AND"
        f" (f.customer_id LIKE :erased OR {withdrawn} OR {verdict.status} IS NOT NULL OR {stale})",
        {
            "ids": json.dumps([row["id"] for row in rows]),
            "now": iso(now),
            "erased": ERASED_PREFIX + "%",
            "playbooks": json.dumps(_playbooks(ruleset), ensure_ascii=False),
            **in_force.params(),
            **verdict.params,
        },
    )
    return {row["id"]: _refusal(row, ruleset, in_force) for row in found}


def _playbooks(ruleset: RuleSet) -> list[tuple[str, str]]:
    """(step, level of its playbook) for every step a move to another level makes stale:
    all but those a move keeps (`keep_when_left`)."""
    return [(s.id, s.level) for s in ruleset.steps if not s.step.keep_when_left]


def _stale_sql(dialect: str) -> str:
    """SQL: is the follow-up `f` of a step (of `:playbooks`) that is neither in the playbook
    of the customer's current level (`LEVEL`: the night's change over the assignment, as the
    snapshot engines keep it) nor in every level's? A step the rules no
    longer have, or a customer with no level (never classified), is not decided here."""
    pairs = json_array_rows("playbooks", dialect)
    step, level = json_item(0, dialect), json_item(1, dialect)
    return (
        f"({LEVEL} IS NOT NULL AND EXISTS (SELECT 1 FROM {pairs} WHERE {step} = f.step_id)"
        " AND NOT EXISTS"
        f" (SELECT 1 FROM {pairs} WHERE {step} = f.step_id"
        f" AND ({level} = '{EVERY_LEVEL}' OR {level} = {LEVEL})))"
    )


def _consent_verdict(policies: PoliciesFile | None) -> ConsentSql:
    """The consent checks' SQL over the customer `c` (none without a contact policy)."""
    if policies is None:
        return ConsentSql("NULL", "NULL", "NULL", {})
    resolved = preferred_channel_sql(policies, "f.kind", "c", "f.customer_id", "f.due_at")
    followup = {name: f"f.{name}" for name in FOLLOWUP_FIELDS}
    followup["resolved"] = f"CASE WHEN f.channel = '{PREFERRED}' THEN {resolved} END"
    return consent_sql(policies, "c", followup)


def _customer_joined(key: str) -> str:
    """The join of each follow-up's customer `c`, as the store holds them now."""
    quoted = '"' + key.replace('"', '""') + '"'
    return f" LEFT JOIN customers c ON c.{quoted} = f.customer_id"


def _refusal(row: Row, ruleset: RuleSet, in_force: InForce) -> Refusal:
    if row["erased"]:
        return Refusal("erasure", ERASURE_REASON)
    if row["withdrawn"]:
        reason = in_force.reason(row["step_id"], row["branch"])
        return Refusal(WITHDRAWN, reason, "cancelled")
    if row["policy"] is None:
        return _stale(ruleset, row["step_id"], row["current_level"])
    return Refusal(row["policy"], row["reason"])


def _stale(ruleset: RuleSet, step_id: str, level: str) -> Refusal:
    """Why a step of another level's playbook no longer goes to the customer."""
    levels = ruleset.levels
    playbook = next(s.level for s in ruleset.steps if s.id == step_id)
    reason = _(
        "the customer is now at level {level}, whose playbook has no step {step}"
        " (a {playbook} step)"
    ).format(level=levels.shown(level), step=step_id, playbook=levels.shown(playbook))
    return Refusal(STALE, reason)
