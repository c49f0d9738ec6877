"""`guanxi classify` and `guanxi explain`: sort every customer, and say why for one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from guanxi.cli.common import (
    csv_only,
    given_now,
    now_option,
    opened_store,
    project,
    store_option,
)
from guanxi.cli.consent import print_ledger
from guanxi.cli.masking import (
    View,
    audited_whole,
    masked_records,
    unmask_option,
    view_masker,
    viewing,
)
from guanxi.cli.options import ID, encoding_option, rules_option
from guanxi.cli.output import console, print_diagnostics, print_json, table
from guanxi.engine.classify import RunReport, classify
from guanxi.engine.classify.chosen import classify_chosen
from guanxi.engine.classify.explain import Explanation, explain
from guanxi.engine.classify.explain_quarantined import QuarantinedCustomer, quarantined_lines
from guanxi.engine.classify.rowless import without_customer_row
from guanxi.engine.classify.shifts import ladder_lines, shift_warnings
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.classify.spark import classify_on_spark
from guanxi.engine.errors import GuanxiError
from guanxi.engine.i18n import _
from guanxi.engine.i18n.terms import decision_kind_word, status_word, step_kind_word, yes_no
from guanxi.engine.plan.events import WAITS_AT_MOST
from guanxi.engine.plan.history import CustomerHistory, FollowupHistory
from guanxi.engine.plan.transitions import TransitionPlanner, TransitionReport
from guanxi.engine.privacy.files import spark_output
from guanxi.engine.privacy.views import quarantine_masker
from guanxi.engine.ruleset import Ladder, RuleSet
from guanxi.engine.ruleset.sizes import SizeError, parse_memory
from guanxi.engine.store import Store

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
ENGINES = ["auto", "sqlite", "duckdb", "spark"]
PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class Snapshot:
    """The --input file, and the encoding of a CSV one."""

    path: Path | None
    encoding: str


@dataclass(frozen=True)
class SparkRun:
    """Where the spark engine runs and writes."""

    master: str
    output: Path | None

    def folder(self, store: Store) -> Path:
        return self.output if self.output is not None else spark_output(store)


@click.command("classify")
@rules_option
@store_option
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=None,
    help="auto (default): duckdb for --input; without it duckdb for a SQLite store of 10,000"
    " customers or more (reading them costs less than classifying inside SQLite), else"
    " sqlite. sqlite: classify the store's customers inside the store. duckdb: classify the"
    " --input snapshot file, or without it the store's customers, on DuckDB. spark: classify"
    " the --input snapshot on Spark (pip install 'guanxi[spark]'), writing every assignment"
    " as Parquet.",
)
@click.option(
    "--input",
    "snapshot",
    type=click.Path(path_type=Path),
    default=None,
    help="A nightly snapshot (Parquet or CSV; for spark also a folder of Parquet files).",
)
@click.option(
    "--master",
    default=None,
    help="Spark master for --engine spark (default: the rule project's spark_master:, "
    "local[2] unless set).",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for --engine spark's Parquet assignments, replaced on each run "
    "(default: beside the store, <store>.assignments.parquet).",
)
@click.option(
    "--memory-limit",
    default=None,
    help="Memory the duckdb engine may use, e.g. 6GB (default: the rule project's"
    " snapshot_memory:, 3GB unless set).",
)
@encoding_option
@json_option
@now_option
def classify_command(
    rules: Path | None,
    store: str | None,
    engine: str | None,
    snapshot: Path | None,
    master: str | None,
    output: Path | None,
    memory_limit: str | None,
    encoding: str,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Sort every customer into a tier, a relationship level and a strategy; print the
    tier × level table and how many customers moved; plan the follow-ups their moves trigger
    (on_enter / on_leave steps). Warns, at the rule, of a tier, level or strategy that held
    customers at the last run and holds none now, or that now holds nine in ten of them."""
    engine = _checked_engine(engine, snapshot, master, output)
    memory = _checked_memory(memory_limit, engine)
    csv_only(snapshot, encoding)
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store, create=snapshot is not None)  # a snapshot fills it
    spark = SparkRun(master or ruleset.settings.spark_master, output)
    given = Snapshot(snapshot, encoding)
    planner = TransitionPlanner(opened, ruleset, now)  # commits with the run, or neither does
    try:
        if engine == "auto":  # the store's own customers, on the engine its size calls for
            report = _classify_chosen(opened, ruleset, now, planner, memory)
        else:
            report = _classify(opened, ruleset, now, engine, given, spark, planner, memory)
        moves = planner.planned
        written = spark.folder(opened) if engine == "spark" else None
        # only a snapshot night can assign customers the store keeps no row for
        rowless = without_customer_row(opened, ruleset.schema.key) if snapshot else 0
    finally:
        opened.close()
    lines = ladder_lines(ruleset)
    warnings = shift_warnings(report, ruleset, lines)
    if as_json:
        extra = {"output": str(written)} if written else {}
        print_json(
            {
                **report.to_dict(),
                **extra,
                "customers_without_row": rowless,
                "followups_from_transitions": moves.to_dict(),
                "warnings": [w.as_json() for w in warnings],
            }
        )
    else:
        print_diagnostics(warnings, lines)
        _print_report(report, ruleset, snapshot)
        if written:
            console().print(
                _("assignments written to {folder}").format(folder=written), highlight=False
            )
        console().print(
            _("follow-ups planned from the transitions: {count}").format(count=moves.new)
        )
        if moves.cancelled:
            console().print(
                _("follow-ups cancelled, the move that planned them undone: {count}").format(
                    count=moves.cancelled
                )
            )
        if moves.baseline:
            console().print(baseline_note(moves), highlight=False)
        elif moves.held_back:
            console().print(established_note(moves), highlight=False)
        if rowless:
            console().print(
                "[yellow]" + escape(rowless_warning(rowless, snapshot)) + "[/yellow]",
                highlight=False,
            )


