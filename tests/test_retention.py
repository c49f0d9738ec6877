"""Retention: records past guanxi.yaml's windows go, a batch at a time, archived to Parquet
first when asked; only final follow-ups go; --dry-run counts without changing anything; the
daemon runs it each night; bad windows are diagnostics."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from guanxi.adapters import registry
from guanxi.adapters.base import Message
from guanxi.adapters.outbox import OutboxAdapter
from guanxi.cli.main import cli
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.ingest.load import load_customers, load_events
from guanxi.engine.plan.followups import insert_followups, iso
from guanxi.engine.privacy import retention
from guanxi.engine.ruleset import RuleSet, load_ruleset, validate_project
from guanxi.engine.ruleset.models import RetentionSettings
from guanxi.engine.store import Store
from guanxi.engine.timing import TimingError, parse_window
from tests.daemon_helpers import invitation, post, rules_copy

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
OLD = "2024-06-01T00:00:00Z"  # past every window below
RECENT = "2026-11-01T00:00:00Z"
WINDOWS = RetentionSettings(
    events="1 year", followups="18 months", deliveries="1 year", decisions="1 year",
    quarantine="90 days",
)  # fmt: skip
# follow-up occurrence -> (status, updated_at): which go, which stay
FOLLOWUPS = {
    "sent-old": ("sent", OLD),
    "dead-old": ("dead", OLD),
    "cancelled-old": ("cancelled", OLD),
    "pending-old": ("pending", OLD),  # not final: stays
    "claimed-old": ("claimed", OLD),  # not final: stays
    "task-open-old": ("sent", OLD),  # its task is still open: stays
    "sent-recent": ("sent", RECENT),  # inside the window: stays
}


@pytest.fixture
def aged(store: Store) -> Store:
    """Follow-ups, decisions, deliveries, events and quarantined rows, old and recent."""
    insert_followups(store, [invitation("C1", o, NOW) for o in FOLLOWUPS], "b1", NOW)
    for occurrence, (status, at) in FOLLOWUPS.items():
        store.execute(
            "UPDATE followups SET status = :s, updated_at = :at WHERE occurrence = :o",
            {"s": status, "at": at, "o": occurrence},
        )
    store.execute(
        "INSERT INTO tasks (key, followup_id, customer_id, status) SELECT key, id, customer_id,"
        " 'open' FROM followups WHERE occurrence = 'task-open-old'"
    )
    for at in (OLD, OLD, RECENT):
        store.execute(
            "INSERT INTO followup_decisions (followup_id, at, status) VALUES (1, :at, 'sent')",
            {"at": at},
        )
        store.execute(
            "INSERT INTO deliveries (followup_id, key, attempt, at, outcome)"
            " VALUES (1, 'k', 1, :at, 'sent')",
            {"at": at},
        )
        store.execute(
            "INSERT INTO quarantine (kind, source, row_number, reason, at)"
            " VALUES ('customers', 'c.csv', 2, 'bad', :at)",
            {"at": at},
        )
    post(store, "E-old", "sale", "C1", OLD)
    post(store, "E-old-unplanned", "sale", "C1", OLD)  # not planned yet: stays
    post(store, "E-recent", "sale", "C1", RECENT)
    store.execute("UPDATE events SET planned_at = :at WHERE id <> 'E-old-unplanned'", {"at": OLD})
    return store


def occurrences(store: Store) -> set[str]:
    return {r["occurrence"] for r in store.execute("SELECT occurrence FROM followups")}


@pytest.mark.every_store
def test_what_is_past_its_window_goes_archived_and_the_dry_run_said_so(
    aged: Store, tmp_path: Path
) -> None:
    planned = {r.kind: r.due for r in retention.plan(aged, WINDOWS, NOW)}
    assert planned == {"events": 1, "followups": 3, "deliveries": 2, "decisions": 2,
                       "quarantine": 2}  # fmt: skip
    assert len(occurrences(aged)) == len(FOLLOWUPS)  # the dry run changed nothing

    reports, left = retention.apply(aged, WINDOWS, NOW, tmp_path / "archive")

    assert not left
    assert {r.kind: r.removed for r in reports} == planned
    assert occurrences(aged) == {"pending-old", "claimed-old", "task-open-old", "sent-recent"}
    events = aged.execute("SELECT id FROM events ORDER BY id")
    assert [e["id"] for e in events] == ["E-old-unplanned", "E-recent"]
    for table in ("followup_decisions", "deliveries", "quarantine"):
        assert aged.execute(f"SELECT at FROM {table}") == [{"at": RECENT}]
    archived = pq.read_table(tmp_path / "archive" / "followups").to_pylist()
    assert sorted(r["occurrence"] for r in archived) == ["cancelled-old", "dead-old", "sent-old"]
    followups = next(r for r in reports if r.kind == "followups")
    assert (followups.archived, followups.oldest_kept) == (3, OLD)


@pytest.mark.every_store
def test_retention_goes_a_batch_at_a_time(aged: Store) -> None:
    small = WINDOWS.model_copy(update={"batch": 2})
    reports, left = retention.apply(aged, small, NOW, None, batches=1)
    assert left
    assert {r.kind: r.removed for r in reports}["followups"] == 2
    reports, left = retention.apply(aged, small, NOW, None, batches=1)
    assert {r.kind: r.removed for r in reports}["followups"] == 1
    assert not left or retention.apply(aged, small, NOW, None, batches=1)[1] is False


@pytest.mark.every_store
def test_the_daemon_applies_retention_each_night(
    aged: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(
        settings.read_text("utf-8")
        + '\nretention:\n  followups: 18 months\n  archive: parquet\n  at: "03:30"\n',
        "utf-8",
    )
    daemon = Daemon(rules, load_ruleset(rules), aged, FixedClock(NOW), folder=tmp_path, port=None)
    try:
        daemon._schedule()
        job = daemon.scheduler.get_job("retention")
        assert job is not None and "hour='3', minute='30'" in str(job.trigger)
        assert daemon.retention_now() is False  # everything in one batch
    finally:
        daemon.running.adapters.close()
        daemon.leadership.release()
    assert "sent-old" not in occurrences(aged)
    assert list((tmp_path / "archive" / "followups").glob("*.parquet"))


def test_the_command_dry_run_prints_the_counts(aged: Store, tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "\nretention:\n  events: 1 year\n", "utf-8")
    result = CliRunner().invoke(
        cli, ["retention", "--dry-run", "--json", "--rules", str(rules), "--store",
              aged.location, "--now", NOW.isoformat()],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [events] = json.loads(result.stdout)["kinds"]
    assert (events["kind"], events["due"], events["removed"]) == ("events", 1, 0)
    assert aged.execute("SELECT count(*) AS n FROM events")[0]["n"] == 3


def test_bad_windows_are_diagnostics_with_their_place(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    settings.write_text(
        settings.read_text("utf-8") + '\nretention:\n  events: 3 fortnights\n  at: "25:00"\n',
        "utf-8",
    )
    found = {(d.code, d.line) for d in validate_project(rules).diagnostics}
    lines = settings.read_text("utf-8").splitlines()
    assert ("invalid-retention", lines.index("  events: 3 fortnights") + 1) in found
    assert ("invalid-time", lines.index('  at: "25:00"') + 1) in found


def test_a_window_shorter_than_the_rules_read_back_is_an_error_at_its_line(
    tmp_path: Path,
) -> None:
    """The default rules count complaints over 365 days and messages per 7 and per 30 days:
    events kept 90 days, follow-ups kept a month (28 days in February) and deliveries kept
    3 days would change those answers as records go; a year, 18 months and 400 days not."""
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    text = settings.read_text("utf-8")
    settings.write_text(
        text + "\nretention:\n  events: 90 days\n  followups: 1 month\n  deliveries: 3 days\n",
        "utf-8",
    )
    diagnostics = [d for d in validate_project(rules).diagnostics if d.file.endswith("guanxi.yaml")]
    lines = settings.read_text("utf-8").splitlines()
    found = [(d.code, d.line, d.severity) for d in diagnostics]
    assert found == [
        ("retention-too-short", lines.index(f"  {kind}") + 1, "error")
        for kind in ("events: 90 days", "followups: 1 month", "deliveries: 3 days")
    ]
    messages = [d.message for d in diagnostics]
    assert (
        "events kept for 90 days would be removed while the measure 'feedback_365d' counts the"
        " events of the last 365 days" in messages
    )
    assert (
        "followups kept for 1 month would be removed while the frequency cap of all counts the"
        " messages of 30 days" in messages
    )
    assert [d.hint for d in diagnostics] == [f"keep them at least {n} days" for n in (365, 30, 30)]
    settings.write_text(
        text + "\nretention:\n  events: 1 year\n  followups: 18 months\n  deliveries: 400 days\n",
        "utf-8",
    )
    assert validate_project(rules).ruleset is not None


@pytest.mark.parametrize(
    ("window", "moment", "before"),
    [
        ("400 days", "2026-12-01", "2025-10-27"),
        ("2 weeks", "2026-12-01", "2026-11-17"),
        ("1 month", "2026-03-31", "2026-02-28"),
        ("1 year", "2024-02-29", "2023-02-28"),
        ("18 months", "2026-12-01", "2025-06-01"),
    ],
)
def test_windows_count_back_by_the_calendar(window: str, moment: str, before: str) -> None:
    at = dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC)
    assert parse_window(window).before(at).date().isoformat() == before


@pytest.mark.parametrize("text", ["0 days", "3 fortnights", "200 years", "soon"])
def test_a_window_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(TimingError):
        parse_window(text)


@pytest.mark.every_store
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_a_record_exactly_at_the_cutoff_stays_whatever_the_form_of_its_time(
    store: Store, ruleset: RuleSet, tmp_path: Path, zone: str
) -> None:
    """Times are stored as loaded (`+00:00`, with a fraction of a second) or as the engine
    writes them (`Z`): a record at the cutoff or after it stays, one before it goes, and
    `now` given in the project's zone is the same instant."""
    (tmp_path / "customers.csv").write_text("customer_id,name\nC1,张伟\n", "utf-8")
    load_customers(store, ruleset, tmp_path / "customers.csv", NOW)
    (tmp_path / "events.csv").write_text(
        "id,type,customer_id,at,product,amount\n"
        "at-cutoff,sale,C1,2025-12-01 10:00:00,基金,5\n"  # 02:00:00 UTC, the cutoff
        "before,sale,C1,2025-12-01 09:59:59,基金,5\n",
        "utf-8",
    )
    load_events(store, ruleset, tmp_path / "events.csv", NOW)
    store.execute("UPDATE events SET planned_at = :at", {"at": iso(NOW)})
    assert store.execute("SELECT at FROM events WHERE id = 'at-cutoff'") == [
        {"at": "2025-12-01T02:00:00+00:00"}
    ]
    for at in ("2025-12-01T02:00:00.500000+00:00", "2025-12-01T01:59:59.900000+00:00"):
        store.execute(
            "INSERT INTO quarantine (kind, source, row_number, reason, at)"
            " VALUES ('customers', 'c.csv', 2, 'bad', :at)",
            {"at": at},
        )
    for at in ("2025-12-01T02:00:00Z", "2025-12-01T01:59:59Z"):
        store.execute(
            "INSERT INTO deliveries (followup_id, key, attempt, at, outcome)"
            " VALUES (1, 'k', 1, :at, 'sent')",
            {"at": at},
        )
    windows = RetentionSettings(events="1 year", deliveries="1 year", quarantine="1 year")
    now = NOW.astimezone(ZoneInfo(zone))

    planned = {r.kind: r.due for r in retention.plan(store, windows, now)}
    reports, _left = retention.apply(store, windows, now, None)

    assert planned == {r.kind: r.removed for r in reports} == {
        "events": 1, "deliveries": 1, "quarantine": 1
    }  # fmt: skip
    assert [e["id"] for e in store.execute("SELECT id FROM events")] == ["at-cutoff"]
    for table, kept in (("quarantine", "2025-12-01T02:00:00.5"), ("deliveries", "2025-12-01T02")):
        [row] = store.execute(f"SELECT at FROM {table}")
        assert row["at"].startswith(kept), table


