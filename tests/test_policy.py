"""Contact policy at plan time: consent, preferred channels, caps, quiet hours, capacity."""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.plan.followups import Followup, insert_followups
from guanxi.engine.plan.policy import PolicyReport, apply_policies
from guanxi.engine.plan.policy_messages import local_seconds_sql, offsets
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

pytestmark = pytest.mark.every_store  # load, classify, plan and policy on both stores

RULES = Path(__file__).parent.parent / "rules"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def at(day: str, time: str = "10:00") -> dt.datetime:
    """A local time in the project's zone (Asia/Shanghai)."""
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=SHANGHAI)


def customer(customer_id: str, **fields: Any) -> dict[str, Any]:
    """A customer who agreed to everything, unless `fields` says otherwise."""
    row = {
        "customer_id": customer_id,
        "name": f"客户 {customer_id}",
        "rm_id": "RM001",
        "preferred_channel": "sms",
        "consent_marketing": True,
        "consent_sms": True,
        "consent_email": True,
        "consent_app": True,
        "do_not_contact": False,
    }
    return {**row, **fields}


def followup(
    customer_id: str,
    due: dt.datetime,
    occurrence: str = "1",
    *,
    step: str = "news",
    kind: str = "message",
    channel: str = "sms",
    priority: int = 50,
    mandatory: bool = False,
    purpose: str = "marketing",
    owner: str | None = None,
    expires: dt.datetime | None = None,
) -> Followup:
    return Followup(
        customer_id=customer_id,
        step_id=step,
        level="proactive",
        kind=kind,
        channel=channel,
        template="product_news",
        priority=priority,
        mandatory=mandatory,
        purpose=purpose,
        owner=owner,
        occurrence=occurrence,
        due_at=due,
        expires_at=expires,
        ruleset_hash="test",
    )


def task(customer_id: str, due: dt.datetime, occurrence: str = "1", **fields: Any) -> Followup:
    fields = {"step": "call", "kind": "task", "channel": "rm_task", "owner": "RM001", **fields}
    return followup(customer_id, due, occurrence, **fields)


def plan(
    store: Store, ruleset: RuleSet, followups: Iterable[Followup], batch: str = "b1"
) -> PolicyReport:
    insert_followups(store, followups, batch, NOW)
    return apply_policies(store, ruleset, batch, NOW)


def rows(store: Store) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in store.execute("SELECT * FROM followups ORDER BY id")}


def decisions(store: Store, key: str) -> list[dict[str, Any]]:
    return store.execute(
        "SELECT d.status, d.policy, d.reason, d.at FROM followup_decisions d"
        " JOIN followups f ON f.id = d.followup_id WHERE f.key = :key ORDER BY d.id",
        {"key": key},
    )


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(SHANGHAI)


