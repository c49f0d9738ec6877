"""The relationship managers' task inbox: the rm_tasks adapter, `guanxi tasks list|done`, and
outcomes coming back as events that playbooks react to. Real stores, real dispatch: the
adapter's own cases on SQLite, the inbox through planning, dispatch and listing on both."""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.adapters.base import AdapterError, Message, PermanentError, RetryableError
from guanxi.adapters.registry import load_adapter
from guanxi.adapters.rm_tasks import RmTasksAdapter
from guanxi.cli.main import cli
from guanxi.engine.dispatch import dispatch_once
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from guanxi.engine.tasks import TaskError, close_task, list_tasks

RULES = Path(__file__).parent.parent / "rules"
CREATED = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
SALE_AT = "2026-11-02T10:00:00+08:00"  # a Monday
CALL_BODY = "请致电张三（C1），了解理财是否符合预期、有无缺陷与不足，并征求改进建议。"
CALL_DUE = "2026-11-05T02:00:00Z"  # three business days later, 10:00 in Shanghai
CALL = "responsible_post_sale_call:C1:E1"


def inbox(store: Store, *, clock: dt.datetime = CREATED) -> RmTasksAdapter:
    return RmTasksAdapter(store=store, clock=lambda: clock)


def message(
    key: str, owner: str | None = "RM001", due: str | None = CALL_DUE, **kw: Any
) -> Message:
    fields: dict[str, Any] = {
        "key": key,
        "customer_id": "C1",
        "step_id": key.split(":")[0],
        "kind": "task",
        "channel": "rm_task",
        "recipient": None,
        "subject": "售后回访：张三",
        "body": CALL_BODY,
        "metadata": {"owner": owner, "due_at": due},
    }
    return Message(**{**fields, **kw})


def tasks_in(store: Store) -> list[dict[str, Any]]:
    return store.execute("SELECT * FROM tasks ORDER BY created_at, key")


# --- the adapter -------------------------------------------------------------------------------


def test_a_message_becomes_one_open_task_for_its_owner(store: Store) -> None:
    adapter = inbox(store)
    receipt = adapter.send(message(CALL))
    assert (receipt.key, receipt.adapter, receipt.detail) == (CALL, "rm_tasks", "task created")
    [task] = tasks_in(store)
    assert task == {
        "key": CALL,
        "followup_id": None,  # no follow-up of that key in this store
        "customer_id": "C1",
        "step_id": "responsible_post_sale_call",
        "owner": "RM001",
        "title": "售后回访：张三",
        "body": CALL_BODY,
        "due_at": CALL_DUE,
        "created_at": "2026-11-01T08:00:00Z",
        "status": "open",
        "outcome": None,
        "note": None,
        "done_at": None,
    }


def test_sending_twice_leaves_one_task_even_from_a_new_adapter(tmp_path: Path) -> None:
    path = tmp_path / "guanxi.db"
    with load_adapter("rm_tasks", database=path, clock=lambda: CREATED) as first:
        assert first.send(message(CALL)).detail == "task created"
        assert first.send(message(CALL, subject="改过的标题")).detail == "already in the inbox"
    later = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    with RmTasksAdapter(database=path, clock=lambda: later) as reopened:
        assert reopened.send(message(CALL)).detail == "already in the inbox"
    with contextlib.closing(SQLiteStore(path)) as store:
        [task] = tasks_in(store)
    assert (task["title"], task["created_at"]) == ("售后回访：张三", "2026-11-01T08:00:00Z")


def test_due_times_are_stored_in_utc_and_a_task_without_subject_is_titled_by_its_body(
    store: Store,
) -> None:
    body = (
        "请与客户确认下季度的资金计划、授信额度使用情况、"
        + "续约安排与新的现金管理需求，并记录意见。"
    )
    inbox(store).send(message("a:C1:1", due="2026-11-05T10:00:00+08:00", subject=None, body=body))
    inbox(store).send(message("b:C1:1", due=None, owner=None))
    first, second = tasks_in(store)
    assert first["due_at"] == "2026-11-05T02:00:00Z"
    assert first["title"] == body[:39] + "…"
    assert (second["due_at"], second["owner"]) == (None, None)