@pytest.mark.every_store
def test_two_runs_at_the_same_instant_keep_both_archives(aged: Store, tmp_path: Path) -> None:
    """The daemon removes one batch a run, and a run at the same instant (a fixed clock,
    the same --now) would have written its archive under the same name as the last one."""
    small = WINDOWS.model_copy(update={"batch": 2})
    archive = tmp_path / "archive"
    removed = 0
    for _ in range(3):
        reports, _left = retention.apply(aged, small, NOW, archive, batches=1)
        removed += {r.kind: r.removed for r in reports}["followups"]
    archived = pq.read_table(archive / "followups").to_pylist()
    assert removed == 3
    assert sorted(r["occurrence"] for r in archived) == ["cancelled-old", "dead-old", "sent-old"]


@pytest.mark.every_store
def test_a_done_task_goes_with_its_follow_up_archived(aged: Store, tmp_path: Path) -> None:
    """A manager's task holds the customer's name and phone in its text: once its follow-up
    is past the window, the task (done) goes with it, archived first; an open one stays."""
    aged.execute(
        "INSERT INTO tasks (key, followup_id, customer_id, body, status) SELECT key, id,"
        " customer_id, '请致电张伟 13812345678', 'done' FROM followups"
        " WHERE occurrence IN ('sent-old', 'sent-recent')"
    )
    reports, _left = retention.apply(aged, WINDOWS, NOW, tmp_path / "archive")

    kept = aged.execute(
        "SELECT f.occurrence FROM tasks t JOIN followups f ON f.id = t.followup_id"
        " ORDER BY f.occurrence"
    )
    assert [row["occurrence"] for row in kept] == ["sent-recent", "task-open-old"]
    assert aged.execute("SELECT count(*) AS n FROM tasks")[0]["n"] == 2  # none left behind
    archived = pq.read_table(tmp_path / "archive" / "tasks").to_pylist()
    assert [row["body"] for row in archived] == ["请致电张伟 13812345678"]
    assert {r.kind: r.removed for r in reports}["followups"] == 3


