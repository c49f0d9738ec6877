"""One report from a store: the sections asked for, in a fixed order."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guanxi.engine.classify.compile import measures_sql
from guanxi.engine.clock import stored_in_zone
from guanxi.engine.errors import ReportError
from guanxi.engine.i18n import _
from guanxi.engine.privacy.views import personal_fields
from guanxi.engine.report.concentration import Concentration, curve_of
from guanxi.engine.report.distribution import Distribution
from guanxi.engine.report.experiments import Experiments, experiments
from guanxi.engine.report.followups import FollowupOutcomes, followup_outcomes
from guanxi.engine.report.groups import Group, Measured, means, tier_level_groups
from guanxi.engine.report.labels import Labels, labels_of
from guanxi.engine.report.migration import Migration, Run, finished_runs, migration
from guanxi.engine.report.model import Section
from guanxi.engine.report.order import pyramid
from guanxi.engine.report.scorecard import Scorecard
from guanxi.engine.report.segments import Segments, segments
from guanxi.engine.report.workload import Workload, workload
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

SECTIONS = (
    "distribution",
    "concentration",
    "migration",
    "scorecard",
    "segments",
    "followups",
    "workload",
    "experiments",
)
SEGMENT_FIELDS = (("industry", "industry"), ("system", "system"), ("group", "group_id"))
NUMERIC = ("integer", "number")
ATTITUDES = ("satisfaction", "loyalty")  # the customer fields the scorecard shows, if present
DEPOSITS = "balance"
CONTRIBUTION = "annual_contribution"  # used when the rules define no gold measure


@dataclass(frozen=True)
class ReportRequest:
    sections: tuple[str, ...] = SECTIONS
    from_run: int | None = None  # migration: default the run before --to-run
    to_run: int | None = None  # migration: default the latest run
    pareto_fields: tuple[str, ...] = ()  # default: deposits and contribution
    now: dt.datetime | None = None  # experiments: goal windows closed by then (default: the
    # latest classification's time)
    unmask: bool = False  # show the values of personal fields (segments by them) whole


@dataclass(frozen=True)
class Report:
    ruleset_hash: str
    latest_run: Run | None
    labels: Labels
    distribution: Distribution | None = None
    concentration: Concentration | None = None
    migration: Migration | None = None
    scorecard: Scorecard | None = None
    segments: Segments | None = None
    followups: FollowupOutcomes | None = None
    workload: Workload | None = None
    experiments: Experiments | None = None
    timezone: str = "UTC"  # the project's: every time the report shows is in it

    @property
    def latest_run_at(self) -> str:
        """When the latest classification ran, in the project's zone: `2026-12-04 10:00`."""
        if self.latest_run is None:
            return ""
        return stored_in_zone(self.latest_run.started_at, self.timezone).strftime("%Y-%m-%d %H:%M")

    @property
    def sections(self) -> list[Section]:
        found = [getattr(self, name) for name in SECTIONS]
        return [section for section in found if section is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset_hash": self.ruleset_hash,
            "latest_run": self.latest_run.to_dict() if self.latest_run else None,
            "timezone": self.timezone,
            "labels": self.labels.to_dict(),
            **{section.name: section.to_dict() for section in self.sections},
        }


def build_report(store: Store, ruleset: RuleSet, request: ReportRequest) -> Report:
    store.prepare(ruleset.schema)
    labels, wanted = labels_of(ruleset), set(request.sections)
    contribution = contribution_field(ruleset)
    pareto = pareto_fields(ruleset, request.pareto_fields, contribution)  # checked first
    sections: dict[str, Any] = {}
    if wanted & {"distribution", "scorecard"}:
        sections.update(_population(store, ruleset, labels, contribution, wanted))
    if "concentration" in wanted:
        curves = tuple(curve_of(store, f, labels.field(f)) for f in pareto)
        money = all(f in labels.money for f in pareto)
        sections["concentration"] = Concentration(curves, money=bool(pareto) and money)
    if "migration" in wanted:
        runs = request.from_run, request.to_run
        sections["migration"] = migration(
            store, labels, ruleset.schema.key, contribution, *runs, ruleset.settings.timezone
        )
    if "segments" in wanted:
        masked = {} if request.unmask else personal_fields(ruleset.schema)
        sections["segments"] = _segments(store, ruleset, labels, contribution, masked)
    if "followups" in wanted:
        sections["followups"] = followup_outcomes(store, labels)
    if "workload" in wanted:
        sections["workload"] = _workload(store, ruleset)
    if "experiments" in wanted:
        sections["experiments"] = experiments(store, ruleset, _as_of(store, request))
    zone = ruleset.settings.timezone
    return Report(ruleset.hash, _latest(store), labels, timezone=zone, **sections)


