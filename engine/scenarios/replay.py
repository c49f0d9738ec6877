"""One scenario played through the real pipeline on a throw-away store (SQLite in memory).

The scenario's time line; every step is given its `now` from the scenario, never a clock:

1. the day before (with `before:` or a population, not with `baseline: true`): the
   population, and the customer as they were (with `before:`), are loaded and classified at
   the previous midnight, the store's first classification: a baseline;
2. today (`today`'s midnight in the project's zone, or the time it gives; without it, the
   first event's day): the population (unless loaded already) and the customer are loaded and
   classified, and the run's transitions (`on_enter:` / `on_leave:`) planned. A customer
   without `before:` is new to the bank today, so entering a first tier and level is a
   transition; with `baseline: true` (or with neither population nor `before:`) today's run
   is the store's first, and only `initial: true` steps act on it. Under a `hold:` today is
   classified as many runs in a row as the hold needs, so that the scenario shows the customer
   once a change is confirmed (`runs:` gives the number instead: `runs: 1` shows the change
   still held); the customer as they were stays until then;
3. with `recurring:`, the `every:` steps are planned for the window from today on, as the
   daemon plans them ahead (31 days, or the duration given);
4. the events in the order they happened, each instant's events recorded and planned at that
   instant, as they would arrive (an event before today is planned today); between them, at
   its time, each `later:` change of the customer, loaded and classified as the nights
   would (as many runs as the hold needs), its moves planned. The events before today are
   the customer's history: they are recorded before the first classification, so event
   measures (`count: complaint`, `in_last: 90 days`) count them.

Each planning call runs the contact policy over what it planned. What comes back is the
customer's assignment and every follow-up planned for them, with each policy verdict.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from guanxi.engine import ingest
from guanxi.engine.classify import classify
from guanxi.engine.classify.compile import measures_sql
from guanxi.engine.classify.hold import holds
from guanxi.engine.classify.stages import quote
from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import Language, _, language
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import Scenario, ScenarioEvent
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from guanxi.engine.timing import parse_duration

RECURRING_WINDOW = dt.timedelta(days=31)  # as far ahead as the daemon plans recurring steps
LIVE = ("pending", "claimed", "sent")  # statuses of a follow-up that happens
# Planning runs in English whatever the user's language: a policy reason is stored in the
# language it was planned in, and a scenario's `reason containing "SMS cap 2 per 7 days"` must
# mean the same on every machine (a scenario file is shared, like the rules).
PLANNED_IN: Language = "en"


class ScenarioError(GuanxiError):
    """A scenario cannot be played (its data does not load); not a failed expectation."""


@dataclass(frozen=True)
class Planned:
    """One follow-up planned for the scenario's customer; `due` in the project's zone;
    `policies` and `reasons` of every verdict about it, its own status last."""

    step: str
    kind: str
    channel: str
    due: dt.datetime
    status: str
    policies: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def happens(self) -> bool:
        return self.status in LIVE

    @property
    def verdicts(self) -> tuple[tuple[str, str], ...]:
        """(policy, reason) of each verdict about it."""
        return tuple(zip(self.policies, self.reasons, strict=True))

    @property
    def policy(self) -> str | None:
        return self.policies[-1] if self.policies else None

    @property
    def reason(self) -> str | None:
        return self.reasons[-1] if self.reasons else None


@dataclass(frozen=True)
class Outcome:
    """What the pipeline decided for the scenario's customer."""

    customer_id: str
    tier: str | None
    level: str | None
    strategy: str | None
    gold: bool | None
    followups: tuple[Planned, ...]
    measures: Mapping[str, Any] = field(default_factory=dict)  # those the scenario expects


def play(
    ruleset: RuleSet, scenario: Scenario, population: Path | None, encoding: str = UTF8
) -> Outcome:
    """Run the scenario's time line (see the module) and read back what was decided; the
    `population` file is read in `encoding`. A row that cannot be loaded stops it with a
    ScenarioError in the user's language; the planning runs in English (`PLANNED_IN`)."""
    store = SQLiteStore(":memory:")
    try:
        store.prepare(ruleset.schema)
        timeline = _Timeline(store, ruleset, scenario, population, encoding)
        timeline.run()
        found = outcome(store, ruleset, _key(ruleset, scenario))
        wanted = list(scenario.expect.measures)
        if not wanted:
            return found
        day = timeline.last.astimezone(ruleset.calendar.zone).date()
        return replace(found, measures=_measures(store, ruleset, found.customer_id, day, wanted))
    finally:
        store.close()