def consent_records(store: Store) -> list[tuple[str, str, bool, str]]:
    rows = store.execute("SELECT channel, purpose, granted, effective_at FROM consent_ledger")
    return sorted((r["channel"], r["purpose"], bool(r["granted"]), r["effective_at"]) for r in rows)


@pytest.mark.every_store
def test_tier_moves_go_and_superseded_values_and_consents_but_what_is_in_force_stays(
    store: Store,
) -> None:
    """A field's value and a consent record still in force at the cutoff stay however old
    (a change measure reads the value, the consent still holds); those superseded before it
    go, as do the tier moves older than the window."""
    for at in (OLD, RECENT):
        store.execute(
            "INSERT INTO transitions (run_id, customer_id, from_tier, to_tier, at)"
            " VALUES (1, 'C1', 'low_value', 'valuable', :at)",
            {"at": at},
        )
    values = [("C1", "2023-01-01", 1.0), ("C1", "2024-01-01", 2.0), ("C1", "2026-11-01", 3.0),
              ("C2", "2023-01-01", 9.0)]  # fmt: skip
    store.execute_many(
        "INSERT INTO field_history (field, customer_id, day, run_id, value)"
        " VALUES ('balance', :c, :day, 1, :v)",
        [{"c": c, "day": day, "v": v} for c, day, v in values],
    )
    records = [
        ("sms", "marketing", True, "2023-01-01T00:00:00Z"),  # withdrawn since: goes
        ("sms", "marketing", False, "2024-01-01T00:00:00Z"),  # in force for sms
        ("all", "marketing", True, "2023-06-01T00:00:00Z"),  # in force for the other channels
        ("sms", "service", True, "2023-01-01T00:00:00Z"),  # the only one: in force
        ("email", "marketing", False, RECENT),
    ]
    store.execute_many(
        "INSERT INTO consent_ledger (customer_id, channel, purpose, granted, source,"
        " effective_at, recorded_at) VALUES ('C1', :c, :p, :g, 'branch', :at, :at)",
        [{"c": c, "p": p, "g": g, "at": at} for c, p, g, at in records],
    )
    windows = RetentionSettings(transitions="1 year", field_history="1 year", consent="1 year")

    planned = {r.kind: r.due for r in retention.plan(store, windows, NOW)}
    reports, _left = retention.apply(store, windows, NOW, None)

    assert planned == {r.kind: r.removed for r in reports} == {
        "transitions": 1, "field_history": 1, "consent": 1
    }  # fmt: skip
    assert store.execute("SELECT at FROM transitions") == [{"at": RECENT}]
    kept = store.execute("SELECT customer_id, day FROM field_history ORDER BY customer_id, day")
    assert [(r["customer_id"], r["day"]) for r in kept] == [
        ("C1", "2024-01-01"), ("C1", "2026-11-01"), ("C2", "2023-01-01")
    ]  # fmt: skip
    assert consent_records(store) == sorted(records[1:])


