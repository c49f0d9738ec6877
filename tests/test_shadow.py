"""Shadow runs: the daemon runs a candidate rule project beside the live one, on the same
customers, events and nights, and sends nothing for it.

The evidence of the issue: live rules with a shadow whose gold threshold is higher, driven
hour by hour for 7 days through the daemon's own jobs on a virtual clock, against
`simulate --baseline` on the same data and events: the shadow report names exactly the
customers the simulation names, both stores' ledgers hold exactly what the simulation's two
runs delivered, and nothing the shadow decided reaches a channel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon, dispatch_settings
from guanxi.engine.daemon.shadow import Shadow
from guanxi.engine.demo import run_demo
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.plan.transitions import TransitionPlanner
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.simulate import Request, simulate
from guanxi.engine.simulate.copy import copy_store
from guanxi.engine.simulate.feed import stage
from guanxi.engine.simulate.run import Window, daemon_jobs
from guanxi.engine.simulate.shadow import shadow_report
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import plan_due

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
FIRST = dt.date(2026, 11, 29)
DAYS = 7
SEED = 3


def project(folder: Path, shadow: str | None = None, gold: int = 5) -> Path:
    """A copy of the default rules with the gold threshold `gold` and, when given, `shadow:`."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    tiers = folder / "tiers.yaml"
    tiers.write_text(
        tiers.read_text("utf-8").replace("top_percent: 5", f"top_percent: {gold}"), "utf-8"
    )
    if shadow is not None:
        with (folder / "guanxi.yaml").open("a", encoding="utf-8") as settings:
            settings.write(f"\nshadow: {shadow}\n")
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, ruleset: RuleSet) -> Path:
    """A demo store (600 customers, half a year of events, classified and planned), the live
    project naming a shadow with gold at the top 10 % instead of 5 %."""
    folder = tmp_path_factory.mktemp("shadow")
    run_demo(folder / "demo", ruleset, 600, 1, NOW)
    project(folder / "live", shadow="../candidate")
    project(folder / "candidate", gold=10)
    return folder


@contextlib.contextmanager
def daemon_on(folder: Path, live: Path, clock: FixedClock) -> Iterator[Daemon]:
    store = SQLiteStore(live)
    rules = load_ruleset(folder)
    daemon = Daemon(folder, rules, store, clock, folder=live.parent, port=None)
    try:
        yield daemon
    finally:
        daemon.running.adapters.close()
        if daemon.shadow is not None:
            daemon.shadow.close()
        store.close()


def drive(daemon: Daemon, clock: FixedClock, window: Window, history: SQLiteStore) -> None:
    """The daemon's jobs, as its scheduler fires them, hour by hour through `window`: the
    live and the shadow classification and recurring steps at their times, the events of each
    hour (drawn as `simulate --synthetic-events` draws them), a dispatch tick at its end."""
    shadow = daemon.shadow
    assert shadow is not None
    staging = SQLiteStore(history.location + ".events")
    feed = stage(staging, daemon.running.ruleset, window.start, window.days, None, (history, SEED))
    live_jobs = [(job, False) for job in daemon_jobs(daemon.running.ruleset, window)]
    shadow_jobs = [(job, True) for job in daemon_jobs(shadow.ruleset, window)]
    jobs = sorted(live_jobs + shadow_jobs, key=lambda j: j[0].order)
    assert daemon.lead()  # catches up: plans the recurring steps' coming month, both
    previous = None
    for moment in [window.start, *window.hours()]:
        while jobs and jobs[0][0].at <= moment:
            job, in_shadow = jobs.pop(0)
            clock.at = job.at
            if job.step is None:
                (daemon.shadow_classify if in_shadow else daemon.classify_now)()
            else:
                (daemon.shadow_plan_step if in_shadow else daemon.plan_step)(job.step)
        feed.into(daemon.store, previous, moment)
        clock.at = previous = moment
        daemon.dispatch_tick()
    staging.close()