def start_of(ruleset: RuleSet, scenario: Scenario) -> dt.datetime:
    """The scenario's clock at its start: `today` (a date's midnight in the project's zone),
    else the midnight of the first event's day."""
    zone = ruleset.calendar.zone
    if scenario.today:
        return _moment(scenario.today, zone)
    first = min(_moment(e.at, zone) for e in scenario.events)
    return dt.datetime.combine(first.astimezone(zone).date(), dt.time(), tzinfo=zone)


def _moment(text: str, zone: dt.tzinfo) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _key(ruleset: RuleSet, scenario: Scenario) -> str:
    """The customer's id as the store keeps it: read as a load reads it (`００１` is `001`)."""
    row, _problems = ingest.check_customer(
        ruleset.schema, ruleset.settings.timezone, scenario.customer
    )
    return str(row.get(ruleset.schema.key, scenario.customer.get(ruleset.schema.key)))


class _Timeline:
    def __init__(
        self,
        store: Store,
        ruleset: RuleSet,
        scenario: Scenario,
        population: Path | None,
        encoding: str,
    ) -> None:
        self.store, self.ruleset, self.scenario = store, ruleset, scenario
        self.population, self.encoding = population, encoding
        self.zone = ruleset.calendar.zone
        self.today = start_of(ruleset, scenario)
        self.last = self.today  # the scenario's last moment: its measures are as of its day

    def run(self) -> None:
        before = self.scenario.before
        self.record_history()
        if self._first():
            self.load_population(self.today)
        else:
            yesterday = self.today - dt.timedelta(days=1)
            self.load_population(yesterday)
            if before is not None:
                self.load_customer({**self.scenario.customer, **before}, yesterday)
            self.classify(yesterday)
        self.load_customer(self._today_row(), self.today)
        for _run in range(self._runs()):
            self.classify(self.today)
        if self.scenario.recurring:
            end = self._window_end(self.scenario.recurring)
            with language(PLANNED_IN):
                plan_recurring(self.store, self.ruleset, self.today, end, self.today)
        changes = self._changes()
        for moment, events in self._events_by_instant():
            while changes and changes[0][0] <= moment:
                self.change(*changes.pop(0))
            self.record_and_plan(events, moment)
        for change in changes:
            self.change(*change)

    def _changes(self) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """Each `later:` change, in time order, as the whole customer from then on."""
        timed = sorted(
            (max(_moment(c.at, self.zone), self.today), i, c)
            for i, c in enumerate(self.scenario.later)
        )
        customer = self._today_row()
        found = []
        for moment, _index, change in timed:
            customer = {**customer, **change.customer}
            found.append((moment, customer))
        return found

    def change(self, moment: dt.datetime, customer: dict[str, Any]) -> None:
        """The customer as they are from `moment`, classified as the nights would (as many
        runs as every hold needs), the moves planned."""
        self.load_customer(customer, moment)
        for _run in range(max(holds(self.ruleset).values())):
            self.classify(moment)

    def _first(self) -> bool:
        """Whether today's classification is the store's first (nothing the day before)."""
        nothing_before = self.scenario.before is None and self.population is None
        return self.scenario.baseline or nothing_before

    def _runs(self) -> int:
        """Today's classification runs: as given, else enough for every hold to pass (a
        first classification takes effect at once)."""
        if self.scenario.runs is not None:
            return self.scenario.runs
        return 1 if self._first() else max(holds(self.ruleset).values())

    def _today_row(self) -> dict[str, Any]:
        """Today's customer; a field given only for the day before is empty today."""
        cleared = dict.fromkeys(self.scenario.before or {})
        return {**cleared, **self.scenario.customer}

    def load_population(self, now: dt.datetime) -> None:
        if self.population is None:
            return
        report = ingest.load_customers(
            self.store, self.ruleset, self.population, now, encoding=self.encoding
        )
        if report.quarantined:
            first = report.problems[0]
            raise ScenarioError(
                _(
                    "{file} line {line}: {reason} ({n} row(s) not loaded; run 'guanxi validate')"
                ).format(
                    file=self.population.name,
                    line=first["row_number"],
                    reason=first["reason"],
                    n=report.quarantined,
                )
            )

    def load_customer(self, record: Mapping[str, Any], now: dt.datetime) -> None:
        self.last = max(self.last, now)
        schema = self.ruleset.schema
        row, problems = ingest.check_customer(schema, self.ruleset.settings.timezone, record)
        if problems:
            field, _value, reason = problems[0]
            raise ScenarioError(
                _("the customer cannot be loaded: {field}: {reason}").format(
                    field=field, reason=reason
                )
            )
        self.store.upsert_customers([{**row, "_loaded_at": iso(now)}])

    def classify(self, now: dt.datetime) -> None:
        with language(PLANNED_IN):
            planner = TransitionPlanner(self.store, self.ruleset, now)
            classify(self.store, self.ruleset, now, after=planner)

    def _window_end(self, recurring: bool | str) -> dt.datetime:
        if recurring is True:
            return self.today + RECURRING_WINDOW
        return self.ruleset.calendar.due(self.today, parse_duration(str(recurring)))

    def _events_by_instant(self) -> Iterator[tuple[dt.datetime, list[dict[str, Any]]]]:
        """The events as records, grouped by the instant they are planned at, in order."""
        events = enumerate(self.scenario.events)
        timed = sorted((max(_moment(e.at, self.zone), self.today), i, e) for i, e in events)
        for moment, group in itertools.groupby(timed, key=lambda item: item[0]):
            yield moment, [r for _, i, e in group for r in self._records(i, e)]

    def _records(self, index: int, event: ScenarioEvent) -> list[dict[str, Any]]:
        at = _moment(event.at, self.zone).isoformat()
        ids = (
            [f"E{index + 1}"]
            if event.repeat == 1
            else [f"E{index + 1}.{n + 1}" for n in range(event.repeat)]
        )
        customer = _key(self.ruleset, self.scenario)
        return [
            {"id": i, "type": event.type, "customer_id": customer, "at": at, **event.fields}
            for i in ids
        ]

    def record_history(self) -> None:
        """The events before today, recorded (not planned) before any classification: the
        history that event measures (`count: complaint`) read. They are planned today."""
        for moment, records in self._events_by_instant():
            if moment == self.today:
                past = [r for r in records if _moment(r["at"], self.zone) < self.today]
                self.store.insert_events(self.checked(past, self.today))

    def record_and_plan(self, records: list[dict[str, Any]], now: dt.datetime) -> None:
        self.last = max(self.last, now)
        self.store.insert_events(self.checked(records, now))
        with language(PLANNED_IN):
            plan_new_events(self.store, self.ruleset, now)

    def checked(self, records: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
        rows = []
        for record in records:
            row, problems = ingest.check_event(self.ruleset, record)
            if problems:
                field, _value, reason = problems[0]
                raise ScenarioError(
                    _("event {type} at {at}: {field}: {reason}").format(
                        type=record["type"], at=record["at"], field=field, reason=reason
                    )
                )
            rows.append({**row, "loaded_at": iso(now)})
        return rows


def outcome(store: Store, ruleset: RuleSet, customer_id: str) -> Outcome:
    """The customer's assignment and follow-ups (soonest due first) as the store has them."""
    rows = store.execute(
        "SELECT tier, level, strategy, gold FROM current_assignments WHERE customer_id = :c",
        {"c": customer_id},
    )
    found = rows[0] if rows else {}
    gold = found.get("gold")
    return Outcome(
        customer_id,
        found.get("tier"),
        found.get("level"),
        found.get("strategy"),
        None if gold is None else bool(gold),
        tuple(_followups(store, ruleset.calendar.zone, customer_id)),
    )


def _measures(
    store: Store, ruleset: RuleSet, customer_id: str, day: dt.date, names: list[str]
) -> dict[str, Any]:
    """The customer's measures of `names` on `day`, by the query the report uses."""
    query = measures_sql(ruleset, store.dialect, day, names)
    key = quote(ruleset.schema.key, store.dialect)
    rows = store.execute(f"SELECT * FROM ({query}) AS m WHERE m.{key} = :c", {"c": customer_id})
    return {n: rows[0][n] if rows else None for n in names}


def _followups(store: Store, zone: zoneinfo.ZoneInfo, customer_id: str) -> Iterator[Planned]:
    rows = store.execute(
        "SELECT f.id, f.step_id, f.kind, f.channel, f.due_at, f.status, f.policy, f.reason,"
        " d.policy AS decided_by, d.reason AS decided_why FROM followups f"
        " LEFT JOIN followup_decisions d ON d.followup_id = f.id"
        " WHERE f.customer_id = :c ORDER BY f.due_at, f.id, d.id",
        {"c": customer_id},
    )
    for _id, group in itertools.groupby(rows, key=lambda row: row["id"]):
        decisions = list(group)
        first = decisions[0]
        verdicts = [(d["decided_by"], d["decided_why"]) for d in decisions if d["decided_by"]]
        if first["policy"] and (first["policy"], first["reason"]) not in verdicts:
            verdicts.append((first["policy"], first["reason"]))
        yield Planned(
            first["step_id"],
            first["kind"],
            first["channel"],
            dt.datetime.fromisoformat(first["due_at"]).astimezone(zone),
            first["status"],
            tuple(str(p) for p, _ in verdicts),
            tuple(str(r or "") for _, r in verdicts),
        )
