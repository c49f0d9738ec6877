"""Event steps (`on:`): each new event, with its customer's profile, becomes follow-ups.

Events are planned in the order they happened (`at`, then id), in chunks: one query fetches
the profiles of a chunk's customers not read yet in this call (planning changes no profile;
up to PROFILES_KEPT are kept between chunks), durable_rules matches each event against every
event step at once, and the new follow-ups of the chunk go through the contact policy together.
An event is marked planned when its chunk is done, so a replay plans nothing twice; the
follow-ups' idempotency keys (step:customer:event id) make that hold even after a crash.

Outcomes that are not a follow-up are counted, never dropped silently:
- an event for a customer who is not loaded, or not yet classified, plans nothing
  (`no_profile`); it stays in the store and `explain` shows it. Once the store has been
  classified (a classification run exists), such an event first waits (`waiting`): a new
  customer who buys today is classified tonight, and their sale is planned at the first
  planning after that run, from its own time (so a step whose window closed meanwhile is
  `too_old`). An event waits at most WAITS_AT_MOST from its own time, then is `no_profile`
  as before. Before the store's first classification every event waits for it, however
  old: a history load followed by the baseline then plans what the baseline followed by the
  load would, what is still due, and the history whose windows closed is `too_old`, never a
  wave of follow-ups. A waiting event keeps the last run (0: none) in `waits_after` and
  leaves the index of events to plan: a tick reads it again only once a newer run exists or
  its wait is over (`_release_waiting`);
- an event that arrives after later ones is planned from its own time; a follow-up due in
  the past is due at once, unless its bound on lateness (`expires:`, or the policy's default
  for its kind) has already passed: then it is not created at all (`too_old`), and the event
  keeps which steps it was too old for in `too_old`, which `explain` shows. So a backfilled
  year of history is recorded (for history and reports) without filling the follow-ups
  table with follow-ups that can never happen;
- an event that cannot be planned (a follow-up due after 2199-12-31, the last date load
  accepts, or past the calendar's last day; a value no condition can compare) fails alone
  (`failed`): it is marked planned with its reason in `plan_error`, never tried again, and
  the rest of its chunk is planned.
A consent_given or consent_withdrawn event (when schema.yaml declares them) adds its record to
the consent ledger before the chunk's contact policy (engine/consent.py).
`cancel_on:` cancels the customer's pending follow-ups of a step when a given event arrives
(a resolved complaint needs no call-back; plan/cancelling.py, which a load of events runs
too); `unless:` cancels a follow-up at planning time.
A step's `when:` may read event measures (`complaints_90d`): they count the customer's events
up to the one being planned, that one included.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from guanxi.engine import consent
from guanxi.engine.classify.compile import with_measures
from guanxi.engine.classify.event_measures import event_value, stored_events
from guanxi.engine.classify.field_history import change_value, stored_history
from guanxi.engine.events.matcher import EventMatcher
from guanxi.engine.i18n import _
from guanxi.engine.ingest.values import LATEST
from guanxi.engine.plan.cancelling import Canceller, minutes
from guanxi.engine.plan.followups import (
    Followup,
    insert_followups,
    iso,
    new_batch,
)
from guanxi.engine.plan.policy import PolicyReport, apply_policies
from guanxi.engine.ruleset.ruleset import CompiledStep, RuleSet
from guanxi.engine.store.assignments import current_value, joined
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import json_texts

CHUNK = 5_000
SHOWN = 20
PROFILES_KEPT = 100_000  # customers' profiles kept between chunks of one call
# How long an event waits for its customer's first classification. A new customer is
# classified the night after they arrive; a week also outlasts a few nights without a run
# (a holiday week, a failed schedule). The steps' own bounds on lateness still decide what
# a late-planned event may create, and they are no longer than this in the default project.
WAITS_AT_MOST = dt.timedelta(days=7)


@dataclass
class EventPlanReport:
    events: int = 0
    matched: int = 0
    planned: int = 0
    cancelled: int = 0
    no_profile: int = 0
    waiting: int = 0  # events whose customer is not classified yet, planned after a run
    too_old: int = 0  # events that came after the window of a step they triggered had closed
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)  # the first few: id, reason
    by_step: Counter[str] = field(default_factory=Counter)
    created: list[dict[str, Any]] = field(default_factory=list)  # the first few, for display
    policy: list[PolicyReport] = field(default_factory=list)


def plan_new_events(store: Store, ruleset: RuleSet, now: dt.datetime) -> EventPlanReport:
    """Plan every event not planned yet, oldest first."""
    store.prepare(ruleset.schema)  # profiles are read by column: every field has one
    report = EventPlanReport()
    planner = _Planner(store, ruleset, now, report)
    with store.bulk_writes():
        _release_waiting(store, planner.last_run, planner.waits_since)
        while chunk := store.execute(
            "SELECT id, type, customer_id, at, payload FROM events"
            " WHERE planned_at IS NULL AND waits_after IS NULL ORDER BY at, id LIMIT :n",
            {"n": CHUNK},
        ):
            planner.plan_chunk(chunk)
    return report


def _last_run(store: Store) -> int | None:
    """The store's newest classification run; None before its first."""
    [row] = store.execute("SELECT max(id) AS run FROM classification_runs")
    return None if row["run"] is None else int(row["run"])