def ruleset_with(tmp_path: Path, old: str, new: str, file: str = "policies.yaml") -> RuleSet:
    """The default rules with one line of a file changed."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_ruleset(folder)


# Consent


def test_a_customer_without_sms_consent_gets_no_marketing_sms(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1", consent_sms=False)])
    report = plan(store, ruleset, [followup("C1", at("2026-12-07"))])

    row = rows(store)["news:C1:1"]
    assert (row["status"], row["policy"]) == ("suppressed", "channel_consent")
    assert row["reason"] == "no SMS consent (consent_sms)"
    [decision] = decisions(store, "news:C1:1")
    assert decision == {
        "status": "suppressed",
        "policy": "channel_consent",
        "reason": "no SMS consent (consent_sms)",
        "at": "2026-11-30T01:00:00Z",
    }
    assert report == PolicyReport(planned=1, suppressed={"channel_consent": 1})


def test_marketing_needs_marketing_consent_and_service_does_not(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1", consent_marketing=False)])
    plan(
        store,
        ruleset,
        [
            followup("C1", at("2026-12-07"), "m"),
            followup("C1", at("2026-12-07"), "s", purpose="service"),
            task("C1", at("2026-12-07"), "t"),
        ],
    )
    found = rows(store)
    assert found["news:C1:m"]["reason"] == "no marketing consent (consent_marketing)"
    assert found["news:C1:s"]["status"] == "pending"
    assert found["call:C1:t"]["policy"] == "marketing_consent"  # an RM's sales call is a contact


def test_missing_consent_and_unknown_customers_mean_no_consent(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1", consent_sms=None)])
    plan(
        store,
        ruleset,
        [
            followup("C1", at("2026-12-07")),
            followup("NOBODY", at("2026-12-07"), purpose="service"),
            task("NOBODY", at("2026-12-07"), purpose="service"),
        ],
    )
    found = rows(store)
    assert found["news:C1:1"]["policy"] == "channel_consent"
    assert found["news:NOBODY:1"]["policy"] == "channel_consent"
    assert found["call:NOBODY:1"]["status"] == "pending"


def test_do_not_contact_stops_everything_but_mandatory_steps(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1", do_not_contact=True, consent_marketing=False)])
    day = at("2026-12-07")
    plan(
        store,
        ruleset,
        [
            followup("C1", day, "marketing", channel="preferred"),
            followup("C1", day, "service", purpose="service"),
            followup("C1", day, "notice", purpose="service", mandatory=True),
            followup("C1", day, "mandatory-marketing", mandatory=True),
            task("C1", day, "call", purpose="service"),
            task("C1", day, "complaint", purpose="service", mandatory=True),
        ],
    )
    found = rows(store)
    dnc = "the customer asked not to be contacted (do_not_contact)"
    assert found["news:C1:marketing"]["reason"] == dnc
    assert found["news:C1:marketing"]["channel"] == "sms"  # resolved, though suppressed
    assert found["news:C1:service"]["reason"] == dnc
    assert found["call:C1:call"]["reason"] == dnc
    assert found["news:C1:notice"]["status"] == "pending"
    assert found["call:C1:complaint"]["status"] == "pending"
    assert found["news:C1:mandatory-marketing"]["policy"] == "marketing_consent"


def test_a_follow_up_due_after_it_expires_is_suppressed(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1")])
    late = task("C1", at("2026-12-07"), expires=at("2026-12-06"), purpose="service")
    report = plan(store, ruleset, [late])
    row = rows(store)["call:C1:1"]
    assert (row["status"], row["policy"]) == ("suppressed", "expiry")
    assert row["reason"] == "expired before it could be done: it is due after it expires"
    assert report.suppressed == {"expiry": 1}


# Preferred channel


@pytest.mark.parametrize(
    ("fields", "channel"),
    [
        ({}, "sms"),
        ({"preferred_channel": "email"}, "email"),
        ({"consent_sms": False}, "app"),  # the first fallback the customer agreed to
        ({"consent_sms": False, "consent_app": False}, "email"),
        ({"preferred_channel": None, "consent_app": False}, "sms"),
        ({"preferred_channel": "phone"}, "phone"),  # the call centre needs marketing consent
        ({"preferred_channel": "phone", "consent_marketing": False, "consent_app": False}, "sms"),
    ],
)
def test_preferred_channel_with_fallback(
    store: Store, ruleset: RuleSet, fields: dict[str, Any], channel: str
) -> None:
    store.upsert_customers([customer("C1", **fields)])
    plan(store, ruleset, [followup("C1", at("2026-12-07"), channel="preferred", purpose="service")])
    row = rows(store)["news:C1:1"]
    assert (row["status"], row["channel"]) == ("pending", channel)


def test_no_channel_the_customer_agreed_to_is_a_suppression(store: Store, ruleset: RuleSet) -> None:
    no = {"consent_sms": False, "consent_app": False, "consent_email": False}
    store.upsert_customers([customer("C1", **no)])
    plan(store, ruleset, [followup("C1", at("2026-12-07"), channel="preferred")])
    row = rows(store)["news:C1:1"]
    assert (row["status"], row["channel"], row["policy"]) == (
        "suppressed",
        "preferred",
        "preferred_channel",
    )
    assert row["reason"] == (
        "no message channel the customer consents to (preferred: sms; fallback: app, sms, email)"
    )


# Frequency caps


def test_when_a_cap_binds_higher_priority_wins(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1")])
    plan(
        store,
        ruleset,
        [
            followup("C1", at("2026-12-07"), "low", priority=10),
            followup("C1", at("2026-12-08"), "high", priority=90),
            followup("C1", at("2026-12-09"), "middle", priority=50),
            followup("C1", at("2026-12-09"), "notice", mandatory=True, purpose="service"),
        ],
    )
    found = rows(store)
    assert found["news:C1:low"]["status"] == "suppressed"
    assert found["news:C1:low"]["reason"] == "SMS cap 2 per 7 days reached"
    assert found["news:C1:low"]["policy"] == "frequency_cap"
    assert {found[f"news:C1:{o}"]["status"] for o in ("high", "middle", "notice")} == {"pending"}


def test_caps_count_earlier_batches_and_later_messages(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1")])
    plan(store, ruleset, [followup("C1", at("2026-12-10"), "sent-before")], batch="b0")
    store.execute("UPDATE followups SET status = 'sent'")
    report = plan(
        store,
        ruleset,
        [
            followup("C1", at("2026-12-06"), "early", priority=30),  # with 12-04 and 12-10
            followup("C1", at("2026-12-04"), "first", priority=80),
            followup("C1", at("2026-12-20"), "later", priority=20),
        ],
    )
    found = rows(store)
    assert found["news:C1:first"]["status"] == "pending"
    assert found["news:C1:early"]["status"] == "suppressed"
    assert found["news:C1:later"]["status"] == "pending"
    assert report.suppressed == {"frequency_cap": 1}


def test_the_cap_on_all_channels(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1")])
    days = ["2026-12-01", "2026-12-09", "2026-12-17", "2026-12-25", "2026-12-28"]
    plan(store, ruleset, [followup("C1", at(d), d, channel="email") for d in days])
    found = rows(store)
    assert [found[f"news:C1:{d}"]["status"] for d in days] == ["pending"] * 4 + ["suppressed"]
    assert found["news:C1:2026-12-28"]["reason"] == "message cap 4 per 30 days reached"


# Quiet hours


def test_quiet_hours_defer_and_spread_messages(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer(f"C{i}") for i in range(40)])
    late = [followup(f"C{i}", at("2026-12-06", "23:00")) for i in range(30)]
    early = [followup(f"C{i}", at("2026-12-07", "07:15")) for i in range(30, 40)]
    awake = [followup("C0", at("2026-12-07", "12:00"), "noon", purpose="service")]
    report = plan(store, ruleset, [*late, *early, *awake])

    found = rows(store)
    moved = [found[f.key] for f in late + early]
    assert {r["status"] for r in moved} == {"pending"}
    times = [local(r["due_at"]) for r in moved]
    assert all(at("2026-12-07", "08:30") <= t < at("2026-12-07", "09:30") for t in times)
    assert len(set(times)) > 20  # spread, not a burst at 08:30
    assert all(r["planned_due_at"] != r["due_at"] for r in moved)
    first = moved[0]
    assert first["reason"] == (
        f"quiet hours 21:00–08:30, moved to {local(first['due_at']):%Y-%m-%d %H:%M}"
    )
    assert decisions(store, late[0].key)[0]["status"] == "deferred"
    assert found["news:C0:noon"]["due_at"] == found["news:C0:noon"]["planned_due_at"]
    assert report.deferred == {"quiet_hours": 40}


def test_quiet_hours_are_the_same_for_the_same_key(tmp_path: Path, ruleset: RuleSet) -> None:
    due_times = []
    for name in ("one", "two"):
        opened = SQLiteStore(tmp_path / f"{name}.db")
        opened.prepare(ruleset.schema)
        opened.upsert_customers([customer("C1")])
        plan(opened, ruleset, [followup("C1", at("2026-12-06", "22:00"))], batch=name)
        due_times.append(rows(opened)["news:C1:1"]["due_at"])
        opened.close()
    assert due_times[0] == due_times[1]


def test_a_message_that_quiet_hours_would_send_after_it_expires(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1")])
    expires = at("2026-12-07", "08:00")
    plan(store, ruleset, [followup("C1", at("2026-12-06", "23:00"), expires=expires)])
    row = rows(store)["news:C1:1"]
    assert (row["status"], row["policy"]) == ("suppressed", "expiry")
    assert row["reason"].startswith("expired before it could be sent (quiet hours 21:00–08:30")
    assert row["reason"].endswith("it expires 2026-12-07 08:00)")


def test_tasks_ignore_quiet_hours(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("C1")])
    plan(store, ruleset, [task("C1", at("2026-12-07", "23:30"), purpose="service")])
    row = rows(store)["call:C1:1"]
    assert (row["status"], row["due_at"]) == ("pending", row["planned_due_at"])


# Relationship-manager capacity and business days


@pytest.fixture
def capacity_8(tmp_path: Path) -> RuleSet:
    return ruleset_with(tmp_path, "tasks_per_day: 25", "tasks_per_day: 8")


def test_a_manager_with_capacity_8_gets_8_and_the_rest_move_by_priority(
    store: Store, capacity_8: RuleSet
) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(20)])
    tasks = [
        task(f"C{i:02d}", at("2026-12-30"), priority=i + 1, purpose="service") for i in range(20)
    ]
    report = plan(store, capacity_8, tasks)

    by_day: dict[str, list[int]] = {}
    for row in rows(store).values():
        assert row["status"] == "pending"
        by_day.setdefault(local(row["due_at"]).strftime("%Y-%m-%d %H:%M"), []).append(
            row["priority"]
        )
    assert {day: sorted(p) for day, p in by_day.items()} == {
        "2026-12-30 10:00": list(range(13, 21)),
        "2026-12-31 10:00": list(range(5, 13)),
        "2027-01-04 10:00": list(range(1, 5)),  # New Year's Day and a weekend skipped
    }
    found = rows(store)
    assert found["call:C11:1"]["reason"] == "RM001 has 8 tasks on 2026-12-30, moved to 2026-12-31"
    assert found["call:C00:1"]["reason"] == (
        "RM001 has 8 tasks on 2026-12-30 and is fully booked until 2026-12-31, moved to 2027-01-04"
    )
    assert found["call:C00:1"]["planned_due_at"] == "2026-12-30T02:00:00Z"
    assert [d["policy"] for d in decisions(store, "call:C00:1")] == ["capacity"]
    assert report == PolicyReport(planned=20, deferred={"capacity": 12})


def test_tasks_of_a_holiday_week_fill_the_days_after_it_the_saturday_worked_among_them(
    store: Store, capacity_8: RuleSet
) -> None:
    """National Day 2026: 1-7 October off, Saturday 10 October worked (调休). The week's tasks
    wait for 8 October and the overflow takes the next business days, the Saturday too."""
    store.upsert_customers([customer(f"C{i:02d}") for i in range(20)])
    holidays = [f"2026-10-0{day}" for day in (1, 2, 3, 5, 6)]
    tasks = [
        task(f"C{i:02d}", at(holidays[i % 5]), priority=i + 1, purpose="service") for i in range(20)
    ]
    report = plan(store, capacity_8, tasks)
    days = Counter(local(r["due_at"]).date().isoformat() for r in rows(store).values())
    assert days == {"2026-10-08": 8, "2026-10-09": 8, "2026-10-10": 4}
    assert report.deferred == {"business_days": 8, "capacity": 12}


def test_capacity_counts_tasks_of_earlier_batches(store: Store, capacity_8: RuleSet) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(10)])
    service = {"purpose": "service"}
    earlier = [task(f"C{i:02d}", at("2026-12-30", "15:00"), "0", **service) for i in range(3)]
    plan(store, capacity_8, earlier, batch="b0")
    plan(store, capacity_8, [task(f"C{i:02d}", at("2026-12-30"), **service) for i in range(10)])
    days = Counter(local(r["due_at"]).date().isoformat() for r in rows(store).values())
    assert days == {"2026-12-30": 8, "2026-12-31": 5}


def test_a_task_suppressed_by_consent_takes_no_place(store: Store, capacity_8: RuleSet) -> None:
    """Ten calls on one day of a manager with room for 8, three of them for customers who
    asked not to be contacted: the seven left keep their day, and the three keep their reason."""
    store.upsert_customers([customer(f"C{i:02d}", do_not_contact=i < 3) for i in range(10)])
    tasks = [task(f"C{i:02d}", at("2026-12-30"), purpose="service") for i in range(10)]
    report = plan(store, capacity_8, tasks)
    found = rows(store)
    pending = [r for r in found.values() if r["status"] == "pending"]
    assert {local(r["due_at"]).date() for r in pending} == {dt.date(2026, 12, 30)}
    assert len(pending) == 7
    for key in ("call:C00:1", "call:C01:1", "call:C02:1"):
        assert (found[key]["status"], found[key]["policy"]) == ("suppressed", "do_not_contact")
        assert [d["policy"] for d in decisions(store, key)] == ["do_not_contact"]
    assert report.deferred == {}


def test_mandatory_tasks_keep_their_day(store: Store, capacity_8: RuleSet) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(10)])
    service = {"purpose": "service"}
    tasks = [task(f"C{i:02d}", at("2026-12-30"), priority=90, **service) for i in range(8)]
    tasks += [task(f"C{i:02d}", at("2026-12-30"), "m", mandatory=True, **service) for i in (8, 9)]
    plan(store, capacity_8, tasks)
    found = rows(store)
    assert local(found["call:C08:m"]["due_at"]).date() == dt.date(2026, 12, 30)
    assert local(found["call:C09:m"]["due_at"]).date() == dt.date(2026, 12, 30)
    days = Counter(local(r["due_at"]).date().isoformat() for r in found.values())
    assert days == {"2026-12-30": 8, "2026-12-31": 2}


def test_mandatory_tasks_of_a_holiday_push_routine_calls_planned_before_it_on(
    store: Store, capacity_8: RuleSet
) -> None:
    """Calls planned before National Day fill 8 October; the complaint call-backs of the
    holiday, mandatory, move there too and take the places of the lowest-ranked calls still
    pending, which move on. A task already sent stands; with none left to push on, the day
    goes over capacity and the call-back's reason says so."""
    store.upsert_customers([customer(f"C{i:02d}") for i in range(20)])
    service = {"purpose": "service"}
    before = [
        task(f"C{i:02d}", at("2026-10-08"), "0", priority=40 + i, **service) for i in range(8)
    ]
    plan(store, capacity_8, before, batch="b0")
    store.execute("UPDATE followups SET status = 'sent' WHERE key = 'call:C00:0'")
    callback = {"step": "callback", "mandatory": True, **service}
    report = plan(
        store, capacity_8, [task(f"C{i:02d}", at("2026-10-02"), **callback) for i in range(3)]
    )

    days = Counter(local(r["due_at"]).date().isoformat() for r in rows(store).values())
    assert days == {"2026-10-08": 8, "2026-10-09": 3}
    found = rows(store)
    assert {k for k, r in found.items() if local(r["due_at"]).day == 9} == {
        "call:C01:0", "call:C02:0", "call:C03:0"
    }  # fmt: skip
    assert found["call:C01:0"]["reason"] == (
        "RM001 has 8 tasks on 2026-10-08: a mandatory task took its place, moved to 2026-10-09"
    )
    assert report.deferred == {"business_days": 3, "capacity": 3}

    holiday = [task(f"C{i:02d}", at("2026-10-05"), "2", **callback) for i in range(10, 16)]
    plan(store, capacity_8, holiday, batch="b2")
    found = rows(store)
    on_8th = {k for k, r in found.items() if local(r["due_at"]).day == 8}
    assert on_8th == {"call:C00:0"} | {k for k in found if k.startswith("callback")}
    assert found["callback:C15:2"]["reason"] == (
        "2026-10-05 is not a business day; RM001 has 10 tasks on 2026-10-08: kept there as it"
        " is mandatory, moved to 2026-10-08"
    )
    assert [d["status"] for d in decisions(store, "callback:C15:2")] == ["over_capacity"]