def _population(
    store: Store, ruleset: RuleSet, labels: Labels, contribution: str | None, wanted: set[str]
) -> dict[str, Any]:
    """The distribution and the scorecard: one grouping of the customers serves both."""
    attitudes = tuple(f for f in ATTITUDES if _is_numeric(ruleset, f))
    tail = (contribution,) if contribution else ()
    measured = _assessments(store, ruleset)
    groups = tuple(tier_level_groups(store, ruleset.schema.key, attitudes + tail, measured))
    metrics = (*attitudes, *(measured.names if measured else ()), *tail)
    tiers, levels = _orders(groups, labels, contribution)
    found: dict[str, Any] = {
        "distribution": Distribution(groups, tiers, levels, labels),
        "scorecard": Scorecard(groups, tiers, levels, metrics, contribution, labels),
    }
    return {name: section for name, section in found.items() if name in wanted}


def _assessments(store: Store, ruleset: RuleSet) -> Measured | None:
    """The measures marked `scorecard: true` (assessments: satisfaction from feedback and
    complaints, say) of every customer, as of the day of the latest classification, whose
    tiers and levels the report shows; None without such measures or a classification."""
    names = tuple(m.name for m in ruleset.measures if m.scorecard)
    latest = _latest(store)
    if not names or latest is None:
        return None
    today = stored_in_zone(latest.started_at, ruleset.settings.timezone).date()
    return Measured(measures_sql(ruleset, store.dialect, today, list(names)), names)


def _as_of(store: Store, request: ReportRequest) -> dt.datetime:
    if request.now is not None:
        return request.now
    latest = _latest(store)
    return (
        stored_in_zone(latest.started_at, "UTC")
        if latest
        else dt.datetime.min.replace(tzinfo=dt.UTC)
    )


def _orders(
    groups: Sequence[Group], labels: Labels, contribution: str | None
) -> tuple[tuple[str | None, ...], tuple[str | None, ...]]:
    """Tiers and levels in pyramid order, by their customers' mean contribution."""
    if contribution is None:
        return (*labels.tier_order,), (*labels.level_order,)
    tiers = pyramid(labels.tier_order, means(groups, lambda g: g.tier, contribution))
    levels = pyramid(labels.level_order, means(groups, lambda g: g.level, contribution))
    return tuple(tiers), tuple(levels)


def _segments(
    store: Store,
    ruleset: RuleSet,
    labels: Labels,
    contribution: str | None,
    masked: Mapping[str, str],
) -> Segments:
    """By industry, system and group: the schema's fields of those names (the group: the
    field the roll-up measures group by, if any); the values of `masked` fields (a schema
    may declare one personal) masked by their kind of personal data."""
    group_by = next((m.rollup.group_by for m in ruleset.measures if m.rollup), "group_id")
    wanted = [(k, group_by if k == "group" else f) for k, f in SEGMENT_FIELDS]
    fields = [(k, f) for k, f in wanted if f in ruleset.schema.fields]
    deposits = DEPOSITS if _is_numeric(ruleset, DEPOSITS) else None
    found = segments(store, ruleset.schema.key, fields, deposits, contribution, labels)
    return found.masked(masked) if masked else found


def _workload(store: Store, ruleset: RuleSet) -> Workload:
    capacity = ruleset.policies.capacity if ruleset.policies else None
    tasks_per_day = capacity.tasks_per_day if capacity else None
    return workload(store, ruleset.calendar, tasks_per_day)


def _latest(store: Store) -> Run | None:
    runs = finished_runs(store)
    return runs[-1] if runs else None


def contribution_field(ruleset: RuleSet) -> str | None:
    """The field gold customers are found by (客户贡献度), else annual_contribution if any."""
    for name in (ruleset.gold.by if ruleset.gold else None, CONTRIBUTION):
        if name is not None and _is_numeric(ruleset, name):
            return name
    return None


def pareto_fields(
    ruleset: RuleSet, asked: Sequence[str], contribution: str | None
) -> tuple[str, ...]:
    """The fields asked for, each a numeric customer field; by default deposits and
    contribution."""
    for name in asked:
        if not _is_numeric(ruleset, name):
            raise ReportError(_not_numeric(ruleset, name))
    if asked:
        return tuple(dict.fromkeys(asked))
    defaults = (DEPOSITS, contribution)
    return tuple(f for f in dict.fromkeys(defaults) if f and _is_numeric(ruleset, f))


def _is_numeric(ruleset: RuleSet, name: str) -> bool:
    spec = ruleset.schema.fields.get(name)
    return spec is not None and spec.type in NUMERIC


def _not_numeric(ruleset: RuleSet, name: str) -> str:
    numeric = sorted(n for n in ruleset.schema.fields if _is_numeric(ruleset, n))
    if name in ruleset.schema.fields:
        return _("the customer field '{name}' is not a number; numeric fields: {fields}").format(
            name=name, fields=", ".join(numeric)
        )
    close = difflib.get_close_matches(name, numeric, n=1)
    if close:
        hint = _("; did you mean '{name}'?").format(name=close[0])
    else:
        hint = _("; numeric fields: {fields}").format(fields=", ".join(numeric))
    return _("no numeric customer field '{name}'").format(name=name) + hint
