"""Recurring steps: exact keys and due times, level and `when:` filters, idempotency."""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import functools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.adapters.base import address_fields
from guanxi.adapters.recording import RecordingAdapter
from guanxi.engine import consent
from guanxi.engine.classify import classify
from guanxi.engine.daemon.tick import plan_ahead
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.errors import GuanxiError
from guanxi.engine.plan.followups import iso, new_batch
from guanxi.engine.plan.recurring import (
    MAX_OCCURRENCES,
    PlanReport,
    apply_policy,
    count_outcomes,
    insert_recurring,
    occurrences,
    period_label,
    plan_recurring,
    planned_until,
)
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from guanxi.engine.timing import Schedule, parse_schedule

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

RULES = Path(__file__).parent.parent / "rules"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
DECEMBER = (dt.datetime(2026, 11, 28, tzinfo=SHANGHAI), dt.datetime(2026, 12, 28, tzinfo=SHANGHAI))

EXTRA_STEPS = """
    - id: weekly_check
      every: week
      day: thu
      at: "09:30"
      after: 2 business days
      expires: 3 days
      do: task
      channel: rm_task
      template: joint_review
    - id: daily_digest
      every: day
      at: "08:00"
      unless: do_not_contact
      do: message
      channel: sms
      template: product_news
    - id: weekday_news
      every: "30 8 * * mon-fri"
      when: total_assets >= 1000000 AND tier <> 'dormant'
      do: message
      channel: email
      template: product_news
    - id: top_half_monthly
      every: month
      day: 1
      when: contribution_pct >= 0.5
      do: message
      channel: app
      template: product_news
"""


@functools.cache
def rules_with_more_steps() -> RuleSet:
    """The default rules plus weekly, daily, cron and measure-filtered steps for everyone."""
    with tempfile.TemporaryDirectory() as parent:
        folder = Path(parent) / "rules"
        shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
        playbooks = folder / "playbooks.yaml"
        playbooks.write_text(playbooks.read_text(encoding="utf-8") + EXTRA_STEPS, "utf-8")
        return load_ruleset(folder)


@pytest.fixture
def more_steps() -> RuleSet:
    return rules_with_more_steps()


def customer(
    store: Store,
    ruleset: RuleSet,
    customer_id: str,
    level: str | None,
    tier: str = "valuable",
    **fields: Any,
) -> None:
    """A customer with these fields; with a level, also an assignment (None: unclassified)."""
    row = {"customer_id": customer_id, "name": "客户" + customer_id, "rm_id": "RM7", **fields}
    store.upsert_customers([row])
    if level is None:
        return
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, :tier, :level, NULL, FALSE, 1, :h, :at)",
        {"c": customer_id, "tier": tier, "level": level, "h": ruleset.hash, "at": NOW.isoformat()},
    )


def plan(
    store: Store, ruleset: RuleSet, start: dt.datetime, end: dt.datetime, now: dt.datetime = NOW
) -> PlanReport:
    """Planning without the contact policy, so rows stay exactly as planned."""
    report = insert_recurring(store, ruleset, start, end, now, new_batch())
    count_outcomes(store, report)
    return report


def rows(store: Store, step: str | None = None) -> list[dict[str, Any]]:
    return store.execute(
        "SELECT key, customer_id, step_id, level, kind, channel, template, priority, mandatory,"
        " purpose, owner, occurrence, planned_due_at, due_at, expires_at, status, policy,"
        " reason, ruleset_hash FROM followups WHERE CAST(:step AS TEXT) IS NULL OR step_id = :step"
        " ORDER BY key",
        {"step": step},
    )


def keys(store: Store, step: str | None = None) -> list[str]:
    return [row["key"] for row in rows(store, step)]


