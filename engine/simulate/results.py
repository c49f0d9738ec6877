"""What one simulated run shows: deliveries per day, workload, policy verdicts, tiers × levels.

Deliveries are what the recording adapter was given (see run.py). The policy verdicts are
those made during the run (the `followup_decisions` rows from the start on), grouped by
status, policy and the shape of the reason: dates, times and numbers in a reason are replaced
(`RM# has # tasks on <date>, moved to <date>`), so that one line stands for one kind of
verdict.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guanxi.engine.i18n import _, ngettext
from guanxi.engine.i18n.terms import status_word
from guanxi.engine.plan.followups import iso
from guanxi.engine.report.labels import Labels, labels_of
from guanxi.engine.report.model import Column, Table
from guanxi.engine.report.workload import NO_OWNER, Workload, marked_workload
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.feed import HISTORY, Feed, Rate
from guanxi.engine.simulate.run import Counts, Delivery, Night, Ran, Refusal, Window
from guanxi.engine.store.base import Store

Cell = tuple[str | None, str | None]  # (tier, level)
SHOWN_CUSTOMERS = 5  # of each kind of refusal, the customers named


@dataclass(frozen=True)
class Verdict:
    """Policy verdicts of one status, policy and kind of reason, and how many."""

    status: str
    policy: str | None
    reason: str
    followups: int


@dataclass
class RunResult:
    """One run, measured: see the module docstring."""

    label: str  # 'rules' or 'baseline'
    ruleset: RuleSet
    window: Window
    deliveries: list[Delivery]
    counts: Counts
    verdicts: list[Verdict]
    start: dict[Cell, int]  # customers by tier × level at the start
    end: dict[Cell, int]  # and at the end
    pending: dict[str, int]  # step -> follow-ups planned for after the end
    last_night: dt.datetime | None  # when the last classification ran
    seconds: float
    feed: Feed | None = None
    kept: Path | None = None  # the copy, when it was kept
    shifts: list[Night] = field(default_factory=list)  # nights that emptied a group, …
    refused: list[Refusal] = field(default_factory=list)  # what the live adapter would refuse
    quarantined: int = 0  # customer rows the store's loads quarantined: not in the run

    @property
    def capacity(self) -> int | None:
        policies = self.ruleset.policies
        return policies.capacity.tasks_per_day if policies and policies.capacity else None

    def volumes(self) -> Counter[tuple[dt.date, str, str]]:
        """Deliveries by (day, channel, kind)."""
        return Counter((d.day, d.channel, d.kind) for d in self.deliveries)

    def workload(self) -> Workload:
        """Tasks delivered per manager and day, against the capacity."""
        per_day = Counter(
            (d.owner or _(NO_OWNER), d.day) for d in self.deliveries if d.kind == "task"
        )
        return marked_workload(per_day, self.ruleset.calendar, self.capacity)

    def business_days(self) -> int:
        calendar = self.ruleset.calendar
        return sum(1 for day in self.window.dates() if calendar.is_business_day(day))


def measure(
    label: str,
    store: Store,
    ruleset: RuleSet,
    window: Window,
    start: dict[Cell, int],
    ran: Ran,
    seconds: float,
) -> RunResult:
    """The run's result, from what it recorded and what it left in the store."""
    return RunResult(
        label,
        ruleset,
        window,
        ran.deliveries,
        ran.counts,
        verdicts(store, window.start),
        start,
        tiers_and_levels(store),
        pending_after(store, window.end),
        ran.last_night,
        seconds,
        shifts=ran.shifts,
        refused=ran.refused,
        quarantined=quarantined_customers(store),
    )


def tiers_and_levels(store: Store) -> dict[Cell, int]:
    """Customers by their current tier and level."""
    rows = store.execute(
        "SELECT tier, level, count(*) AS n FROM current_assignments GROUP BY tier, level"
    )
    return {(r["tier"], r["level"]): int(r["n"]) for r in rows}


def quarantined_customers(store: Store) -> int:
    """Customer rows loads quarantined and did not load (a row counted once, however many
    of its fields were wrong): they are not in the store, so no run sorts or contacts them."""
    rows = store.execute(
        "SELECT count(*) AS n FROM (SELECT DISTINCT source, row_number FROM quarantine"
        " WHERE kind = 'customers' AND loaded = 0) AS q"
    )
    return int(rows[0]["n"])


def pending_after(store: Store, end: dt.datetime) -> dict[str, int]:
    rows = store.execute(
        "SELECT step_id, count(*) AS n FROM followups WHERE status = 'pending'"
        " AND due_at >= :end GROUP BY step_id ORDER BY step_id",
        {"end": iso(end)},
    )
    return {r["step_id"]: int(r["n"]) for r in rows}