def _release_waiting(store: Store, last_run: int | None, since: str) -> None:
    """Put back among the events to plan those that waited for a run older than the last
    one, and those whose wait is over; each UPDATE reads only what it releases."""
    if last_run is None:
        return
    store.execute(
        "UPDATE events SET waits_after = NULL WHERE waits_after IS NOT NULL AND waits_after < :run",
        {"run": last_run},
    )
    store.execute(
        "UPDATE events SET waits_after = NULL WHERE waits_after IS NOT NULL AND at < :since",
        {"since": since},
    )


_Late = tuple[str, dt.datetime]  # a step an event came too late for, and when it closed


class _Moment(NamedTuple):  # a tuple: one is made for every event
    """When an event happened, and its day in the project's time zone."""

    at: dt.datetime
    today: dt.date


class _Planner:
    def __init__(
        self, store: Store, ruleset: RuleSet, now: dt.datetime, report: EventPlanReport
    ) -> None:
        self.store, self.ruleset, self.now, self.report = store, ruleset, now, report
        self.now_text = iso(now)
        self.now_second = now.astimezone(dt.UTC).replace(microsecond=0)
        self.matcher = EventMatcher(ruleset)
        self.owner_field = (
            ruleset.policies.capacity.owner_field
            if ruleset.policies and (ruleset.policies.capacity)
            else None
        )
        self.canceller = Canceller(store, ruleset, now)
        self.measures = _Measures(ruleset, store)
        self.columns = _profile_columns(self.measures.ruleset, self.owner_field)
        self.profiles: dict[Any, Row | None] = {}  # customer -> profile (None: no customer)
        self.last_run = _last_run(store)
        self.waits_since = iso(now - WAITS_AT_MOST)  # events from then on may wait
        self.closed = _("{step} (window closed {time})")

    def profiles_of(self, customers: set[Any]) -> Mapping[Any, Row | None]:
        """The profiles of `customers`, each read once a call: planning changes no customer
        and no assignment, and a customer's events are spread over many chunks."""
        unread = customers - self.profiles.keys()
        if len(self.profiles) + len(unread) > PROFILES_KEPT:
            self.profiles.clear()  # memory stays bounded; the chunk's own are read again
            unread = customers
        if unread:
            read = _profiles(self.store, self.ruleset, unread, self.columns)
            self.profiles.update((customer, read.get(customer)) for customer in unread)
        return self.profiles

    def plan_chunk(self, events: list[Row]) -> None:
        profiles = self.profiles_of({e["customer_id"] for e in events})
        batch, followups, too_old, waiting = new_batch(), [], [], set()
        consents, failures = consent.from_events(events, self.ruleset.policies)
        for event in events:
            profile = profiles.get(event["customer_id"])
            if profile is None or profile.get("level") is None:
                if self.waits(event):
                    waiting.add(event["id"])
                else:
                    self.report.no_profile += 1
                continue
            try:
                timely, late = self.followups(event, profile)
            except Exception as error:  # no store work in there: this event's data failed it
                failures.append({"id": str(event["id"]), "reason": _reason(error)})
                continue
            if not timely and not late:  # most events: no step's trigger and `when:` hold
                continue
            self.report.matched += 1
            if late:
                too_old.append({"id": event["id"], "steps": self._too_old(late)})
            self.report.by_step.update(f.step_id for f in timely)
            followups.extend(timely)
        planned = [e["id"] for e in events if e["id"] not in waiting]
        self.report.events += len(planned)
        with self.store.transaction():  # no dispatcher sees what the policy has not decided
            consent.append_new(self.store, consents, self.now)  # before the policy decides
            self.report.planned += insert_followups(self.store, followups, batch, self.now)
            # after inserting: an earlier event of this chunk, or of the store, may be moot
            self.report.cancelled += self.canceller.cancel(events)
            self.report.cancelled += self.canceller.cancel_by_stored(self._cancellable(followups))
            self._wait(waiting)
            self.store.execute(
                f"UPDATE events SET planned_at = :now WHERE id IN ({self._listed('ids')})",
                {"now": self.now_text, "ids": _json_list(planned)},
            )
            self._fail(failures)
            self._keep_too_old(too_old)
            policy = apply_policies(self.store, self.ruleset, batch, self.now)
        self.report.policy.append(policy)
        self._show(batch)

    def _cancellable(self, followups: Iterable[Followup]) -> set[Any]:
        """The customers of `followups` of steps that an event cancels."""
        steps = self.canceller.cancelled_steps()
        return {f.customer_id for f in followups if f.step_id in steps}

    def waits(self, event: Row) -> bool:
        """Whether an event whose customer has no level waits for a classification run:
        any before the store's first, else for WAITS_AT_MOST from its own time."""
        if event["type"] in consent.EVENT_TYPES or self.unheard(event):
            return False  # a consent counts at once; an event no step hears plans nothing
        return self.last_run is None or bool(event["at"] >= self.waits_since)

    def unheard(self, event: Row) -> bool:
        """No step listens to the event's type, and no payload field says otherwise."""
        return event["type"] not in self.matcher.event_types and '"type"' not in (
            event["payload"] or ""
        )

    def _wait(self, waiting: set[Any]) -> None:
        """Keep `waiting` unplanned, out of the index of events to plan until a newer run."""
        if waiting:
            self.store.execute(
                f"UPDATE events SET waits_after = :run WHERE id IN ({self._listed('ids')})",
                {"run": self.last_run or 0, "ids": _json_list(waiting)},
            )
        self.report.waiting += len(waiting)

    def followups(
        self, event: Row, profile: Mapping[str, Any]
    ) -> tuple[list[Followup], list[_Late]]:
        """The event's follow-ups still in time, and the steps it came too late for (past
        their bound on lateness, as `past_bound` compares: those are never built)."""
        if self.unheard(event):
            return [], []  # not read
        fields = {"type": event["type"], **json.loads(event["payload"] or "{}")}
        at = dt.datetime.fromisoformat(event["at"])
        today = self.ruleset.calendar.local_day(at)
        moment = _Moment(at, today)
        profile = self.measures.add(profile, moment)
        record = self.matcher.record(fields, profile)
        timely: list[Followup] = []
        late: list[_Late] = []
        calendar = self.ruleset.calendar
        for step in self.matcher.match_record(record, today):
            due = calendar.due(moment.at, step.after, step.at)
            _within_dates(step, calendar.local_day(due), today)
            expires = calendar.due(due, step.expires) if step.expires else None
            cancelled = step.unless is not None and step.unless.evaluate(record, moment.today)
            if expires is not None and self._closed(expires):
                late.append((step.id, expires))
            else:
                timely.append(
                    self.followup(step, event, fields, profile, (due, expires), cancelled)
                )
        return timely, late

    def _closed(self, expires: dt.datetime) -> bool:
        """`iso(expires) <= iso(now)` (as `past_bound` compares), without writing the text:
        instants to the second compare as their ISO texts do from the year 1000 on."""
        if expires.year < 1000 or self.now_second.year < 1000:
            return iso(expires) <= self.now_text
        return expires.replace(microsecond=0) <= self.now_second

    def followup(
        self,
        step: CompiledStep,
        event: Row,
        fields: Mapping[str, Any],
        profile: Mapping[str, Any],
        window: tuple[dt.datetime, dt.datetime | None],
        cancelled: bool,
    ) -> Followup:
        (due, expires), s = window, step.step
        return Followup(
            customer_id=str(event["customer_id"]),
            step_id=step.id,
            level=profile.get("level"),
            kind=s.do,
            channel=s.channel,
            template=s.template,
            priority=s.priority,
            mandatory=s.mandatory,
            purpose=s.purpose,
            owner=_text(profile.get(self.owner_field)) if self.owner_field else None,
            occurrence=str(event["id"]),
            due_at=due,
            expires_at=expires,
            ruleset_hash=self.ruleset.hash,
            event_id=str(event["id"]),
            payload=fields,
            status="cancelled" if cancelled else "pending",
            policy="unless" if cancelled else None,
            reason=f"unless: {s.unless}" if cancelled else None,
        )

    def _fail(self, failures: list[dict[str, str]]) -> None:
        """Keep why each failed event could not be planned; it is not tried again."""
        self.store.execute_many("UPDATE events SET plan_error = :reason WHERE id = :id", failures)
        self.report.failed += len(failures)
        self.report.failures += failures[: SHOWN - len(self.report.failures)]

    def _too_old(self, late: list[_Late]) -> str:
        """Which steps the event came too late for, and when each one's window closed."""
        zone = self.ruleset.calendar.zone
        return "; ".join(
            self.closed.format(step=step_id, time=minutes(expires.astimezone(zone)))
            for step_id, expires in late
        )

    def _keep_too_old(self, too_old: list[dict[str, str]]) -> None:
        self.store.execute_many("UPDATE events SET too_old = :steps WHERE id = :id", too_old)
        self.report.too_old += len(too_old)

    def _listed(self, parameter: str) -> str:
        """The texts of the JSON array bound to `parameter`, for `IN (…)`: one parameter,
        where one per value would cost SQLite a prepare quadratic in their number."""
        return json_texts(parameter, self.store.dialect)

    def _show(self, batch: str) -> None:
        room = SHOWN - len(self.report.created)
        if room > 0:
            self.report.created += self.store.execute(
                "SELECT id, customer_id, step_id, kind, channel, owner, due_at, status, reason"
                " FROM followups WHERE batch = :batch ORDER BY due_at, id LIMIT :n",
                {"batch": batch, "n": room},
            )