def test_a_mandatory_task_over_capacity_on_its_own_day_says_so_once(
    store: Store, capacity_8: RuleSet
) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(9)])
    callback = {"step": "callback", "mandatory": True, "purpose": "service"}
    tasks = [task(f"C{i:02d}", at("2026-12-30"), **callback) for i in range(9)]
    report = plan(store, capacity_8, tasks)

    over = {k: r for k, r in rows(store).items() if r["policy"]}
    assert {k: r["reason"] for k, r in over.items()} == {
        "callback:C08:1": "RM001 has 9 tasks on 2026-12-30: kept there as it is mandatory"
    }
    assert over["callback:C08:1"]["due_at"] == "2026-12-30T02:00:00Z"
    assert report == PolicyReport(planned=9)
    apply_policies(store, capacity_8, "b1", NOW + dt.timedelta(hours=1))
    assert [d["status"] for d in decisions(store, "callback:C08:1")] == ["over_capacity"]


def test_two_planners_at_once_share_a_manager_s_day(store: Store, capacity_8: RuleSet) -> None:
    """Two processes plan tasks for one manager and day at the same time (the daemon and
    `guanxi events plan`): the second counts the first one's tasks once it has committed,
    rather than filling the day a second time."""
    store.upsert_customers([customer(f"C{i:02d}") for i in range(16)])
    second = [task(f"C{i:02d}", at("2026-12-30"), "b") for i in range(8, 16)]
    failures: list[BaseException] = []

    def plan_beside() -> None:
        other = PostgresStore(store.url) if isinstance(store, PostgresStore) else None
        other = other or SQLiteStore(cast(SQLiteStore, store).path)
        try:
            plan(other, capacity_8, second, batch="b2")
        except BaseException as error:
            failures.append(error)
        finally:
            other.close()

    planner = threading.Thread(target=plan_beside)
    with store.transaction():
        plan(store, capacity_8, [task(f"C{i:02d}", at("2026-12-30"), "a") for i in range(8)])
        planner.start()
        planner.join(timeout=1.5)  # the second planner's own count, had it not waited
    planner.join()
    assert failures == []
    days = Counter(local(r["due_at"]).date().isoformat() for r in rows(store).values())
    assert days == {"2026-12-30": 8, "2026-12-31": 8}


