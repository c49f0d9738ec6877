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
   - a consent is the consent ledger's record in force when there is one (engine/consent.py:
     a channel's `service` record, the `marketing` record), else the column; a refusal by the
     ledger cites its record (id, source, effective time, evidence);
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.consent import decided_at, in_force_sql, latest_sql
from guanxi.engine.i18n import _
from guanxi.engine.plan.experiments import assign_arms
from guanxi.engine.plan.followups import expire_late, iso
from guanxi.engine.plan.policy_messages import frequency_caps, quiet_hours
from guanxi.engine.plan.policy_tasks import OVER_CAPACITY, task_days
from guanxi.engine.plan.policy_verdicts import (
    SCRATCH,
    Batch,
    Counts,
    channel_label,
    open_scratch,
    settle,
    sql_text,
    survey,
)
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import quoted_name


@dataclass
class PolicyReport:
    """How many follow-ups of a batch each policy suppressed or deferred.

    `planned` counts the batch's pending follow-ups the pass looked at. A follow-up deferred
    by one policy and then suppressed by another counts under both.
    """

    planned: int = 0
    expired: int = 0  # already past their bound on lateness: recorded expired, never pending
    suppressed: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)

    def add(self, counts: Counts) -> None:
        for verdict, policy, count in counts:
            if verdict == OVER_CAPACITY:  # kept on its day: neither suppressed nor deferred
                continue
            into = self.suppressed if verdict == "suppressed" else self.deferred
            into[policy] = into.get(policy, 0) + count


def apply_policies(
    store: Store, ruleset: RuleSet, batch: str, now: dt.datetime, consent_decided: bool = False
) -> PolicyReport:
    """Decide every pending follow-up of `batch`: resolve channels, suppress or defer.

    Runs in one transaction; applying it again to the same batch changes nothing. A
    follow-up already past its bound on lateness is expired first: no policy decides it.
    `consent_decided`: the planner inserted the batch with the consent checks decided
    (`consent_sql`, in the same transaction): the consent pass would find nothing to do.
    """
    with store.transaction():  # all of it: SQLite would otherwise open one left uncommitted
        found = survey(store, batch, now)
        expired = expire_late(store, batch, now) if found.late else 0
        if assign_arms(store, ruleset, batch, now) or expired:
            found = survey(store, batch, now)
        report = PolicyReport(planned=found.pending, expired=expired)
        if ruleset.policies is None or found.pending == 0:
            return report
        run = Batch(store, ruleset, ruleset.policies, batch, now, found)
        open_scratch(store)
        for decide in PASSES:
            if not (consent_decided and decide is consent):
                report.add(decide(run))
    return report


def consent(run: Batch) -> Counts:
    """Suppress every pending follow-up that fails a consent check."""
    resolved = preferred_channel_sql(run.policies, "f.kind", "c", "f.customer_id", "f.due_at")
    resolved = f"CASE WHEN f.channel = '{PREFERRED}' THEN {resolved} END"
    row = {name: f"f.{name}" for name in FOLLOWUP_FIELDS} | {"resolved": resolved}
    verdict = consent_sql(run.policies, "c", row)
    sql = f"""
        INSERT INTO {SCRATCH} (id, verdict, policy, reason, channel)
        SELECT f.id, 'suppressed', {verdict.policy}, {verdict.reason}, {resolved}
        FROM followups f {run.joined_customers()}
        WHERE f.batch = :batch AND f.status = 'pending' AND {verdict.status} IS NOT NULL"""
    run.query(sql, now=iso(run.now), **verdict.params)
    return settle(run, [])


FOLLOWUP_FIELDS = (
    "customer_id",
    "channel",
    "kind",
    "mandatory",
    "purpose",
    "due_at",
    "expires_at",
)
"""The follow-up's fields the consent checks read (with `resolved`, its preferred channel)."""


@dataclass(frozen=True)
class ConsentSql:
    """The consent verdict of one follow-up as SQL: `status` is 'suppressed' when a check
    fails (else NULL), `policy` and `reason` those of the first failed check; `params` are
    the values they bind."""

    status: str
    policy: str
    reason: str
    params: dict[str, Any]