PROFILED = ("tier", "level", "strategy", "gold")  # of the current assignment


def _profile_columns(ruleset: RuleSet, owner_field: str | None) -> list[str]:
    """The customer fields planning reads: the key, those the event steps' conditions and
    the measures they use read, and the owner (`ruleset` has only those measures)."""
    read = _read_by_event_steps(ruleset) | {n for m in ruleset.measures for n in m.uses}
    read |= {owner_field} if owner_field else set()
    key = ruleset.schema.key
    return [key, *(n for n in ruleset.schema.fields if n in read and n != key)]


def _profiles(
    store: Store, ruleset: RuleSet, customers: Iterable[Any], columns: list[str]
) -> dict[Any, Row]:
    """Each customer's `columns` and current assignment, in one query."""
    key = ruleset.schema.key
    fields = ", ".join(f'c."{name}"' for name in columns)
    current = ", ".join(f"{current_value('a', 'n', c)} AS {c}" for c in PROFILED)
    customer = f'c."{key}"'
    rows = store.execute(
        f"SELECT {fields}, {current} FROM customers c {joined('a', 'n', customer)}"
        f" WHERE {customer} IN ({json_texts('keys', store.dialect)})",
        {"keys": _json_list(customers)},
    )
    return {row[key]: row for row in rows}