def test_tasks_move_off_holidays_but_not_off_make_up_working_days(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1")])
    service = {"purpose": "service"}
    plan(
        store,
        ruleset,
        [
            task("C1", at("2026-10-01"), "national-day", **service),
            task("C1", at("2026-10-10"), "make-up-saturday", **service),
            task("C1", at("2026-10-03"), "unassigned", owner=None, **service),
        ],
    )
    found = rows(store)
    moved = found["call:C1:national-day"]
    assert local(moved["due_at"]) == at("2026-10-08")
    assert (moved["policy"], moved["reason"]) == (
        "business_days",
        "2026-10-01 is not a business day, moved to 2026-10-08",
    )
    assert found["call:C1:make-up-saturday"]["due_at"] == "2026-10-10T02:00:00Z"
    assert local(found["call:C1:unassigned"]["due_at"]) == at("2026-10-08")


def test_unassigned_tasks_have_no_capacity(store: Store, capacity_8: RuleSet) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(12)])
    tasks = [task(f"C{i:02d}", at("2026-12-30"), owner=None, purpose="service") for i in range(12)]
    report = plan(store, capacity_8, tasks)
    assert {r["due_at"] for r in rows(store).values()} == {"2026-12-30T02:00:00Z"}
    assert report.deferred == {}