def _classify_chosen(
    store: Store, ruleset: RuleSet, now: dt.datetime, planner: TransitionPlanner, memory: str | None
) -> RunReport:
    try:
        report, reason = classify_chosen(store, ruleset, now, memory, after=planner)
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    if reason is not None:
        console().print(
            "[yellow]"
            + _("DuckDB could not classify this night ({reason}); it ran inside the store").format(
                reason=reason
            )
            + "[/yellow]",
            highlight=False,
        )
    return report


def baseline_note(moves: TransitionReport) -> str:
    """Why a store's first classification planned no `on_enter:` steps, in plain words."""
    steps = ", ".join(f"{step} {n}" for step, n in moves.held_back.items())
    return _(
        "first classification of this store: a baseline, not a wave of transitions; "
        "{count} on_enter follow-ups not planned ({steps}).\n"
        "Customers were already in these tiers and levels, so none of them entered one:"
        " on_enter steps are not planned (except those with initial: true). From the next"
        " run on, customers who move or are new get their steps, if the store holds their"
        " customer row (guanxi load customers)."
    ).format(count=moves.not_planned, steps=steps or _("none"))


def established_note(moves: TransitionReport) -> str:
    """Why customers loaded with `--existing` were not welcomed on their first classification."""
    steps = ", ".join(f"{step} {n}" for step, n in moves.held_back.items())
    return _(
        "first classification of customers loaded as established (load customers --existing):"
        " a baseline for them; {count} on_enter follow-ups not planned ({steps})."
    ).format(count=moves.not_planned, steps=steps)


def rowless_warning(count: int, snapshot: Path | None) -> str:
    """A snapshot night classified customers the store has no row for: their moves plan
    nothing, night after night, until the customers are loaded."""
    return _(
        "{count} classified customers have no customer row in the store: their follow-ups"
        " cannot be planned or sent (no name, phone or consent), now or on later runs.\n"
        "Fix: load them with 'guanxi load customers {file}' (a snapshot file loads as it is);"
        " from the next run on, their moves get their follow-ups."
    ).format(count=f"{count:,}", file=snapshot if snapshot and snapshot.is_file() else "FILE")