@pytest.mark.every_store
def test_the_outbox_loses_its_lines_past_the_window_while_a_daemon_writes_it(
    store: Store, tmp_path: Path
) -> None:
    """The outbox's lines are copies of what was sent: past the window (by default the
    deliveries') they go, by their follow-up's due time; a running adapter's next line lands
    in the file that replaced the old one."""
    path = tmp_path / "outbox.jsonl"
    lines = [
        {"key": "old", "customer_id": "C1", "metadata": {"due_at": OLD}},
        {"key": "recent", "customer_id": "C1", "metadata": {"due_at": RECENT}},
        {"key": "foreign", "customer_id": "C2"},  # no due time: not guanxi's to judge
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    outbox = OutboxAdapter(path)
    windows = RetentionSettings(deliveries="1 year")
    try:
        *_deliveries, planned = retention.plan(store, windows, NOW, [path])
        reports, _left = retention.apply(store, windows, NOW, None, files=[path])
        outbox.send(Message("new", "C3", "s", "message", "sms", None, None, "您好"))
    finally:
        outbox.close()

    [pruned] = [r for r in reports if r.kind == "outbox"]
    assert (planned.kind, planned.due, pruned.removed) == ("outbox", 1, 1)
    assert pruned.oldest_kept == RECENT.removesuffix("Z")
    keys = [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines()]
    assert keys == ["recent", "foreign", "new"]


def test_consent_and_field_history_windows_shorter_than_what_they_prove_are_errors(
    tmp_path: Path,
) -> None:
    """Consent records prove the decisions kept (3 years here): a year is too short. A
    change measure reads the value of 30 days before: field history kept 2 weeks is too."""
    rules = rules_copy(tmp_path)
    tiers = rules / "tiers.yaml"
    measure = (
        "measures:\n  - name: balance_change_30d\n    label: 近30天余额变化\n"
        "    change: balance\n    since: 30 days\n    as: percent\n"
    )
    tiers.write_text(tiers.read_text("utf-8").replace("measures:\n", measure, 1), "utf-8")
    settings = rules / "guanxi.yaml"
    text = settings.read_text("utf-8")
    settings.write_text(
        text + "\nretention:\n  followups: 3 years\n  decisions: 3 years\n  deliveries: 3 years\n"
        "  consent: 1 year\n  field_history: 2 weeks\n",
        "utf-8",
    )
    diagnostics = [d for d in validate_project(rules).diagnostics if d.file.endswith("guanxi.yaml")]
    lines = settings.read_text("utf-8").splitlines()
    assert [(d.code, d.line, d.message, d.hint) for d in diagnostics] == [
        ("retention-too-short", lines.index("  consent: 1 year") + 1,
         "consent records kept for 1 year would be removed while the followups, decisions,"
         " deliveries they prove are kept longer",
         "keep consent records at least as long as follow-ups, decisions and deliveries"),
        ("retention-too-short", lines.index("  field_history: 2 weeks") + 1,
         "field_history kept for 2 weeks would be removed while the measure"
         " 'balance_change_30d' compares with the value of 30 days before",
         "keep them at least 30 days"),
    ]  # fmt: skip
    settings.write_text(
        text + "\nretention:\n  followups: 3 years\n  decisions: 3 years\n  deliveries: 3 years\n"
        "  consent: 3 years\n  field_history: 30 days\n",
        "utf-8",
    )
    assert validate_project(rules).ruleset is not None


class BankFileAdapter(OutboxAdapter):
    """A bank's own adapter, its options passed through (`**options`): its file is where
    `file:` in guanxi.yaml says, which guanxi cannot tell from its signature."""

    def __init__(self, **options: Any) -> None:
        super().__init__(options["file"], address_fields=options.get("address_fields"))


class BankPathAdapter(OutboxAdapter):
    """A bank's own adapter that takes a `path:` in guanxi.yaml (its options pass through)."""

    def __init__(self, path: str, **options: Any) -> None:
        super().__init__(path, address_fields=options.get("address_fields"))


def bank_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bank's adapters installed, as their distribution's entry points would."""
    found = registry._entry_points()
    for name, cls in (("bank_file", "BankFileAdapter"), ("bank_path", "BankPathAdapter")):
        found[name] = EntryPoint(name, f"tests.test_retention:{cls}", registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: found)


def outbox_lines(folder: Path, name: str) -> Path:
    """An outbox file in `folder`, one line past the deliveries' window, one inside it."""
    folder.mkdir(exist_ok=True)
    lines = [
        {"key": "old", "customer_id": "C1", "metadata": {"due_at": OLD}},
        {"key": "recent", "customer_id": "C1", "metadata": {"due_at": RECENT}},
    ]
    written = folder / name
    written.write_text("".join(json.dumps(line) + "\n" for line in lines), "utf-8")
    return written


def keys_in(path: Path) -> list[str]:
    return [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines()]


def test_the_daemon_prunes_the_files_its_adapters_write_wherever_their_options_put_them(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank_adapters(monkeypatch)
    monkeypatch.setenv("GX_OUTBOX_DIR", str(tmp_path / "bank"))
    delivery = 'delivery:\n  default: {adapter: bank_file, file: "${GX_OUTBOX_DIR}/sent.jsonl"}'
    rules = rules_copy(tmp_path, delivery=delivery)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "\nretention:\n  deliveries: 1 year\n")
    written = outbox_lines(tmp_path / "bank", "sent.jsonl")
    daemon = Daemon(rules, load_ruleset(rules), store, FixedClock(NOW), folder=tmp_path, port=None)
    try:
        daemon.retention_now()
    finally:
        daemon.running.adapters.close()
        daemon.leadership.release()
    assert keys_in(written) == ["recent"]


def test_the_command_prunes_an_adapter_path_that_guanxi_yaml_reads_from_the_environment(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank_adapters(monkeypatch)
    monkeypatch.setenv("GX_OUTBOX_DIR", str(tmp_path / "bank"))
    delivery = 'delivery:\n  default: {adapter: bank_path, path: "${GX_OUTBOX_DIR}/sent.jsonl"}'
    rules = rules_copy(tmp_path, delivery=delivery)
    settings = rules / "guanxi.yaml"
    settings.write_text(settings.read_text("utf-8") + "\nretention:\n  deliveries: 1 year\n")
    written = outbox_lines(tmp_path / "bank", "sent.jsonl")
    result = CliRunner().invoke(
        cli, ["retention", "--rules", str(rules), "--store", store.location, "--now",
              NOW.isoformat()],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert keys_in(written) == ["recent"]
