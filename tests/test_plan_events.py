"""The event path: events and profiles become follow-ups, exactly once, on business days."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_events
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store, open_store
from tests.daemon_helpers import post

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
# Events are planned soon after they happen: one planned after its steps' windows closed
# plans nothing (see test_staleness).
SEPT_29 = dt.datetime(2026, 9, 29, 8, 0, tzinfo=dt.UTC)
NOV_2 = dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC)
NOV_4 = dt.datetime(2026, 11, 4, 3, 0, tzinfo=dt.UTC)


def customer(store: Store, ruleset: RuleSet, customer_id: str, level: str, **fields: Any) -> None:
    store.upsert_customers(
        [
            {
                "customer_id": customer_id,
                "name": "客户" + customer_id,
                "rm_id": "RM001",
                "consent_sms": 1,
                **fields,
            }
        ]
    )
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, 'growth', FALSE, 1, :h, :at)",
        {"c": customer_id, "level": level, "h": ruleset.hash, "at": NOW.isoformat()},
    )


def followups(store: Store) -> list[dict[str, Any]]:
    return store.execute(
        "SELECT key, step_id, kind, channel, owner, due_at, expires_at, status, policy, reason"
        " FROM followups ORDER BY key"
    )


def test_a_sale_gives_a_responsible_customer_a_call_three_business_days_later(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "C1", "responsible")
    post(store, "E1", "sale", "C1", "2026-09-29T07:00:00+00:00", product="理财", amount=5e4)
    report = plan_new_events(store, ruleset, SEPT_29)
    assert (report.events, report.matched, report.planned) == (1, 1, 1)
    [call] = followups(store)
    assert call["key"] == "responsible_post_sale_call:C1:E1"
    assert (call["kind"], call["channel"], call["owner"]) == ("task", "rm_task", "RM001")
    # 29 Sep (Tue) + 3 business days skips National Day (1-7 Oct): 9 Oct, 10:00 in Shanghai
    assert call["due_at"] == "2026-10-09T02:00:00Z"
    assert call["expires_at"] == "2026-10-19T02:00:00Z"


def test_follow_ups_and_their_policy_verdicts_are_committed_together(
    store: Store, ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer(store, ruleset, "C1", "responsible")
    post(store, "E1", "sale", "C1", "2026-09-29T07:00:00+00:00", product="理财", amount=5e4)

    def crash(*args: Any) -> None:
        raise RuntimeError("the process died before the contact policy ran")

    with monkeypatch.context() as patched:
        patched.setattr("guanxi.engine.plan.events.apply_policies", crash)
        with pytest.raises(RuntimeError):
            plan_new_events(store, ruleset, SEPT_29)
    # nothing a dispatcher could send undecided, and the event is still to be planned
    assert followups(store) == []
    assert plan_new_events(store, ruleset, SEPT_29).planned == 1


def test_a_basic_customer_gets_nothing_and_a_complaint_is_answered_within_hours(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "C2", "basic")
    post(store, "E2", "sale", "C2", "2026-11-02T02:00:00+00:00", product="存款")
    post(store, "E3", "complaint", "C2", "2026-11-02T03:00:00+00:00", category="收费")
    plan_new_events(store, ruleset, NOV_2)
    [callback] = followups(store)
    assert callback["key"] == "complaint_callback:C2:E3"
    assert callback["due_at"] == "2026-11-02T05:00:00Z"


def test_replaying_events_plans_nothing_twice(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customer(store, ruleset, "C3", "proactive")
    lines = [
        {
            "id": f"E{i}",
            "type": "sale",
            "customer_id": "C3",
            "at": f"2026-11-0{i}T02:00:00+00:00",
            "product": "基金",
        }
        for i in range(2, 5)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    for _ in range(2):
        load_events(store, ruleset, path, NOV_4)
        plan_new_events(store, ruleset, NOV_4)
    store.execute("UPDATE events SET planned_at = NULL")  # as if a crash lost the marks
    again = plan_new_events(store, ruleset, NOV_4)
    assert (again.events, again.planned) == (3, 0)
    assert len(followups(store)) == 6  # two steps for each of three sales


def test_a_resolved_complaint_cancels_the_pending_call_back(store: Store, ruleset: RuleSet) -> None:
    customer(store, ruleset, "C4", "partner")
    post(store, "E5", "complaint", "C4", "2026-11-02T03:00:00+00:00", category="服务")
    post(store, "E6", "complaint_resolved", "C4", "2026-11-02T04:00:00+00:00", category="服务")
    report = plan_new_events(store, ruleset, NOV_2)
    assert report.cancelled == 1
    [callback] = followups(store)
    assert (callback["status"], callback["policy"]) == ("cancelled", "cancel_on")
    # in the bank's time zone (Asia/Shanghai), as staff read every time
    assert callback["reason"] == "complaint_resolved event E6 at 2026-11-02 12:00"
    decisions = store.execute("SELECT status, policy FROM followup_decisions")
    assert decisions == [{"status": "cancelled", "policy": "cancel_on"}]


def test_a_resolution_planned_before_its_complaint_arrives_cancels_the_call_back(
    store: Store, ruleset: RuleSet
) -> None:
    """Files loaded out of order: the resolution is stored and planned first, the complaint it
    resolves comes in a later file; an earlier resolution cancels nothing."""
    customer(store, ruleset, "C4", "partner")
    post(store, "E4", "complaint_resolved", "C4", "2026-10-01T04:00:00+00:00", category="服务")
    post(store, "E6", "complaint_resolved", "C4", "2026-11-02T04:00:00+00:00", category="服务")
    plan_new_events(store, ruleset, NOV_2)
    post(store, "E5", "complaint", "C4", "2026-11-02T03:00:00+00:00", category="服务")
    assert plan_new_events(store, ruleset, NOV_2).cancelled == 1
    [callback] = followups(store)
    assert (callback["status"], callback["policy"]) == ("cancelled", "cancel_on")
    assert callback["reason"] == "complaint_resolved event E6 at 2026-11-02 12:00"


def test_a_cancelled_call_back_names_the_event_in_chinese_in_local_time(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "C4", "partner")
    post(store, "E5", "complaint", "C4", "2026-11-01T15:00:00+00:00", category="服务")
    post(store, "E6", "complaint_resolved", "C4", "2026-11-01T16:30:00+00:00", category="服务")
    with language("zh"):
        plan_new_events(store, ruleset, NOV_2)
    [callback] = followups(store)
    assert callback["reason"] == "complaint_resolved 事件 E6（发生于 2026-11-02 00:30）"


def test_events_of_unknown_or_unclassified_customers_are_counted(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([{"customer_id": "C5", "name": "未分类"}])
    post(store, "E7", "sale", "C5", "2026-11-02T03:00:00+00:00")
    post(store, "E8", "sale", "NOBODY", "2026-11-02T03:00:00+00:00")
    report = plan_new_events(store, ruleset, NOW)  # the store was never classified: they wait
    assert (report.events, report.waiting, report.no_profile, report.planned) == (0, 2, 0, 0)
    store.execute(  # classified since, but a week and more after the sales: no more waiting
        "INSERT INTO classification_runs (ruleset_hash, engine, started_at) VALUES ('h', 'x', 'y')"
    )
    report = plan_new_events(store, ruleset, NOW)
    assert (report.events, report.waiting, report.no_profile, report.planned) == (2, 0, 2, 0)


def test_events_post_records_and_plans(tmp_path: Path, ruleset: RuleSet, store: Store) -> None:
    customer(store, ruleset, "C6", "responsible")
    store.close()
    runner = CliRunner()
    args = [
        "events",
        "post",
        "sale",
        "--customer",
        "C6",
        "--field",
        "product=理财",
        "--field",
        "amount=1,000",
        "--id",
        "P1",
        "--now",
        "2026-11-27T09:00:00",
        "--store",
        store.location,
        "--json",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["planned"] == 1
    assert report["created"][0]["due_at"] == "2026-12-02T02:00:00Z"  # Fri + 3 business days
    again = runner.invoke(cli, args)
    assert "event P1 was already recorded; nothing new planned" in again.stderr
    bad = runner.invoke(
        cli,
        [
            "events",
            "post",
            "sale",
            "--customer",
            "C6",
            "--field",
            "amount=lots",
            "--store",
            store.location,
        ],
    )
    assert bad.exit_code == 1
    assert "Error: the event was not recorded: amount:" in bad.stderr


def post_args(store: Store, event_id: str, *more: str) -> list[str]:
    return ["events", "post", "sale", "--id", event_id, "--store", store.location, *more]


def test_events_post_refuses_an_event_id_stored_with_other_content(
    store: Store, ruleset: RuleSet
) -> None:
    """As a load quarantines it: the stored event stays, and the error says what differs."""
    customer(store, ruleset, "C6", "responsible")
    store.close()
    runner = CliRunner()
    first = ["--customer", "C6", "--field", "amount=1000", "--at", "2026-11-27T09:00:00+08:00"]
    now = ["--now", "2026-11-27T10:00:00"]
    assert runner.invoke(cli, post_args(store, "P1", *first, *now)).exit_code == 0
    other = ["--customer", "C7", "--field", "amount=2000", "--at", "2026-11-27T09:00:00+08:00"]
    refused = runner.invoke(cli, post_args(store, "P1", *other, *now))
    assert refused.exit_code == 1
    assert (
        "Error: the event was not recorded: event id 'P1' is already stored with another"
        " customer_id ('C6', given 'C7'), amount (1000.0, given 2000.0): an event id names one"
        " event and a stored event is never changed; give this event an id of its own (--id)\n"
    ) in refused.stderr
    chinese = CliRunner(env={"GUANXI_LANG": "zh"}).invoke(cli, post_args(store, "P1", *other))
    assert chinese.exit_code == 1
    assert (
        "事件没有记录：事件 ID 'P1' 已经存有一个事件，"
        "但其 customer_id（已存 'C6'，这次给的是 'C7'）"
    ) in chinese.stderr
    again = runner.invoke(cli, post_args(store, "P1", *first, *now))
    assert again.exit_code == 0
    assert "event P1 was already recorded; nothing new planned" in again.stderr
    for later in ("10:00", "10:05"):  # without --at, the time of posting is no difference
        retried = runner.invoke(
            cli, post_args(store, "P2", *first[:4], "--now", f"2026-11-27T{later}")
        )
        assert retried.exit_code == 0, retried.output
    assert "event P2 was already recorded" in retried.stderr
    reopened = open_store(store.location)
    kept = reopened.execute("SELECT customer_id, payload FROM events ORDER BY id")
    reopened.close()
    assert [(r["customer_id"], json.loads(r["payload"])) for r in kept] == [
        ("C6", {"amount": 1000.0}),
        ("C6", {"amount": 1000.0}),
    ]