def test_the_shadow_report_names_exactly_the_customers_simulate_baseline_names(
    world: Path, tmp_path: Path
) -> None:
    live_rules, candidate = load_ruleset(world / "live"), load_ruleset(world / "candidate")
    simulation = simulate(
        world / "demo" / "guanxi.db",
        candidate,
        Request(FIRST, DAYS, synthetic_seed=SEED),
        baseline=live_rules,
    )
    expected = simulation.comparison
    assert expected is not None and len(expected.affected) > 10

    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    window = Window(FIRST, DAYS, live_rules.calendar.zone)
    clock = FixedClock(window.start)
    with daemon_on(world / "live", live, clock) as daemon:
        history = SQLiteStore(tmp_path / "history.db")
        copy_store(live, Path(history.location))
        drive(daemon, clock, window, history)
        history.close()
        shadow = daemon.shadow
        assert shadow is not None and daemon.metrics.shadow == {
            "status": "ok",
            "ruleset": candidate.hash,
        }
        report = shadow_report(daemon.store, live_rules, shadow.store, shadow.ruleset, clock.at)
        found = report.comparison
        assert found.classified_differently == expected.classified_differently
        assert found.delivered_differently == expected.delivered_differently
        assert found.affected == expected.affected
        assert found.moves == expected.moves

        def sent(run: list) -> set[tuple[str, dt.date]]:  # type: ignore[type-arg]
            return {(d.key, d.day) for d in run}

        assert sent(found.baseline.deliveries) == sent(expected.baseline.deliveries)
        assert sent(found.rules.deliveries) == sent(expected.rules.deliveries)

        # nothing the shadow decided went anywhere: its ledger names only its own adapter,
        # and the keys only it sent are in no live ledger row nor any live task
        adapters = shadow.store.execute(
            "SELECT DISTINCT adapter FROM deliveries WHERE outcome = 'sent' AND at >= :start",
            {"start": iso(window.start)},
        )
        assert adapters == [{"adapter": "shadow"}]
        only_shadow = sent(found.rules.deliveries) - sent(found.baseline.deliveries)
        keys = {key for key, _ in only_shadow}
        assert keys
        live_keys = {r["key"] for r in daemon.store.execute("SELECT key FROM deliveries")}
        task_keys = {r["key"] for r in daemon.store.execute("SELECT key FROM tasks")}
        assert not keys & (live_keys | task_keys)
        assert not shadow.store.execute("SELECT 1 FROM tasks LIMIT 1")

    result = CliRunner().invoke(
        cli,
        ["shadow", "report", "--rules", str(world / "live"), "--store", str(live),
         "--now", clock.at.isoformat(), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["difference"]["classified_differently"] == found.classified_differently
    assert dt.datetime.fromisoformat(data["start"]) == window.start  # the same instant
    shown = CliRunner().invoke(
        cli,
        ["shadow", "report", "--rules", str(world / "live"), "--store", str(live),
         "--now", clock.at.isoformat(), "--sample", "2"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "What the shadow rules decide differently from the live rules" in shown.stdout
    assert f"{len(found.affected):,} customers affected" in shown.stdout


def test_a_shadow_catches_up_a_missed_classification_as_the_live_daemon_does(
    world: Path, tmp_path: Path
) -> None:
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    after_the_night = dt.datetime.combine(FIRST, dt.time(3), tzinfo=NOW.tzinfo)  # 02:00 missed
    with daemon_on(world / "live", live, FixedClock(after_the_night)) as daemon:
        assert daemon.lead() and daemon.shadow is not None
        for store in (daemon.store, daemon.shadow.store):
            [row] = store.execute("SELECT max(started_at) AS last FROM classification_runs")
            assert dt.datetime.fromisoformat(row["last"]) == after_the_night


def test_shadow_report_says_what_is_missing(world: Path, tmp_path: Path) -> None:
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)

    def report(rules: Path) -> str:
        result = CliRunner().invoke(
            cli, ["shadow", "report", "--rules", str(rules), "--store", str(live)]
        )
        assert result.exit_code == 1
        return result.output

    assert "add `shadow: DIR` to guanxi.yaml" in report(RULES)
    assert "no shadow run yet" in report(world / "live")


def test_a_broken_shadow_never_stops_live_dispatch(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    store = SQLiteStore(live)
    due = {k for k in plan_due(store, 3, now - dt.timedelta(minutes=1)) if k.endswith(":E1")}
    store.close()

    def broken(self: Shadow, now: dt.datetime) -> None:
        raise RuntimeError("the shadow store is gone")

    monkeypatch.setattr(Shadow, "tick", broken)
    clock = FixedClock(now)
    with daemon_on(world / "live", live, clock) as daemon:
        report = daemon.dispatch_tick()
        sent = {r["key"] for r in daemon.store.execute(
            "SELECT key FROM deliveries WHERE outcome = 'sent' AND at >= :now", {"now": iso(now)}
        )}  # fmt: skip
        assert len(due) == 3 and due <= sent and report.sent >= len(due)
        healthy, body = daemon.metrics.health()
        assert healthy and body["shadow"]["status"] == "failing"
        assert "the shadow store is gone" in body["shadow"]["error"]


def test_an_invalid_shadow_project_is_reported_and_the_live_rules_run(
    world: Path, tmp_path: Path
) -> None:
    live_project = project(tmp_path / "live", shadow="../broken")
    broken = project(tmp_path / "broken")
    (broken / "tiers.yaml").write_text("tiers: [", "utf-8")
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    with daemon_on(live_project, live, FixedClock(NOW)) as daemon:
        assert daemon.shadow is None
        assert daemon.metrics.shadow is not None
        assert daemon.metrics.shadow["status"] == "failing"
        assert "guanxi validate" in daemon.metrics.shadow["error"]
        daemon.dispatch_tick()
    assert not (tmp_path / "guanxi.db.shadow.db").exists()


def test_the_shadow_takes_what_the_live_store_receives_even_under_one_stamp(
    world: Path, tmp_path: Path
) -> None:
    live_path = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live_path)
    live, ruleset = SQLiteStore(live_path), load_ruleset(world / "live")
    shadow = Shadow.start(world / "candidate", live, ruleset.schema, NOW, dispatch_settings)
    stamp = "2026-11-30T01:00:00+00:00"

    def load(customer: str, event: str) -> None:  # one transaction of a long load
        live.upsert_customers([{"customer_id": customer, "name": "新客户", "_loaded_at": stamp}])
        live.insert_events(
            [
                {
                    "id": event,
                    "type": "sale",
                    "customer_id": customer,
                    "at": stamp,
                    "loaded_at": stamp,
                }
            ]
        )

    def taken() -> tuple[set[str], set[str]]:
        customers = shadow.store.execute("SELECT customer_id FROM customers WHERE name = '新客户'")
        events = shadow.store.execute("SELECT id FROM events WHERE loaded_at = :s", {"s": stamp})
        return {r["customer_id"] for r in customers}, {r["id"] for r in events}

    load("N1", "E-N1")
    shadow.sync()
    assert taken() == ({"N1"}, {"E-N1"})
    load("N2", "E-N2")  # committed later under the same stamp
    shadow.sync()
    assert taken() == ({"N1", "N2"}, {"E-N1", "E-N2"})
    live.execute("UPDATE customers SET name = 'changed' WHERE customer_id = 'N1'")
    shadow.sync()  # nothing newer nor more under the stamp: not read again
    assert taken() == ({"N1", "N2"}, {"E-N1", "E-N2"})
    assert shadow.store.execute("SELECT 1 FROM deliveries WHERE at >= :s", {"s": stamp}) == []
    shadow.close()
    live.close()
    assert ruleset.settings.shadow == "../candidate"


def test_a_shadow_on_postgresql_decides_in_its_own_schema_and_sends_nothing(
    postgres_url: str, tmp_path: Path, ruleset: RuleSet
) -> None:
    write_demo_data(tmp_path, 300, 1, NOW.date())
    live = PostgresStore(postgres_url)
    load_customers(live, ruleset, tmp_path / "customers.csv", NOW)
    classify(live, ruleset, NOW, after=TransitionPlanner(live, ruleset, NOW))
    load_events(live, ruleset, tmp_path / "events.jsonl", NOW)
    plan_new_events(live, ruleset, NOW)
    live.close()
    live_project = project(tmp_path / "live", shadow="../candidate")
    project(tmp_path / "candidate", gold=10)
    night = dt.datetime.combine(FIRST, dt.time(2), tzinfo=NOW.tzinfo)
    clock = FixedClock(night - dt.timedelta(hours=1))
    store = PostgresStore(postgres_url)
    daemon = Daemon(live_project, load_ruleset(live_project), store, clock, folder=tmp_path)
    shadow = daemon.shadow
    try:
        assert shadow is not None and daemon.lead()
        assert shadow.store.execute("SELECT current_schema() AS s")[0]["s"].endswith("_shadow")
        late = dict(store.execute("SELECT * FROM customers LIMIT 1")[0])
        late.update(customer_id="LATE1", _loaded_at=iso(night))
        store.upsert_customers([late])
        for day in range(3):  # the levels' hold waits for a few nights
            clock.at = night + dt.timedelta(days=day)
            daemon.classify_now()
            daemon.shadow_classify()
            for hours in (1, 8):
                clock.at = night + dt.timedelta(days=day, hours=hours)
                daemon.dispatch_tick()
        found = shadow_report(store, daemon.running.ruleset, shadow.store, shadow.ruleset, clock.at)
        comparison = found.comparison
        assert comparison.classified_differently
        assert {"gold"} <= {what for what, _, _ in comparison.moves}
        assert shadow.store.execute("SELECT 1 FROM customers WHERE customer_id = 'LATE1'")
        sent = shadow.store.execute(
            "SELECT DISTINCT adapter FROM deliveries WHERE outcome = 'sent' AND at >= :start",
            {"start": iso(found.started)},
        )
        assert sent == [{"adapter": "shadow"}]
        planned = "SELECT key FROM followups"
        only_shadow = {r["key"] for r in shadow.store.execute(planned)} - {
            r["key"] for r in store.execute(planned)
        }
        live_keys = {r["key"] for r in store.execute("SELECT key FROM deliveries")}
        assert only_shadow and not only_shadow & live_keys, comparison.moves
    finally:
        daemon.leadership.release()
        daemon.running.adapters.close()
        if shadow is not None:
            schema = shadow.store.execute("SELECT current_schema() AS s")[0]["s"]
            shadow.close()
            store.execute(f'DROP SCHEMA "{schema}" CASCADE')
        store.close()


def test_run_once_ticks_the_shadow_too_and_a_broken_one_leaves_the_live_tick_done(
    world: Path, tmp_path: Path
) -> None:
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    broken = project(tmp_path / "live", shadow="../broken")

    def once(rules: Path) -> dict[str, Any]:
        result = CliRunner().invoke(
            cli,
            ["run", "--once", "--rules", str(rules), "--store", str(live),
             "--now", "2026-12-01T10:00:00+08:00", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    failed = once(broken)  # no such folder: the live tick runs all the same
    assert failed["sent"] > 0 and failed["shadow"]["status"] == "failing"
    assert "broken is not a folder" in failed["shadow"]["error"]
    assert not (tmp_path / "guanxi.db.shadow.db").exists()

    fresh = tmp_path / "fresh.db"
    copy_store(world / "demo" / "guanxi.db", fresh)
    live.unlink()
    fresh.rename(live)
    done = once(world / "live")  # the shadow starts from the store as it was before the tick
    assert done["shadow"]["status"] == "ok" and done["shadow"]["would_send"] == done["sent"]
    shadow = SQLiteStore(tmp_path / "guanxi.db.shadow.db")
    adapters = shadow.execute(
        "SELECT DISTINCT adapter FROM deliveries WHERE outcome = 'sent'"
        " AND at >= '2026-12-01T02:00:00Z'"
    )
    shadow.close()
    assert adapters == [{"adapter": "shadow"}]


def test_run_once_under_releases_finds_the_shadow_beside_the_project(
    world: Path, tmp_path: Path
) -> None:
    """`shadow:` is relative to the project folder, not to the folder the live release's
    files are written to (.guanxi-releases/HASH/), as the long-running daemon reads it."""
    live = tmp_path / "guanxi.db"
    copy_store(world / "demo" / "guanxi.db", live)
    rules = project(tmp_path / "live", shadow="../candidate")
    with (rules / "guanxi.yaml").open("a", encoding="utf-8") as settings:
        settings.write("rules:\n  mode: releases\n")
    project(tmp_path / "candidate", gold=10)
    steps = (
        ("li.na", "propose", str(rules)),
        ("wang", "approve", "1", "--yes", "--rules", str(rules)),
    )
    for actor, *args in steps:
        released = CliRunner(env={"GUANXI_ACTOR": actor}).invoke(
            cli, ["release", *args, "--store", str(live)]
        )
        assert released.exit_code == 0, released.output
    result = CliRunner().invoke(
        cli,
        ["run", "--once", "--rules", str(rules), "--store", str(live),
         "--now", "2026-12-01T10:00:00+08:00", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["shadow"]["status"] == "ok", result.stdout