def consent_sql(policies: PoliciesFile, customer: str, row: Mapping[str, str]) -> ConsentSql:
    """The consent checks (see the module) over the customer row `customer` (an alias whose
    columns are the customer's fields) and the follow-up whose FOLLOWUP_FIELDS and
    `resolved` are the SQL expressions of `row`, decided at its due time or now when later
    (`decided_at`: the query binds `:now`). The one place the checks are written: the
    consent pass and a planner deciding while it inserts both use it."""
    bind = _Bound()
    rules = _consent_rules(policies, customer, row, bind)
    status = " ".join(f"WHEN {condition} THEN 'suppressed'" for condition, _, _ in rules)
    policy = " ".join(f"WHEN {condition} THEN {name}" for condition, name, _ in rules)
    reason = " ".join(f"WHEN {condition} THEN {text}" for condition, _, text in rules)
    return ConsentSql(f"CASE {status} END", f"CASE {policy} END", f"CASE {reason} END", bind.values)


def consent_fields(policies: PoliciesFile) -> list[str]:
    """Every customer field the consent checks read."""
    names = [
        policies.preferred.field if policies.preferred else None,
        policies.consent.do_not_contact_field,
        policies.consent.marketing_field,
        *(channel.consent_field for channel in policies.channels.values()),
    ]
    return list(dict.fromkeys(n for n in names if n))


def resolve_channels(run: Batch) -> Counts:
    """Write the channel of every pending `preferred` follow-up (those without one were
    suppressed by the consent pass)."""
    if run.survey.preferred == 0:
        return []
    resolved = preferred_channel_sql(run.policies, "f.kind", "c", "f.customer_id", "f.due_at")
    customer = f"customers c WHERE c.{quoted_name(run.ruleset.schema.key)} = f.customer_id"
    run.query(
        f"UPDATE followups AS f SET channel = coalesce((SELECT {resolved} FROM {customer}),"
        " f.channel), updated_at = :now WHERE f.batch = :batch AND f.status = 'pending'"
        f" AND f.channel = '{PREFERRED}'",
        now=iso(run.now),
    )
    return []


def preferred_channel_sql(
    policies: PoliciesFile, kind: str, customer: str, customer_id: str, due: str
) -> str:
    """SQL for the channel a `preferred` step of kind `kind` (an SQL expression) uses for the
    customer row `customer` whose key is `customer_id`: the preferred channel, else the first
    fallback the customer consents to (at `decided_at(due)`); NULL when there is none."""
    if policies.preferred is None:
        return "NULL"
    chosen = f"{customer}.{quoted_name(policies.preferred.field)}"
    whens = [
        f"WHEN {chosen} = {sql_text(name)} AND {kind} = '{channel.kind}'"
        f" AND {_consents(policies, name, customer, customer_id, due)} THEN {sql_text(name)}"
        for name, channel in policies.channels.items()
    ]
    # a fallback that is the preferred channel failed above already: its ledger is not read again
    whens += [
        f"WHEN NOT coalesce({chosen} = {sql_text(name)}, FALSE)"
        f" AND {kind} = '{policies.channels[name].kind}'"
        f" AND {_consents(policies, name, customer, customer_id, due)} THEN {sql_text(name)}"
        for name in policies.preferred.fallback
        if name in policies.channels
    ]
    return f"CASE {' '.join(whens)} END"


def _consents(
    policies: PoliciesFile, channel: str, customer: str, customer_id: str, due: str
) -> str:
    """SQL: the customer may be contacted on `channel` (the ledger, else the column)."""
    field_name = policies.channels[channel].consent_field
    column = f"{customer}.{quoted_name(field_name)}" if field_name else "TRUE"
    at = decided_at(due)
    granted = latest_sql("l.granted", customer_id, sql_text(channel), "'service'", at)
    return f"coalesce({granted}, {column}) = TRUE"


Rule = tuple[str, str, str]  # SQL condition, policy (a placeholder), SQL text of the reason


