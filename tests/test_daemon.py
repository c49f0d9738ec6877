"""The daemon: its jobs in-process with a fixed clock, and as a real process (health, metrics,
masked JSON logs, SIGTERM)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from guanxi.adapters.base import Message, Receipt
from guanxi.engine.classify import classify
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.releases import ledger
from guanxi.engine.releases.live import live_ruleset
from guanxi.engine.ruleset import load_ruleset, validate_project
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import free_port, plan_due, rules_copy, start_daemon, stop, wait_for
from tests.test_releases import propose, releases_mode

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_copy(tmp_path)


@pytest.fixture
def daemon(tmp_path: Path, rules: Path) -> Iterator[Daemon]:
    store = SQLiteStore(tmp_path / "guanxi.db")
    daemon = Daemon(rules, load_ruleset(rules), store, FixedClock(NOW), folder=tmp_path, port=None)
    yield daemon
    daemon.running.adapters.close()
    store.close()


def outbox(folder: Path) -> list[dict[str, object]]:
    path = folder / "outbox.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def test_a_tick_delivers_what_is_due_to_the_configured_adapter(
    tmp_path: Path, daemon: Daemon
) -> None:
    keys = plan_due(daemon.store, 30, NOW - dt.timedelta(minutes=5))
    report = daemon.dispatch_tick()
    assert (report.claimed, report.sent) == (30, 30)
    assert sorted(m["key"] for m in outbox(tmp_path)) == sorted(keys)
    assert daemon.dispatch_tick().sent == 0


def test_a_bad_edit_is_rejected_and_a_fix_is_taken(
    rules: Path, daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    good = daemon.running.ruleset.hash
    templates = rules / "templates.yaml"
    text = templates.read_text("utf-8")
    templates.write_text(text.replace('"{{ name }}您好', '"{{ name 您好', 1), "utf-8")
    with caplog.at_level(logging.ERROR, logger="guanxi.daemon"):
        assert daemon.reload_if_changed() is False
    assert daemon.running.ruleset.hash == good
    record = caplog.records[-1]
    assert "still using the last good rules" in record.getMessage()
    assert (
        "templates.yaml:" in record.diagnostics and "error[template-syntax]" in record.diagnostics
    )
    templates.write_text(text.replace('"{{ name }}您好', '"{{ name }}，您好', 1), "utf-8")
    assert daemon.reload_if_changed() is True
    assert daemon.running.ruleset.hash not in (good, "")
    assert daemon.reload_if_changed() is False  # nothing changed since


def test_a_followup_is_rendered_with_the_templates_of_the_rules_in_force(
    tmp_path: Path, rules: Path, daemon: Daemon
) -> None:
    old = daemon.running.ruleset.hash
    earlier, later = plan_due(daemon.store, 2, NOW - dt.timedelta(minutes=5))
    templates = rules / "templates.yaml"
    text = templates.read_text("utf-8")
    templates.write_text(text.replace("感谢您购买", "谢谢您选择", 1), "utf-8")
    assert daemon.reload_if_changed() is True
    planned_by = {earlier: old, later: daemon.running.ruleset.hash}
    for key, ruleset_hash in planned_by.items():
        daemon.store.execute(
            "UPDATE followups SET ruleset_hash = :h WHERE key = :k", {"h": ruleset_hash, "k": key}
        )
    assert daemon.dispatch_tick().sent == 2
    bodies = {m["key"]: str(m["body"]) for m in outbox(tmp_path)}
    assert "谢谢您选择" in bodies[earlier] and "谢谢您选择" in bodies[later]
    assert "感谢您购买" not in bodies[earlier]  # what the old rules planned has the new text


def edit_during_first_send(daemon: Daemon, path: Path, old: str, new: str) -> None:
    """An SMS adapter that is slow to the point that `path` is edited (`old` → `new`) on disk
    while the first batch is being sent."""
    adapter = daemon.running.adapters["sms"]
    send, text = adapter.send, path.read_text("utf-8")

    def slow_send(message: Message) -> Receipt:
        if path.read_text("utf-8") == text:
            path.write_text(text.replace(old, new, 1), "utf-8")
        return send(message)

    adapter.send = slow_send  # type: ignore[method-assign]


def test_rules_edited_during_a_batch_decide_what_it_had_not_sent(
    tmp_path: Path, daemon: Daemon
) -> None:
    daemon.running = replace(daemon.running, dispatch=replace(daemon.running.dispatch, limit=5))
    old = daemon.running.ruleset.hash
    keys = plan_due(daemon.store, 30, NOW - dt.timedelta(minutes=5))
    quiet_now = 'quiet_hours: {start: "09:00", end: "20:00"}  # 今日提前'
    policies = daemon.rules / "policies.yaml"
    edit_during_first_send(
        daemon, policies, 'quiet_hours: {start: "21:00", end: "08:30"}', quiet_now
    )

    first = daemon.dispatch_tick()
    assert (first.claimed, first.sent, first.given_back, first.passes) == (5, 1, 4, 1)
    assert daemon.running.ruleset.hash != old  # taken at the end of the tick
    second = daemon.dispatch_tick()
    assert (second.sent, sum(second.deferred.values())) == (0, 29)  # 10:00 is quiet now
    sent = [m["key"] for m in outbox(tmp_path)]
    assert len(sent) == 1 and set(sent) <= set(keys)


def test_a_bad_edit_during_a_tick_stops_nothing(daemon: Daemon) -> None:
    daemon.running = replace(daemon.running, dispatch=replace(daemon.running.dispatch, limit=5))
    good = daemon.running.ruleset.hash
    plan_due(daemon.store, 30, NOW - dt.timedelta(minutes=5))
    edit_during_first_send(daemon, daemon.rules / "policies.yaml", "caps:", "caps: [")

    assert daemon.dispatch_tick().sent == 30  # only rules that will be taken stop a tick
    assert daemon.running.ruleset.hash == good  # rejected: the last good rules go on


def test_a_release_approved_during_a_batch_decides_what_it_had_not_sent(
    tmp_path: Path,
) -> None:
    rules = releases_mode(tmp_path)
    store = SQLiteStore(tmp_path / "guanxi.db")
    ledger.approve(store, propose(store, rules).id, NOW, actor="wang")
    release, ruleset = live_ruleset(store, tmp_path / "cache")
    daemon = Daemon(
        rules, ruleset, store, FixedClock(NOW), folder=tmp_path, release=release,
        cache=tmp_path / "cache", port=None,
    )  # fmt: skip
    daemon.running = replace(daemon.running, dispatch=replace(daemon.running.dispatch, limit=5))
    plan_due(store, 30, NOW - dt.timedelta(minutes=5))
    policies = rules / "policies.yaml"
    quiet = 'quiet_hours: {start: "21:00", end: "08:30"}'
    adapter = daemon.running.adapters["sms"]
    send = adapter.send

    def slow_send(message: Message) -> Receipt:  # meanwhile two people release quiet hours now
        if ledger.live(store) == release:
            text = policies.read_text("utf-8")
            policies.write_text(text.replace(quiet, quiet.replace("21:00", "09:00")), "utf-8")
            people = SQLiteStore(tmp_path / "guanxi.db")
            ledger.approve(people, propose(people, rules, minutes=1).id, NOW, actor="wang")
            people.close()
        return send(message)

    adapter.send = slow_send  # type: ignore[method-assign]
    try:
        first = daemon.dispatch_tick()
        assert (first.claimed, first.sent, first.given_back, first.passes) == (5, 1, 4, 1)
        assert daemon.release is not None and daemon.release.id == 2
        second = daemon.dispatch_tick()
        assert (second.sent, sum(second.deferred.values())) == (0, 29)
    finally:
        daemon.running.adapters.close()
        store.close()


def test_claims_held_at_shutdown_are_released(daemon: Daemon) -> None:
    plan_due(daemon.store, 3, NOW)
    daemon.leases.add("2026-12-01T02:05:00.000000Z")
    daemon.store.execute(
        "UPDATE followups SET status = 'claimed', lease_until = '2026-12-01T02:05:00.000000Z'"
    )
    assert daemon.release_claims() == 3
    statuses = {r["status"] for r in daemon.store.execute("SELECT status FROM followups")}
    assert statuses == {"pending"}


@pytest.mark.parametrize(
    ("last_run", "caught_up"),
    [(NOW - dt.timedelta(days=2), True), (NOW - dt.timedelta(hours=1), False)],
    ids=["a night missed", "classified since the last 02:00"],
)
def test_taking_the_lead_classifies_when_a_scheduled_classification_was_missed(
    daemon: Daemon, last_run: dt.datetime, caught_up: bool
) -> None:
    plan_due(daemon.store, 3, NOW)  # three customers to classify
    classify(daemon.store, daemon.running.ruleset, last_run)
    assert daemon.lead()  # the daemon's first lead: it catches up
    runs = daemon.store.execute("SELECT started_at FROM classification_runs ORDER BY id")
    assert len(runs) == (2 if caught_up else 1)
    assert daemon.lead()  # still leading: nothing to catch up
    assert len(daemon.store.execute("SELECT id FROM classification_runs")) == len(runs)


def test_classify_every_never_leaves_the_classification_to_a_batch_engine(
    tmp_path: Path, rules: Path
) -> None:
    settings = rules / "guanxi.yaml"
    settings.write_text(
        settings.read_text("utf-8").replace("classify_every: day", "classify_every: never"), "utf-8"
    )
    ruleset = load_ruleset(rules)
    assert ruleset.settings.classify_schedule() is None
    store = SQLiteStore(tmp_path / "guanxi.db")
    daemon = Daemon(rules, ruleset, store, FixedClock(NOW), folder=tmp_path)
    try:
        plan_due(store, 3, NOW)
        classify(store, ruleset, NOW - dt.timedelta(days=2))  # the batch engine's last run
        assert daemon.lead()  # nothing scheduled was missed: the daemon never classifies
        assert len(store.execute("SELECT id FROM classification_runs")) == 1
        daemon._schedule()
        assert daemon.scheduler.get_job("classify") is None
        assert daemon.scheduler.get_job("dispatch") is not None
    finally:
        daemon.running.adapters.close()
        store.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_daemon_process_serves_health_and_metrics_and_stops_cleanly(
    tmp_path: Path, rules: Path
) -> None:
    db = tmp_path / "guanxi.db"
    store = SQLiteStore(db)
    store.prepare(load_ruleset(rules).schema)
    plan_due(store, 50, NOW)
    store.close()
    port = free_port()
    log = tmp_path / "daemon.log"
    process = start_daemon(rules, db, "--port", str(port), "--now", NOW.isoformat(), log=log)
    try:
        wait_for(lambda: len(outbox(tmp_path)) == 50, 30, "50 follow-ups in the outbox")
        wait_for(lambda: "sent_total 50" in get(f"http://127.0.0.1:{port}/metrics")[1], 10,
                 "the metrics to count them")  # fmt: skip
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
        assert "guanxi_followups_claimed_total 50" in metrics
        assert "# TYPE guanxi_tick_lag_seconds gauge" in metrics
        assert get(f"http://127.0.0.1:{port}/nothing")[0] == 404
    finally:
        code = stop(process)
    assert code == 0
    lines = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    messages = [line["message"] for line in lines]
    assert messages[0] == "guanxi daemon started" and messages[-1] == "guanxi daemon stopped"
    text = log.read_text("utf-8")
    assert "C000001" not in text and "13800000001" not in text  # masked


def test_the_readme_delivery_example_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    section = readme[readme.index("## Running the daemon") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n")]
    rules = rules_copy(tmp_path)
    settings = rules / "guanxi.yaml"
    text = settings.read_text("utf-8")
    settings.write_text(text[: text.index("delivery:")] + example, "utf-8")
    result = validate_project(rules)
    assert result.ok, [d.headline() for d in result.diagnostics]
    assert result.ruleset is not None
    assert result.ruleset.settings.delivery.channels["sms"].options["timeout"] == 5
