"""Staleness: every step has a bound on lateness, and history is not a to-do list.

A follow-up past its bound (`expires:`, or the default per kind in policies.yaml) is never
sent: it ends `expired`, a status of its own (`dead` stays for delivery that failed). Loading
past events records them, but plans nothing already past its bound, and says how many
events came too late for their steps.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.daemon.health import Metrics
from guanxi.engine.daemon.tick import TickReport
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.simulate.run import Counts
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from guanxi.engine.timing import Duration
from tests.daemon_helpers import invitation

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a Tuesday


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapters of a PostgreSQL store write their files into the working folder."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args])


def customer(store: Store, ruleset: RuleSet, customer_id: str, level: str) -> None:
    """A classified customer who consents to SMS, at `level`."""
    store.upsert_customers([{"customer_id": customer_id, "name": "客户" + customer_id,
                             "rm_id": "RM001", "phone": "13800000000", "consent_sms": True,
                             "preferred_channel": "sms"}])  # fmt: skip
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, 'growth', FALSE, 1, :h, :at)",
        {"c": customer_id, "level": level, "h": ruleset.hash, "at": NOW.isoformat()},
    )


def sales(customer_id: str, days: int, now: dt.datetime = NOW) -> list[dict[str, Any]]:
    """One sale a day for `customer_id`, the last `days` days before `now`."""
    return [
        {"id": f"{customer_id}-S{day}", "type": "sale", "customer_id": customer_id,
         "at": (now - dt.timedelta(days=day)).isoformat(), "product": "理财", "amount": 5e4}
        for day in range(1, days + 1)
    ]  # fmt: skip


def recorded(store: Store, events: list[dict[str, Any]]) -> None:
    """Insert events as a loader does: the fields beyond id, type, customer and time are the
    payload."""
    heads = ("id", "type", "customer_id", "at")
    store.insert_events(
        [{**{k: e[k] for k in heads}, "payload": {k: v for k, v in e.items() if k not in heads}}
         for e in events]
    )  # fmt: skip


def statuses(store: Store) -> dict[str, int]:
    rows = store.execute("SELECT status, count(*) AS n FROM followups GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


def step(ruleset: RuleSet, step_id: str) -> Any:
    return next(s for s in ruleset.steps if s.id == step_id)


# --- the bound on lateness ----------------------------------------------------------------


def test_a_step_without_expires_gets_the_policy_default_per_kind(
    store: Store, ruleset: RuleSet
) -> None:
    assert step(ruleset, "passive_invite_feedback").expires == Duration(2, "days")  # a message
    assert step(ruleset, "partner_welcome_visit").expires == Duration(10, "business_days")
    assert step(ruleset, "responsible_post_sale_call").expires == Duration(10, "days")  # its own
    customer(store, ruleset, "C1", "passive")
    recorded(store, sales("C1", 1))  # a sale yesterday at 10:00: invited today at 10:00
    plan_new_events(store, ruleset, NOW)
    [row] = store.execute("SELECT due_at, expires_at FROM followups")
    assert (row["due_at"], row["expires_at"]) == ("2026-12-01T02:00:00Z", "2026-12-03T02:00:00Z")


def test_the_default_bound_per_kind_is_read_from_policies_yaml(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path, "expires: {message: 6 hours, task: 3 business days}")
    ruleset = load_ruleset(rules)
    assert step(ruleset, "passive_invite_feedback").expires == Duration(6, "hours")
    assert step(ruleset, "partner_welcome_visit").expires == Duration(3, "business_days")


def test_a_bad_default_bound_is_a_diagnostic_with_its_place(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path, "expires: {message: 0 days, task: 3 fortnights}")
    found = validate_project(rules).diagnostics
    shown = sorted(f"{d.headline()} hint: {d.hint}" for d in found if d.severity == "error")
    assert len(shown) == 2, shown
    line = len((rules / "policies.yaml").read_text("utf-8").splitlines())
    assert all(f"policies.yaml:{line}:" in t and "error[invalid-duration]" in t for t in shown)
    assert any("lets no message be late at all" in text and "hint:" in text for text in shown)
    assert any("'fortnights' is not a unit of time" in text for text in shown)


def _rules_copy(tmp_path: Path, expires: str) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    policies = folder / "policies.yaml"
    text = policies.read_text("utf-8")
    start = text.index("\nexpires:")
    policies.write_text(text[:start] + "\n" + expires + "\n", "utf-8")
    return folder


# --- expired, a status of its own ---------------------------------------------------------


@pytest.mark.every_store
def test_a_followup_past_its_bound_is_expired_not_dead_in_run_list_and_report(
    store: Store,
) -> None:
    late = invitation("C1", "E1", NOW - dt.timedelta(days=3), expires_at=NOW - dt.timedelta(days=1))
    insert_followups(store, [late], "b1", NOW - dt.timedelta(days=3))
    args = ["--rules", str(RULES), "--store", store.location]
    ran = invoke("run", "--once", *args, "--now", NOW.isoformat(), "--json")
    assert ran.exit_code == 0, ran.output
    assert (json.loads(ran.stdout)["expired"], json.loads(ran.stdout)["dead"]) == (1, 0)
    assert statuses(store) == {"expired": 1}
    listed = invoke("followups", "list", "--status", "expired", *args, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["total"] == 1
    report = invoke("report", "--section", "followups", *args, "--json")
    assert report.exit_code == 0, report.output
    [row] = json.loads(report.stdout)["followups"]["statuses"]
    assert (row["status"], row["followups"]) == ("expired", 1)
    assert invoke("report", "--section", "followups", *args, "--csv", "out").exit_code == 0
    with open("out/followups_by_step.csv", encoding="utf-8-sig") as table:
        header, counts = list(csv.reader(table))
    assert dict(zip(header, counts, strict=True))["expired"] == "1"


def test_metrics_and_simulate_count_expired_apart_from_dead() -> None:
    metrics = Metrics(tick_every=1.0)
    metrics.tick_done(TickReport(expired=3, dead=1, too_old_events=2))
    exposition = metrics.exposition()
    assert "guanxi_followups_expired_total 3" in exposition
    assert "guanxi_followups_dead_total 1" in exposition
    assert "guanxi_events_too_old_total 2" in exposition
    counts = Counts()
    counts.add_tick(TickReport(expired=3, dead=1))
    assert (counts.expired, counts.dead) == (3, 1)


@pytest.mark.every_store
def test_a_followup_already_past_its_bound_when_planned_is_recorded_expired_never_pending(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "C1", "proactive")
    store.execute("UPDATE customers SET consent_marketing = TRUE")
    # November's news (due 5 Nov, 10:00; a message may be 2 days late) planned on 1 Dec
    month = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    report = plan_recurring(store, ruleset, *month, NOW, only=["proactive_product_news"])
    assert statuses(store) == {"expired": 1}
    assert report.policy is not None and report.policy.expired == 1
    [why] = store.execute("SELECT status, policy FROM followup_decisions")
    assert (why["status"], why["policy"]) == ("expired", "expiry")


# --- history is not a to-do list -----------------------------------------------------------


@pytest.mark.every_store
def test_a_year_of_backfilled_events_then_run_once_sends_nothing_stale(
    store: Store, ruleset: RuleSet
) -> None:
    for customer_id, level in (("C1", "passive"), ("C2", "responsible"), ("C3", "partner")):
        customer(store, ruleset, customer_id, level)
        recorded(store, sales(customer_id, 365))
    planned = plan_new_events(store, ruleset, NOW)
    assert planned.events == 3 * 365
    assert planned.too_old > 3 * 340  # all but the last days' and weeks' sales
    assert planned.planned == store.execute("SELECT count(*) AS n FROM followups")[0]["n"] < 40
    args = ["--rules", str(RULES), "--store", store.location, "--now", NOW.isoformat()]
    ran = invoke("run", "--once", *args, "--json")
    assert ran.exit_code == 0, ran.output
    stale = store.execute(
        "SELECT count(*) AS n FROM followups f JOIN deliveries d ON d.followup_id = f.id"
        " WHERE d.outcome = 'sent' AND (f.expires_at IS NULL OR f.expires_at <= :now)",
        {"now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    assert stale[0]["n"] == 0
    assert json.loads(ran.stdout)["sent"] > 0  # the recent sales are still followed up


@pytest.mark.every_store
def test_loading_past_events_says_how_many_were_too_old_to_act_on(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customer(store, ruleset, "C1", "passive")
    events = tmp_path / "events.jsonl"
    lines = [json.dumps(e, ensure_ascii=False) for e in sales("C1", 30)]
    events.write_text("\n".join(lines) + "\n", "utf-8")
    args = ["--rules", str(RULES), "--store", store.location, "--now", NOW.isoformat()]
    loaded = invoke("load", "events", str(events), *args)
    assert loaded.exit_code == 0, loaded.output
    # the invitation is due a day later at 10:00 and may be 2 days late: the sales of the
    # last two days are still followed up, the 28 before are too old
    assert "28 events came after the window of a step they trigger had closed" in loaded.stdout
    as_json = invoke("events", "plan", *args, "--json")
    assert json.loads(as_json.stdout)["too_old"] == 0  # planned once, not again
    explained = invoke("explain", "C1", "--rules", str(RULES), "--store", store.location)
    assert explained.exit_code == 0, explained.output
    assert "too old to act on for passive_invite_feedback" in explained.stdout
    assert "loaded after the step's window closed" in explained.stdout


# --- the scenario ------------------------------------------------------------------


def test_the_demo_history_then_run_once_at_dawn_sends_nothing_past_its_bound(
    tmp_path: Path,
) -> None:
    """README's "A day with guanxi" on the demo data: 180 days of events loaded, then
    `run --once` at 06:04 in Shanghai."""
    now = dt.datetime(2026, 12, 5, 6, 4, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    write_demo_data(tmp_path, 300, 7, now.date())
    db = str(tmp_path / "guanxi.db")
    args = ["--rules", str(RULES), "--store", db, "--now", now.isoformat()]
    loaded = invoke("load", "customers", "customers.csv", *args[:4])
    assert loaded.exit_code == 3, loaded.output  # the demo's bad rows are quarantined
    assert invoke("classify", *args).exit_code == 0
    loaded = invoke("load", "events", "events.jsonl", *args, "--json")
    planned = json.loads(loaded.stdout)["planned"]
    assert planned["too_old"] > 0
    ran = invoke("run", "--once", *args, "--json")
    assert ran.exit_code == 0, ran.output
    store = SQLiteStore(db)
    try:
        sent = store.execute(
            "SELECT f.due_at, f.expires_at FROM followups f JOIN deliveries d"
            " ON d.followup_id = f.id WHERE d.outcome = 'sent'"
        )
        counted = statuses(store)
        dead = store.execute("SELECT count(*) AS n FROM followups WHERE status = 'dead'")
    finally:
        store.close()
    moment = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sent and all(row["expires_at"] and row["expires_at"] > moment for row in sent)
    assert json.loads(ran.stdout)["expired"] == counted.get("expired", 0) - _planned_expired(
        planned
    )
    assert dead[0]["n"] == json.loads(ran.stdout)["dead"] == 0


def _planned_expired(planned: dict[str, Any]) -> int:
    return sum(int(p["expired"]) for p in planned["policy"])


@pytest.mark.every_store
def test_the_migration_turns_expired_dead_letters_into_expired(store: Store) -> None:
    late = invitation("C1", "E1", NOW - dt.timedelta(days=3), expires_at=NOW - dt.timedelta(days=1))
    failed = invitation("C1", "E2", NOW - dt.timedelta(days=3))
    insert_followups(store, [late, failed], "b1", NOW)
    store.execute(
        "UPDATE followups SET status = 'dead', reason = 'expired' WHERE occurrence = 'E1'"
    )
    store.execute(
        "UPDATE followups SET status = 'dead', reason = 'HTTP 400' WHERE occurrence = 'E2'"
    )
    _before_m012(store)
    assert "m012_expired_status" in store.migrate()
    rows = store.execute("SELECT occurrence, status FROM followups ORDER BY occurrence")
    assert [(r["occurrence"], r["status"]) for r in rows] == [("E1", "expired"), ("E2", "dead")]
    assert store.execute("SELECT too_old FROM events") == []  # the column is back


def _before_m012(store: Store) -> None:
    """The store as it was before m012: not applied, no events.too_old."""
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm012_expired_status'")
    store.execute("ALTER TABLE events DROP COLUMN too_old")