def test_a_monthly_step_plans_each_matching_customer_once_on_the_fifth_at_ten(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "P1", "proactive", consent_marketing=True)
    customer(store, ruleset, "P2", "proactive", consent_marketing=False)
    customer(store, ruleset, "P3", "proactive")  # consent unknown (NULL): not planned
    customer(store, ruleset, "B1", "basic", consent_marketing=True)  # another level
    customer(store, ruleset, "U1", None, consent_marketing=True)  # never classified
    report = plan(store, ruleset, *DECEMBER)
    assert rows(store) == [
        {
            "key": "proactive_product_news:P1:2026-12",
            "customer_id": "P1",
            "step_id": "proactive_product_news",
            "level": "proactive",
            "kind": "message",
            "channel": "preferred",
            "template": "product_news",
            "priority": 20,
            "mandatory": 0,
            "purpose": "marketing",
            "owner": "RM7",
            "occurrence": "2026-12",
            "planned_due_at": "2026-12-05T02:00:00Z",  # 10:00 in Shanghai
            "due_at": "2026-12-05T02:00:00Z",
            "expires_at": "2026-12-07T02:00:00Z",  # a message may be 2 days late (policies.yaml)
            "status": "pending",
            "policy": None,
            "reason": None,
            "ruleset_hash": ruleset.hash,
        }
    ]
    steps = {s.step_id: s for s in report.steps}
    news, review = steps["proactive_product_news"], steps["partner_quarterly_review"]
    assert (news.step_id, news.occurrences, news.new, news.already_planned) == (
        "proactive_product_news",
        ["2026-12"],
        1,
        0,
    )
    assert news.outcomes == {"pending": 1}
    assert (review.step_id, review.occurrences, review.new) == ("partner_quarterly_review", [], 0)


def test_planning_the_same_window_again_plans_nothing_new(store: Store, ruleset: RuleSet) -> None:
    customer(store, ruleset, "P1", "proactive", consent_marketing=True)
    customer(store, ruleset, "P2", "proactive", consent_marketing=True)
    plan(store, ruleset, *DECEMBER)
    before = rows(store)
    again = plan(store, ruleset, *DECEMBER)
    assert rows(store) == before
    assert (again.new, again.steps[0].already_planned, again.steps[0].outcomes) == (0, 2, {})


def test_planning_again_after_a_customer_arrived_plans_the_newcomer_alone(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "P1", "proactive", consent_marketing=True)
    customer(store, ruleset, "P2", "proactive", consent_marketing=True, do_not_contact=True)
    first = plan_recurring(store, ruleset, *DECEMBER, NOW)
    before = rows(store)
    customer(store, ruleset, "P3", "proactive", consent_marketing=True, do_not_contact=True)
    again = plan_recurring(store, ruleset, *DECEMBER, NOW)
    assert (first.new, again.new, again.steps[0].already_planned) == (2, 1, 2)
    [newcomer] = [row for row in rows(store) if row["customer_id"] == "P3"]
    assert rows(store) == sorted([*before, newcomer], key=lambda row: row["key"])
    assert (newcomer["status"], newcomer["policy"]) == ("suppressed", "do_not_contact")
    assert again.steps[0].outcomes == {"suppressed (do_not_contact)": 1}


def test_a_quarterly_step_is_for_its_level_only_and_named_by_quarter(
    store: Store, ruleset: RuleSet
) -> None:
    customer(store, ruleset, "Q1", "partner", consent_marketing=True)
    customer(store, ruleset, "Q2", "proactive", consent_marketing=True)
    start = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    plan(store, ruleset, start, dt.datetime(2027, 5, 1, tzinfo=SHANGHAI))
    review = rows(store, "partner_quarterly_review")
    assert [(r["key"], r["due_at"], r["owner"]) for r in review] == [
        ("partner_quarterly_review:Q1:2027-Q1", "2027-01-10T02:00:00Z", "RM7"),
        ("partner_quarterly_review:Q1:2027-Q2", "2027-04-10T02:00:00Z", "RM7"),
    ]


def test_business_days_skip_national_day_and_count_a_make_up_saturday(
    store: Store, more_steps: RuleSet
) -> None:
    customer(store, more_steps, "W1", "basic")
    start = dt.datetime(2026, 9, 28, tzinfo=SHANGHAI)
    plan(store, more_steps, start, dt.datetime(2026, 10, 12, tzinfo=SHANGHAI), now=start)
    found = [(r["key"], r["due_at"], r["expires_at"]) for r in rows(store, "weekly_check")]
    assert found == [
        # Thu 1 Oct (National Day) + 2 business days: 8 and 9 Oct; 09:30 in Shanghai
        ("weekly_check:W1:2026-W40", "2026-10-09T01:30:00Z", "2026-10-12T01:30:00Z"),
        # Thu 8 Oct + 2 business days: Fri 9 and Sat 10 Oct (a make-up working day)
        ("weekly_check:W1:2026-W41", "2026-10-10T01:30:00Z", "2026-10-13T01:30:00Z"),
    ]