def _checked_engine(
    engine: str | None, snapshot: Path | None, master: str | None, output: Path | None
) -> str:
    """The engine to use; a usage error for options that do not fit it."""
    engine = engine or "auto"
    if engine == "auto" and snapshot is not None:
        engine = "duckdb"
    if engine == "spark" and snapshot is None:
        raise click.UsageError(
            _("--engine {engine} needs --input SNAPSHOT (a Parquet or CSV file)").format(
                engine=engine
            )
        )
    if engine == "sqlite" and snapshot is not None:
        raise click.UsageError(_("--input is read by the duckdb and spark engines; use --engine"))
    if engine != "spark" and (master or output):
        raise click.UsageError(_("--master and --output are for --engine spark"))
    return engine


def _checked_memory(memory_limit: str | None, engine: str) -> str | None:
    """--memory-limit as DuckDB spells it; a usage error for a bad amount or engine."""
    if memory_limit is None:
        return None
    if engine not in ("auto", "duckdb"):
        raise click.UsageError(_("--memory-limit is for --engine duckdb"))
    try:
        return parse_memory(memory_limit)
    except SizeError as error:
        raise click.UsageError(
            _("--memory-limit: {error}; {hint}").format(error=error, hint=error.hint)
        ) from None


def _classify(
    store: Store,
    ruleset: RuleSet,
    now: dt.datetime,
    engine: str,
    snapshot: Snapshot,
    spark: SparkRun,
    planner: TransitionPlanner,
    memory: str | None,
) -> RunReport:
    path, encoding = snapshot.path, snapshot.encoding
    try:
        if engine == "sqlite":
            return classify(store, ruleset, now, after=planner)
        if engine == "duckdb":
            return classify_snapshot(
                store, ruleset, now, path, memory, after=planner, encoding=encoding
            )
        return classify_on_spark(
            store, ruleset, now, path, spark.master, spark.output, after=planner, encoding=encoding
        )
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None


def _labels(ladder: Ladder | None) -> dict[str | None, str]:
    labels: dict[str | None, str] = {None: _("(none)")}
    labels.update({r.name: f"{r.label}\n{r.name}" for r in (ladder.rules if ladder else ())})
    return labels


def _print_report(report: RunReport, ruleset: RuleSet, snapshot: Path | None = None) -> None:
    out = console()
    out.print(distribution_table(report, ruleset))
    out.print(
        _(
            "gold 金牌客户: {gold}   customers: {customers}   "
            "assignments changed: {changed}   transitions: {transitions}"
        ).format(
            gold=report.gold,
            customers=report.customers,
            changed=report.changed,
            transitions=report.transitions,
        )
    )
    if report.held:
        out.print(
            _(
                "held 暂缓调整: {count} customers keep their assignment until the new one"
                " has come out of enough runs in a row (hold: in tiers.yaml / levels.yaml)"
            ).format(count=report.held)
        )
    for kind, count in report.overlaps.items():
        out.print(
            "[yellow]"
            + _(
                "{count} customers matched more than one {kind} rule "
                "(hit policy 'unique'); the first was used"
            ).format(count=count, kind=kind)
            + "[/yellow]"
        )
    if report.rejected:
        _print_rejected(report, snapshot)
    out.print(
        _("run {run} · rule set {hash} · {engine} · {seconds} s").format(
            run=report.run_id,
            hash=report.ruleset_hash,
            engine=report.engine,
            seconds=f"{report.seconds:.2f}",
        )
    )


