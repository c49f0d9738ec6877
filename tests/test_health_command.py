"""`guanxi health`: what the daemons sharing a store left there, read from any machine: a
tick that raised, a scheduled job that failed, a daemon that stopped or went silent, the dead
letters waiting; exit 1 when a person is needed. On each store, two daemons on one."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon import daemon as daemon_module
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation, rules_copy
from tests.test_send_time_policy import open_again

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
WIDE = {"COLUMNS": "300"}  # the table's details unwrapped


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_copy(tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def daemons(store: Store, rules: Path, clock: FixedClock, tmp_path: Path) -> Iterator[list[Daemon]]:
    """Two daemons on the store, each on its own connection, as on two machines."""
    started = []
    for number in (1, 2):
        own = open_again(store)
        running = Daemon(rules, load_ruleset(rules), own, clock, folder=tmp_path, port=None)
        running.worker = f"bank-app-{number}:4242"
        started.append(running)
    yield started
    for running in started:
        running.leadership.release()
        running.running.adapters.close()
        running.store.close()


def health(store: Store, rules: Path, at: dt.datetime, *options: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["health", "--rules", str(rules), "--store", store.location, "--now", at.isoformat(),
         *options],
        env=WIDE,
    )  # fmt: skip


def statuses(result: Result) -> dict[str, Any]:
    found = json.loads(result.stdout)
    return {d["worker"]: d for d in found["daemons"]}


def test_a_tick_that_raised_is_failing_with_its_stage_and_masked_error(
    store: Store,
    rules: Path,
    daemons: list[Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = daemons
    first.dispatch_tick()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("gateway refused 13812345678")

    monkeypatch.setattr(daemon_module, "tick", broken)
    with pytest.raises(RuntimeError):
        second.dispatch_tick()

    result = health(store, rules, NOW, "--json")
    assert result.exit_code == 1, result.output
    found = statuses(result)
    assert found["bank-app-1:4242"]["status"] == "ok"
    failing = found["bank-app-2:4242"]
    assert (failing["status"], failing["failed_stage"]) == ("failing", "leadership")
    assert failing["error"] == "RuntimeError: gateway refused 138****5678"
    assert "not healthy: bank-app-2:4242 failing" in result.stderr

    monkeypatch.undo()
    second.dispatch_tick()
    assert health(store, rules, NOW).exit_code == 0


def test_a_failed_scheduled_job_is_failing_until_it_runs_through(
    store: Store, rules: Path, daemons: list[Daemon], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _second = daemons

    def broken() -> None:
        raise MemoryError("snapshot_memory")

    monkeypatch.setattr(first, "_classify", broken)
    monkeypatch.setattr(first, "lead", lambda: True)
    first._guarded(first.classify_now)()
    first.dispatch_tick()
    healthy, body = first.metrics.health()
    assert (healthy, body["failed_jobs"]) == (
        False,
        {"classify_now": "MemoryError: snapshot_memory"},
    )
    found = statuses(health(store, rules, NOW, "--json"))
    assert found["bank-app-1:4242"]["failed_jobs"] == {
        "classify_now": "MemoryError: snapshot_memory"
    }

    monkeypatch.setattr(first, "_classify", lambda: None)
    first._guarded(first.classify_now)()
    first.dispatch_tick()
    assert statuses(health(store, rules, NOW, "--json"))["bank-app-1:4242"]["status"] == "ok"


def test_a_silent_daemon_is_stalled_and_a_stopped_one_stopped(
    store: Store, rules: Path, daemons: list[Daemon], clock: FixedClock
) -> None:
    first, second = daemons
    first.dispatch_tick()
    second.dispatch_tick()
    later = NOW + dt.timedelta(minutes=2)  # past three ticks of 30 seconds
    clock.advance(later - NOW)
    second.dispatch_tick()  # the first was killed: it stopped ticking, without a word

    result = health(store, rules, later, "--json")
    assert result.exit_code == 1
    assert {w: d["status"] for w, d in statuses(result).items()} == {
        "bank-app-1:4242": "stalled",
        "bank-app-2:4242": "ok",
    }
    second._shutdown(None)  # SIGTERM
    first._shutdown(None)
    result = health(store, rules, later)
    assert result.exit_code == 1
    assert "no daemon is running: every one has stopped" in result.stderr


def test_the_dead_letters_are_counted_and_may_make_it_unhealthy(
    store: Store, rules: Path, daemons: list[Daemon]
) -> None:
    insert_followups(store, [invitation(f"C{i}", "E1", NOW) for i in range(3)], "b1", NOW)
    with store.transaction():
        store.execute("UPDATE followups SET status = 'dead', reason = 'HTTP 400'")
    daemons[0].dispatch_tick()

    assert json.loads(health(store, rules, NOW, "--json").stdout)["dead_letters"] == 3
    shown = health(store, rules, NOW)
    assert shown.exit_code == 0 and "dead letters: 3 (oldest" in shown.stdout
    limited = health(store, rules, NOW, "--max-dead", "2")
    assert limited.exit_code == 1
    assert "not healthy: 3 dead letters, more than 2" in limited.stderr
    daemons[0]._update_state(NOW)
    assert daemons[0].metrics.health()[1]["dead_letters"] == 3
    assert "guanxi_followups_dead_letters 3" in daemons[0].metrics.exposition()


def test_a_run_once_from_cron_reports_its_failure(
    store: Store, rules: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert "no daemon has reported" in health(store, rules, NOW).stderr

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("store went away")

    monkeypatch.setattr("guanxi.cli.run.tick", broken)
    assert run_once(store, rules, NOW).exit_code != 0
    result = health(store, rules, NOW + dt.timedelta(days=1), "--json")
    [only] = statuses(result).values()
    assert (only["status"], only["error"]) == ("failing", "RuntimeError: store went away")
    assert only["worker"].endswith(":once")


def run_once(store: Store, rules: Path, at: dt.datetime, *options: str) -> Result:
    return CliRunner().invoke(
        cli, ["run", "--once", "--rules", str(rules), "--store", store.location,
              "--now", at.isoformat(), *options],
    )  # fmt: skip


def test_a_run_once_whose_planning_raised_is_failing_with_the_stage_and_error(
    store: Store, rules: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("event for 13812345678 unreadable")

    ticks = importlib.import_module("guanxi.engine.daemon.tick")  # not the function of that name
    monkeypatch.setattr(ticks, "plan_new_events", broken)
    assert run_once(store, rules, NOW, "--every", "5m").exit_code != 0
    result = health(store, rules, NOW + dt.timedelta(minutes=5))
    assert result.exit_code == 1
    assert "plan_events: ValueError: event for 138****5678 unreadable" in result.stdout
    assert "failing" in result.stderr
    [only] = statuses(health(store, rules, NOW, "--json")).values()
    assert (only["status"], only["failed_stage"], only["tick_every"]) == (
        "failing",
        "plan_events",
        300,
    )


def test_a_run_once_that_cannot_start_its_adapters_is_failing_with_the_stage(
    store: Store, rules: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_once(store, rules, NOW).exit_code == 0

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("smtp.bank.cn refused")

    monkeypatch.setattr("guanxi.cli.run.build_adapters", broken)
    assert run_once(store, rules, NOW + dt.timedelta(minutes=5)).exit_code != 0
    result = health(store, rules, NOW + dt.timedelta(minutes=5))
    assert result.exit_code == 1
    assert "start: ConnectionError: smtp.bank.cn refused" in result.stdout
    [only] = statuses(health(store, rules, NOW + dt.timedelta(minutes=5), "--json")).values()
    assert (only["status"], only["failed_stage"]) == ("failing", "start")


def test_a_run_once_that_cron_stopped_is_stalled_after_three_missed_runs(
    store: Store, rules: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_once(store, rules, NOW, "--every", "5m").exit_code == 0

    assert health(store, rules, NOW + dt.timedelta(minutes=15)).exit_code == 0
    later = NOW + dt.timedelta(minutes=40)  # cron last ran it 40 minutes ago, 25 minutes late
    result = health(store, rules, later, "--json")
    assert result.exit_code == 1
    [only] = statuses(result).values()
    assert only["status"] == "stalled" and only["at"] == "2026-12-01T02:00:00Z"
    assert (only["tick_every"], only["silent_seconds"], only["late_seconds"]) == (300, 2400, 1500)
    assert f"not healthy: {only['worker']} stalled" in result.stderr

    shown = health(store, rules, later)
    assert "no tick for 40 min, 25 min late (ticks every 5 min)" in shown.stdout
    assert "still runs `guanxi run --once`" in shown.stdout
    chinese = CliRunner().invoke(
        cli, ["--lang", "zh", "health", "--rules", str(rules), "--store", store.location,
              "--now", later.isoformat()],
        env=WIDE,
    )  # fmt: skip
    assert "已 40 分钟没有轮询，迟了 25 分钟（每 5 分钟一次）" in chinese.stdout
    assert "停滞" in chinese.stderr


def test_max_age_stalls_a_run_once_whose_interval_is_not_known(
    store: Store, rules: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_once(store, rules, NOW).exit_code == 0
    a_day_later = NOW + dt.timedelta(days=1, hours=1)
    assert health(store, rules, a_day_later).exit_code == 0  # no interval: said healthy

    for limit in ("2h", "2 hours", "2小时", "两小时"):
        result = health(store, rules, a_day_later, "--max-age", limit, "--json")
        assert result.exit_code == 1, limit
        found = json.loads(result.stdout)
        assert found["max_age_seconds"] == 7200
        [only] = found["daemons"]
        assert (only["status"], only["late_seconds"]) == ("stalled", 23 * 3600)
    assert health(store, rules, a_day_later, "--max-age", "1d").exit_code == 1
    assert health(store, rules, a_day_later, "--max-age", "2天").exit_code == 0
    refused = health(store, rules, a_day_later, "--max-age", "0m")
    assert refused.exit_code == 2 and "'0m' is not an interval" in refused.output


def test_every_is_refused_without_once(store: Store, rules: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "--every", "5m", "--rules", str(rules), "--store", store.location]
    )
    assert result.exit_code == 2 and "--every is for --once" in result.output