def test_daily_and_cron_steps_are_named_by_day_and_local_minute(
    store: Store, more_steps: RuleSet
) -> None:
    customer(store, more_steps, "R1", "basic", balance=900_000.0, wealth_balance=200_000.0)
    customer(store, more_steps, "R2", "basic", balance=900_000.0)  # assets below 1,000,000
    customer(store, more_steps, "R3", "basic", "dormant", balance=2_000_000.0)  # dormant
    start = dt.datetime(2026, 12, 4, tzinfo=SHANGHAI)  # Fri 4 to Mon 7 Dec 08:30 (excluded)
    plan(store, more_steps, start, dt.datetime(2026, 12, 7, 8, 30, tzinfo=SHANGHAI))
    assert [(r["key"], r["due_at"]) for r in rows(store, "weekday_news")] == [
        ("weekday_news:R1:2026-12-04T08:30", "2026-12-04T00:30:00Z"),
    ]
    assert keys(store, "daily_digest") == [
        f"daily_digest:{c}:2026-12-0{d}" for c in ("R1", "R2", "R3") for d in (4, 5, 6, 7)
    ]


def test_unless_keeps_the_follow_up_as_cancelled_with_the_reason(
    store: Store, more_steps: RuleSet
) -> None:
    customer(store, more_steps, "N1", "basic", do_not_contact=True)
    customer(store, more_steps, "N2", "basic", do_not_contact=False)
    customer(store, more_steps, "N3", "basic")  # unknown: NULL is not true, so not cancelled
    start = dt.datetime(2026, 12, 5, tzinfo=SHANGHAI)
    report = plan(store, more_steps, start, start + dt.timedelta(days=1))
    found = [(r["key"], r["status"], r["policy"], r["reason"]) for r in rows(store, "daily_digest")]
    assert found == [
        ("daily_digest:N1:2026-12-05", "cancelled", "unless", "unless: do_not_contact"),
        ("daily_digest:N2:2026-12-05", "pending", None, None),
        ("daily_digest:N3:2026-12-05", "pending", None, None),
    ]
    [digest] = [s for s in report.steps if s.step_id == "daily_digest"]
    assert digest.outcomes == {"cancelled (unless)": 1, "pending": 2}


def test_when_may_use_a_percentile_measure_of_the_whole_population(
    store: Store, more_steps: RuleSet
) -> None:
    for number, contribution in enumerate((100.0, 200.0, 300.0, 400.0, 500.0), start=1):
        level = None if number == 5 else "basic"  # the largest counts but is not planned
        customer(store, more_steps, f"T{number}", level, annual_contribution=contribution)
    start = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    plan(store, more_steps, start, start + dt.timedelta(hours=12))
    # percentiles 0, 0.25, 0.5, 0.75, 1: T3 and T4 are planned, T5 has no assignment
    assert keys(store, "top_half_monthly") == [
        "top_half_monthly:T3:2026-12",
        "top_half_monthly:T4:2026-12",
    ]


def test_classified_customers_are_planned_by_their_assigned_level(
    store: Store, ruleset: RuleSet
) -> None:
    for number in range(1, 21):
        customer(
            store,
            ruleset,
            f"K{number:02d}",
            None,
            consent_marketing=number % 2 == 0,
            balance=60_000.0 * number,
            monthly_txn_count=20,
            annual_contribution=900.0 * number,
            cost_to_serve=150.0,
            products_held=3,
            last_txn_date="2026-11-20",
        )
    classify(store, ruleset, NOW)
    expected = store.execute(
        "SELECT 'proactive_product_news:' || a.customer_id || ':2026-12' AS key"
        " FROM current_assignments a JOIN customers c ON c.customer_id = a.customer_id"
        " WHERE a.level = 'proactive' AND c.consent_marketing ORDER BY 1"
    )
    plan(store, ruleset, *DECEMBER)
    assert expected
    assert keys(store, "proactive_product_news") == [row["key"] for row in expected]


def test_each_call_records_its_window(store: Store, ruleset: RuleSet) -> None:
    assert planned_until(store, "proactive_product_news") is None
    plan(store, ruleset, *DECEMBER)
    plan(store, ruleset, DECEMBER[0] - dt.timedelta(days=30), DECEMBER[0])
    assert planned_until(store, "proactive_product_news") == DECEMBER[1]
    windows = store.execute(
        "SELECT step_id, window_start, window_end FROM recurring_windows ORDER BY id"
    )
    assert windows[:2] == [
        {
            "step_id": "proactive_product_news",
            "window_start": "2026-11-27T16:00:00Z",
            "window_end": "2026-12-27T16:00:00Z",
        },
        {
            "step_id": "proactive_check_in_call",
            "window_start": "2026-11-27T16:00:00Z",
            "window_end": "2026-12-27T16:00:00Z",
        },
    ]