def _print_rejected(report: RunReport, snapshot: Path | None) -> None:
    """The snapshot rows left out, as `load` quarantines them, and their first problems."""
    out = console()
    out.print(
        "[yellow]"
        + _(
            "{count} snapshot rows were rejected, as 'guanxi load' rejects"
            " them, and not classified; all problems: guanxi quarantine list"
        ).format(count=f"{report.rejected:,}")
        + "[/yellow]"
    )
    unit = _("line") if snapshot and snapshot.suffix.lower() == ".csv" else _("row")
    for problem in report.problems[:PROBLEMS_SHOWN]:
        field = f"{problem['field']}: " if problem["field"] else ""
        out.print(f"  {unit} {problem['row_number']}: {field}{problem['reason']}", markup=False)


def distribution_table(report: RunReport, ruleset: RuleSet) -> Table:
    """Customers per tier (rows) × relationship level (columns), with totals."""
    counts = report.tier_level()
    tiers, levels = _labels(ruleset.tiers), _labels(ruleset.levels)
    tier_names = [t for t in tiers if t is not None] + [None] * any(t is None for t, _ in counts)
    level_names = [v for v in levels if v is not None] + [None] * any(v is None for _, v in counts)
    rows = []
    for tier in tier_names:
        cells = [counts.get((tier, level), 0) for level in level_names]
        rows.append([tiers[tier], *cells, sum(cells)])
    totals = [sum(counts.get((t, v), 0) for t in tier_names) for v in level_names]
    rows.append([_("合计\ntotal"), *totals, sum(totals)])
    header = [_("tier \\ level"), *(levels[v] for v in level_names), _("合计\ntotal")]
    return table(_("customers by tier and relationship level"), header, rows)


@click.command("explain")
@click.argument("customer_id", type=ID)
@rules_option
@store_option
@json_option
@now_option
@unmask_option
def explain_command(
    customer_id: str,
    rules: Path | None,
    store: str | None,
    as_json: bool,
    now_text: str | None,
    unmask: bool,
) -> None:
    """Explain one customer's tier, level and strategy: every rule tried, the facts that
    failed it, and the file and line of each rule; then the customer's follow-ups (newest
    first) with every contact-policy decision about them, and their recent events. Personal
    data is masked unless --unmask is given."""
    ruleset, store = project(rules, store)
    now = given_now(now_text, ruleset)
    opened = opened_store(ruleset, store)
    view = View("explain --unmask", now, customer_id, {"json": as_json})
    try:
        explanation = explain(opened, ruleset, customer_id, now)
        masker = view_masker(opened, ruleset, [customer_id], unmask, view)
        explanation = _quarantines_shown(ruleset, explanation, unmask)
    except QuarantinedCustomer as missing:
        if unmask:
            audited_whole(opened, view, {"records": missing.count})
        shown = missing.shown(lambda records: _quarantine_shown(ruleset, records, unmask))
        raise click.ClickException(str(shown)) from None
    except GuanxiError as error:
        raise click.ClickException(str(error)) from None
    finally:
        opened.close()
    with viewing(masker):
        if as_json:
            print_json(explanation.to_dict())
        else:
            _print_explanation(explanation, ruleset, now)


def _quarantines_shown(ruleset: RuleSet, found: Explanation, unmask: bool) -> Explanation:
    """The explanation with each of its kinds of quarantine records as the view may show them."""
    kinds = ("quarantined", "quarantined_events", "quarantined_consents")
    shown = {kind: tuple(_quarantine_shown(ruleset, list(getattr(found, kind)), unmask))
             for kind in kinds}  # fmt: skip
    return dataclasses.replace(found, **shown)


def _quarantine_shown(
    ruleset: RuleSet, records: list[dict[str, Any]], unmask: bool
) -> list[dict[str, Any]]:
    """The customer's quarantine records as the view may show them: their values may be data
    the stored customer does not hold, so they are masked as `guanxi quarantine` masks them
    (--unmask: whole; the caller audits the view)."""
    if unmask or not records:
        return records
    return masked_records(records, quarantine_masker(ruleset.schema, records))