def test_a_due_time_that_is_not_iso_is_permanent(store: Store) -> None:
    with pytest.raises(PermanentError, match="due time 'next Tuesday' is not ISO"):
        inbox(store).send(message(CALL, due="next Tuesday"))
    assert tasks_in(store) == []


def test_a_locked_database_is_retryable(store: Store) -> None:
    assert isinstance(store, SQLiteStore)
    store.execute("PRAGMA busy_timeout = 50")
    adapter = inbox(store)
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(RetryableError, match="rm_tasks: database is locked"):
            adapter.send(message(CALL))
        other.execute("ROLLBACK")
    assert adapter.send(message(CALL)).detail == "task created"
    assert len(tasks_in(store)) == 1


def test_what_retrying_cannot_fix_is_permanent(store: Store, tmp_path: Path) -> None:
    store.execute("DROP TABLE tasks")
    with pytest.raises(PermanentError, match="no such table: tasks"):
        inbox(store).send(message(CALL))
    closed = RmTasksAdapter(database=tmp_path / "other.db")
    closed.close()
    with pytest.raises(PermanentError, match="closed database"):
        closed.send(message(CALL))


def test_closing_the_adapter_leaves_the_daemons_store_open(store: Store) -> None:
    inbox(store).close()
    assert store.execute("SELECT count(*) AS n FROM tasks") == [{"n": 0}]


def test_the_adapter_needs_a_store_or_a_database_it_can_open(store: Store, tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="give either store= or database="):
        load_adapter("rm_tasks")
    with pytest.raises(AdapterError, match="give either store= or database="):
        load_adapter("rm_tasks", store=store, database=tmp_path / "x.db")
    missing = tmp_path / "no such folder" / "guanxi.db"
    with pytest.raises(AdapterError, match=r"cannot open the database .*no such folder"):
        load_adapter("rm_tasks", database=missing)


# --- through planning and dispatch ---------------------------------------------------------------


def classified(store: Store, ruleset: RuleSet, customer_id: str, rm_id: str, name: str) -> None:
    store.upsert_customers([{"customer_id": customer_id, "name": name, "rm_id": rm_id}])
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', 'responsible', 'growth', FALSE, 1,"
        " :h, '2026-11-01T00:00:00Z')",
        {"c": customer_id, "h": ruleset.hash},
    )


def sold(store: Store, ruleset: RuleSet, event_id: str, customer_id: str, at: str) -> None:
    store.insert_events(
        [
            {
                "id": event_id,
                "type": "sale",
                "customer_id": customer_id,
                "at": at,
                "payload": {"product": "理财", "amount": 50000},
            }
        ]
    )
    plan_new_events(store, ruleset, dt.datetime.fromisoformat(at))


def deliver(store: Store, ruleset: RuleSet, now: str) -> None:
    moment = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    report = dispatch_once(store, ruleset, {"rm_task": inbox(store, clock=moment)}, moment)
    assert report.dead == 0


@pytest.fixture
def call(store: Store, ruleset: RuleSet) -> Store:
    """张三 (RM001) bought a product; the post-sale call is in RM001's inbox."""
    classified(store, ruleset, "C1", "RM001", "张三")
    sold(store, ruleset, "E1", "C1", SALE_AT)
    deliver(store, ruleset, CALL_DUE)
    return store


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_dispatch_puts_the_planned_call_in_the_managers_inbox(call: Store) -> None:
    [task] = tasks_in(call)
    [followup] = call.execute(
        "SELECT id, status, due_at FROM followups WHERE key = :k", {"k": CALL}
    )
    assert (followup["status"], followup["due_at"]) == ("sent", CALL_DUE)
    assert (task["key"], task["followup_id"], task["owner"]) == (CALL, followup["id"], "RM001")
    assert (task["title"], task["due_at"]) == ("售后回访：张三", CALL_DUE)
    assert task["body"] == CALL_BODY


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_a_send_repeated_after_a_crash_leaves_one_task(store: Store, ruleset: RuleSet) -> None:
    """A daemon killed after the insert but before recording it: the next one sends again."""
    classified(store, ruleset, "C1", "RM001", "张三")
    sold(store, ruleset, "E1", "C1", SALE_AT)
    [row] = store.execute("SELECT * FROM followups WHERE key = :k", {"k": CALL})
    adapter = inbox(store)
    adapter.send(adapter.render(row, {"customer_id": "C1", "name": "张三"}, ruleset.templates))
    deliver(store, ruleset, CALL_DUE)
    assert [t["key"] for t in tasks_in(store)] == [CALL]
    assert store.execute("SELECT status FROM followups WHERE key = :k", {"k": CALL}) == [
        {"status": "sent"}
    ]