def test_a_task_moved_past_its_expiry_is_suppressed(store: Store, capacity_8: RuleSet) -> None:
    store.upsert_customers([customer(f"C{i:02d}") for i in range(9)])
    expires = at("2026-12-30", "18:00")
    tasks = [
        task(f"C{i:02d}", at("2026-12-30"), priority=50 + i, expires=expires, purpose="service")
        for i in range(9)
    ]
    report = plan(store, capacity_8, tasks)
    row = rows(store)["call:C00:1"]
    assert (row["status"], row["policy"]) == ("suppressed", "expiry")
    assert row["reason"] == (
        "expired before it could be done (RM001 has 8 tasks on 2026-12-30, moved to"
        " 2026-12-31; it expires 2026-12-30 18:00)"
    )
    assert report.suppressed == {"expiry": 1}


# The whole pass


def mixed_batch() -> tuple[list[dict[str, Any]], list[Followup]]:
    people = [
        customer("C1"),
        customer("C2", consent_sms=False),
        customer("C3", do_not_contact=True),
        customer("C4", preferred_channel="email", consent_email=False),
    ]
    followups = [
        followup(p["customer_id"], at(day, time), f"{day}-{time}", channel="preferred")
        for p in people
        for day in ("2026-12-05", "2026-12-06", "2026-12-07")
        for time in ("10:00", "23:00")
    ]
    followups += [task(f"C{i}", at("2026-12-05"), f"t{i}", purpose="service") for i in range(5)]
    return people, followups


