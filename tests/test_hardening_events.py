"""One bad value never stops the bank's follow-ups: the event matcher takes every value the
store holds, an event that cannot be planned fails alone, and health tells when ticks fail."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import socket
import sqlite3
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.calendar import BusinessCalendar, CalendarRangeError
from guanxi.engine.clock import FixedClock
from guanxi.engine.daemon.daemon import Daemon
from guanxi.engine.daemon.delivery import build_adapters
from guanxi.engine.daemon.health import MAX_CONNECTIONS, HealthServer, Metrics
from guanxi.engine.daemon.tick import TickReport, tick
from guanxi.engine.events.durable_json import to_durable
from guanxi.engine.events.matcher import EventMatcher, attribute, fire, register
from guanxi.engine.language.to_python import compile_python
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.timing import Duration
from tests.daemon_helpers import plan_due, post, rules_copy

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a Tuesday


def customer(store: Store, ruleset: RuleSet, customer_id: str, level: str, **fields: Any) -> None:
    """A loaded customer, classified at `level`."""
    store.upsert_customers([{"customer_id": customer_id, "name": "客户" + customer_id, **fields}])
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, 'growth', FALSE, 1, :h, :at)",
        {"c": customer_id, "level": level, "h": ruleset.hash, "at": NOW.isoformat()},
    )


# --- the matcher takes every value the store holds --------------------------------------


@pytest.mark.every_store
def test_exponent_float_does_not_stop_event_planning(
    tmp_path: Path, store: Store, ruleset: RuleSet
) -> None:
    """value_ratio 3 / 60000 is 5e-05, which Python writes with an exponent and no decimal
    point: durable_rules refused the whole message, and no event was planned again."""
    customer(store, ruleset, "C1", "responsible", annual_contribution=3, cost_to_serve=60000)
    post(store, "E1", "complaint", "C1", (NOW - dt.timedelta(hours=3)).isoformat(), category="收费")
    adapters = build_adapters(ruleset, store, tmp_path)
    try:
        report = tick(store, ruleset, adapters, NOW, random.Random(1), recurring=False)
    finally:
        adapters.close()
    assert (report.planned_events, report.sent) == (1, 1)
    [row] = store.execute("SELECT step_id, status FROM followups")
    assert (row["step_id"], row["status"]) == ("complaint_callback", "sent")


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> EventMatcher:
    """The default rules with `when:` conditions that durable_rules tests natively (numbers,
    integers, strings, one field against another) and ones Python leaves decide (a date, an
    integer past 64 bits)."""
    project = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(RULES, project)
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text(encoding="utf-8")
    text = text.replace(
        "      on: sale\n      after: 3 business days",
        "      on: sale\n      when: event.amount >= 1000 AND (balance > 0.5 OR age < 40"
        " OR age >= 900000000000000)"
        " AND NOT event.product = '理财'\n      after: 3 business days",
    ).replace(
        "      on: complaint\n",
        "      on: complaint\n      when: balance >= loan_balance OR branch <> 'A'"
        " OR DAYS_SINCE(opened_on) < 100 OR event.severity = 999999999999999\n",
    )
    playbooks.write_text(text, encoding="utf-8")
    return EventMatcher(load_ruleset(project))


LOADABLE_NUMBERS = st.one_of(
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([5e-05, 1e16, 1e-320, 1e300, -1e16, 2**63, 2**63 - 1, -(2**63) - 1, 0.5]),
)
LOADABLE_TEXT = st.one_of(st.none(), st.text(), st.sampled_from(["A", "理财", "", "A\x00"]))
LOADABLE_DATES = st.one_of(st.none(), st.dates(), st.sampled_from([dt.date.min, dt.date.max]))
events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["sale", "complaint"]),
        "amount": LOADABLE_NUMBERS,
        "product": LOADABLE_TEXT,
        "severity": st.one_of(st.none(), st.integers()),
    }
)
profiles = st.fixed_dictionaries(
    {
        "level": st.sampled_from(["responsible", "partner"]),
        "balance": LOADABLE_NUMBERS,
        "loan_balance": LOADABLE_NUMBERS,
        "age": st.one_of(st.none(), st.integers(), st.sampled_from([2**63 - 1, 2**63, 2**64])),
        "branch": LOADABLE_TEXT,
        "opened_on": LOADABLE_DATES,
        "value_ratio": LOADABLE_NUMBERS,
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=events, profile=profiles, today=st.dates())
def test_every_value_the_store_accepts_passes_the_matcher_as_python_decides(
    matcher: EventMatcher, event: dict[str, Any], profile: dict[str, Any], today: dt.date
) -> None:
    fired = {s.id for s in matcher.match(event, profile, today)}
    record = matcher.record(event, profile)
    expected = {
        s.id
        for s in matcher.ruleset.steps
        if s.step.on == event["type"]
        and s.level in ("all", profile["level"])
        and (s.when is None or s.when.evaluate(record, today))
    }
    assert fired == expected


@pytest.mark.parametrize("age", [2**63 - 1, 2**63 - 2, 9_300_000_000_000_000_000, -(2**63)])
def test_a_literal_past_64_bits_is_compared_as_python_does(age: int) -> None:
    """durable_rules saturated 9300000000000000000 to 2**63 - 1, so it said
    9223372036854775807 >= 9300000000000000000. Rule files may not write such a literal (at
    most 10^15); the compiler keeps it out of durable_rules all the same."""
    fields = {"age": "integer"}
    tree = sqlglot.condition("age >= 9300000000000000000")
    compiled = to_durable(tree, fields, attribute)
    name = f"literal_{age}"
    register(name, {"rule": compiled.expression})
    leaves = {k: compile_python(v, fields, None)({"age": age}) for k, v in compiled.leaves.items()}
    fired = fire(name, {"age": age, **leaves}) == {"rule"}
    assert fired is (age >= 9300000000000000000)


# --- an event that cannot be planned fails alone -----------------------------------------


@pytest.mark.every_store
def test_an_event_due_past_the_calendar_fails_alone_with_its_reason(
    store: Store, ruleset: RuleSet
) -> None:
    """Three business days after 9999-12-31 overflowed Python's dates: the whole chunk failed,
    and every later tick failed on it again."""
    customer(store, ruleset, "C1", "responsible")
    post(store, "E1", "sale", "C1", "2026-11-30T01:00:00+00:00", product="理财", amount=5e4)
    post(store, "E2", "sale", "C1", "9999-12-31T20:00+08:00", product="理财", amount=5e4)
    post(store, "E3", "sale", "C1", "2026-11-30T02:00:00+00:00", product="基金", amount=1e3)
    report = plan_new_events(store, ruleset, NOW)
    assert (report.events, report.matched, report.planned, report.failed) == (3, 2, 2, 1)
    assert report.by_step == {"responsible_post_sale_call": 2}
    [failure] = report.failures
    assert failure["id"] == "E2"
    assert "3 business days after 9999-12-31T20:00:00+08:00" in failure["reason"]
    rows = store.execute("SELECT id, planned_at, plan_error FROM events ORDER BY id")
    assert [r["plan_error"] for r in rows] == [None, failure["reason"], None]
    assert all(r["planned_at"] for r in rows)
    assert {r["event_id"] for r in store.execute("SELECT event_id FROM followups")} == {"E1", "E3"}
    assert plan_new_events(store, ruleset, NOW).events == 0  # not tried again


@pytest.mark.every_store
def test_an_event_load_accepts_plans_no_follow_up_due_after_the_dates_load_accepts(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """2199-12-31 is the last date load accepts: its sale's call, 3 business days later, would
    be due in 2200, when nothing would act on it. The event fails alone with a reason that
    names the date to check; an event days earlier plans its call."""
    from guanxi.engine.ingest import load_events
    from tests.test_ingest import event, write

    customer(store, ruleset, "C1", "responsible")
    late = event("E2", at="2199-12-31T10:00:00+08:00", product="理财", amount=5e4)
    earlier = event("E1", at="2199-12-20T10:00:00+08:00", product="理财", amount=5e4)
    assert load_events(store, ruleset, write(tmp_path, "e.jsonl", earlier, late), NOW).loaded == 2
    report = plan_new_events(store, ruleset, NOW)
    assert (report.planned, report.failed) == (1, 1)
    assert report.failures == [{"id": "E2", "reason": (
        "step responsible_post_sale_call would be due on 2200-01-03, after 2199-12-31, the"
        " last date guanxi accepts: is the event's date 2199-12-31 mistyped? Correct it and"
        " load the event again under a new id")}]  # fmt: skip
    [planned] = store.execute("SELECT event_id, due_at FROM followups")
    assert (planned["event_id"], planned["due_at"][:10]) == ("E1", "2199-12-25")


def test_an_event_that_could_not_be_planned_is_shown_with_its_reason(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    """`events plan` and `explain` say which event could not be planned, and why."""
    from click.testing import CliRunner

    from guanxi.cli.main import cli
    from guanxi.engine.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "guanxi.db")
    store.prepare(ruleset.schema)
    customer(store, ruleset, "C1", "responsible")
    post(store, "E2", "sale", "C1", "9999-12-31T20:00+08:00", product="理财", amount=5e4)
    store.close()
    where = ["--rules", str(RULES), "--store", str(tmp_path / "guanxi.db")]
    now = ["--now", "2026-12-01T10:00"]
    planned = CliRunner().invoke(cli, ["events", "plan", *where, *now])
    assert planned.exit_code == 0, planned.output
    assert "events that could not be planned" in planned.output and "│ E2 " in planned.output
    explained = CliRunner().invoke(cli, ["explain", "C1", *where, *now])
    assert explained.exit_code == 0, explained.output
    assert "sale E2: could not be planned: 3 business days after" in explained.output


DURATIONS = st.builds(
    Duration,
    st.integers(0, 400),
    st.sampled_from(["business_days", "days", "weeks", "hours", "minutes"]),
)


@settings(deadline=None)
@given(
    day=st.one_of(st.dates(dt.date(9999, 1, 1)), st.dates(max_value=dt.date(1, 1, 10))),
    hour=st.integers(0, 23),
    after=st.one_of(st.none(), DURATIONS),
    at=st.one_of(st.none(), st.times()),
)
def test_the_business_calendar_never_overflows_at_the_ends_of_its_range(
    day: dt.date, hour: int, after: Duration | None, at: dt.time | None
) -> None:
    calendar = BusinessCalendar()
    start = dt.datetime.combine(day, dt.time(hour), tzinfo=calendar.zone)
    try:
        due = calendar.due(start, after, at)
    except CalendarRangeError as error:
        asked = f"{after} after {start.isoformat()}" if after else start.isoformat()
        assert str(error).startswith(f"{asked} falls outside the calendar")
    else:
        assert due.tzinfo is dt.UTC


# --- health tells when ticks fail; its server is bounded and quiet ------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.every_store
def test_a_tick_whose_planning_raises_turns_healthz_503_with_the_stage_and_error(
    tmp_path: Path, store: Store
) -> None:
    """Ticks failed on every run while /healthz said 200 "ok": it only looked at whether
    ticks started. What was already due is delivered all the same."""
    rules, outbox = rules_copy(tmp_path), tmp_path / "outbox.jsonl"
    daemon = Daemon(
        rules,
        load_ruleset(rules),
        store,
        FixedClock(NOW),
        folder=tmp_path,
        overrides={"outbox": {"path": str(outbox)}},
        port=None,
    )
    health = HealthServer(daemon.metrics, 0).start()
    url = f"http://127.0.0.1:{health.port}"
    plan_due(store, 1, NOW)
    store.execute("ALTER TABLE events RENAME TO events_elsewhere")  # the store breaks
    try:
        for _ in range(2):
            with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
                daemon.dispatch_tick()
        assert len(outbox.read_text("utf-8").splitlines()) == 1
        status, body = get(f"{url}/healthz")
        assert status == 503
        failure = json.loads(body)
        assert (failure["status"], failure["failed_stage"]) == ("failing", "plan_events")
        assert "events" in failure["error"] and failure["failed_ticks"] == 2
        metrics = get(f"{url}/metrics")[1]
        assert "\nguanxi_ticks_failed_total 2\n" in metrics
        assert "\nguanxi_followups_sent_total 1\n" in metrics  # delivered all the same
    finally:
        store.execute("ALTER TABLE events_elsewhere RENAME TO events")  # repaired
    daemon.dispatch_tick()
    assert get(f"{url}/healthz")[0] == 200
    health.stop()
    daemon.leadership.release()
    daemon.running.adapters.close()


def rst(port: int, request: bytes = b"") -> None:
    """Connect, maybe send a request, and reset the connection without reading."""
    connection = socket.create_connection(("127.0.0.1", port))
    if request:
        connection.sendall(request)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_a_client_that_disconnects_leaves_no_traceback_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    health = HealthServer(Metrics(1.0), 0).start()
    try:
        rst(health.port)
        rst(health.port, b"GET /metrics HTTP/1.1\r\nHost: guanxi\r\n\r\n")
        time.sleep(0.3)
        assert get(f"http://127.0.0.1:{health.port}/healthz")[0] == 200
    finally:
        health.stop()
    assert capfd.readouterr().err == ""


def test_the_health_server_stops_at_once() -> None:
    """A daemon stopped (or restarted by an operator) exits as soon as its health server
    stops: the serving thread notices within a fraction of its old half-second poll."""
    health = HealthServer(Metrics(1.0), 0).start()
    assert get(f"http://127.0.0.1:{health.port}/healthz")[0] == 200
    started = time.monotonic()
    health.stop()
    assert time.monotonic() - started < 0.3


def test_idle_connections_take_a_bounded_number_of_threads() -> None:
    health = HealthServer(Metrics(1.0), 0).start()
    idle = [socket.create_connection(("127.0.0.1", health.port)) for _ in range(30)]
    try:
        time.sleep(0.3)
        serving = [t for t in threading.enumerate() if t.name.startswith("guanxi-health")]
        assert 0 < len(serving) <= MAX_CONNECTIONS  # counted by name: other tests' threads too
    finally:
        for connection in idle:
            connection.close()
        health.stop()


def test_the_last_tick_metric_is_printed_at_full_precision() -> None:
    """`:g` printed 1.79642e+09: the last tick was known to ±5,000 seconds."""
    metrics = Metrics(1.0)
    metrics.tick_done(TickReport())
    line = next(
        line
        for line in metrics.exposition().splitlines()
        if line.startswith("guanxi_last_tick_timestamp_seconds ")
    )
    assert float(line.split()[1]) == metrics.health()[1]["last_tick"]


def test_events_that_could_not_be_planned_are_counted_in_the_metrics() -> None:
    metrics = Metrics(1.0)
    metrics.tick_done(TickReport(failed_events=2))
    assert "\nguanxi_events_failed_total 2\n" in metrics.exposition()
    assert metrics.health()[0]  # the event failed, not the tick
