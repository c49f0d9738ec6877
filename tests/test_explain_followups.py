"""`explain` lists a customer's follow-ups, every policy decision about them, and their events."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from test_plan_events import customer, post

from guanxi.cli.main import cli
from guanxi.engine.classify.explain import explain
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.history import CustomerHistory, FollowupHistory, customer_history
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

RULES = Path(__file__).parent.parent / "rules"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
DECEMBER = (dt.datetime(2026, 11, 28, tzinfo=SHANGHAI), dt.datetime(2026, 12, 28, tzinfo=SHANGHAI))
NO_SMS = {
    "preferred_channel": "sms",
    "consent_marketing": 1,
    "consent_sms": 0,
    "consent_app": 0,
    "consent_email": 0,
}
NO_REASON = (
    "no message channel the customer consents to (preferred: sms; fallback: app, sms, email)"
)


def shanghai(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def history(store: Store, ruleset: RuleSet, customer_id: str) -> CustomerHistory:
    found = explain(store, ruleset, customer_id, NOW).history
    assert found is not None
    return found


def only(found: CustomerHistory, step: str) -> FollowupHistory:
    [followup] = [f for f in found.followups if f.step_id == step]
    return followup


def capacity_of_one(ruleset: RuleSet) -> RuleSet:
    assert ruleset.policies and ruleset.policies.capacity
    capacity = ruleset.policies.capacity.model_copy(update={"tasks_per_day": 1})
    policies = ruleset.policies.model_copy(update={"capacity": capacity})
    return RuleSet(**{**vars(ruleset), "policies": policies})


def test_no_sms_consent_no_marketing_sms_and_explain_says_why(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "S1", "proactive", **NO_SMS)
    plan_recurring(store, ruleset, *DECEMBER, NOW)

    news = only(history(store, ruleset, "S1"), "proactive_product_news")
    assert (news.status, news.channel, news.step_channel) == (
        "suppressed",
        "preferred",
        "preferred",
    )
    assert (news.label, news.kind, news.purpose) == ("每月新产品资讯", "message", "marketing")
    assert (news.policy, news.reason) == ("preferred_channel", NO_REASON)
    assert news.due_at == shanghai("2026-12-05T10:00") and not news.moved
    assert [(d.at, d.status, d.policy, d.reason) for d in news.decisions] == [
        (shanghai("2026-11-28T10:00"), "suppressed", "preferred_channel", NO_REASON)
    ]
    assert not store.execute("SELECT key FROM followups WHERE channel = 'sms'")


def test_without_sms_consent_marketing_goes_by_an_agreed_channel(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customer(store, ruleset, "S2", "proactive", **{**NO_SMS, "consent_app": 1})
    plan_recurring(store, ruleset, *DECEMBER, NOW)

    news = only(history(store, ruleset, "S2"), "proactive_product_news")
    assert (news.status, news.channel, news.step_channel) == ("pending", "app", "preferred")
    assert news.decisions == ()
    store.close()
    where = ["--rules", str(RULES), "--store", store.location]
    result = invoke("explain", "S2", *where, "--now", "2026-11-28T10:00")
    assert (
        "  pending: proactive_product_news 每月新产品资讯 · message · app (step asks for preferred)"
        " · due 2026-12-05 10:00 · priority 20\n"
    ) in result.output


def test_a_task_moved_by_capacity_shows_both_due_times(store: Store, ruleset: RuleSet) -> None:
    small = capacity_of_one(ruleset)
    for n in (1, 2):
        customer(store, small, f"R{n}", "responsible")
        post(store, f"E{n}", "sale", f"R{n}", "2026-11-23T02:00:00+00:00", product="理财")
    plan_new_events(store, small, NOW)

    calls = [only(history(store, small, f"R{n}"), "responsible_post_sale_call") for n in (1, 2)]
    [moved] = [c for c in calls if c.moved]
    assert moved.planned_due_at == shanghai("2026-11-26T10:00")  # Mon + 3 business days
    assert moved.due_at == shanghai("2026-11-27T10:00")
    [decision] = moved.decisions
    assert (decision.status, decision.policy) == ("deferred", "capacity")
    assert decision.reason == "RM001 has 1 tasks on 2026-11-26, moved to 2026-11-27"


def test_newest_first_limited_with_a_count_of_the_rest(store: Store, ruleset: RuleSet) -> None:
    customer(store, ruleset, "P1", "proactive", consent_app=1, preferred_channel="app")
    for n in range(1, 4):
        post(store, f"E{n}", "sale", "P1", f"2026-11-0{n}T02:00:00+00:00", product="基金")
    plan_new_events(store, ruleset, dt.datetime(2026, 11, 3, 3, 0, tzinfo=dt.UTC))
    post(store, "E9", "sale", "P1", "2026-11-27T02:00:00+00:00")
    plan_new_events(store, ruleset, NOW)
    found = customer_history(store, ruleset, "P1", limit=2, events=3)

    assert [f.key for f in found.followups] == [
        "proactive_usage_tips:P1:E9",
        "proactive_post_sale_call:P1:E9",
    ]
    assert found.more_followups == 6
    assert [(e.id, e.type, e.planned) for e in found.events] == [
        ("E9", "sale", True),
        ("E3", "sale", True),
        ("E2", "sale", True),
    ]
    assert found.events[0].at == shanghai("2026-11-27T10:00")
    assert found.more_events == 1


def test_events_not_planned_yet(store: Store, ruleset: RuleSet) -> None:
    customer(store, ruleset, "P2", "passive")
    post(store, "E1", "sale", "P2", "2026-11-27T02:00:00+00:00")
    found = customer_history(store, ruleset, "P2")
    assert [(e.id, e.planned, e.planned_at) for e in found.events] == [("E1", False, None)]
    assert (found.followups, found.more_followups) == ((), 0)


def test_a_record_without_a_store_has_no_history(ruleset: RuleSet) -> None:
    assert explain({"balance": 10.0}, ruleset, "R1", NOW).history is None


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_explain_command_lists_the_suppression_and_its_reason(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customer(store, ruleset, "S1", "proactive", kind="personal", **NO_SMS)
    post(store, "E1", "login", "S1", "2026-11-27T01:30:00+00:00")
    plan_recurring(store, ruleset, *DECEMBER, NOW)
    store.close()
    where = ["--rules", str(RULES), "--store", store.location]
    result = invoke("explain", "S1", *where, "--now", "2026-11-28T10:00")
    assert result.exit_code == 0, result.output
    text = result.output
    # its monthly news, and as a growth customer the wealth-management message, both stopped
    assert "follow-ups: 2, newest first (times in Asia/Shanghai)" in text
    assert (
        "  suppressed: proactive_product_news 每月新产品资讯 · message · preferred"
        " · due 2026-12-05 10:00 · priority 20\n"
        f"      2026-11-28 10:00  suppressed by preferred_channel: {NO_REASON}\n"
    ) in text
    assert "events: 1, newest first\n  2026-11-27 09:30  login E1: not planned yet\n" in text

    data = json.loads(invoke("explain", "S1", *where, "--json").stdout)
    news = next(
        f for f in data["history"]["followups"] if f["key"].startswith("proactive_product_news")
    )
    assert {k: news[k] for k in ("key", "status", "channel", "policy", "moved")} == {
        "key": "proactive_product_news:S1:2026-12",
        "status": "suppressed",
        "channel": "preferred",
        "policy": "preferred_channel",
        "moved": False,
    }
    assert (news["due_at"], news["planned_due_at"]) == (
        "2026-12-05 10:00:00+08:00",
        "2026-12-05 10:00:00+08:00",
    )
    assert news["decisions"] == [
        {
            "at": "2026-11-28 10:00:00+08:00",
            "status": "suppressed",
            "policy": "preferred_channel",
            "reason": NO_REASON,
        }
    ]
    assert data["history"]["events"] == [
        {
            "id": "E1",
            "type": "login",
            "at": "2026-11-27 09:30:00+08:00",
            "planned_at": None,
            "plan_error": None,
            "too_old": None,
            "waiting": False,
            "waits_for_first_run": False,
            "planned": False,
        }
    ]
    assert (data["history"]["more_followups"], data["history"]["more_events"]) == (0, 0)


def test_explain_command_shows_a_task_moved_by_capacity(store: Store, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    policies = rules / "policies.yaml"
    text = policies.read_text(encoding="utf-8")
    assert "tasks_per_day: 25" in text
    policies.write_text(text.replace("tasks_per_day: 25", "tasks_per_day: 1"), encoding="utf-8")
    small = load_ruleset(rules)
    for n in (1, 2):
        customer(store, small, f"R{n}", "responsible")
        post(store, f"E{n}", "sale", f"R{n}", "2026-11-23T02:00:00+00:00")
    plan_new_events(store, small, NOW)
    [moved] = store.execute("SELECT customer_id FROM followups WHERE due_at <> planned_due_at")
    store.close()
    where = ["--rules", str(rules), "--store", store.location]
    result = invoke("explain", moved["customer_id"], *where, "--now", "2026-11-28T10:00")
    assert result.exit_code == 0, result.output
    assert (
        "  pending: responsible_post_sale_call 售后回访电话 · task · rm_task"
        " · due 2026-11-27 10:00, planned 2026-11-26 10:00 · priority 60\n"
        "      2026-11-28 10:00  deferred by capacity: RM001 has 1 tasks on 2026-11-26,"
        " moved to 2026-11-27\n"
    ) in result.output
    event = "E1" if moved["customer_id"] == "R1" else "E2"
    assert f"  2026-11-23 10:00  sale {event}: planned 2026-11-28 10:00\n" in result.output