def test_applying_the_policy_twice_changes_nothing(store: Store, capacity_8: RuleSet) -> None:
    people, followups = mixed_batch()
    store.upsert_customers(people)
    first = plan(store, capacity_8, followups)
    before, count = rows(store), store.execute("SELECT count(*) AS n FROM followup_decisions")
    second = apply_policies(store, capacity_8, "b1", NOW + dt.timedelta(hours=1))

    assert first.suppressed and first.deferred
    assert second == PolicyReport(planned=second.planned)
    assert rows(store) == before
    assert store.execute("SELECT count(*) AS n FROM followup_decisions") == count


def test_every_suppressed_or_deferred_follow_up_keeps_its_reason(
    store: Store, ruleset: RuleSet
) -> None:
    people, followups = mixed_batch()
    store.upsert_customers(people)
    report = plan(store, ruleset, followups)
    found = rows(store)
    assert len(found) == len(followups) == report.planned
    decided = {r["key"] for r in found.values() if r["policy"]}
    for key in decided:
        assert found[key]["reason"]
        assert decisions(store, key)
    assert sum(report.suppressed.values()) == sum(
        r["status"] == "suppressed" for r in found.values()
    )


def test_nothing_to_decide(store: Store, ruleset: RuleSet) -> None:
    assert apply_policies(store, ruleset, "empty", NOW) == PolicyReport()


