"""Recurring steps (`every:`): each occurrence planned for every matching customer at once.

For each occurrence of a step's schedule in a window [start, end), found with APScheduler's
CronTrigger in the project's time zone, one statement plans the whole population:

    INSERT INTO followups (…) SELECT … FROM customers JOIN assignments … [LEFT JOIN measures]
    WHERE <level> AND <when> ON CONFLICT (key) DO NOTHING

No Python runs per customer. The key `step:customer:period` is built in SQL; the due time and
the expiry are the same for every customer of an occurrence, so they are computed once in
Python (business days need the calendar) and bound as parameters. Periods: `2026-12` (month),
`2026-Q4` (quarter), `2026-W49` (ISO week), `2026-12-05` (day) and, for a cron expression,
the local minute `2026-12-05T10:00`. Re-planning a window, an overlapping one, or the same
month after the step's day was edited plans nothing twice.

Who is planned: customers with an assignment and a level (never classified: nothing), whose
current level is the step's playbook level (any level for `all`), and for whom `when:` holds
on the occurrence's local date (with the customer's fields, tier, level, strategy, gold and
the measures). `unless:` true at planning time still inserts the row, with status
'cancelled', policy 'unless' and reason `unless: <text>`, so nothing vanishes silently and
`explain` can say why; the occurrence is then decided for that customer. NULL counts as false
in both conditions, as in SQL.

A window that reaches back plans, of the occurrences already due at `now`, only the latest:
a daemon down for weeks catches up with one message of a daily step, not a burst of those it
missed (the report lists them as `missed`, not planned).

Each call records the window it planned for each step in `recurring_windows`; `planned_until`
tells a scheduler how far a step is planned. The contact policy runs over the call's batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.classify.compile import measures_sql
from guanxi.engine.classify.run import tuned
from guanxi.engine.classify.stages import quote
from guanxi.engine.consent import decided_at, in_force_sql
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.plan.followups import COLUMNS, iso, new_batch, step_values
from guanxi.engine.plan.policy import (
    ConsentSql,
    PolicyReport,
    apply_policies,
    consent_fields,
    consent_sql,
    preferred_channel_sql,
)
from guanxi.engine.ruleset import CompiledStep, RuleSet
from guanxi.engine.ruleset.followups import PREFERRED
from guanxi.engine.ruleset.ruleset import COMPUTED_FIELDS
from guanxi.engine.store.base import Store, key_part_sql
from guanxi.engine.store.dialect import unindexed
from guanxi.engine.timing import Schedule

CHANNEL = "x._guanxi_channel"  # the follow-up's channel, chosen in the source
SERVICE = "x._guanxi_service"  # its consent records in force (engine/consent.py), read there
MARKETING = "x._guanxi_marketing"
DUE = "CAST(:due AS TEXT)"  # typed: PostgreSQL cannot tell a NULL's type
MAX_OCCURRENCES = 1000  # per step and call: a cron every minute over a year is a mistake


@dataclass
class StepPlan:
    """What one planning call did for one step."""

    step_id: str
    level: str
    occurrences: list[str] = field(default_factory=list)
    new: int = 0  # follow-ups this call inserted
    already_planned: int = 0  # follow-ups of the same occurrences that earlier calls planned
    outcomes: dict[str, int] = field(default_factory=dict)  # new rows by status (policy)
    missed: list[str] = field(default_factory=list)  # due before the latest due: not planned

    def add(self, planned: Occurrence, before: int, new: int) -> None:
        """An occurrence planned: how many of its follow-ups were there before, how many new."""
        self.occurrences.append(planned.label)
        self.already_planned += before
        self.new += new

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "level": self.level,
            "occurrences": self.occurrences,
            "missed": self.missed,
            "new": self.new,
            "already_planned": self.already_planned,
            "outcomes": self.outcomes,
        }


@dataclass
class PlanReport:
    """One planning call: its batch (the rows it inserted) and what each step did."""

    batch: str
    steps: list[StepPlan] = field(default_factory=list)
    policy: PolicyReport | None = None
    consent_decided: bool = False  # the consent checks were decided while inserting

    @property
    def new(self) -> int:
        return sum(s.new for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        policy = self.policy
        return {
            "batch": self.batch,
            "new": self.new,
            "steps": [s.to_dict() for s in self.steps],
            "policy": None if policy is None else vars(policy),
        }


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a step: the same label, dates and times for every customer."""

    step: CompiledStep
    label: str  # the last part of the key: a period, or run-<id>
    today: dt.date  # the date conditions are evaluated on
    due: dt.datetime
    expires: dt.datetime | None