class _Measures:
    """The measures of one customer as of one event: expression measures on the event's day,
    event measures over the customer's events up to the event itself (it included), change
    measures against the field history kept by the runs. Percentile measures need the whole
    population, so event steps see them as NULL."""

    def __init__(self, ruleset: RuleSet, store: Store) -> None:
        # only the measures the event steps read, and those they use (assessments that only
        # the report shows are not computed for each event)
        self.ruleset, self.store = with_measures(ruleset, _read_by_event_steps(ruleset)), store
        self.compiled: dict[dt.date, dict[str, Any]] = {}
        self.reads_events = _steps_read_events(self.ruleset)
        self.reads_history = bool(self.ruleset.change_measures)

    def add(self, profile: Mapping[str, Any], moment: _Moment) -> Mapping[str, Any]:
        if not self.ruleset.measures:
            return profile  # nothing to add: read as it is, never changed
        today = moment.today
        if today not in self.compiled:
            self.compiled[today] = {
                m.name: m.expression.compile(today) for m in self.ruleset.measures if m.expression
            }
        record = dict(profile)
        history = self.history(record, moment)
        kept = self.kept(record)
        for measure in self.ruleset.measures:  # in file order: a measure uses earlier ones
            if measure.expression is not None:
                record[measure.name] = self.compiled[today][measure.name](record)
            elif measure.events is not None:
                record[measure.name] = event_value(self.ruleset, measure, history, today)
            elif measure.change is not None:
                now = record.get(measure.change.field)
                record[measure.name] = change_value(measure, now, kept, today)
        return record

    def kept(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        if not self.reads_history:
            return []
        return stored_history(self.store, self.ruleset, str(record[self.ruleset.schema.key]))

    def history(self, record: Mapping[str, Any], moment: _Moment) -> list[dict[str, Any]]:
        if not self.reads_events:  # spare each event a query no step needs
            return []
        key = str(record[self.ruleset.schema.key])
        found = stored_events(self.store, self.ruleset, key, moment.today)
        return [e for e in found if dt.datetime.fromisoformat(e["at"]) <= moment.at]


def _read_by_event_steps(ruleset: RuleSet) -> set[str]:
    """The names the `when:` and `unless:` of the event steps read."""
    conditions = [c for s in ruleset.steps if s.step.on for c in (s.when, s.unless) if c]
    return {name for condition in conditions for name in condition.fields}


def _steps_read_events(ruleset: RuleSet) -> bool:
    """Whether an event step's `when:` or `unless:` reads an event measure, or a measure
    built on one."""
    from_events: set[str] = set()
    for measure in ruleset.measures:  # in file order: a measure uses earlier ones
        if measure.events is not None or measure.uses & from_events:
            from_events.add(measure.name)
    conditions = [c for s in ruleset.steps if s.step.on for c in (s.when, s.unless) if c]
    return any(c.fields & from_events for c in conditions)


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps([str(v) for v in values], ensure_ascii=False)


def _within_dates(step: CompiledStep, due: dt.date, happened: dt.date) -> None:
    """A ValueError for a follow-up due after the last date `load` accepts: its event's date
    is surely mistyped (2199 for 2019), and nothing would ever act on it."""
    if due > LATEST:
        raise ValueError(
            _(
                "step {step} would be due on {due}, after {latest}, the last date guanxi"
                " accepts: is the event's date {day} mistyped? Correct it and load the event"
                " again under a new id"
            ).format(step=step.id, due=due, latest=LATEST, day=happened)
        )


def _reason(error: Exception) -> str:
    """Why an event could not be planned, for the user: our errors say it in their message."""
    return str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