# The local time of day in SQL, across a daylight-saving change


def test_local_seconds_across_daylight_saving(store: Store) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    first = dt.datetime(2027, 3, 27, tzinfo=dt.UTC)
    last = dt.datetime(2027, 3, 30, tzinfo=dt.UTC)
    changes = offsets(berlin, first, last)
    assert [offset for _, offset in changes] == [3600, 7200]
    sql = f"SELECT {local_seconds_sql(':due', changes, store.dialect)} AS s"
    moment = first
    while moment < last:
        [row] = store.execute(sql, {"due": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})
        seconds = row["s"]
        here = moment.astimezone(berlin)
        assert seconds == here.hour * 3600 + here.minute * 60
        moment += dt.timedelta(minutes=30)


# Invariants


TIMES = st.sampled_from(["03:00", "09:00", "10:00", "22:30"])
DAYS = st.integers(min_value=0, max_value=13)
MESSAGE = st.tuples(
    st.integers(0, 2), st.sampled_from(["sms", "email", "app", "preferred"]), DAYS, TIMES,
    st.integers(0, 100), st.booleans(),
)  # fmt: skip
TASK = st.tuples(st.integers(0, 2), st.integers(0, 4), TIMES, st.integers(0, 100))


@functools.cache
def default_rules() -> RuleSet:
    return load_ruleset(RULES)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    earlier=st.lists(MESSAGE, max_size=6),
    messages=st.lists(MESSAGE, max_size=25),
    tasks=st.lists(TASK, min_size=8, max_size=40),
)
def test_invariants(
    earlier: list[tuple[Any, ...]], messages: list[tuple[Any, ...]], tasks: list[tuple[Any, ...]]
) -> None:
    """No RM has more tasks a day than capacity, no window holds more messages than a cap,
    every decision is kept and a second pass changes nothing."""
    ruleset = default_rules()
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "guanxi.db")
        store.prepare(ruleset.schema)
        store.upsert_customers([customer(f"C{i}", rm_id=f"RM{i % 2}") for i in range(3)])
        plan(store, ruleset, _messages(earlier, "e"), batch="b0")
        store.execute("UPDATE followups SET status = 'sent' WHERE status = 'pending'")
        batch = [*_messages(messages, "m"), *_tasks(tasks)]
        report = plan(store, _small(ruleset), batch)
        _check_invariants(store, ruleset, report, len(batch))
        store.close()