@dataclass(frozen=True)
class Scope:
    """Which customers an occurrence is for, beyond level and conditions: SQL over the
    customers `c` and assignments `a` (e.g. a join with this run's transitions)."""

    join: str = ""
    where: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


def plan_recurring(
    store: Store,
    ruleset: RuleSet,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    only: Collection[str] | None = None,
) -> PlanReport:
    """Plan every `every:` step (those named in `only`, when given) for each of its
    occurrences in [start, end), then apply the contact policy to the new follow-ups, in one
    transaction: no dispatcher sees a follow-up the policy has not decided."""
    batch = new_batch()
    with tuned(store), store.transaction():
        report = insert_recurring(store, ruleset, start, end, now, batch, True, only)
        return apply_policy(store, ruleset, report, now)


def insert_recurring(
    store: Store,
    ruleset: RuleSet,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    batch: str,
    consent: bool = False,
    only: Collection[str] | None = None,
) -> PlanReport:
    """The planning alone: the new rows of `batch` stay as planned (pending or cancelled),
    and the report's outcomes are not counted yet. With `consent`, the contact policy's
    consent verdicts are decided while inserting (see `insert_planned`)."""
    _check_window(start, end)
    store.prepare(ruleset.schema)
    report = PlanReport(batch, consent_decided=consent)
    steps = [s for s in ruleset.steps if s.schedule is not None and (only is None or s.id in only)]
    window = (start, end)
    with tuned(store), store.transaction():
        for step in steps:
            report.steps.append(_plan_step(store, ruleset, step, window, now, batch, consent))
            _record_window(store, ruleset, step, window, now, batch)
    return report


def apply_policy(
    store: Store, ruleset: RuleSet, report: PlanReport, now: dt.datetime
) -> PlanReport:
    """Run the contact policy over the report's batch, then count each step's outcomes.

    The consent verdicts were decided while inserting (see `insert_planned`); the report
    counts them as the consent pass would have, before the verdicts of the other passes: the
    batch's suppressed follow-ups less those the passes suppressed (a pass decides pending
    follow-ups only), so the batch is counted once, after the policy."""
    policy = apply_policies(store, ruleset, report.batch, now, report.consent_decided)
    outcomes = _outcomes(store, report.batch)
    decided = _decided(outcomes, policy) if ruleset.policies is not None else []
    report.policy = PolicyReport(planned=sum(n for _, n in decided), expired=policy.expired)
    report.policy.suppressed = dict(decided)
    report.policy.planned += policy.planned
    report.policy.add([("suppressed", p, n) for p, n in policy.suppressed.items()])
    report.policy.deferred = policy.deferred
    _count_outcomes(report, outcomes)
    return report


def _decided(outcomes: list[dict[str, Any]], policy: PolicyReport) -> list[tuple[str, int]]:
    """(policy, count) of the batch's follow-ups suppressed before the passes, in the order
    the consent pass counts them."""
    suppressed: dict[str, int] = {}
    for row in outcomes:
        if row["status"] == "suppressed":
            suppressed[row["policy"]] = suppressed.get(row["policy"], 0) + int(row["n"])
    before = {p: n - policy.suppressed.get(p, 0) for p, n in suppressed.items()}
    return sorted((p, n) for p, n in before.items() if n > 0)