# --- closing a task ------------------------------------------------------------------------------


def done(store: Store, task_id: str, outcome: str, *options: str) -> Result:
    args = ["tasks", "done", task_id, "--outcome", outcome, *options]
    return invoke(store, *args, "--now", "2026-11-05T15:00:00+08:00")


def invoke(store: Store, *args: str, columns: int = 80) -> Result:
    where = ["--rules", str(RULES), "--store", store.location]
    return CliRunner().invoke(cli, [*args, *where], env={"COLUMNS": str(columns)})


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_a_complaint_outcome_becomes_an_event_and_a_recovery_call(call: Store) -> None:
    result = done(call, CALL, "complaint", "--note", "客户对收益不满")
    assert result.exit_code == 0, result.output
    event_id = f"task_outcome:{CALL}"
    assert result.stdout.splitlines() == [
        f"task {CALL} done: complaint; event {event_id} recorded",
        "follow-ups planned: 1; cancelled: 0",
        "  complaint_recovery_call for C1, due 2026-11-06 10:00",
    ]
    [task] = tasks_in(call)
    assert (task["status"], task["outcome"]) == ("done", "complaint")
    assert task["note"] == "客户对收益不满"
    assert task["done_at"] == "2026-11-05T07:00:00Z"
    [event] = call.execute("SELECT * FROM events WHERE type = 'task_outcome'")
    assert (event["id"], event["customer_id"]) == (event_id, "C1")
    assert json.loads(event["payload"]) == {
        "outcome": "complaint",
        "step": "responsible_post_sale_call",
        "task": CALL,
        "note": "客户对收益不满",
    }
    assert event["planned_at"] == "2026-11-05T07:00:00Z"
    [recovery] = call.execute(
        "SELECT key, owner, due_at, status FROM followups WHERE step_id = 'complaint_recovery_call'"
    )
    assert recovery == {
        "key": f"complaint_recovery_call:C1:{event_id}",
        "owner": "RM001",
        "due_at": "2026-11-06T02:00:00Z",  # the next business day, 10:00 in Shanghai
        "status": "pending",
    }


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_the_recovery_call_reaches_the_inbox_too(call: Store, ruleset: RuleSet) -> None:
    assert done(call, CALL, "complaint").exit_code == 0
    deliver(call, ruleset, "2026-11-06T02:00:00Z")
    rows = list_tasks(call, "RM001", "all")
    assert [(t["step_id"], t["status"]) for t in rows] == [
        ("responsible_post_sale_call", "done"),
        ("complaint_recovery_call", "open"),
    ]
    assert rows[1]["title"] == "投诉补救回电：张三"


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_an_outcome_no_step_reacts_to_is_recorded_and_plans_nothing(call: Store) -> None:
    [followup] = call.execute("SELECT id FROM followups WHERE key = :k", {"k": CALL})
    result = done(call, str(followup["id"]), "no_answer")  # by the follow-up's id
    assert result.exit_code == 0, result.output
    assert "follow-ups planned: 0" in result.stdout
    assert [t["outcome"] for t in tasks_in(call)] == ["no_answer"]
    assert len(call.execute("SELECT id FROM events WHERE type = 'task_outcome'")) == 1