def _small(ruleset: RuleSet) -> RuleSet:
    """The default rules with a capacity of 3 tasks a day."""
    assert ruleset.policies and ruleset.policies.capacity
    capacity = ruleset.policies.capacity.model_copy(update={"tasks_per_day": 3})
    policies = ruleset.policies.model_copy(update={"capacity": capacity})
    return RuleSet(**{**vars(ruleset), "policies": policies})


def _messages(spec: list[tuple[Any, ...]], tag: str) -> list[Followup]:
    start = dt.date(2026, 12, 1)
    return [
        followup(
            f"C{who}", at((start + dt.timedelta(days=day)).isoformat(), time), f"{tag}{n}",
            channel=channel, priority=priority, mandatory=mandatory, purpose="service",
        )
        for n, (who, channel, day, time, priority, mandatory) in enumerate(spec)
    ]  # fmt: skip


def _tasks(spec: list[tuple[Any, ...]]) -> list[Followup]:
    start = dt.date(2026, 12, 24)  # Thursday: a weekend follows
    return [
        task(
            f"C{who}", at((start + dt.timedelta(days=day)).isoformat(), time), f"t{n}",
            owner=f"RM{who % 2}", priority=priority, purpose="service",
        )
        for n, (who, day, time, priority) in enumerate(spec)
    ]  # fmt: skip


def _check_invariants(store: Store, ruleset: RuleSet, report: PolicyReport, total: int) -> None:
    found = rows(store)
    small = _small(ruleset)
    assert report.planned == total
    _check_capacity(found, 3, small)
    _check_caps(found)
    for row in found.values():
        if row["batch"] == "b1" and row["policy"]:
            assert row["reason"] and decisions(store, row["key"])
    again = apply_policies(store, small, "b1", NOW)
    assert (again.suppressed, again.deferred) == ({}, {})
    assert rows(store) == found


def _check_capacity(found: dict[str, dict[str, Any]], limit: int, ruleset: RuleSet) -> None:
    per_day = Counter(
        (r["owner"], local(r["due_at"]).date())
        for r in found.values()
        if r["kind"] == "task" and r["status"] == "pending"
    )
    assert max(per_day.values(), default=0) <= limit
    assert all(ruleset.calendar.is_business_day(day) for _, day in per_day)


def _check_caps(found: dict[str, dict[str, Any]]) -> None:
    counted = [
        r
        for r in found.values()
        if r["kind"] == "message" and not r["mandatory"] and r["status"] in ("pending", "sent")
    ]
    for channel, limit, days in (("sms", 2, 7), ("all", 4, 30)):
        for who in {r["customer_id"] for r in counted}:
            times = sorted(
                dt.datetime.fromisoformat(r["due_at"]).timestamp()
                for r in counted
                if r["customer_id"] == who and channel in ("all", r["channel"])
            )
            for end in times:
                start = end - days * 86_400
                assert bisect.bisect_right(times, end) - bisect.bisect_right(times, start) <= limit
