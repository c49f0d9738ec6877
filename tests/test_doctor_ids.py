"""`guanxi doctor` names the ids a store keeps under several spellings, as an older version
loaded them (ＣＵＳＴ００１ beside CUST001): customers, relationship managers, groups,
branches with an overlay. It
merges nothing. The stores are filled directly, as the older version wrote them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.doctor.ids import id_checks
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from guanxi.engine.tasks import insert_task
from tests.test_branches import OVERLAY, project_with

pytestmark = pytest.mark.every_store

RULES = Path(__file__).parent.parent / "rules"


def customer(customer_id: str, rm_id: str | None = "RM001", group: str | None = None) -> Any:
    return {"customer_id": customer_id, "name": "客户", "rm_id": rm_id, "group_id": group}


def checks(store: Store, ruleset: RuleSet) -> dict[str, tuple[str, str]]:
    return {c.code: (c.status, c.detail) for c in id_checks(store, ruleset)}


def test_a_store_of_ids_as_guanxi_reads_them_is_ok(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("CUST001", "RM001", "G1"), customer("客户2", "王经理")])
    assert checks(store, ruleset) == {
        "customer ids": ("ok", "each stored as guanxi reads it"),
        "manager ids": ("ok", "each stored as guanxi reads it"),
        "group ids": ("ok", "each stored as guanxi reads it"),
    }


def test_a_customer_stored_under_two_widths_fails_with_both_ids(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("CUST001"), customer("ＣＵＳＴ００１"), customer("C2")])
    status, detail = checks(store, ruleset)["customer ids"]
    assert status == "fail"
    assert detail.startswith(
        "1 customer(s) stored under more than one id: 'CUST001', 'ＣＵＳＴ００１' (read as"
        " 'CUST001'). guanxi reads the spellings of each as one id and finds only that one,"
    )
    assert detail.endswith(
        "guanxi merges nothing: decide which record is right, then remove or rename the others"
        " in the store, with their events, follow-ups and consents"
    )
    ids = store.execute("SELECT customer_id FROM customers ORDER BY customer_id")
    assert [r["customer_id"] for r in ids] == ["C2", "CUST001", "ＣＵＳＴ００１"]  # none merged


def test_a_customer_stored_only_in_full_width_is_a_warning(store: Store, ruleset: RuleSet) -> None:
    store.upsert_customers([customer("ＣＵＳＴ００２")])
    status, detail = checks(store, ruleset)["customer ids"]
    assert status == "warn"
    assert detail.startswith(
        "1 customer id(s) stored as an older version read them: 'ＣＵＳＴ００２' (read as"
        " 'CUST002'). A look-up by id does not find them, and loading them again adds a second"
        " customer"
    )


def test_managers_and_groups_split_by_width_or_an_invisible_character_fail(
    store: Store, ruleset: RuleSet
) -> None:
    split = [("C1", "RM001", "G1"), ("C2", "ＲＭ００１", "Ｇ１"), ("C3", "RM001\u200b", None)]
    store.upsert_customers([customer(*row) for row in [*split, ("C4", "RM002", None)]])
    found = checks(store, ruleset)
    assert found["customer ids"][0] == "ok"
    assert found["manager ids"] == (
        "fail",
        "1 relationship manager(s) stored under more than one id: 'RM001', 'RM001\\u200b',"
        " 'ＲＭ００１' (read as 'RM001'). Each spelling has its own tasks a day, so the manager"
        " gets more than the capacity allows. Load the customers files again (the id is then"
        " stored as read); tasks planned before keep their spelling until they are sent",
    )
    assert found["group ids"][0] == "fail"
    assert "'G1', 'Ｇ１' (read as 'G1')" in found["group ids"][1]


def test_a_manager_split_between_customers_and_the_task_inbox_fails(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1", "RM002")])
    task = {"key": "call:C1:1", "customer_id": "C1", "step_id": "call", "owner": "ＲＭ００２",
            "title": "回访", "body": "", "due_at": None,
            "created_at": "2026-11-28T02:00:00Z"}  # fmt: skip
    assert insert_task(store, task)
    status, detail = checks(store, ruleset)["manager ids"]
    assert status == "fail"
    assert "'RM002', 'ＲＭ００２' (read as 'RM002')" in detail


def doctor(store: Store, *args: str) -> Result:
    where = ["--rules", str(RULES), "--store", store.location]
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, [*args, "doctor", "--json", *where])


def test_the_doctor_command_fails_and_says_so_in_both_languages(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("guanxi.engine.doctor.checks.which", lambda name: f"/bin/{name}")
    store.upsert_customers([customer("CUST001"), customer("ＣＵＳＴ００１", "ＲＭ００１")])
    english = doctor(store, "--lang", "en")
    assert english.exit_code == 1, english.output
    found = {c["code"]: c for c in json.loads(english.stdout)["checks"]}
    assert (found["customer ids"]["status"], found["manager ids"]["status"]) == ("fail", "fail")
    assert found["group ids"]["status"] == "ok"
    chinese = doctor(store, "--lang", "zh")
    assert chinese.exit_code == 1, chinese.output
    found = {c["code"]: c for c in json.loads(chinese.stdout)["checks"]}
    assert found["customer ids"]["name"] == "客户号"
    assert found["customer ids"]["detail"].startswith(
        "1 个客户以多种写法的客户号存储：'CUST001', 'ＣＵＳＴ００１'（读作 'CUST001'）。"
    )
    assert "guanxi 不会自动合并" in found["customer ids"]["detail"]
    assert found["manager ids"]["detail"].startswith(
        "1 位客户经理以多种写法的客户经理号存储：'RM001', 'ＲＭ００１'（读作 'RM001'）。"
    )


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("branched") / "rules"
    return load_ruleset(project_with(folder, {"长沙第1支行.yaml": OVERLAY}))


def test_a_branch_stored_in_full_width_fails_when_it_has_an_overlay(
    store: Store, ruleset: RuleSet, branched: RuleSet
) -> None:
    people = [("C1", "长沙第1支行"), ("C2", "长沙第１支行"), ("C3", "北京分行")]
    store.upsert_customers([{**customer(c), "branch": branch} for c, branch in people])
    assert "branch names" not in checks(store, ruleset)  # no overlay: no branch's rules missed
    status, detail = checks(store, branched)["branch names"]
    assert status == "fail"
    assert detail.startswith(
        "1 branch(es) stored under more than one spelling: '长沙第1支行', '长沙第１支行' (read as"
        " '长沙第1支行'). guanxi reads the spellings of each as one branch, but the customers"
    )
    assert checks(store, branched)["group ids"][0] == "ok"
