"""A relationship manager's id and a corporate group's id are ids, as the customer's is: typed
in full width (ＲＭ００１), or with spaces around it, they are the ASCII id (RM001) on every
path, so a manager's tasks a day are counted once and a group is one group. An invisible
character in one is refused, as in a customer id."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from guanxi.adapters.base import Message
from guanxi.adapters.rm_tasks import RmTasksAdapter
from guanxi.cli.main import cli
from guanxi.engine.classify.snapshot import _source, connect
from guanxi.engine.classify.spark import classify_on_spark
from guanxi.engine.ingest import check_customer, load_customers
from guanxi.engine.ingest.screen import snapshot_screen
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from guanxi.engine.tasks import insert_task, list_tasks
from tests.daemon_helpers import post

RULES = Path(__file__).parent.parent / "rules"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
WIDE_RM, WIDE_GROUP = "ＲＭ００１", "Ｇ１"  # RM001 and G1 typed in full width
HEADER = "customer_id,name,kind,rm_id,group_id"


def customers_file(folder: Path, form: str, rows: list[tuple[str, str, str]]) -> Path:
    """A customers file of (customer_id, rm_id, group_id) rows."""
    records = [{"customer_id": c, "name": "客户" + c, "kind": "corporate", "rm_id": rm,
                "group_id": group} for c, rm, group in rows]  # fmt: skip
    path = folder / f"customers.{form}"
    if form == "csv":
        lines = [HEADER, *(",".join(r.values()) for r in records)]
        path.write_text("\n".join(lines) + "\n", "utf-8")
    elif form == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        pq.write_table(pa.Table.from_pylist(records), path)
    return path


def stored(store: Store) -> list[tuple[str, str, str]]:
    rows = store.execute("SELECT customer_id, rm_id, group_id FROM customers ORDER BY 1")
    return [(r["customer_id"], r["rm_id"], r["group_id"]) for r in rows]


def test_the_manager_group_and_branch_fields_are_ids_of_the_default_rules(
    ruleset: RuleSet,
) -> None:
    assert ruleset.schema.ids == ("customer_id", "group_id", "branch", "rm_id")


def test_only_text_fields_are_read_as_ids(ruleset: RuleSet) -> None:
    schema = ruleset.schema.with_ids(["age", "rm_id", "no_such_field"])
    assert schema.ids == ("customer_id", "rm_id")


def test_the_manager_field_is_the_one_policies_names(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests", "*.db*", "__pycache__"))
    for name in ("schema.yaml", "policies.yaml"):
        path = rules / name
        path.write_text(path.read_text("utf-8").replace("rm_id", "manager"), "utf-8")
    schema = load_ruleset(rules).schema
    assert schema.ids == ("customer_id", "group_id", "branch", "manager")
    row, problems = check_customer(schema, "Asia/Shanghai", {"customer_id": "C1",
                                   "name": "x", "manager": f" {WIDE_RM}\u3000"})  # fmt: skip
    assert (problems, row["manager"]) == ([], "RM001")


@pytest.mark.every_store
@pytest.mark.parametrize("form", ["csv", "jsonl", "parquet"])
def test_manager_and_group_ids_in_a_customers_file_are_read_as_ids(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    rows = [("C1", "RM001", "G1"), ("C2", WIDE_RM, WIDE_GROUP), ("C3", "RM001\u3000", " G1")]
    report = load_customers(store, ruleset, customers_file(tmp_path, form, rows), NOW)
    assert (report.loaded, report.quarantined) == (3, 0)
    assert stored(store) == [("C1", "RM001", "G1"), ("C2", "RM001", "G1"), ("C3", "RM001", "G1")]


@pytest.mark.every_store
def test_an_invisible_character_in_a_manager_id_is_refused(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = [("C1", "RM001", "G1"), ("C2", "RM001\u200b", "G1")]
    report = load_customers(store, ruleset, customers_file(tmp_path, "csv", rows), NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    [problem] = report.problems
    assert (problem["field"], problem["reason"]) == (
        "rm_id",
        "contains an invisible character (U+200B) at character 6; remove it",
    )


def test_a_scenario_customer_s_manager_is_read_as_an_id(ruleset: RuleSet) -> None:
    record = {"customer_id": "C1", "name": "张三", "rm_id": WIDE_RM, "group_id": WIDE_GROUP}
    row, problems = check_customer(ruleset.schema, "Asia/Shanghai", record)
    assert (problems, row["rm_id"], row["group_id"]) == ([], "RM001", "G1")


# --- capacity: one manager's tasks are counted once --------------------------------------------


def capacity_of_one(ruleset: RuleSet) -> RuleSet:
    assert ruleset.policies and ruleset.policies.capacity
    capacity = ruleset.policies.capacity.model_copy(update={"tasks_per_day": 1})
    policies = ruleset.policies.model_copy(update={"capacity": capacity})
    return RuleSet(**{**vars(ruleset), "policies": policies})


@pytest.mark.every_store
def test_a_manager_typed_in_full_width_has_one_capacity(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    small = capacity_of_one(ruleset)
    path = customers_file(tmp_path, "csv", [("R1", "RM001", "G1"), ("R2", WIDE_RM, "G2")])
    load_customers(store, small, path, NOW)
    for n in (1, 2):
        store.execute(
            "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
            " ruleset_hash, assigned_at) VALUES (:c, 'valuable', 'responsible', 'growth', FALSE,"
            " 1, :h, :at)",
            {"c": f"R{n}", "h": small.hash, "at": NOW.isoformat()},
        )
        post(store, f"E{n}", "sale", f"R{n}", "2026-11-23T02:00:00+00:00", product="理财")
    plan_new_events(store, small, NOW)

    calls = store.execute(
        "SELECT owner, policy, reason FROM followups"
        " WHERE step_id = 'responsible_post_sale_call' ORDER BY customer_id"
    )
    assert [c["owner"] for c in calls] == ["RM001", "RM001"]
    assert sorted(c["reason"] or "" for c in calls) == [
        "",
        "RM001 has 1 tasks on 2026-11-26, moved to 2026-11-27",
    ]


# --- the snapshot night ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_the_snapshot_screen_reads_manager_ids_as_load_does(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    rows = [("C1", "RM001", "G1"), ("C2", WIDE_RM, WIDE_GROUP), ("C3", "RM001\u200b", "G1")]
    path = customers_file(tmp_path, form, rows)
    screen = snapshot_screen(store, ruleset, NOW, path)
    duck = connect("1GB")
    try:
        source = _source(duck, screen, path)
        found = duck.execute(f"SELECT customer_id, rm_id, group_id FROM {source} ORDER BY 1")
        passed = found.fetchall()
    finally:
        duck.close()
    assert passed == [("C1", "RM001", "G1"), ("C2", "RM001", "G1")]
    [reason] = [r["reason"] for r in store.execute("SELECT reason FROM quarantine")]
    assert reason == "contains an invisible character (U+200B) at character 6; remove it"


def test_spark_refuses_the_manager_ids_load_refuses(
    spark: Any, ruleset: RuleSet, tmp_path: Path
) -> None:
    rows = [("C1", "RM001", "G1"), ("C2", WIDE_RM, WIDE_GROUP), ("C3", "RM001\u200b", "G1")]
    path = customers_file(tmp_path, "parquet", rows)
    on_spark = SQLiteStore(tmp_path / "spark.db")
    report = classify_on_spark(on_spark, ruleset, NOW, path, spark, tmp_path / "out")
    found = on_spark.execute("SELECT row_number, field, reason FROM quarantine")
    on_spark.close()
    assert report.rejected == 1
    assert [(r["row_number"], r["field"], r["reason"]) for r in found] == [
        (3, "rm_id", "contains an invisible character (U+200B) at character 6; remove it")
    ]


def test_manager_ids_are_still_checked_by_their_distinct_values(ruleset: RuleSet) -> None:
    """The screen tests a manager's id once per distinct value (thousands of managers, millions
    of customers), as it did when the id was plain text; only the key is tested row by row."""
    screen = snapshot_screen(None, ruleset, NOW, Path("s.csv"))  # type: ignore[arg-type]
    types = {"customer_id": "VARCHAR", "rm_id": "VARCHAR", "group_id": "VARCHAR"}
    assert screen.checked_once(types, "duckdb") == ["group_id", "rm_id"]
    duck = duckdb.connect()
    duck.register("ids", pa.table({"rm_id": ["RM001", WIDE_RM, "RM 1"]}))
    clean = screen.clean({"rm_id": "VARCHAR"}, "duckdb")
    assert [r[0] for r in duck.execute(f"SELECT {clean} FROM ids").fetchall()] == [
        True,
        False,
        False,
    ]


# --- the task inbox ----------------------------------------------------------------------------


def task(key: str, owner: str) -> dict[str, Any]:
    return {"key": key, "customer_id": "C1", "step_id": "call", "owner": owner, "title": "回访",
            "body": "", "due_at": None, "created_at": "2026-11-28T02:00:00Z"}  # fmt: skip


def invoke(store: Store, *args: str) -> Result:
    where = ["--rules", str(RULES), "--store", store.location]
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--lang", "en", *args, *where])


@pytest.mark.every_store
def test_tasks_list_by_a_manager_typed_in_full_width(store: Store) -> None:
    assert insert_task(store, task("call:C1:1", "RM001"))
    assert [t["key"] for t in list_tasks(store, f"{WIDE_RM}\u3000")] == ["call:C1:1"]
    result = invoke(store, "tasks", "list", "--rm", WIDE_RM, "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert (listed["rm"], [t["key"] for t in listed["tasks"]]) == ("RM001", ["call:C1:1"])


def test_a_follow_up_planned_for_a_full_width_manager_lands_in_the_managers_inbox(
    store: Store,
) -> None:
    """A follow-up planned by an older version keeps the owner as it was typed."""
    clock = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
    message = Message(key="call:C1:1", customer_id="C1", step_id="call", kind="task",
                      channel="rm_task", recipient=None, subject="回访", body="请致电",
                      metadata={"owner": WIDE_RM})  # fmt: skip
    RmTasksAdapter(store=store, clock=lambda: clock).send(message)
    assert [t["key"] for t in list_tasks(store, "RM001")] == ["call:C1:1"]