def _print_quarantined(found: Explanation, zone: str) -> None:
    """The customer's rows that loads quarantined: a later row of theirs (the stored data may
    be older than the bank's), their events and consent records (explain_quarantined.py)."""
    out = console()
    kinds = (found.quarantined, found.quarantined_events, found.quarantined_consents)
    for line in quarantined_lines(*kinds, zone):
        out.print(line, markup=False, highlight=False)


def _print_explanation(found: Explanation, ruleset: RuleSet, now: dt.datetime) -> None:
    out = console()
    out.print(
        _("[bold]customer {customer}[/bold] · rule set {hash} · today {today}").format(
            customer=escape(found.customer_id),
            hash=found.ruleset_hash,
            today=found.today.isoformat(),
        )
    )
    out.print(_facts_table(found, ruleset))
    for standing in found.standings:
        out.print(
            f"{standing.name}: {_value(standing.result)} — {standing.reason}",
            markup=False,
            highlight=False,
        )
    for group in found.groups:
        shown = f"{group.name}: {_value(group.value)} — {group.reason}"
        out.print(shown, markup=False, highlight=False)
    _print_event_standings(found)
    for change in found.change_standings:
        shown = f"{change.name}: {_value(change.value)} — {change.reason}"
        out.print(shown, markup=False, highlight=False)
    none, others = _("(none)"), _("(others)")  # outside the f-strings, where Babel finds them
    for decision in found.decisions:
        out.print(
            f"\n[bold]{decision_kind_word(decision.kind)}: {escape(decision.result or none)}"
            f" {escape(decision.label or '')}[/bold] "
            + _("(hit policy {policy})").format(policy=decision.hit_policy)
        )
        for tried in decision.tried:
            mark = "[green]✓[/green]" if tried.matched else "[red]✗[/red]"
            origin = tried.origin
            if tried.branch is not None:
                origin = _("{origin}, {branch}'s own rule").format(
                    origin=origin, branch=tried.branch
                )
            rule = f"{tried.rule} ({origin}): {tried.condition or others}"
            out.print(
                f"  {mark} {escape(rule)}",
                markup=True,
                highlight=False,
            )
            for fact in tried.failed:
                out.print(f"      {fact}", markup=False, highlight=False)
    _print_stored(found)
    _print_quarantined(found, ruleset.settings.timezone)
    if found.history is not None:
        _print_history(found.history, found.customer_id)
        print_ledger(found.customer_id, list(found.history.consents), ruleset, now)


EVENTS_LISTED = 10  # the newest events of a measure that explain lists


def _print_event_standings(found: Explanation) -> None:
    out = console()
    for standing in found.event_standings:
        out.print(
            f"{standing.name}: {_value(standing.value)} — {standing.reason}",
            markup=False,
            highlight=False,
        )
        listed = standing.events[-EVENTS_LISTED:]
        if len(standing.events) > len(listed):
            more = len(standing.events) - len(listed)
            out.print("  " + _("… and {count} older").format(count=more), markup=False)
        for event in listed:
            value = "" if event.value is None else f"  {_value(event.value)}"
            out.print(
                f"  {_time(event.at)}  {event.type} {event.id}{value}",
                markup=False,
                highlight=False,
            )


def _print_stored(found: Explanation) -> None:
    if found.stored is None:
        console().print("\n" + _("not classified yet: run 'guanxi classify'"))
        return
    stored = found.stored
    now = {k: found.decision(k).result for k in ("tier", "level", "strategy")}
    same = all(stored[k] == v for k, v in now.items())
    note = _("same as above") if same else _("differs: the rules or the customer changed since")
    if found.holds:
        note = _("held (连续几次分类相同才调整):")
    console().print(
        "\n"
        + _("stored: {tier} / {level} / {strategy} (run {run}, rule set {hash}): {note}").format(
            tier=stored["tier"],
            level=stored["level"],
            strategy=stored["strategy"],
            run=stored["run_id"],
            hash=stored["ruleset_hash"],
            note=note,
        ),
        markup=False,
        highlight=False,
    )
    for hold in found.holds:
        console().print(
            f"  {decision_kind_word(hold.kind)}: {hold.reason}", markup=False, highlight=False
        )