def _check_window(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the planning window needs times with a time zone")
    if end <= start:
        raise GuanxiError(
            _("the window from {start} to {end} is empty: it must end after it starts").format(
                start=start.isoformat(), end=end.isoformat()
            )
        )


def _plan_step(
    store: Store,
    ruleset: RuleSet,
    step: CompiledStep,
    window: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
    batch: str,
    consent: bool,
) -> StepPlan:
    plan = StepPlan(step.id, step.level)
    found = step_occurrences(ruleset, step, _schedule(step), *window)
    missed, latest = missed_and_latest(found, now)
    plan.missed = [m.label for m in missed]
    for planned in latest:
        plan.add(planned, *insert_planned(store, ruleset, planned, batch, now, consent=consent))
    return plan


def step_occurrences(
    ruleset: RuleSet, step: CompiledStep, schedule: Schedule, start: dt.datetime, end: dt.datetime
) -> list[Occurrence]:
    """The step's occurrences in [start, end), each named by its period in the project's zone."""
    zone = ruleset.calendar.zone
    found = []
    for moment in occurrences(step.id, schedule, zone, start, end):
        local = moment.astimezone(zone)
        label = period_label(schedule.period, local)
        found.append(occurrence(ruleset, step, label, moment, local.date()))
    return found


def missed_and_latest(
    found: list[Occurrence], now: dt.datetime
) -> tuple[list[Occurrence], list[Occurrence]]:
    """The occurrences due before the latest one already due at `now`, and the rest: a
    window reaching back (a daemon down for weeks) plans the latest occurrence it missed,
    not a burst of all of them."""
    due = [i for i, one in enumerate(found) if one.due <= now]
    first = due[-1] if due else 0
    return found[:first], found[first:]


def _schedule(step: CompiledStep) -> Schedule:
    if step.schedule is None:
        raise ValueError(f"step '{step.id}' is not a recurring step")
    return step.schedule


def occurrences(
    step_id: str, schedule: Schedule, zone: dt.tzinfo, start: dt.datetime, end: dt.datetime
) -> list[dt.datetime]:
    """Every time the schedule fires in [start, end), in `zone`."""
    trigger = schedule.trigger(zone)
    found: list[dt.datetime] = []
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < end:
        if len(found) == MAX_OCCURRENCES:
            raise GuanxiError(
                _(
                    "step '{step}' occurs more than {limit} times between"
                    " {start} and {end}; plan a shorter window"
                ).format(step=step_id, limit=MAX_OCCURRENCES, start=iso(start), end=iso(end))
            )
        found.append(moment)
        moment = trigger.get_next_fire_time(moment, moment)
    return found


def period_label(period: str, local: dt.datetime) -> str:
    """The occurrence's name in the key, from its local time."""
    if period == "month":
        return f"{local:%Y-%m}"
    if period == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "day":
        return local.date().isoformat()
    return f"{local:%Y-%m-%dT%H:%M}"


def occurrence(
    ruleset: RuleSet, step: CompiledStep, label: str, start: dt.datetime, today: dt.date
) -> Occurrence:
    """The step triggered at `start`: due after `after` (and at `at`), expiring `expires`
    after it is due, both in the project's business calendar."""
    calendar = ruleset.calendar
    due = calendar.due(start, step.after, step.at)
    expires = calendar.due(due, step.expires) if step.expires else None
    return Occurrence(step, label, today, due, expires)


def insert_planned(
    store: Store,
    ruleset: RuleSet,
    planned: Occurrence,
    batch: str,
    now: dt.datetime,
    scope: Scope | None = None,
    consent: bool = False,
) -> tuple[int, int]:
    """Plan one occurrence for every customer it applies to: how many follow-ups of the
    occurrence were planned before, and how many are new.

    With `consent` (and a contact policy), a new follow-up that fails a consent check is
    inserted already suppressed, with the policy, reason and decision the policy's consent
    pass would write (`at` is `now`), so the pass has nothing left to do for it."""
    query = _Selection(ruleset, planned, store.dialect, scope or Scope(), consent)
    params = query.params(batch, now)
    before = _planned(store, params)
    query.fresh_only = before > 0  # re-planning: the checks run for the new customers alone
    last = _last_id(store)
    store.execute(
        f"INSERT INTO followups ({', '.join(COLUMNS)}) SELECT {query.values()}"
        f" FROM {query.source} ON CONFLICT (key) DO NOTHING",
        params,
    )
    if query.consent is not None:
        _record_consent_decisions(store, params, last)
    return before, _planned(store, params) - before


def _last_id(store: Store) -> int | None:
    """The highest follow-up id before an insert; None when the next ids are not sure to be
    higher (an empty table, or SQLite's largest rowid taken: it then picks ids at random)."""
    [row] = store.execute("SELECT max(id) AS id FROM followups")
    last = row["id"]
    return None if last is None or last >= 2**63 - 1 else int(last)


def _record_consent_decisions(store: Store, params: Mapping[str, Any], last: int | None) -> None:
    """Keep the verdict of each follow-up the insert just wrote suppressed, as the consent pass
    would. Its rows are those after `last`, read in id order straight from the table (the
    occurrence's index would visit every row planned for it before, each read from the
    table, to find the few of this batch)."""
    after = "" if last is None else f"id > {last} AND "
    d = store.dialect
    store.execute(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        f" SELECT id, :now, status, policy, reason FROM followups WHERE {after}"
        f"{unindexed('step_id', d)} = :step AND {unindexed('occurrence', d)} = :occurrence"
        f" AND {unindexed('batch', d)} = :batch AND {unindexed('status', d)} = 'suppressed'"
        " ORDER BY id",
        params,
    )


def count_planned(
    store: Store, ruleset: RuleSet, planned: Occurrence, scope: Scope, now: dt.datetime
) -> int:
    """How many customers `insert_planned` would plan the occurrence for; plans nothing."""
    query = _Selection(ruleset, planned, store.dialect, scope)
    rows = store.execute(f"SELECT COUNT(*) AS n FROM {query.source}", query.params("", now))
    return int(rows[0]["n"])


def count_assigned(
    store: Store, ruleset: RuleSet, planned: Occurrence, scope: Scope, now: dt.datetime
) -> int | None:
    """`count_planned` over the store's assignments alone, for a store that keeps no
    customers (fed only snapshot files); None when the step's conditions read a customer's
    field or a measure, which only the snapshot held."""
    query = _Selection(ruleset, planned, store.dialect, scope, assigned_only=True)
    if not query.names() <= set(COMPUTED_FIELDS):
        return None
    rows = store.execute(f"SELECT COUNT(*) AS n FROM {query.source}", query.params("", now))
    return int(rows[0]["n"])


def _planned(store: Store, params: Mapping[str, Any]) -> int:
    rows = store.execute(
        "SELECT COUNT(*) AS n FROM followups WHERE step_id = :step AND occurrence = :occurrence",
        params,
    )
    return int(rows[0]["n"])


class _Selection:
    """The SQL of one occurrence: the customers it applies to, and their follow-up rows."""

    def __init__(
        self,
        ruleset: RuleSet,
        planned: Occurrence,
        dialect: str,
        scope: Scope,
        consent: bool = False,
        assigned_only: bool = False,
    ) -> None:
        self.ruleset, self.planned, self.dialect, self.scope = ruleset, planned, dialect, scope
        self.step = planned.step
        capacity = ruleset.policies.capacity if ruleset.policies else None
        self.owner = capacity.owner_field if capacity and not assigned_only else None
        self.assigned_only = assigned_only  # the assignments without the customers' fields
        self.consent = self._consent() if consent else None
        self.fresh_only = False  # only customers without the occurrence's follow-up yet

    def _consent(self) -> ConsentSql | None:
        """The contact policy's consent checks, decided while inserting (the policy's consent
        pass then has nothing left to suppress): over the customer's fields in `x` and the
        follow-up's values as bound, with the channel chosen in the source."""
        policies = self.ruleset.policies
        if policies is None:
            return None
        key = f"x.{self.q(self.ruleset.schema.key)}"
        resolved = preferred_channel_sql(policies, ":kind", "x", key, DUE)
        row = {
            "customer_id": key,
            "channel": CHANNEL,
            "kind": ":kind",
            "mandatory": ":mandatory",
            "purpose": ":purpose",
            "due_at": DUE,
            "expires_at": "CAST(:expires AS TEXT)",
            "resolved": self._resolved(resolved),
            "service": SERVICE,
            "marketing": MARKETING,
        }
        return consent_sql(policies, "x", row)

    def _resolved(self, chosen: str) -> str:
        """The channel chosen for a follow-up still `preferred`: none, since the source chose
        it (`channel`) and kept `preferred` only when the choice found none; the choice is
        made again only if a channel is itself named 'preferred'."""
        policies = self.ruleset.policies
        if policies is not None and PREFERRED not in policies.channels:
            return "NULL"
        return f"CASE WHEN {CHANNEL} = '{PREFERRED}' THEN {chosen} END"

    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    @property
    def source(self) -> str:
        """`(profiles) AS x WHERE <when>`: what follows FROM."""
        when = self.step.when.sql(self.dialect, self.planned.today) if self.step.when else "TRUE"
        source = f"({self.profiles()}) AS x WHERE {when}"
        if self.consent is None:
            return source
        # the channel once per customer, read by the row and every consent check: OFFSET
        # keeps the database from copying its expression into each of them (WHERE keeps
        # SQLite from reading the upsert's ON as a join's)
        fence = "LIMIT -1 OFFSET 0" if self.dialect == "sqlite" else "OFFSET 0"
        chosen = f"(SELECT x.*, {self.channel()} AS {CHANNEL[2:]} FROM {source} {fence}) AS x"
        # and the consent records in force for that channel, read once per customer too
        return f"(SELECT x.*, {self.in_force()} FROM {chosen} {fence}) AS x WHERE TRUE"

    def in_force(self) -> str:
        """The service and marketing consent records in force (`in_force_sql`) as columns:
        marketing only for a marketing step."""
        key = f"x.{self.q(self.ruleset.schema.key)}"
        service = in_force_sql(key, CHANNEL, "service", decided_at(DUE))
        policies = self.ruleset.policies
        if self.channel_fields() and policies is not None and PREFERRED not in policies.channels:
            # a channel chosen here was chosen because its service consent holds (the same
            # record, else the column): it grants, and only 'preferred' needs reading
            service = f"CASE WHEN {CHANNEL} = '{PREFERRED}' THEN {service} ELSE '' END"
        marketing = "NULL"
        if self.step.step.purpose == "marketing":
            marketing = in_force_sql(key, CHANNEL, "marketing", decided_at(DUE))
        return f"{service} AS {SERVICE[2:]}, CAST({marketing} AS TEXT) AS {MARKETING[2:]}"

    def profiles(self) -> str:
        """Key, level, owner and every name the conditions use, one row per customer."""
        key = "a.customer_id" if self.assigned_only else f"c.{self.q(self.ruleset.schema.key)}"
        columns = {"level": "a.level", self.ruleset.schema.key: key}
        columns.update({n: self.column(n) for n in self.names()})
        if self.owner:
            columns[self.owner] = f"c.{self.q(self.owner)}"
        listed = ", ".join(f"{sql} AS {self.q(name)}" for name, sql in columns.items())
        where = ["a.level IS NOT NULL"]
        where += [] if self.step.level == "all" else ["a.level = :level"]
        where += [self.scope.where] if self.scope.where else []
        if self.fresh_only:
            where.append(f"NOT EXISTS (SELECT 1 FROM followups p WHERE p.key = {self.key(key)})")
        versions = self._other_versions()
        if versions:  # planned before the customer moved, or before the branch changed it
            keys = ", ".join(self.key(key, f":{name}") for name in versions)
            where.append(
                "NOT EXISTS (SELECT 1 FROM followups h"
                f" WHERE h.key IN ({keys}) AND h.status <> 'cancelled')"
            )
        customers = "" if self.assigned_only else "customers AS c JOIN "
        on = "" if self.assigned_only else f" ON a.customer_id = {key}"
        return (
            f"SELECT {listed} FROM {customers}current_assignments AS a{on}"
            f" {self.scope.join}{self.measures_join(key)} WHERE {' AND '.join(where)}"
        )

    def names(self) -> set[str]:
        conditions = (self.step.when, self.step.unless)
        used = {n for c in conditions if c is not None for n in c.fields} | self.channel_fields()
        policies = self.ruleset.policies
        return used | set(consent_fields(policies)) if policies and self.consent else used

    def channel_fields(self) -> set[str]:
        """What choosing the customer's own channel reads, for a `channel: preferred` step."""
        policies = self.ruleset.policies
        if self.step.step.channel != PREFERRED or policies is None or not policies.preferred:
            return set()
        consents = {c.consent_field for c in policies.channels.values() if c.consent_field}
        return {policies.preferred.field, *consents}

    def channel(self) -> str:
        """The channel as written, or the customer's own chosen while inserting (the contact
        policy then has no million channels to write); NULL falls back to 'preferred', which
        the policy suppresses with its reason."""
        policies = self.ruleset.policies
        if not self.channel_fields() or policies is None:
            return ":channel"
        key = f"x.{self.q(self.ruleset.schema.key)}"
        return f"COALESCE({preferred_channel_sql(policies, ':kind', 'x', key, DUE)}, :channel)"

    def column(self, name: str) -> str:
        if name in COMPUTED_FIELDS:
            return f"a.{name}"
        if name in self.measure_names():
            return f"m.{self.q(name)}"
        return f"c.{self.q(name)}"

    def measure_names(self) -> list[str]:
        used = self.names()
        return [m.name for m in self.ruleset.measures if m.name in used]

    def measures_join(self, key: str) -> str:
        names = self.measure_names()
        if not names:
            return ""
        sql = measures_sql(self.ruleset, self.dialect, self.planned.today, names)
        return f" LEFT JOIN ({sql}) AS m ON m.{self.q(self.ruleset.schema.key)} = {key}"

    def values(self) -> str:
        """The SELECT list in the order of followups.COLUMNS."""
        customer = f"x.{self.q(self.ruleset.schema.key)}"
        owner = f"x.{self.q(self.owner)}" if self.owner else "NULL"
        status, policy, reason = "'pending'", "NULL", "NULL"
        channel = self.channel()
        if self.consent is not None:
            status = f"coalesce({self.consent.status}, 'pending')"
            policy, reason, channel = self.consent.policy, self.consent.reason, CHANNEL
        if self.step.unless is not None:
            cancelled = f"({self.step.unless.sql(self.dialect, self.planned.today)})"
            status = f"CASE WHEN {cancelled} THEN 'cancelled' ELSE {status} END"
            policy = f"CASE WHEN {cancelled} THEN 'unless' ELSE {policy} END"
            reason = f"CASE WHEN {cancelled} THEN :reason ELSE {reason} END"
        return (
            f"{self.key(customer)}, {customer}, :step, x.level,"
            f" :kind, {channel}, :template, :priority, :mandatory, :purpose, {owner},"
            f" :occurrence, NULL, '{{}}', :due, :due, :expires, {status}, {policy}, {reason},"
            f" :batch, :hash, :now, :now"
        )

    @staticmethod
    def key(customer: str, step: str = ":step") -> str:
        """The follow-up's key `step:customer:period` for the customer key `customer`."""
        return f"{step} || ':' || {key_part_sql(customer)} || ':' || :occurrence"

    def params(self, batch: str, now: dt.datetime) -> dict[str, Any]:
        step, planned = self.step.step, self.planned
        return {
            **self.scope.params,
            "level": self.step.level,
            "step": step.id,
            "occurrence": planned.label,
            **step_values(step),
            "due": iso(planned.due),
            "expires": iso(planned.expires) if planned.expires else None,
            "reason": f"unless: {step.unless}",
            "batch": batch,
            "hash": self.ruleset.hash,
            "now": iso(now),
            **(self.consent.params if self.consent else {}),
            **self._other_versions(),
        }

    def _other_versions(self) -> dict[str, str]:
        """The other versions of the step in the rules (the head office's and each branch's
        `id@branch`) by parameter name: the step is not planned for an occurrence its customer
        already has one of (planned before the branch changed the step, or before the
        customer moved): one message a month, not one of each."""
        branch, steps = self.step.branch, self.ruleset.steps
        head = self.step.id if branch is None else self.step.id.removesuffix(f"@{branch}")
        family = [s.id for s in steps if s.branch and s.id == f"{head}@{s.branch}"]
        others = [version for version in [head, *family] if version != self.step.id]
        return {f"version_{number}": version for number, version in enumerate(others)}


def count_outcomes(store: Store, report: PlanReport) -> None:
    """Each step's new rows by status, and by the policy that decided them."""
    _count_outcomes(report, _outcomes(store, report.batch))


def _outcomes(store: Store, batch: str) -> list[dict[str, Any]]:
    return store.execute(
        "SELECT step_id, status, policy, COUNT(*) AS n FROM followups WHERE batch = :batch"
        " GROUP BY step_id, status, policy ORDER BY step_id, status, policy",
        {"batch": batch},
    )


def _count_outcomes(report: PlanReport, rows: list[dict[str, Any]]) -> None:
    plans = {p.step_id: p for p in report.steps}
    for plan in plans.values():
        plan.outcomes = {}
    for row in rows:
        label = row["status"] if row["policy"] is None else f"{row['status']} ({row['policy']})"
        plans[row["step_id"]].outcomes[label] = int(row["n"])


def _record_window(
    store: Store,
    ruleset: RuleSet,
    step: CompiledStep,
    window: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
    batch: str,
) -> None:
    store.execute(
        "INSERT INTO recurring_windows (step_id, window_start, window_end, batch, ruleset_hash,"
        " planned_at) VALUES (:step, :start, :end, :batch, :hash, :now)",
        {
            "step": step.id,
            "start": iso(window[0]),
            "end": iso(window[1]),
            "batch": batch,
            "hash": ruleset.hash,
            "now": iso(now),
        },
    )


def planned_until(store: Store, step_id: str) -> dt.datetime | None:
    """The end of the latest window planned for a step (earlier gaps are not looked for)."""
    rows = store.execute(
        "SELECT MAX(window_end) AS until FROM recurring_windows WHERE step_id = :step",
        {"step": step_id},
    )
    until = rows[0]["until"] if rows else None
    return None if until is None else dt.datetime.fromisoformat(until)
