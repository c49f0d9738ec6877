"""`explain`: why one customer got their tier, level and strategy, rule by rule.

The customer's facts come from the store (or a record the caller passes); measures and rules
are evaluated with the Python back end, which the parity tests hold equal to the SQL. What
needs the whole population — percentiles and gold — is counted by one SQL query over the
store for this customer's values (how many customers are below, above, and in all).
A customer of the store also gets their follow-ups, the policy decisions about them and their
recent events (engine/plan/history.py).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from guanxi.engine.classify.event_measures import counted_events, stored_events
from guanxi.engine.classify.explain_holds import Hold, stored_holds
from guanxi.engine.classify.explain_quarantined import QuarantinedCustomer, UnknownCustomer
from guanxi.engine.classify.facts import Fact, failing_facts
from guanxi.engine.classify.field_history import day_of, kept_then, stored_history, then_lookup
from guanxi.engine.classify.hold import PENDING
from guanxi.engine.classify.population import Ask, store_groups, store_population
from guanxi.engine.classify.predicates import (
    AskGroups,
    GroupValue,
    Population,
    Predicates,
    Rank,
    Record,
)
from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.ingest.quarantine import customer_not_loaded
from guanxi.engine.plan.history import CustomerHistory, customer_history
from guanxi.engine.ruleset import CompiledRule, RuleSet
from guanxi.engine.ruleset.branches import BRANCH_FIELD
from guanxi.engine.ruleset.load import today_in
from guanxi.engine.ruleset.ruleset import EventMeasure, Ranking, Rollup
from guanxi.engine.store import Store

KINDS = ("tier", "level", "strategy")


@dataclass(frozen=True)
class Tried:
    """One rule as it was tried: matched, or the facts that failed it."""

    rule: str
    label: str
    origin: str
    condition: str | None  # None: a catch-all
    matched: bool
    failed: tuple[Fact, ...] = ()
    branch: str | None = None  # the branch whose own rule this is (branches/<branch>.yaml)


@dataclass(frozen=True)
class Decision:
    kind: str  # tier, level or strategy
    hit_policy: str
    result: str | None
    label: str | None
    tried: tuple[Tried, ...]


@dataclass(frozen=True)
class Standing:
    """A customer's place in the population for a percentile measure or for gold."""

    name: str  # the measure, or 'gold'
    source: str  # the field or measure ranked
    value: Any
    below: int
    above: int
    count: int  # customers with a value
    population: int
    result: Any  # the percentile, or True/False for gold
    reason: str
    within: tuple[str, ...] = ()  # ranked among the customers alike in these fields …
    segment: tuple[Any, ...] = ()  # … which have these values (the customer's segment)


@dataclass(frozen=True)
class GroupStanding:
    """A roll-up measure: its value over the customer's corporate group (集团)."""

    name: str  # the measure
    function: str  # sum, max or count
    source: str | None  # the field or measure rolled up; None for count
    group_by: str
    group: Any  # the customer's group; None: a group of one
    value: Any
    members: int  # customers in the group, the customer included
    reason: str


@dataclass(frozen=True)
class CountedEvent:
    """An event an event measure read: its id, type, local time and the field's value."""

    id: str
    type: str
    at: dt.datetime  # in the project's time zone
    value: Any = None  # the field summed, or the largest or smallest (None: count, days)


@dataclass(frozen=True)
class EventStanding:
    """An event measure's value and the events it was computed from (oldest first)."""

    name: str
    value: Any
    reason: str
    events: tuple[CountedEvent, ...]


@dataclass(frozen=True)
class ChangeStanding:
    """A change measure's value: the field's value now and then (the value a run kept, and
    that run's day; None when nothing was kept by then)."""

    name: str
    value: Any
    field: str
    now: Any
    then: Any
    then_day: dt.date | None
    reason: str