SHAPES = (
    (re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?"), "<date>"),
    (re.compile(r"\d{1,2}:\d{2}(:\d{2})?"), "<time>"),
    (re.compile(r"\d+"), "#"),
)


def shape(reason: str | None) -> str:
    """A reason with its dates, times and numbers replaced: one kind of verdict."""
    text = reason or ""
    for pattern, replacement in SHAPES:
        text = pattern.sub(replacement, text)
    return text


def verdicts(store: Store, start: dt.datetime) -> list[Verdict]:
    """The policy verdicts made from `start` on, by status, policy and kind of reason: a kind
    whose reasons are all one text is shown as that text (an experiment's "10 %" rather than
    "#%"), one whose reasons differ in their numbers as its shape."""
    rows = store.execute(
        "SELECT status, policy, reason, count(*) AS n FROM followup_decisions"
        " WHERE at >= :start GROUP BY status, policy, reason",
        {"start": iso(start)},
    )
    counts: Counter[tuple[str, str | None, str]] = Counter()
    texts: dict[tuple[str, str | None, str], set[str]] = {}
    for row in rows:
        kind = (row["status"], row["policy"], shape(row["reason"]))
        counts[kind] += int(row["n"])
        texts.setdefault(kind, set()).add(row["reason"] or "")
    ordered = sorted(counts.items(), key=lambda item: (item[0][0], -item[1], item[0]))
    return [
        Verdict(status, policy, _shown(reason, texts[status, policy, reason]), n)
        for (status, policy, reason), n in ordered
    ]


def _shown(shaped: str, texts: set[str]) -> str:
    [only] = texts if len(texts) == 1 else [shaped]
    return only


# --- as tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSection:
    """One run as the terminal, CSV files and JSON show it."""

    result: RunResult

    @property
    def labels(self) -> Labels:
        return labels_of(self.result.ruleset)

    @property
    def name(self) -> str:
        return self.result.label

    @property
    def title(self) -> str:
        if self.result.label == "baseline":
            title = _("Simulation under the baseline rules ({hash})")
        else:
            title = _("Simulation under the rules ({hash})")
        return title.format(hash=self.result.ruleset.hash)

    def notes(self) -> list[str]:
        r, c = self.result, self.result.counts
        first, last = r.window.first, r.window.dates()[-1]
        delivered = Counter(d.kind for d in r.deliveries)
        backlog = sum(d.backlog for d in r.deliveries)
        lines = [
            ngettext(
                "period: {first} – {last} ({days} day, {zone})",
                "period: {first} – {last} ({days} days, {zone})",
                r.window.days,
            ).format(first=first, last=last, days=r.window.days, zone=r.ruleset.settings.timezone),
            _("classified {classifications} times; ticked in {ticks} hours; {seconds} s").format(
                classifications=c.classifications, ticks=c.ticks, seconds=f"{r.seconds:.1f}"
            ),
            _(
                "planned: {events} from events, {recurring} recurring,"
                " {transitions} from tier and level moves"
            ).format(
                events=f"{c.planned_events:,}",
                recurring=f"{c.planned_recurring:,}",
                transitions=f"{c.planned_transitions:,}",
            ),
            _(
                "delivered: {delivered} ({tasks} tasks, {messages} messages);"
                " expired: {expired} (too late, not sent); dead: {dead} (delivery failed)"
            ).format(
                delivered=f"{len(r.deliveries):,}",
                tasks=f"{delivered['task']:,}",
                messages=f"{delivered['message']:,}",
                expired=f"{c.expired:,}",
                dead=f"{c.dead:,}",
            ),
        ]
        if backlog:  # "of them": the deliveries of the line above, so it follows them
            lines.append(
                _(
                    "{n} of them were due before the start: a backlog a running daemon"
                    " would have delivered already"
                ).format(n=f"{backlog:,}")
            )
        lines += self._calendar_notes() + r.workload().days_off_notes() + self._quarantine_notes()
        if r.refused:
            lines.append(
                _(
                    "refused: {n} follow-ups the daemon would not send, their address not one"
                    " its channel takes (dead; see the table of refusals and correct the"
                    " customers' records)"
                ).format(n=f"{len(r.refused):,}")
            )
        if c.held_back_on_baseline:
            lines.append(
                _(
                    "the first night was the store's first classification, a baseline:"
                    " {n} on_enter follow-ups not planned (only 'initial: true' steps act on it)"
                ).format(n=f"{c.held_back_on_baseline:,}")
            )
        if c.held_back_established:
            lines.append(
                _(
                    "customers loaded as established (load customers --existing) had their first"
                    " classification: {n} on_enter follow-ups not planned for them"
                ).format(n=f"{c.held_back_established:,}")
            )
        if c.cancelled_undone:
            lines.append(
                _(
                    "cancelled before they were sent: {n} follow-ups whose move a later night"
                    " undid (the customer left the state, or came back)"
                ).format(n=f"{c.cancelled_undone:,}")
            )
        return lines + self._event_notes() + self._shift_notes()

    def _calendar_notes(self) -> list[str]:
        """A year of the period whose make-up working days (调休) the calendar does not know:
        its business days are then a guess (as `guanxi doctor` warns for the coming months)."""
        r = self.result
        year = r.ruleset.calendar.unannounced_year(r.window.first, r.window.dates()[-1])
        if year is None:
            return []
        text = _(
            "the calendar ({country}) does not know the make-up working days (调休) of {year}"
            " yet: business days in {year} skip the statutory holidays alone; add that year's"
            " notice to the calendar_overrides file of guanxi.yaml"
        )
        return [text.format(country=r.ruleset.settings.calendar, year=year)]

    def _quarantine_notes(self) -> list[str]:
        """The customers left out because their rows were quarantined when loaded: the
        tables count only the customers the store holds."""
        n = self.result.quarantined
        if not n:
            return []
        text = ngettext(
            "not simulated: {n} customer row quarantined when loaded (not in the store);"
            " see guanxi quarantine list --kind customers",
            "not simulated: {n} customer rows quarantined when loaded (not in the store);"
            " see guanxi quarantine list --kind customers",
            n,
        )
        return [text.format(n=f"{n:,}")]

    def _shift_notes(self) -> list[str]:
        """The nights that emptied a group or moved most customers into one, with the rule
        to look at (engine/classify/shifts.py)."""
        zone, lines = self.result.window.zone, []
        for night in self.result.shifts:
            day = night.at.astimezone(zone).date().isoformat()
            lines.append(
                _("night of {day}: {warning}").format(day=day, warning=night.warning.headline())
            )
            lines.append("  " + _("hint:") + " " + (night.warning.hint or ""))
        return lines

    def _event_notes(self) -> list[str]:
        r, feed = self.result, self.result.feed
        lines = [_("events arrived: {n}").format(n=f"{r.counts.events_fed:,}")]
        if feed is not None and feed.loaded is not None:
            loaded = feed.loaded
            from_file = _(
                "from {source}: {read} read, {quarantined} quarantined (bad lines);"
                " those after the end are not replayed"
            )
            lines.append(
                "  "
                + from_file.format(
                    source=loaded.source,
                    read=f"{loaded.loaded:,}",
                    quarantined=f"{loaded.quarantined:,}",
                )
            )
        if feed is not None and feed.rates:
            rate_text = _("{type} {drawn} ({per_day} a day over {days} days)")
            drawn = ", ".join(
                rate_text.format(
                    type=rate.type,
                    drawn=f"{rate.drawn:,}",
                    per_day=f"{rate.per_day:.1f}",
                    days=rate.days,
                )
                for rate in feed.rates
            )
            seeded = _("drawn from the history with seed {seed}: {drawn}")
            lines.append("  " + seeded.format(seed=feed.seed, drawn=drawn))
            lines += _without_history(feed.rates)
        return lines

    def tables(self) -> list[Table]:
        return [
            self.volumes(),
            *self.workload(),
            self.verdicts(),
            *([self.refusals()] if self.result.refused else []),  # shown when there are some
            self.distribution(),
            self.pending(),
        ]

    def volumes(self) -> Table:
        r = self.result
        counts = r.volumes()
        channels = sorted({(channel, kind) for _, channel, kind in counts})
        columns = (
            Column("day", _("day")),
            *(Column(channel, channel, "count") for channel, _ in channels),
            Column("total", _("total"), "count"),
        )
        rows = []
        for day in r.window.dates():
            values = [counts[day, channel, kind] for channel, kind in channels]
            rows.append((day.isoformat(), *values, sum(values)))
        tasks = ", ".join(channel for channel, kind in channels if kind == "task") or _("none")
        title = _(
            "follow-ups delivered per day, by channel (tasks: {tasks}; the rest messages)"
        ).format(tasks=tasks)
        return Table(f"{r.label}_volumes", title, columns, tuple(rows))

    def workload(self) -> list[Table]:
        r = self.result
        load, days = r.workload(), r.business_days()
        columns = (
            Column("owner", _("manager")),
            Column("tasks", _("tasks"), "count"),
            Column("busiest_day", _("max a day"), "count"),
            Column("mean_per_business_day", _("mean a business day"), "number"),
            Column("days_over_capacity", _("days over capacity"), "count"),
            Column("days_off", _("days off with tasks"), "count"),
        )
        rows = tuple(
            (m.owner, m.tasks, m.busiest, m.tasks / days if days else None, m.over_capacity,
             m.days_off)
            for m in load.managers()
        )  # fmt: skip
        capacity = r.capacity if r.capacity is not None else _("none")
        title = _("tasks per manager (capacity {capacity} a day)").format(capacity=capacity)
        per_day = load.by_day(f"{r.label}_workload_by_day", _("tasks per manager per day"))
        return [Table(f"{r.label}_workload", title, columns, rows), per_day]

    def verdicts(self, status: Callable[[str], str] = status_word) -> Table:
        """The table shows each status in the reader's language; `--json` (`str`) as stored."""
        columns = (
            Column("status", _("status")),
            Column("policy", _("policy")),
            Column("reason", _("reason")),
            Column("followups", _("follow-ups"), "count"),
        )
        verdicts = self.result.verdicts
        rows = tuple((status(v.status), v.policy, v.reason, v.followups) for v in verdicts)
        title = _("suppressed, deferred and cancelled, by policy and reason")
        return Table(f"{self.result.label}_policy", title, columns, rows)

    def refusals(self) -> Table:
        """What the live adapters would refuse to send, by channel and reason."""
        columns = (
            Column("channel", _("channel")),
            Column("reason", _("reason")),
            Column("followups", _("follow-ups"), "count"),
            Column("customers", _("customers")),
        )
        kinds = Counter((r.channel, r.reason) for r in self.result.refused)
        who: dict[tuple[str, str], list[str]] = {}
        for r in self.result.refused:
            who.setdefault((r.channel, r.reason), []).append(r.customer_id)
        rows = tuple(
            (channel, reason, n, ", ".join(sorted(set(who[channel, reason]))[:SHOWN_CUSTOMERS]))
            for (channel, reason), n in sorted(kinds.items())
        )
        title = _("refused at sending: the address is not one the channel takes")
        return Table(f"{self.result.label}_refused", title, columns, rows)

    def distribution(self) -> Table:
        r, labels = self.result, self.labels
        cells = sorted(set(r.start) | set(r.end), key=lambda c: _position(labels, c))
        columns = (
            Column("tier", _("tier")),
            Column("level", _("level")),
            Column("start", _("at the start"), "count"),
            Column("end", _("at the end"), "count"),
            Column("change", _("change"), "count"),
        )
        rows = tuple(
            (labels.tier(t), labels.level(lv), r.start.get((t, lv), 0), r.end.get((t, lv), 0),
             r.end.get((t, lv), 0) - r.start.get((t, lv), 0))
            for t, lv in cells
        )  # fmt: skip
        return Table(f"{r.label}_tiers_levels", _("customers by tier × level"), columns, rows)

    def pending(self) -> Table:
        columns = (
            Column("step", _("step")),
            Column("followups", _("follow-ups"), "count"),
        )
        rows = tuple((self.labels.step(s), n) for s, n in self.result.pending.items())
        title = _("planned for after the period")
        return Table(f"{self.result.label}_after", title, columns, rows)

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "label": r.label,
            "ruleset": r.ruleset.hash,
            "seconds": round(r.seconds, 3),
            "counts": r.counts.to_dict(),
            "quarantined_customers": r.quarantined,
            "notes": self.notes(),
            **{table.name.removeprefix(f"{r.label}_"): table.records() for table in self.tables()},
            "policy": self.verdicts(str).records(),
            "events": _feed_dict(r.feed),
            "warnings": [
                {"night": night.at.isoformat(), **night.warning.as_json()} for night in r.shifts
            ],
            "kept": str(r.kept) if r.kept else None,
        }


def _position(labels: Labels, cell: Cell) -> tuple[int, int, str, str]:
    tier, level = cell
    tiers, levels = labels.tier_order, labels.level_order
    return (
        tiers.index(tier) if tier in tiers else len(tiers),
        levels.index(level) if level in levels else len(levels),
        tier or "",
        level or "",
    )


def _feed_dict(feed: Feed | None) -> dict[str, Any] | None:
    if feed is None:
        return None
    return {
        "file": feed.loaded.as_dict() if feed.loaded else None,
        "synthetic": {"seed": feed.seed, "rates": [r.to_dict() for r in feed.rates]}
        if feed.rates
        else None,
    }


def _without_history(rates: list[Rate]) -> list[str]:
    """What --synthetic-events could not draw: the types the store has no event of in the
    days before the start (a store loaded without its events)."""
    missing = [rate.type for rate in rates if not rate.history]
    if not missing:
        return []
    told = _(
        "no {types} in the store's last {days} days to draw from: none drawn; load the"
        " events first (guanxi load events FILE) or replay a file with --events FILE"
    )
    return ["  " + told.format(types=", ".join(missing), days=HISTORY.days)]