def _print_history(history: CustomerHistory, customer_id: str) -> None:
    out = console()
    shown = len(history.followups)
    out.print(
        "\n"
        + _("[bold]follow-ups[/bold]: {count}, newest first (times in {zone})").format(
            count=shown + history.more_followups, zone=history.timezone
        )
    )
    for followup in history.followups:
        for line in _followup_lines(followup):
            out.print(line, markup=False, highlight=False)
    if history.more_followups:
        out.print(
            "  "
            + _("… and {count} older: guanxi followups list --customer {customer}").format(
                count=history.more_followups, customer=customer_id
            ),
            markup=False,
            highlight=False,
        )
    count = len(history.events) + history.more_events
    out.print("\n" + _("[bold]events[/bold]: {count}, newest first").format(count=count))
    for event in history.events:
        planned = _event_planning(event)
        out.print(
            f"  {_time(event.at)}  {event.type} {event.id}: {planned}",
            markup=False,
            highlight=False,
        )
    if history.more_events:
        out.print(
            "  " + _("… and {count} older").format(count=history.more_events),
            markup=False,
            highlight=False,
        )


def _event_planning(event: Any) -> str:
    if event.plan_error:
        return _("could not be planned: {reason}").format(reason=event.plan_error)
    if event.waits_for_first_run:
        return _(
            "waiting: the store has not been classified yet; the event is planned after its"
            " first classification"
        )
    if event.waiting:
        return _(
            "waiting: the customer is not classified yet; the event is planned after their"
            " first classification, for up to {days} days from the event"
        ).format(days=WAITS_AT_MOST.days)
    planned = (
        _("planned {time}").format(time=_time(event.planned_at))
        if event.planned_at
        else _("not planned yet")
    )
    if event.too_old:
        planned += _(
            "; too old to act on for {steps}: the event was loaded after"
            " the step's window closed, so nothing was planned for it"
        ).format(steps=event.too_old)
    return planned


def _followup_lines(followup: FollowupHistory) -> list[str]:
    label = f" {followup.label}" if followup.label else ""
    channel = followup.channel
    if followup.step_channel and followup.step_channel != channel:
        channel += " " + _("(step asks for {channel})").format(channel=followup.step_channel)
    due = _("due {time}").format(time=_time(followup.due_at))
    if followup.moved:
        due += ", " + _("planned {time}").format(time=_time(followup.planned_due_at))
    status, kind = status_word(followup.status), step_kind_word(followup.kind)
    lines = [
        f"  {status}: {followup.step_id}{label} · {kind} · {channel} · {due}"
        " · " + _("priority {priority}").format(priority=followup.priority)
    ]
    lines += [
        f"      {_time(d.at)}  "
        + _("{status} by {policy}: {reason}").format(
            status=status_word(d.status), policy=d.policy or "-", reason=d.reason or "-"
        )
        for d in followup.decisions
    ]
    if followup.consents:
        cited = ", ".join(f"#{record}" for record in followup.consents)
        lines.append("      " + _("consent records relied on: {records}").format(records=cited))
    return lines


def _time(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M")


def _facts_table(found: Explanation, ruleset: RuleSet) -> Table:
    labels = {n: f.label for n, f in ruleset.schema.fields.items()}
    labels.update({m.name: m.label for m in ruleset.measures})
    rows: list[list[Any]] = [
        [n, labels[n], _value(v)] for n, v in found.facts.items() if v is not None
    ]
    rows += [[n, labels[n], _value(v)] for n, v in found.measures.items()]
    rows.append(["gold", "金牌客户", _value(found.gold)])
    title = _("facts (empty fields left out) and measures")
    return table(title, [_("field"), _("名称"), _("value")], rows)


def _value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
