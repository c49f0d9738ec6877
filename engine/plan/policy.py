"""Contact policy over one planned batch of follow-ups, at plan time (see apply_policies).

The passes run in this order, each over the batch's follow-ups still pending after the one
before, and each keeps its verdicts with the policy and a reason a relationship manager reads:

1. consent (one statement finds every failure; the first failed check, in this order, is the
   reason):
   - do-not-contact suppresses every step but a mandatory one (`do_not_contact`);
   - `channel: preferred` means the customer's preferred channel if it carries the step's
     kind and the customer consents to it, else the first fallback that does; with none the
     follow-up is suppressed (`preferred_channel`);
   - a channel with a consent field needs it true (`channel_consent`); a missing value or an
     unknown customer is no consent (PIPL: consent is given, never assumed);
   - a marketing step needs marketing consent, mandatory or not (`marketing_consent`);
   - tasks: do-not-contact and marketing consent apply to them (a relationship manager's call
     is a contact); `rm_task` has no consent field of its own;
   - a follow-up already due after it expires is suppressed (`expiry`).
2. channels: the chosen channel is written into every pending `preferred` follow-up (one
   UPDATE over the batch joined with the customers; a suppressed one gets it with its
   verdict, and keeps `preferred` when it has none).
3. quiet hours (messages, mandatory ones too): see policy_messages.
4. frequency caps (messages): see policy_messages.
5. business days and relationship-manager capacity (tasks): see policy_tasks.

Writing the resolved channel touches every `preferred` row; a planner that resolves the
channel while inserting (with `preferred_channel_sql`) saves the pass that write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.policy_messages import frequency_caps, quiet_hours
from guanxi.engine.plan.policy_tasks import task_days
from guanxi.engine.plan.policy_verdicts import (
    SCRATCH,
    Batch,
    Counts,
    open_scratch,
    settle,
    sql_text,
    survey,
)
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.base import Store


@dataclass
class PolicyReport:
    """How many follow-ups of a batch each policy suppressed or deferred.

    `planned` counts the batch's pending follow-ups the pass looked at. A follow-up deferred
    by one policy and then suppressed by another counts under both.
    """

    planned: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)

    def add(self, counts: Counts) -> None:
        for verdict, policy, count in counts:
            into = self.suppressed if verdict == "suppressed" else self.deferred
            into[policy] = into.get(policy, 0) + count


def apply_policies(store: Store, ruleset: RuleSet, batch: str, now: dt.datetime) -> PolicyReport:
    """Decide every pending follow-up of `batch`: resolve channels, suppress or defer.

    Runs in one transaction; applying it again to the same batch changes nothing.
    """
    found = survey(store, batch)
    report = PolicyReport(planned=found.pending)
    if ruleset.policies is None or found.pending == 0:
        return report
    run = Batch(store, ruleset, ruleset.policies, batch, now, found)
    with store.transaction():
        open_scratch(store)
        for decide in PASSES:
            report.add(decide(run))
    return report


def consent(run: Batch) -> Counts:
    """Suppress every pending follow-up that fails a consent check."""
    bind = _Bound()
    rules = _consent_rules(run, bind)
    columns = ", ".join(f"c.{_ident(n)} AS {a}" for n, a in _customer_fields(run.policies).items())
    resolved = preferred_channel_sql(run.policies, "f.kind", "c")
    rule = " ".join(f"WHEN {condition} THEN {n}" for n, (condition, _, _) in enumerate(rules, 1))
    policy = " ".join(f"WHEN {n} THEN {p}" for n, (_, p, _) in enumerate(rules, 1))
    reason = " ".join(f"WHEN {n} THEN {text}" for n, (_, _, text) in enumerate(rules, 1))
    sql = f"""
        INSERT INTO {SCRATCH} (id, verdict, policy, reason, channel)
        SELECT id, 'suppressed', CASE rule {policy} END, CASE rule {reason} END, resolved
        FROM (SELECT *, CASE {rule} ELSE 0 END AS rule FROM (
            SELECT f.id, f.channel, f.kind, f.mandatory, f.purpose, f.due_at, f.expires_at,
                   {columns}, CASE WHEN f.channel = '{PREFERRED}' THEN {resolved} END AS resolved
            FROM followups f LEFT JOIN customers c ON c.{_ident(run.ruleset.schema.key)}
                 = f.customer_id
            WHERE f.batch = :batch AND f.status = 'pending'))
        WHERE rule > 0"""
    run.query(sql, **bind.values)
    return settle(run, [])


def resolve_channels(run: Batch) -> Counts:
    """Write the channel of every pending `preferred` follow-up (those without one were
    suppressed by the consent pass)."""
    if run.survey.preferred == 0:
        return []
    resolved = preferred_channel_sql(run.policies, "f.kind", "c")
    customer = f"customers c WHERE c.{_ident(run.ruleset.schema.key)} = f.customer_id"
    run.query(
        f"UPDATE followups AS f SET channel = coalesce((SELECT {resolved} FROM {customer}),"
        " f.channel), updated_at = :now WHERE f.batch = :batch AND f.status = 'pending'"
        f" AND f.channel = '{PREFERRED}'",
        now=iso(run.now),
    )
    return []


def preferred_channel_sql(policies: PoliciesFile, kind: str, customer: str) -> str:
    """SQL for the channel a `preferred` step of kind `kind` (an SQL expression) uses for the
    customer row `customer`: the preferred channel, else the first fallback the customer
    consents to; NULL when there is none."""
    if policies.preferred is None:
        return "NULL"
    chosen = f"{customer}.{_ident(policies.preferred.field)}"
    whens = [
        f"WHEN {chosen} = {sql_text(name)} AND {kind} = '{channel.kind}'"
        f" AND {_consents(policies, name, customer)} THEN {sql_text(name)}"
        for name, channel in policies.channels.items()
    ]
    whens += [
        f"WHEN {kind} = '{policies.channels[name].kind}'"
        f" AND {_consents(policies, name, customer)} THEN {sql_text(name)}"
        for name in policies.preferred.fallback
        if name in policies.channels
    ]
    return f"CASE {' '.join(whens)} END"


def _consents(policies: PoliciesFile, channel: str, customer: str) -> str:
    consent = policies.channels[channel].consent_field
    return f"{customer}.{_ident(consent)} = 1" if consent else "1 = 1"


Rule = tuple[str, str, str]  # SQL condition, policy (a placeholder), SQL text of the reason


class _Bound:
    """Values bound as statement parameters; calling it with a value gives its placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"value{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def _consent_rules(run: Batch, bind: _Bound) -> list[Rule]:
    """The consent checks in the order they are decided; the first that fails is the reason."""
    policies, alias = run.policies, _customer_fields(run.policies)
    given = policies.consent
    rules: list[Rule] = []
    if dnc := given.do_not_contact_field:
        reason = f"the customer asked not to be contacted ({dnc})"
        rules.append((f"mandatory = 0 AND {alias[dnc]} = 1", bind("do_not_contact"), bind(reason)))
    no_channel = _no_channel(run, alias, bind)
    unreachable = f"channel = '{PREFERRED}' AND resolved IS NULL"
    rules.append((unreachable, bind("preferred_channel"), no_channel))
    for name, channel in policies.channels.items():
        if field_name := channel.consent_field:
            failed = f"channel = {sql_text(name)} AND coalesce({alias[field_name]}, 0) <> 1"
            reason = f"no {run.channel_label(name)} consent ({field_name})"
            rules.append((failed, bind("channel_consent"), bind(reason)))
    if marketing := given.marketing_field:
        failed = f"purpose = 'marketing' AND coalesce({alias[marketing]}, 0) <> 1"
        reason = f"no marketing consent ({marketing})"
        rules.append((failed, bind("marketing_consent"), bind(reason)))
    expired = "expires_at IS NOT NULL AND due_at > expires_at"
    done = "CASE kind WHEN 'task' THEN 'done' ELSE 'sent' END"
    reason = f"'expired before it could be ' || {done} || ': it is due after it expires'"
    rules.append((expired, bind("expiry"), reason))
    return rules


def _no_channel(run: Batch, alias: dict[str, str], bind: _Bound) -> str:
    preferred = run.policies.preferred
    if preferred is None:
        return bind("the step asks for the preferred channel, but policies.yaml sets none")
    fallback = ", ".join(preferred.fallback) or "none"
    return (
        f"'no ' || kind || ' channel the customer consents to (preferred: ' ||"
        f" coalesce({alias[preferred.field]}, 'none') || {bind(f'; fallback: {fallback})')}"
    )


def _customer_fields(policies: PoliciesFile) -> dict[str, str]:
    """Every customer field the consent checks read, with a column alias for each."""
    names = [
        policies.preferred.field if policies.preferred else None,
        policies.consent.do_not_contact_field,
        policies.consent.marketing_field,
        *(channel.consent_field for channel in policies.channels.values()),
    ]
    unique = dict.fromkeys(n for n in names if n)
    return {name: f"customer_{i}" for i, name in enumerate(unique)}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


PASSES: tuple[Callable[[Batch], Counts], ...] = (
    consent,
    resolve_channels,
    quiet_hours,
    frequency_caps,
    task_days,
)