def test_an_outcome_may_be_given_by_its_label(call: Store) -> None:
    result = done(call, CALL, "未接通")
    assert result.exit_code == 0, result.output
    assert [t["outcome"] for t in tasks_in(call)] == ["no_answer"]


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_marking_a_task_done_twice_is_refused(call: Store) -> None:
    """The time it was done in the project's zone (before: UTC, `2026-11-05T07:00:00Z`)."""
    assert done(call, CALL, "complaint").exit_code == 0
    again = done(call, CALL, "done")
    assert again.exit_code == 1
    assert again.stderr == (
        f"Error: task {CALL} is already done: complaint at 2026-11-05 15:00 (Asia/Shanghai);"
        " an outcome is recorded once\n"
    )
    assert [t["outcome"] for t in tasks_in(call)] == ["complaint"]
    assert len(call.execute("SELECT id FROM events WHERE type = 'task_outcome'")) == 1


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_an_unknown_task_or_outcome_is_refused_and_changes_nothing(call: Store) -> None:
    unknown = done(call, "responsible_post_sale_call:C9:E1", "done")
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "Error: no task 'responsible_post_sale_call:C9:E1'"
        " (give a task key or a follow-up id: guanxi tasks list)\n"
    )
    misspelt = done(call, CALL, "complaints")
    assert misspelt.exit_code == 1
    assert misspelt.stderr == (
        "Error: unknown outcome 'complaints'; the outcomes are: done, no_answer, complaint,"
        " declined, follow_up_needed; did you mean 'complaint'?\n"
    )
    assert [t["status"] for t in tasks_in(call)] == ["open"]
    assert call.execute("SELECT id FROM events WHERE type = 'task_outcome'") == []


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_a_project_without_the_outcome_event_cannot_record_outcomes(
    call: Store, ruleset: RuleSet
) -> None:
    events = {k: v for k, v in ruleset.schema.events.items() if k != "task_outcome"}
    bare = dataclasses.replace(ruleset, schema=ruleset.schema.model_copy(update={"events": events}))
    now = dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC)
    with pytest.raises(TaskError, match="declares no 'task_outcome' event with an 'outcome'"):
        close_task(call, bare, CALL, "done", now)
    assert [t["status"] for t in tasks_in(call)] == ["open"]


# --- listing -------------------------------------------------------------------------------------