class _Bound:
    """Values bound as statement parameters; calling it with a value gives its placeholder."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"consent{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def _consent_rules(
    policies: PoliciesFile, customer: str, row: Mapping[str, str], bind: _Bound
) -> list[Rule]:
    """The consent checks in the order they are decided; the first that fails is the reason.
    A channel's and marketing's consent is the ledger's record in force, else the column
    (engine/consent.py); a refusal by the ledger cites its record. The columns are read
    first: the ledger only when they refuse, or for a withdrawal."""

    def field_of(name: str) -> str:
        return f"{customer}.{quoted_name(name)}"

    given = policies.consent
    rules: list[Rule] = []
    if dnc := given.do_not_contact_field:
        reason = _("the customer asked not to be contacted ({field})").format(field=dnc)
        failed = f"{row['mandatory']} = 0 AND {field_of(dnc)} = TRUE"
        rules.append((failed, bind("do_not_contact"), bind(reason)))
    no_channel = _no_channel(policies, field_of, row, bind)
    unreachable = f"{row['channel']} = '{PREFERRED}' AND {row['resolved']} IS NULL"
    rules.append((unreachable, bind("preferred_channel"), no_channel))
    service, marketing = _in_force(row)
    text = _("no {channel} consent: withdrawn by consent record")
    labels = (f"WHEN {sql_text(n)} THEN {bind(text.format(channel=channel_label(policies, n)))}"
              for n in policies.channels)  # fmt: skip
    otherwise = bind(text.format(channel=PREFERRED))  # not chosen yet: an 'all' record refused
    withdrawn = f"CASE {row['channel']} {' '.join(labels)} ELSE {otherwise} END"
    rules.append(_withdrawn("TRUE", service, bind("channel_consent"), withdrawn))
    for name, channel in policies.channels.items():
        on = f"{row['channel']} = {sql_text(name)}"
        label = channel_label(policies, name)
        if field_name := channel.consent_field:
            failed = (
                f"{on} AND coalesce({field_of(field_name)}, FALSE) <> TRUE AND {service} IS NULL"
            )
            reason = _("no {channel} consent ({field})").format(channel=label, field=field_name)
            rules.append((failed, bind("channel_consent"), bind(reason)))
    marketing_step = f"{row['purpose']} = 'marketing'"
    withdrawn = _("no marketing consent: withdrawn by consent record")
    rules.append(_withdrawn(marketing_step, marketing, bind("marketing_consent"), bind(withdrawn)))
    if marketing_field := given.marketing_field:
        consents = f"coalesce({field_of(marketing_field)}, FALSE) = TRUE"
        failed = f"{marketing_step} AND NOT {consents} AND {marketing} IS NULL"
        reason = _("no marketing consent ({field})").format(field=marketing_field)
        rules.append((failed, bind("marketing_consent"), bind(reason)))
    expired = f"{row['expires_at']} IS NOT NULL AND {row['due_at']} > {row['expires_at']}"
    task = bind(_("expired before it could be done: it is due after it expires"))
    message = bind(_("expired before it could be sent: it is due after it expires"))
    reason = f"CASE {row['kind']} WHEN 'task' THEN {task} ELSE {message} END"
    rules.append((expired, bind("expiry"), reason))
    return rules


def _in_force(row: Mapping[str, str]) -> tuple[str, str]:
    """The follow-up's service and marketing records in force (see `in_force_sql`) for its
    channel: given in `row` when its query reads them once per row, else read here. A
    `preferred` follow-up has no channel yet: its records for 'all' count, and those of the
    channel chosen for it when it is sent (its service consent chose it)."""
    at = decided_at(row["due_at"])
    return (
        row.get("service") or in_force_sql(row["customer_id"], row["channel"], "service", at),
        row.get("marketing") or in_force_sql(row["customer_id"], row["channel"], "marketing", at),
    )


def _withdrawn(applies: str, in_force: str, policy: str, reason: str) -> Rule:
    """The check that the record in force, if any, is not a withdrawal; the reason cites it."""
    return f"{applies} AND {in_force} <> ''", policy, f"{reason} || ' ' || {in_force}"


def _no_channel(
    policies: PoliciesFile, field_of: Callable[[str], str], row: Mapping[str, str], bind: _Bound
) -> str:
    preferred = policies.preferred
    if preferred is None:
        return bind("the step asks for the preferred channel, but policies.yaml sets none")
    fallback = ", ".join(preferred.fallback) or "none"
    return (
        f"'no ' || {row['kind']} || ' channel the customer consents to (preferred: ' ||"
        f" coalesce({field_of(preferred.field)}, 'none') || {bind(f'; fallback: {fallback})')}"
    )


PASSES: tuple[Callable[[Batch], Counts], ...] = (
    consent,
    resolve_channels,
    quiet_hours,
    frequency_caps,
    task_days,
)