def test_a_window_must_end_after_it_starts(store: Store, ruleset: RuleSet) -> None:
    start, end = DECEMBER
    with pytest.raises(GuanxiError, match="it must end after it starts"):
        plan(store, ruleset, end, start)
    with pytest.raises(ValueError, match="time zone"):
        plan(store, ruleset, start.replace(tzinfo=None), end)


def test_a_schedule_firing_too_often_for_the_window_is_refused() -> None:
    every_minute = Schedule("cron", "* * * * *")
    start = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI)
    found = occurrences("s", every_minute, SHANGHAI, start, start + dt.timedelta(minutes=3))
    assert [f"{m:%H:%M}" for m in found] == ["00:00", "00:01", "00:02"]
    with pytest.raises(GuanxiError, match=f"more than {MAX_OCCURRENCES} times"):
        occurrences("s", every_minute, SHANGHAI, start, start + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("weekdays", "fired"),
    [
        ("1-5", ["Fri", "Mon"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("6,0", ["Sat", "Sun"]),
        ("*/2", ["Sat", "Sun"]),
    ],
)
def test_numbered_cron_weekdays_mean_what_they_mean_in_cron(
    weekdays: str, fired: list[str]
) -> None:
    schedule = Schedule("cron", f"30 8 * * {weekdays}")
    start = dt.datetime(2026, 12, 4, tzinfo=SHANGHAI)  # a Friday
    found = occurrences("s", schedule, SHANGHAI, start, start + dt.timedelta(days=4))
    assert [f"{m:%a}" for m in found] == fired


@pytest.mark.parametrize("year", [2024, 2025])  # 29 February, then 28
def test_a_monthly_step_on_day_last_is_due_on_each_months_last_day_for_a_year(year: int) -> None:
    schedule = parse_schedule("month", "last", "10:00")
    start = dt.datetime(year, 1, 1, tzinfo=SHANGHAI)
    found = occurrences("s", schedule, SHANGHAI, start, start.replace(year=year + 1))
    assert [(m.month, m.day, f"{m:%H:%M}") for m in found] == [
        (month, calendar.monthrange(year, month)[1], "10:00") for month in range(1, 13)
    ]
    assert {period_label(schedule.period, m) for m in found} == {
        f"{year}-{month:02d}" for month in range(1, 13)
    }


def test_a_quarter_end_cron_expression_is_due_on_each_quarters_last_day() -> None:
    schedule = parse_schedule("0 10 last 3,6,9,12 *")
    start = dt.datetime(2026, 1, 1, tzinfo=SHANGHAI)
    found = occurrences("s", schedule, SHANGHAI, start, start.replace(year=2027))
    assert [f"{m:%m-%d}" for m in found] == ["03-31", "06-30", "09-30", "12-31"]


@pytest.mark.parametrize(
    ("period", "local", "label"),
    [
        ("month", dt.datetime(2026, 12, 5, 10), "2026-12"),
        ("quarter", dt.datetime(2026, 10, 10, 10), "2026-Q4"),
        ("quarter", dt.datetime(2027, 3, 31, 23), "2027-Q1"),
        ("week", dt.datetime(2026, 12, 3, 9), "2026-W49"),
        ("week", dt.datetime(2027, 1, 1, 9), "2026-W53"),  # ISO week of its Thursday
        ("day", dt.datetime(2026, 12, 5, 8), "2026-12-05"),
        ("cron", dt.datetime(2026, 12, 5, 8, 30), "2026-12-05T08:30"),
    ],
)
def test_period_labels(period: str, local: dt.datetime, label: str) -> None:
    assert period_label(period, local.replace(tzinfo=SHANGHAI)) == label


def test_plan_recurring_applies_the_contact_policy_to_its_batch(
    store: Store, ruleset: RuleSet
) -> None:
    customer(
        store,
        ruleset,
        "P1",
        "proactive",
        consent_marketing=True,
        consent_app=True,
        preferred_channel="app",
    )
    report = plan_recurring(store, ruleset, *DECEMBER, NOW)
    assert report.policy is not None
    [row] = store.execute("SELECT key, planned_due_at, batch FROM followups")
    assert (row["key"], row["planned_due_at"]) == (
        "proactive_product_news:P1:2026-12",
        "2026-12-05T02:00:00Z",
    )
    assert row["batch"] == report.batch
    assert sum(report.steps[0].outcomes.values()) == 1


# --- planning is idempotent: any overlapping windows give the same rows as their union ---

ORIGIN = dt.datetime(2026, 11, 30, tzinfo=SHANGHAI)
HOURS = 24 * 100
window = st.tuples(st.integers(0, HOURS), st.integers(24, 24 * 40)).map(
    lambda w: (w[0], w[0] + w[1])
)


def union(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@contextlib.contextmanager
def population(ruleset: RuleSet) -> Iterator[Store]:
    """A fresh store with a few customers of several levels (one per hypothesis example)."""
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "guanxi.db")
        store.prepare(ruleset.schema)
        for number, level in enumerate(("basic", "partner", "proactive", "proactive"), start=1):
            customer(
                store,
                ruleset,
                f"H{number}",
                level,
                consent_marketing=number != 4,
                do_not_contact=number == 2,
                balance=400_000.0 * number,
                annual_contribution=100.0 * number,
            )
        try:
            yield store
        finally:
            store.close()


@settings(max_examples=25, deadline=None)
@given(windows=st.lists(window, min_size=1, max_size=4))
def test_planning_overlapping_windows_gives_the_rows_of_planning_their_union_once(
    windows: list[tuple[int, int]],
) -> None:
    more_steps = rules_with_more_steps()

    def at(hours: int) -> dt.datetime:
        return ORIGIN + dt.timedelta(hours=hours)

    with population(more_steps) as piecewise, population(more_steps) as whole:
        for start, end in windows:
            plan(piecewise, more_steps, at(start), at(end))
        for start, end in union(windows):
            plan(whole, more_steps, at(start), at(end))
        assert rows(piecewise) == rows(whole)
        assert rows(whole)  # a window of a day or more holds a daily occurrence


# --- consent decided while inserting: the same as inserting pending rows, then the policy ---

CONSENT_STEPS = """
    - id: monthly_sms_offer
      every: month
      day: 3
      at: "11:00"
      do: message
      channel: sms
      template: product_news
    - id: monthly_notice
      every: month
      day: 4
      at: "11:00"
      do: message
      channel: preferred
      template: product_news
      mandatory: true
      purpose: service
    - id: monthly_own_channel
      every: month
      day: 6
      at: "11:00"
      do: message
      channel: preferred
      template: product_news
    - id: monthly_email_service
      every: month
      day: 7
      at: "11:00"
      do: message
      channel: email
      template: product_news
      purpose: service
    - id: monthly_rm_call
      every: month
      day: 8
      at: "11:00"
      unless: consent_sms
      do: task
      channel: rm_task
      template: joint_review
"""

LACKING = {  # customers lacking each kind of consent, and some with all of it
    "OK": {"consent_marketing": True, "consent_sms": True, "consent_email": True,
           "consent_app": True, "preferred_channel": "app"},
    "DNC": {"consent_marketing": True, "consent_sms": True, "consent_email": True,
            "do_not_contact": True, "preferred_channel": "sms"},
    "NOMKT": {"consent_marketing": False, "consent_sms": True, "consent_email": True,
              "preferred_channel": "email"},
    "NULLS": {},
    "NOCHAN": {"consent_marketing": True, "consent_sms": False, "consent_email": False,
               "consent_app": False, "preferred_channel": "app"},
    "FALLBACK": {"consent_marketing": True, "consent_email": True, "preferred_channel": "sms"},
    "NOSMS": {"consent_marketing": True, "consent_sms": False, "consent_email": True,
              "consent_app": True},
    "ALLNO": {"consent_marketing": False, "consent_sms": False, "consent_email": False,
              "consent_app": False, "do_not_contact": True},
}  # fmt: skip


@functools.cache
def rules_with_consent_steps() -> RuleSet:
    """The default rules plus monthly steps for everyone that each consent check stops."""
    with tempfile.TemporaryDirectory() as parent:
        folder = Path(parent) / "rules"
        shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
        playbooks = folder / "playbooks.yaml"
        extra = EXTRA_STEPS + CONSENT_STEPS
        playbooks.write_text(playbooks.read_text(encoding="utf-8") + extra, "utf-8")
        return load_ruleset(folder)


def planned_state(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    followups = store.execute("SELECT * FROM followups ORDER BY id")
    decisions = store.execute("SELECT * FROM followup_decisions ORDER BY id")
    return followups, decisions


def test_consent_decided_while_planning_gives_the_rows_and_decisions_of_the_policy_pass(
    tmp_path: Path,
) -> None:
    ruleset = rules_with_consent_steps()
    start, end = DECEMBER[0], DECEMBER[0] + dt.timedelta(days=45)
    results = []
    for decide in (True, False):
        store = SQLiteStore(tmp_path / f"decide-{decide}.db")
        try:
            store.prepare(ruleset.schema)
            for number, (name, fields) in enumerate(LACKING.items()):
                for level in ("basic", "passive", "proactive", "partner"):
                    customer(store, ruleset, f"{name}-{level}", level, **fields)
                    if number % 2:
                        store.execute(
                            "UPDATE customers SET rm_id = 'RM9' WHERE customer_id = :c",
                            {"c": f"{name}-{level}"},
                        )
            report = insert_recurring(store, ruleset, start, end, NOW, "b1", consent=decide)
            if decide:  # the verdicts are already there, before the policy runs
                suppressed = store.execute(
                    "SELECT COUNT(*) AS n FROM followups WHERE status = 'suppressed'"
                )
                assert suppressed[0]["n"] > 0
            apply_policy(store, ruleset, report, NOW)
            results.append((planned_state(store), report.to_dict()))
        finally:
            store.close()
    decided, passed = results
    assert decided == passed
    (followups, decisions), _ = decided
    reasons = {(row["policy"], row["reason"]) for row in followups if row["status"] == "suppressed"}
    policies = {policy for policy, _ in reasons}
    assert {"do_not_contact", "preferred_channel", "channel_consent", "marketing_consent"} <= (
        policies
    )
    assert any(row["status"] == "cancelled" for row in followups)
    assert len(decisions) >= len([row for row in followups if row["status"] == "suppressed"])


def test_each_follow_up_suppressed_while_planning_has_one_decision_across_calls(
    store: Store,
) -> None:
    """Consent refusals decided while inserting are kept as decisions, each once: for the rows
    of every occurrence of a call, and for a newcomer planned by a later call into a table
    already holding suppressed rows of the same occurrences."""
    ruleset = rules_with_consent_steps()
    start, end = DECEMBER[0], DECEMBER[0] + dt.timedelta(days=45)
    for name, fields in LACKING.items():
        customer(store, ruleset, name, "proactive", **fields)
    plan_recurring(store, ruleset, start, end, NOW)
    customer(store, ruleset, "LATE", "proactive", **LACKING["DNC"])
    later = NOW + dt.timedelta(hours=1)
    plan_recurring(store, ruleset, start, end, later)
    consent_policies = "('do_not_contact', 'preferred_channel', 'channel_consent',"
    consent_policies += " 'marketing_consent', 'expiry')"
    decided = store.execute(
        "SELECT f.id, f.customer_id, d.at, d.status, d.policy, d.reason FROM followup_decisions d"
        f" JOIN followups f ON f.id = d.followup_id WHERE d.policy IN {consent_policies}"
        " ORDER BY d.id"
    )
    suppressed = store.execute(
        "SELECT id, customer_id, created_at AS at, status, policy, reason FROM followups"
        f" WHERE status = 'suppressed' AND policy IN {consent_policies} ORDER BY id"
    )
    assert decided == suppressed
    late = [row for row in decided if row["customer_id"] == "LATE"]
    assert late and {(row["at"], row["policy"]) for row in late} == {(iso(later), "do_not_contact")}


# --- the same on random customers and consent ledgers, and planning again plans nothing ---

CHANNELS = ("sms", "email", "app", "phone")
maybe = st.none() | st.booleans()
random_customer = st.fixed_dictionaries(
    {
        "level": st.sampled_from(("basic", "passive", "proactive", "partner")),
        "consent_marketing": maybe,
        "consent_sms": maybe,
        "consent_email": maybe,
        "consent_app": maybe,
        "do_not_contact": maybe,
        "preferred_channel": st.none() | st.sampled_from((*CHANNELS, "counter")),
        "rm_id": st.none() | st.sampled_from(("RM1", "RM2")),
    }
)
random_record = st.tuples(
    st.integers(0, 5),  # whose
    st.sampled_from((*CHANNELS, consent.ALL)),
    st.sampled_from(tuple(consent.PURPOSES)),
    st.booleans(),
    st.integers(-2, 3),  # effective: days before NOW, or after (ties: the id decides)
)


def consent_population(
    store: Store, ruleset: RuleSet, customers: list[dict[str, Any]], records: list[Any]
) -> None:
    store.prepare(ruleset.schema)
    for number, fields in enumerate(customers):
        level, rm = fields["level"], fields["rm_id"]
        given = {k: v for k, v in fields.items() if k not in ("level", "rm_id") and v is not None}
        customer(store, ruleset, f"R{number}", level, **given)
        store.execute("UPDATE customers SET rm_id = :rm WHERE customer_id = :c",
                      {"rm": rm, "c": f"R{number}"})  # fmt: skip
    ledger = [
        consent.Record(f"R{whose % len(customers)}", channel, purpose, granted, "branch", None,
                       (NOW - dt.timedelta(days=days)).isoformat())
        for whose, channel, purpose, granted, days in records
    ]  # fmt: skip
    consent.append(store, ledger, NOW)


@settings(max_examples=15, deadline=None)
@given(
    customers=st.lists(random_customer, min_size=1, max_size=6),
    records=st.lists(random_record, max_size=12),
)
def test_consent_decided_while_planning_matches_the_policy_pass_on_random_ledgers(
    customers: list[dict[str, Any]], records: list[Any]
) -> None:
    ruleset = rules_with_consent_steps()
    start, end = DECEMBER[0], DECEMBER[0] + dt.timedelta(days=40)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for decide in (True, False):
            store = SQLiteStore(Path(folder) / f"decide-{decide}.db")
            try:
                with store.transaction():
                    consent_population(store, ruleset, customers, records)
                report = insert_recurring(store, ruleset, start, end, NOW, "b1", consent=decide)
                apply_policy(store, ruleset, report, NOW)
                results.append((planned_state(store), report.to_dict()))
                again = plan_recurring(store, ruleset, start, end, NOW)
                assert again.new == 0
                assert planned_state(store) == results[-1][0]  # planning again: nothing
            finally:
                store.close()
    decided, passed = results
    assert decided == passed


def test_a_daemon_back_after_weeks_down_plans_only_the_latest_due_occurrence(
    store: Store, more_steps: RuleSet
) -> None:
    """Planned a month ahead on 28 Nov, then down 40 days: back on 7 Jan (10:00 in Shanghai)
    it plans 7 Jan's digest and the coming month, not the eight days it missed, so the
    customer gets one digest that morning, not one for each of the days still within their
    2 days' bound on lateness."""
    daily = ["daily_digest"]
    customer(store, more_steps, "R1", "basic", phone="13800000001", consent_sms=True,
             consent_marketing=True)  # fmt: skip
    plan_ahead(store, more_steps, NOW, only=daily)
    assert keys(store, "daily_digest")[-1] == "daily_digest:R1:2026-12-29"
    back = NOW + dt.timedelta(days=40)
    new = plan_ahead(store, more_steps, back, only=daily)
    with RecordingAdapter(address_fields=address_fields(more_steps.policies)) as recording:
        dispatch_once(store, more_steps, {"sms": recording}, back)
    assert [m.key for m in recording.messages] == ["daily_digest:R1:2027-01-07"]
    assert new == 32  # 7 Jan to 7 Feb
    planned = keys(store, "daily_digest")
    assert planned[planned.index("daily_digest:R1:2026-12-29") + 1] == "daily_digest:R1:2027-01-07"


def test_a_window_reaching_back_reports_the_occurrences_it_missed(
    store: Store, more_steps: RuleSet
) -> None:
    customer(store, more_steps, "R1", "basic")
    start = dt.datetime(2026, 11, 25, tzinfo=SHANGHAI)  # NOW is 28 Nov, 10:00 in Shanghai
    report = plan_recurring(store, more_steps, start, DECEMBER[1], NOW, only=["daily_digest"])
    [digest] = report.steps
    assert digest.missed == ["2026-11-25", "2026-11-26", "2026-11-27"]
    assert digest.occurrences[:2] == ["2026-11-28", "2026-11-29"]
    assert report.to_dict()["steps"][0]["missed"] == digest.missed