@pytest.fixture
def inboxes(store: Store) -> Store:
    """RM001: a call due on the 5th and a visit due on the 3rd; RM002: one call."""
    adapter = inbox(store)
    adapter.send(message(CALL))
    visit = message(
        "partner_welcome_visit:C2:run1",
        due="2026-11-03T02:00:00Z",
        customer_id="C2",
        subject="伙伴客户欢迎拜访：长沙湘江科技有限公司",
    )
    adapter.send(visit)
    adapter.send(message("responsible_post_sale_call:C3:E7", owner="RM002", customer_id="C3"))
    return store


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_list_shows_a_managers_open_tasks_soonest_first(inboxes: Store) -> None:
    result = invoke(inboxes, "tasks", "list", "--rm", "RM001", columns=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "tasks of RM001: 2 open (due times in Asia/Shanghai)"
    rows = [line for line in lines if "│" in line]
    assert len(rows) == 2  # none wrapped onto a second line
    assert "2026-11-03 10:00" in rows[0]
    assert "伙伴客户欢迎拜访：长沙湘江科技有限公司" in rows[0]
    assert "partner_welcome_visit:C2:run1" in rows[0]
    assert "2026-11-05 10:00" in rows[1] and "售后回访：张三" in rows[1] and CALL in rows[1]
    assert "C3" not in result.stdout


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_list_names_the_customer_and_the_step_and_fits_80_columns(inboxes: Store) -> None:
    inboxes.upsert_customers([{"customer_id": "C2", "name": "长沙湘江科技有限公司"}])
    narrow = invoke(inboxes, "tasks", "list", "--rm", "RM001", "--unmask", columns=80)
    assert narrow.exit_code == 0, narrow.output
    assert "…" not in narrow.stdout
    assert "partner_welcome_visit:C2:run1" in narrow.stdout  # the key, whole, on one line
    assert "2026-11-03 10:00" in narrow.stdout
    assert "长沙湘江" in narrow.stdout  # the name, wrapped at worst
    wide = invoke(inboxes, "tasks", "list", "--rm", "RM001", "--unmask", columns=200)
    assert "C2 长沙湘江科技有限公司" in wide.stdout and "伙伴客户欢迎拜访" in wide.stdout


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_list_as_csv_opens_in_excel(inboxes: Store) -> None:
    inboxes.upsert_customers([{"customer_id": "C2", "name": "长沙湘江科技有限公司"}])
    result = invoke(inboxes, "tasks", "list", "--rm", "RM001", "--csv", "--unmask")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(codecs.BOM_UTF8)
    header, *rows = csv.reader(result.stdout_bytes.decode("utf-8-sig").splitlines())
    first = dict(zip(header, rows[0], strict=True))
    assert first["key"] == "partner_welcome_visit:C2:run1"
    assert first["due_at"] == "2026-11-03T10:00:00+08:00"
    assert (first["customer_name"], first["step_label"]) == (
        "长沙湘江科技有限公司",
        "伙伴客户欢迎拜访",
    )
    assert len(rows) == 2


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_an_outcome_for_a_customer_loaded_after_the_last_classification_waits(
    inboxes: Store, ruleset: RuleSet
) -> None:
    """The store has been classified; C1 came after: the outcome waits for C1's first night."""
    classified(inboxes, ruleset, "C9", "RM009", "李四")
    inboxes.execute(
        "INSERT INTO classification_runs (ruleset_hash, engine, started_at, finished_at)"
        " VALUES (:h, 'store', '2026-11-05T00:00:00Z', '2026-11-05T00:01:00Z')",
        {"h": ruleset.hash},
    )
    inboxes.upsert_customers([{"customer_id": "C1", "name": "张三", "rm_id": "RM001"}])
    result = done(inboxes, CALL, "complaint")
    assert result.exit_code == 0, result.output
    assert (
        "customer C1 is not classified yet: the outcome waits for their first classification"
        " (at most 7 days)" in result.stdout
    )
    assert "no step can react" not in result.stdout


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_list_by_status_and_as_json(inboxes: Store) -> None:
    now = dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC)
    inboxes.execute(
        "UPDATE tasks SET status = 'done', outcome = 'declined', done_at = :at WHERE key = :k",
        {"k": CALL, "at": now.isoformat()},
    )
    shown = invoke(inboxes, "tasks", "list", "--rm", "RM001", "--status", "done")
    assert "done: declined" in shown.stdout and "partner_welcome_visit" not in shown.stdout
    result = invoke(inboxes, "tasks", "list", "--rm", "RM001", "--status", "all", "--json")
    assert result.exit_code == 0, result.output
    assert "售后回访：张三" in result.stdout  # not \u escapes
    data = json.loads(result.stdout)
    assert (data["rm"], data["status"]) == ("RM001", "all")
    assert [(t["key"], t["status"]) for t in data["tasks"]] == [
        ("partner_welcome_visit:C2:run1", "open"),
        (CALL, "done"),
    ]
    assert data["tasks"][1]["body"] == CALL_BODY


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_list_of_a_manager_without_tasks_is_empty(inboxes: Store) -> None:
    result = invoke(inboxes, "tasks", "list", "--rm", "RM404", "--json")
    assert json.loads(result.stdout)["tasks"] == []
    assert invoke(inboxes, "tasks", "list", "--rm", "RM404", "--status", "later").exit_code == 2


@pytest.mark.every_store  # the inbox, outcomes and listing on both stores
def test_an_outcome_for_a_customer_not_classified_is_recorded_and_says_so(inboxes: Store) -> None:
    result = done(inboxes, CALL, "follow_up_needed", "--note", "下周再联系")
    assert result.exit_code == 0, result.output
    # the store has classified no one yet: the outcome waits for its first run, however long
    assert "waits for the store's first classification (guanxi classify)" in result.stdout
    assert "at most" not in result.stdout
    [event] = inboxes.execute("SELECT payload FROM events WHERE type = 'task_outcome'")
    assert json.loads(event["payload"])["note"] == "下周再联系"