@dataclass(frozen=True)
class Explanation:
    customer_id: str
    ruleset_hash: str
    today: dt.date
    facts: dict[str, Any]
    measures: dict[str, Any]
    gold: bool
    standings: tuple[Standing, ...]
    decisions: tuple[Decision, ...]
    stored: dict[str, Any] | None = None  # the assignment in the store, if any
    notes: tuple[str, ...] = field(default=())
    history: CustomerHistory | None = None  # follow-ups and events; None for a given record
    holds: tuple[Hold, ...] = ()  # answers the stored assignment keeps waiting
    groups: tuple[GroupStanding, ...] = ()  # roll-up measures over the customer's group
    event_standings: tuple[EventStanding, ...] = ()  # a store's customer's event measures
    change_standings: tuple[ChangeStanding, ...] = ()  # a store's customer's change measures
    # records of the customer's rows that loads since their stored row did not load
    quarantined: tuple[dict[str, Any], ...] = ()
    # records of their events and consent records that loads did not take (until cleared)
    quarantined_events: tuple[dict[str, Any], ...] = ()
    quarantined_consents: tuple[dict[str, Any], ...] = ()

    def decision(self, kind: str) -> Decision:
        return next(d for d in self.decisions if d.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for decision in data["decisions"]:
            for tried, source in zip(
                decision["tried"], self.decision(decision["kind"]).tried, strict=True
            ):
                tried["failed"] = [{**asdict(f), "text": str(f)} for f in source.failed]
        data["history"] = self.history.to_dict() if self.history else None
        return data


def explain(
    source: Store | Mapping[str, Any], ruleset: RuleSet, customer_id: str, now: dt.datetime
) -> Explanation:
    """Explain one customer: of the store, or a record given as a mapping of field values."""
    customer_id = same_id(customer_id)
    today = today_in(ruleset, now)
    predicates = Predicates(ruleset, today)
    given: Mapping[str, Any] | None = None
    history: CustomerHistory | None = None
    groups: AskGroups | None = None
    events: list[dict[str, Any]] | None = None  # None: the record gives the event measures
    kept: list[dict[str, Any]] | None = None  # None: the record gives the change measures
    quarantined: list[dict[str, Any]] = []
    others: dict[str, list[dict[str, Any]]] = {"events": [], "consents": []}
    if isinstance(source, Store):
        raw, stored = _stored_customer(source, ruleset, customer_id)
        quarantined = customer_not_loaded(source, customer_id, raw.get("_loaded_at"))
        others = {kind: customer_not_loaded(source, customer_id, kind=kind) for kind in others}
        ask = store_population(source, ruleset, today)
        groups = store_groups(source, ruleset, today)
        history = customer_history(source, ruleset, customer_id)
        events = stored_events(source, ruleset, customer_id, today)
        kept = stored_history(source, ruleset, customer_id)
    else:
        raw, stored = {**source, ruleset.schema.key: customer_id}, None
        ask, given = _given_population, raw
    record = predicates.facts(raw)
    ranks = predicates.add_measures(record, ask, given, groups=groups, events=events, history=kept)
    gold_rank, notes = _gold_rank(ruleset, record, ranks, ask)
    gold = predicates.gold(gold_rank) if gold_rank else bool(raw.get("gold"))
    record["gold"] = gold
    decisions = tuple(_decide(predicates, kind, record) for kind in KINDS)
    standings = _standings(ruleset, predicates, ranks, gold_rank, record)
    measures = {m.name: record[m.name] for m in ruleset.measures}
    facts = {n: record[n] for n in ruleset.schema.fields}
    held = stored_holds(ruleset, stored, now)
    return Explanation(
        customer_id,
        ruleset.hash,
        today,
        facts,
        measures,
        gold,
        standings,
        decisions,
        stored,
        notes,
        history,
        held,
        _group_standings(ruleset, ranks),
        _event_standings(ruleset, record, events, today) if events is not None else (),
        _change_standings(ruleset, record, kept, today) if kept is not None else (),
        tuple(quarantined),
        tuple(others["events"]),
        tuple(others["consents"]),
    )


def _change_standings(
    ruleset: RuleSet, record: Record, kept: list[dict[str, Any]], today: dt.date
) -> tuple[ChangeStanding, ...]:
    found = []
    for measure in ruleset.change_measures:
        change = measure.change
        assert change is not None
        row = kept_then(kept, then_lookup(change, today))
        when = (
            _("at the last run")
            if change.days is None
            else _("{days} days ago").format(days=change.days)
        )
        if row is None:
            reason = _("no value {when}: the change is unknown").format(when=when)
            then, day = None, None
        else:
            then, day = row["value"], day_of(row)
            reason = _("{field} was {then} {when} (kept on {day}), is {now} now").format(
                field=change.field,
                then=_number(then),
                when=when,
                day=day,
                now=_number(record[change.field]),
            )
        now = record[change.field]
        found.append(
            ChangeStanding(measure.name, record[measure.name], change.field, now, then, day, reason)
        )
    return tuple(found)


def _number(value: Any) -> str:
    return "NULL" if value is None else f"{value:.10g}"


def _event_standings(
    ruleset: RuleSet, record: Record, events: list[dict[str, Any]], today: dt.date
) -> tuple[EventStanding, ...]:
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    found = []
    for measure in ruleset.event_measures:
        spec = measure.events
        assert spec is not None
        counted = counted_events(ruleset, measure, events, today)
        shown = tuple(
            CountedEvent(
                str(e["id"]),
                str(e["type"]),
                dt.datetime.fromisoformat(e["at"]).astimezone(zone),
                e["payload"].get(spec.field) if spec.field else None,
            )
            for e in counted
        )
        reason = _event_reason(ruleset, spec, today, len(counted))
        found.append(EventStanding(measure.name, record[measure.name], reason, shown))
    return tuple(found)


def _event_reason(ruleset: RuleSet, spec: EventMeasure, today: dt.date, count: int) -> str:
    what = {
        "count": _("how many {type} events"),
        "sum": _("the sum of {field} over the {type} events"),
        "max": _("the largest {field} of the {type} events"),
        "min": _("the smallest {field} of the {type} events"),
        "days_since": _("days since the newest {type} event"),
    }[spec.aggregate].format(type=spec.event_type, field=spec.field)
    if spec.where is not None:
        what += " " + _("where {condition}").format(condition=spec.where.compiled_text)
    if spec.days is None:
        period = _("up to {today}").format(today=today.isoformat())
    else:
        first = today - dt.timedelta(days=spec.days - 1)
        period = _("from {first} to {today} ({days} days)").format(
            first=first.isoformat(), today=today.isoformat(), days=spec.days
        )
    return _("{what}, {period}: {count} event(s)").format(what=what, period=period, count=count)


def _stored_customer(
    store: Store, ruleset: RuleSet, customer_id: str
) -> tuple[Record, Record | None]:
    store.prepare(ruleset.schema)
    key = ruleset.schema.key
    pending = ", ".join(PENDING)
    rows = store.execute(f'SELECT * FROM customers WHERE "{key}" = :id', {"id": customer_id})
    if not rows:
        raise _not_stored(store, customer_id, ruleset.settings.timezone)
    stored = store.execute(
        f"SELECT tier, level, strategy, gold, run_id, ruleset_hash, assigned_at, {pending}"
        " FROM current_assignments WHERE customer_id = :id",
        {"id": customer_id},
    )
    if stored:
        stored[0]["gold"] = bool(stored[0]["gold"])
    return rows[0], stored[0] if stored else None


def _not_stored(store: Store, customer_id: str, zone: str) -> UnknownCustomer:
    """Why the customer is not in the store: their rows that loads quarantined, if any (an
    event or consent row names a customer whose own row is yet to come)."""
    own, events, consents = (
        customer_not_loaded(store, customer_id, kind=kind)
        for kind in ("customers", "events", "consents")
    )
    if own or events or consents:
        return QuarantinedCustomer(customer_id, own, zone, events, consents)
    return UnknownCustomer(customer_id)


def _given_population(record: Record, rankings: list[Ranking]) -> Population:
    """A lone record has no population: percentiles come from the record, if it gives them."""
    return Population()


def _gold_rank(
    ruleset: RuleSet, record: Record, ranks: Population, ask: Ask
) -> tuple[Rank | None, tuple[str, ...]]:
    ranking = ruleset.gold_ranking
    if ranking is None:
        return None, ()
    rank = ranks.ranks.get(ranking) or ask(record, [ranking]).ranks.get(ranking)
    if rank is None:
        return None, (_("gold needs the population; taken from the record as given"),)
    return rank, ()


def _decide(predicates: Predicates, kind: str, record: Record) -> Decision:
    rule, tried = predicates.ladder(kind, record)
    ladder = (
        predicates.ruleset.tiers
        if kind == "tier"
        else (predicates.ruleset.levels if kind == "level" else predicates.ruleset.strategies)
    )
    branch = record.get(BRANCH_FIELD)
    steps = []
    for r, _matched in tried:
        condition = r.seen_by(branch)[0]
        if condition is not None:
            failed = failing_facts(condition, record, predicates.today)
            steps.append(_tried(r, branch, False, failed))
    if rule is not None:
        steps.append(_tried(rule, branch, True, ()))
    record[kind] = rule.name if rule else None
    policy = ladder.hit_policy if ladder else "first"
    return Decision(kind, policy, record[kind], rule.label if rule else None, tuple(steps))


def _tried(
    rule: CompiledRule, branch: str | None, matched: bool, failed: tuple[Fact, ...]
) -> Tried:
    """The rule as the customer's branch sees it: its own condition, where one is written."""
    condition, origin, own = rule.seen_by(branch)
    text = condition.compiled_text if condition else None
    return Tried(rule.name, rule.label, str(origin), text, matched, failed, own)


def _standings(
    ruleset: RuleSet,
    predicates: Predicates,
    ranks: Population,
    gold_rank: Rank | None,
    record: Record,
) -> tuple[Standing, ...]:
    found: list[Standing] = []
    for measure in ruleset.measures:
        ranking = measure.ranking
        rank = ranks.ranks.get(ranking) if ranking else None
        if ranking is not None and rank is not None:
            reason = _percentile_reason(ranking, rank)
            found.append(_standing(measure.name, ranking, rank, record[measure.name], reason))
    gold_ranking = ruleset.gold_ranking
    if gold_ranking is not None and gold_rank is not None:
        gold = predicates.gold(gold_rank)
        reason = _gold_reason(ruleset, gold_rank, gold)
        found.append(_standing("gold", gold_ranking, gold_rank, gold, reason))
    return tuple(found)


def _group_standings(ruleset: RuleSet, ranks: Population) -> tuple[GroupStanding, ...]:
    found: list[GroupStanding] = []
    for measure in ruleset.measures:
        rollup, value = measure.rollup, ranks.groups.get(measure.name)
        if rollup is None or value is None:
            continue
        reason = _group_reason(rollup, value)
        found.append(
            GroupStanding(
                measure.name,
                rollup.function,
                rollup.source,
                rollup.group_by,
                value.group,
                value.value,
                value.members,
                reason,
            )
        )
    return tuple(found)


def _group_reason(rollup: Rollup, found: GroupValue) -> str:
    """'sum of annual_contribution over the 3 customers of group_id = G1'."""
    if found.group is None:
        whose = _("no {field}: the customer is a group of one").format(field=rollup.group_by)
    else:
        whose = _("{members} customers with {field} = {group}").format(
            members=found.members, field=rollup.group_by, group=_shown(found.group)
        )
    if rollup.source is None:
        return _("members counted: {whose}").format(whose=whose)
    what = _("sum") if rollup.function == "sum" else _("largest")
    return _("{what} of {source} over {whose}").format(what=what, source=rollup.source, whose=whose)


def _standing(name: str, ranking: Ranking, rank: Rank, result: Any, reason: str) -> Standing:
    return Standing(
        name,
        ranking.source,
        rank.value,
        rank.below,
        rank.above,
        rank.count,
        rank.population,
        result,
        reason,
        ranking.within,
        rank.segment,
    )


def segment_text(within: tuple[str, ...], segment: tuple[Any, ...]) -> str:
    """'kind = corporate, branch IS NULL': the customers a segmented ranking counts."""
    return ", ".join(
        f"{name} IS NULL" if value is None else f"{name} = {_shown(value)}"
        for name, value in zip(within, segment, strict=True)
    )


def _shown(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _percentile_reason(ranking: Ranking, rank: Rank) -> str:
    source = ranking.source
    if rank.value is None:
        return _("{source} is NULL, so the percentile is NULL").format(source=source)
    if ranking.within:
        return _(
            "{below} of the other {others} customers with {segment} whose {source} is"
            " known have less: percentile {percentile}"
        ).format(
            below=rank.below,
            others=max(rank.count - 1, 0),
            segment=segment_text(ranking.within, rank.segment),
            source=source,
            percentile=f"{rank.percentile:.4f}",
        )
    return _(
        "{below} of the other {others} customers whose {source} is"
        " known have less: percentile {percentile}"
    ).format(
        below=rank.below,
        others=max(rank.count - 1, 0),
        source=source,
        percentile=f"{rank.percentile:.4f}",
    )


def _gold_reason(ruleset: RuleSet, rank: Rank, gold: bool) -> str:
    assert ruleset.gold is not None
    by, top, within = ruleset.gold.by, ruleset.gold.top_percent, ruleset.gold.within
    if rank.value is None:
        return _("{field} is NULL: never gold").format(field=by)
    if rank.value <= 0:
        never = _("{field} is {value}, 0 or less: never gold")
        return never.format(field=by, value=f"{rank.value:g}")
    limit = rank.population * top / 100
    # a position, not a share: "top 6.7%" beside a 5% line read as a contradiction for a
    # customer who is gold because the count ahead (1) is below the limit (1.5)
    verdict = _("gold") if gold else _("not gold")
    if within:
        return _(
            "number {position} of the {population} customers with {segment}: {above} have"
            " a larger {field}; gold needs fewer than {top} of them ({limit}): {verdict}"
        ).format(
            position=rank.above + 1,
            population=rank.population,
            segment=segment_text(within, rank.segment),
            above=rank.above,
            field=by,
            top=f"{top:g}%",
            limit=f"{limit:g}",
            verdict=verdict,
        )
    return _(
        "{above} customers have a larger {field}; gold needs fewer than {top} of"
        " {population} customers ({limit}): {verdict}"
    ).format(
        above=rank.above,
        field=by,
        top=f"{top:g}%",
        population=rank.population,
        limit=f"{limit:g}",
        verdict=verdict,
    )
