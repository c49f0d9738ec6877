"""Branch overlays (branches/<branch>.yaml): a branch's own conditions and steps reach the
customers of that branch and nobody else, on both stores, in the event planner and in
explain; mistakes in an overlay are reported in the overlay."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify, explain
from guanxi.engine.classify.predicates import classify_records
from guanxi.engine.i18n import language
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.events import plan_new_events
from guanxi.engine.plan.recurring import plan_recurring
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.store import Store
from tests import test_policy as policy
from tests.conftest import RULES
from tests.daemon_helpers import post
from tests.test_within import line_number

BRANCH = "长沙分行"
OVERLAY = """\
# 长沙分行: smaller balances make a valuable customer here
tiers:
  valuable:
    when: total_assets >= 200000 AND monthly_txn_count >= 10
levels:
  responsible:
    when: tier IN ('high_value_added', 'valuable')
steps:
  responsible_post_sale_call:
    after: 5 business days
  proactive_usage_tips:
    enabled: false
"""
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 28)
SEPT_29 = dt.datetime(2026, 9, 29, 8, 0, tzinfo=dt.UTC)


def project_with(folder: Path, overlays: dict[str, str]) -> Path:
    """A copy of the default project with these files in branches/."""
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    (folder / "branches").mkdir()
    for name, text in overlays.items():
        (folder / "branches" / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    return load_ruleset(
        project_with(tmp_path_factory.mktemp("b") / "rules", {f"{BRANCH}.yaml": OVERLAY})
    )


def middling(customer_id: str, branch: str | None) -> dict[str, Any]:
    """Valuable by 长沙分行's rule (¥300,000, 12 transactions a month), low value elsewhere."""
    return {
        "customer_id": customer_id, "name": "客户" + customer_id, "branch": branch,
        "balance": 300_000.0, "monthly_txn_count": 12, "products_held": 1,
        "annual_contribution": 100.0, "cost_to_serve": 100.0, "last_txn_date": "2026-11-20",
        "rm_id": "RM001",
    }  # fmt: skip


@pytest.mark.every_store
def test_an_overlay_classifies_the_customers_of_its_branch_only(
    store: Store, branched: RuleSet
) -> None:
    people = [middling("C1", BRANCH), middling("C2", "北京分行"), middling("C3", None)]
    people.append(middling("C4", ""))
    people.append({**middling("GOLD", None), "annual_contribution": 1e6})  # the one gold
    store.upsert_customers(people)
    classify(store, branched, NOW)
    rows = store.execute("SELECT customer_id, tier, level FROM current_assignments ORDER BY 1")
    found = {r["customer_id"]: (r["tier"], r["level"]) for r in rows if r["customer_id"] != "GOLD"}
    assert found == {
        "C1": ("valuable", "responsible"),
        "C2": ("low_value", "passive"),
        "C3": ("low_value", "passive"),
        "C4": ("low_value", "passive"),
    }


SUB_BRANCH = "长沙第1支行"


@pytest.mark.every_store
def test_a_branch_typed_in_full_width_or_with_spaces_is_one_branch(
    store: Store, tmp_path: Path
) -> None:
    """The overlay's file name and the customers' branch are read as ids (NFKC, spaces
    around removed), as rm_id is: however each was typed, the customers get its rules."""
    rules = project_with(tmp_path / "rules", {"长沙第１支行.yaml": OVERLAY})
    typed = load_ruleset(rules)
    assert list(typed.branches) == [SUB_BRANCH]
    spellings = [SUB_BRANCH, "长沙第１支行", " 长沙第1支行\u3000", "长沙第2支行"]
    people = [middling(f"C{i}", branch) for i, branch in enumerate(spellings, 1)]
    people.append({**middling("GOLD", None), "annual_contribution": 1e6})
    lines = [json.dumps(p, ensure_ascii=False) for p in people]
    (tmp_path / "customers.jsonl").write_text("\n".join(lines), "utf-8")
    assert load_customers(store, typed, tmp_path / "customers.jsonl", NOW).loaded == 5
    classify(store, typed, NOW)
    rows = store.execute("SELECT customer_id, tier FROM current_assignments ORDER BY 1")
    tiers = {r["customer_id"]: r["tier"] for r in rows if r["customer_id"] != "GOLD"}
    assert tiers == {"C1": "valuable", "C2": "valuable", "C3": "valuable", "C4": "low_value"}
    stored = store.execute("SELECT DISTINCT branch FROM customers WHERE branch IS NOT NULL")
    assert sorted(r["branch"] for r in stored) == [SUB_BRANCH, "长沙第2支行"]


def test_the_branch_of_an_overlay_is_checked_against_the_allowed_values_as_read(
    tmp_path: Path,
) -> None:
    folder = project_with(tmp_path / "rules", {"长沙第１支行.yaml": OVERLAY})
    schema = folder / "schema.yaml"
    text = schema.read_text("utf-8")
    declared = "label: 所属网点, label_en: branch, values: [长沙第1支行, 北京分行]}"
    schema.write_text(text.replace("label: 所属网点, label_en: branch}", declared), "utf-8")
    assert codes(folder) == []


def test_an_overlay_for_a_branch_without_customers_changes_nothing(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    elsewhere = load_ruleset(project_with(tmp_path / "rules", {"无人分行.yaml": OVERLAY}))
    people = [middling(f"C{i}", b) for i, b in enumerate([BRANCH, "北京分行", None, ""])]
    assert classify_records(elsewhere, people, TODAY) == classify_records(ruleset, people, TODAY)
    assert elsewhere.hash != ruleset.hash


def test_the_overlay_is_part_of_the_rule_set_hash(
    tmp_path: Path, branched: RuleSet, ruleset: RuleSet
) -> None:
    changed = OVERLAY.replace("200000", "250000")
    again = load_ruleset(project_with(tmp_path / "rules", {f"{BRANCH}.yaml": changed}))
    assert len({again.hash, branched.hash, ruleset.hash}) == 3


def customer(store: Store, ruleset: RuleSet, customer_id: str, level: str, branch: Any) -> None:
    store.upsert_customers(
        [{"customer_id": customer_id, "name": "客户", "rm_id": "RM001", "branch": branch,
          "consent_sms": 1, "preferred_channel": "sms", "phone": "13800000000"}]
    )  # fmt: skip
    store.execute(
        "INSERT INTO assignments (customer_id, tier, level, strategy, gold, run_id,"
        " ruleset_hash, assigned_at) VALUES (:c, 'valuable', :level, 'growth', FALSE, 1, :h, :at)",
        {"c": customer_id, "level": level, "h": ruleset.hash, "at": NOW.isoformat()},
    )


@pytest.mark.every_store
def test_a_branch_step_replaces_the_head_office_step_and_a_step_can_be_switched_off(
    store: Store, branched: RuleSet
) -> None:
    for number, (level, branch) in enumerate(
        [
            ("responsible", BRANCH),
            ("responsible", "北京分行"),
            ("responsible", None),
            ("proactive", BRANCH),
            ("proactive", None),
        ]
    ):
        customer(store, branched, f"C{number}", level, branch)
        post(store, f"E{number}", "sale", f"C{number}", "2026-09-29T07:00:00+00:00", amount=1.0)
    plan_new_events(store, branched, SEPT_29)
    rows = store.execute("SELECT customer_id, step_id, due_at FROM followups ORDER BY key")
    steps = {(r["customer_id"], r["step_id"]) for r in rows}
    assert steps == {
        ("C0", "responsible_post_sale_call@长沙分行"),
        ("C1", "responsible_post_sale_call"),
        ("C2", "responsible_post_sale_call"),
        ("C3", "proactive_post_sale_call"),  # no usage tips in 长沙分行
        ("C4", "proactive_post_sale_call"),
        ("C4", "proactive_usage_tips"),
    }
    due = {r["customer_id"]: r["due_at"] for r in rows if "responsible" in r["step_id"]}
    assert due["C1"] == due["C2"] == "2026-10-09T02:00:00Z"  # 3 business days
    assert due["C0"] > due["C1"]  # 5 business days


NEWS_CHANGED = "steps:\n  proactive_product_news:\n    channel: email\n"
DECEMBER = (
    dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
)
JANUARY = (DECEMBER[1], dt.datetime(2027, 2, 1, tzinfo=dt.UTC))


@pytest.mark.every_store
def test_a_branch_changing_a_monthly_step_sends_a_month_already_planned_once(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """December's news is planned under the head office's step; then 长沙分行 changes the step:
    its customer keeps that one December message, and gets the branch's own from January."""
    news = "proactive_product_news"
    customer(store, ruleset, "C0", "proactive", BRANCH)
    marketing = "UPDATE customers SET consent_marketing = TRUE"
    store.execute(marketing)
    plan_recurring(store, ruleset, *DECEMBER, NOW, only=[news])
    changed = load_ruleset(project_with(tmp_path / "rules", {f"{BRANCH}.yaml": NEWS_CHANGED}))
    branch_news = f"{news}@{BRANCH}"
    customer(store, changed, "C1", "proactive", BRANCH)  # none planned yet: the branch's own
    store.execute(marketing)
    plan_recurring(store, changed, *DECEMBER, NOW, only=[branch_news])
    plan_recurring(store, changed, *JANUARY, NOW, only=[branch_news])
    rows = store.execute(
        "SELECT customer_id, step_id, occurrence FROM followups ORDER BY customer_id, occurrence"
    )
    assert [(r["customer_id"], r["step_id"], r["occurrence"]) for r in rows] == [
        ("C0", news, "2026-12"),
        ("C0", branch_news, "2027-01"),
        ("C1", branch_news, "2026-12"),
        ("C1", branch_news, "2027-01"),
    ]


def test_explain_names_the_branch_rule_that_decided(branched: RuleSet) -> None:
    found = explain(middling("C1", BRANCH), branched, "C1", NOW)
    decided = found.decision("tier").tried[-1]
    assert (decided.rule, decided.matched, decided.branch) == ("valuable", True, BRANCH)
    assert decided.origin.endswith(f"branches/{BRANCH}.yaml:3")
    assert decided.condition == "total_assets >= 200000 AND monthly_txn_count >= 10"
    elsewhere = explain(middling("C2", None), branched, "C2", NOW).decision("tier")
    tried = {t.rule: t for t in elsewhere.tried}
    assert tried["valuable"].branch is None
    written = line_number(branched.root / "tiers.yaml", "  - name: valuable")
    assert tried["valuable"].origin.endswith(f"tiers.yaml:{written}")


def test_rules_branch_lists_what_the_branch_changes(tmp_path: Path) -> None:
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": OVERLAY})
    result = CliRunner().invoke(cli, ["rules", str(folder), "--branch", BRANCH, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [(r["kind"], r["name"]) for r in shown["rules"]] == [
        ("tier", "valuable"),
        ("level", "responsible"),
    ]
    assert [s["step"] for s in shown["steps"]] == ["responsible_post_sale_call@长沙分行"]
    assert [s["step"] for s in shown["switched_off"]] == ["proactive_usage_tips"]
    table = CliRunner().invoke(cli, ["rules", str(folder), "--branch", BRANCH])
    assert "proactive_usage_tips" in table.stdout and "200000" in table.stdout
    unknown = CliRunner().invoke(cli, ["rules", str(folder), "--branch", "长沙支行"])
    assert unknown.exit_code == 1 and BRANCH in unknown.output


def codes(folder: Path) -> list[tuple[str, int, str]]:
    found = validate_project(folder).diagnostics
    return [(Path(d.file).name, d.line, d.code) for d in found if d.severity == "error"]


def test_the_branch_key_names_the_branch_and_a_branch_has_one_overlay(tmp_path: Path) -> None:
    named = "branch: 长沙分行\n" + OVERLAY
    folder = project_with(tmp_path / "rules", {"a.yaml": named, "b.yaml": named})
    assert codes(folder) == [("b.yaml", 1, "duplicate-name")]
    alone = load_ruleset(project_with(tmp_path / "alone", {"changsha.yaml": named}))
    assert list(alone.branches) == [BRANCH]


def test_an_overlay_needs_a_branch_field(tmp_path: Path) -> None:
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": OVERLAY})
    schema = folder / "schema.yaml"
    lines = schema.read_text("utf-8").splitlines(keepends=True)
    schema.write_text("".join(x for x in lines if not x.strip().startswith("branch:")), "utf-8")
    assert codes(folder) == [(f"{BRANCH}.yaml", 1, "unknown-field")]


def test_a_branch_outside_the_values_of_the_branch_field_is_an_error(tmp_path: Path) -> None:
    folder = project_with(tmp_path / "rules", {"长沙支行.yaml": OVERLAY})
    schema = folder / "schema.yaml"
    text = schema.read_text("utf-8")
    declared = "label: 所属网点, label_en: branch, values: [长沙分行, 北京分行]}"
    schema.write_text(text.replace("label: 所属网点, label_en: branch}", declared), "utf-8")
    assert codes(folder) == [("长沙支行.yaml", 1, "unknown-value")]


# --- a branch's own relationship-manager capacity ----------------------------------------

CAPACITY = "capacity:\n  tasks_per_day: 3\n"


@pytest.fixture(scope="module")
def small_branch(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    folder = tmp_path_factory.mktemp("c") / "rules"
    return load_ruleset(project_with(folder, {f"{BRANCH}.yaml": OVERLAY + CAPACITY}))


@pytest.mark.every_store
def test_a_branch_capacity_limits_the_tasks_of_its_customers_only(
    store: Store, small_branch: RuleSet
) -> None:
    """长沙分行's managers take 3 tasks a day, 北京分行's the head office's 25; a manager
    serving both takes a 长沙分行 task only while he has fewer than 3 that day."""
    owners = {"RM_CS": [BRANCH] * 5, "RM_BJ": ["北京分行"] * 5, "RM_MIX": [BRANCH, "北京分行"] * 3}
    people, tasks = [], []
    for owner, branches in owners.items():
        for number, branch in enumerate(branches):
            cid = f"{owner}-{number}"
            people.append(policy.customer(cid, branch=branch, rm_id=owner))
            due = policy.at("2026-12-30")
            tasks.append(
                policy.task(cid, due, owner=owner, priority=50 - number, purpose="service")
            )
    store.upsert_customers(people)
    report = policy.plan(store, small_branch, tasks)
    found = policy.rows(store)
    moved = {r["customer_id"] for r in found.values() if r["due_at"] != "2026-12-30T02:00:00Z"}
    assert moved == {"RM_CS-3", "RM_CS-4", "RM_MIX-4"}  # RM_MIX-4: 4 tasks that day already
    assert found["call:RM_CS-3:1"]["due_at"] == "2026-12-31T02:00:00Z"
    assert found["call:RM_CS-3:1"]["reason"] == (
        "RM_CS has 3 tasks on 2026-12-30, moved to 2026-12-31"
    )
    assert report.deferred == {"capacity": 3}


def test_without_a_branch_capacity_the_head_office_capacity_applies(
    small_branch: RuleSet, ruleset: RuleSet
) -> None:
    assert small_branch.tasks_per_day(BRANCH) == 3
    assert small_branch.tasks_per_day("北京分行") == small_branch.tasks_per_day(None) == 25
    assert ruleset.tasks_per_day(BRANCH) == 25


def test_rules_branch_shows_the_branch_capacity(tmp_path: Path) -> None:
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": OVERLAY + CAPACITY})
    result = CliRunner().invoke(cli, ["rules", str(folder), "--branch", BRANCH, "--json"])
    assert result.exit_code == 0, result.output
    line = OVERLAY.count("\n") + 1
    assert json.loads(result.stdout)["capacity"] == {
        "tasks_per_day": 3,
        "head_office": 25,
        "origin": f"{folder / 'branches' / BRANCH}.yaml:{line}",
    }
    table = CliRunner().invoke(cli, ["rules", str(folder), "--branch", BRANCH])
    assert "capacity: 3 tasks a day" in table.stdout
    assert f"head office: 25; branches/{BRANCH}.yaml:{line}" in table.stdout


def test_a_branch_capacity_needs_a_head_office_capacity_and_a_positive_number(
    tmp_path: Path,
) -> None:
    line = OVERLAY.count("\n") + 1
    folder = project_with(tmp_path / "none", {f"{BRANCH}.yaml": OVERLAY + CAPACITY})
    policies = folder / "policies.yaml"
    text = policies.read_text("utf-8")
    policies.write_text(text.replace("capacity: {owner_field: rm_id, tasks_per_day: 25}", ""))
    assert codes(folder) == [(f"{BRANCH}.yaml", line, "no-capacity")]
    found = validate_project(folder).diagnostics[0]
    assert found.col == 1 and "policies.yaml" in str(found.hint)
    zero = CAPACITY.replace("3", "0")
    folder = project_with(tmp_path / "zero", {f"{BRANCH}.yaml": OVERLAY + zero})
    assert codes(folder) == [(f"{BRANCH}.yaml", line + 1, "wrong-type")]
    # policies.yaml with an error of its own: that error alone, none in the overlay
    folder = project_with(tmp_path / "broken", {f"{BRANCH}.yaml": OVERLAY + CAPACITY})
    policies = folder / "policies.yaml"
    policies.write_text(
        policies.read_text("utf-8").replace("tasks_per_day: 25", "tasks_per_day: x")
    )
    assert [c[0] for c in codes(folder)] == ["policies.yaml"]


# --- a branch's own day: of a step ---------------------------------------------------------


def warnings_of(folder: Path) -> list[tuple[str, int, int, str]]:
    found = validate_project(folder).diagnostics
    return [(Path(d.file).name, d.line, d.col, d.code) for d in found]


@pytest.mark.parametrize(
    ("every", "message"),
    [
        (None, "'day: 5' is not read: only an 'every:' step has a day"),  # on: sale
        ("day", "'day: 5' is not read: a step with 'every: day' runs every day"),
        ('"0 10 * * *"', "'day: 5' is not read: a cron expression says its days itself"),
    ],
)
def test_a_branch_day_that_the_step_does_not_read_is_warned_in_the_overlay(
    tmp_path: Path, every: str | None, message: str
) -> None:
    step = "responsible_post_sale_call" if every is None else "proactive_product_news"
    overlay = f"steps:\n  {step}:\n    day: 5\n"
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": overlay})
    if every is not None:
        playbooks = folder / "playbooks.yaml"
        text = playbooks.read_text("utf-8")
        monthly = "      every: month\n      day: 5\n"
        playbooks.write_text(text.replace(monthly, f"      every: {every}\n", 1), "utf-8")
    [warning] = validate_project(folder).diagnostics
    assert (Path(warning.file).name, warning.line, warning.col, warning.code) == (
        f"{BRANCH}.yaml",
        3,
        10,
        "unread-day",
    )
    assert warning.severity == "warning" and warning.message == message


def test_a_branch_day_that_the_step_reads_is_not_warned(tmp_path: Path) -> None:
    weekly, monthly = "new_customer_welcome", "proactive_product_news"
    overlay = f"steps:\n  {weekly}:\n    day: 周五\n  {monthly}:\n    day: 10\n"
    assert warnings_of(project_with(tmp_path / "rules", {f"{BRANCH}.yaml": overlay})) == []


@pytest.mark.parametrize("written", ["15", "每天15个"])
def test_a_branch_capacity_said_as_a_number_is_answered_with_the_branchs_block(
    tmp_path: Path, written: str
) -> None:
    """A branch's capacity has no owner_field (the head office names it): the block to write
    holds only the tasks a day, which the overlay then takes."""
    overlay = f"capacity: {written}\n"
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": overlay})
    [error] = validate_project(folder).diagnostics
    assert (error.line, error.col, error.code) == (1, 11, "wrong-type")
    assert error.hint == "write capacity: {tasks_per_day: 15}"
    (folder / "branches" / f"{BRANCH}.yaml").write_text("capacity: {tasks_per_day: 15}\n", "utf-8")
    assert validate_project(folder).diagnostics == []


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "'total_assets >= 200000' and 'total_assets < 100' cannot both be true"),
        ("zh", "不可能同时成立"),
    ],
)
def test_a_branch_condition_that_can_never_be_true_is_warned_in_the_overlay(
    tmp_path: Path, lang: str, said: str
) -> None:
    """Before: the warning stood in tiers.yaml, at the head office's rule, whose condition
    is not the one mistyped."""
    when = "total_assets >= 20万 AND total_assets < 100"
    overlay = f"# 长沙分行\ntiers:\n  valuable:   # 有价值客户\n    when: {when}\n"
    folder = project_with(tmp_path / "rules", {f"{BRANCH}.yaml": overlay})
    with language(lang):
        [warning] = [d for d in validate_project(folder).diagnostics if d.code == "never-true-part"]
    assert (Path(warning.file).name, warning.line, warning.severity) == (
        f"{BRANCH}.yaml",
        3,
        "warning",
    )
    assert warning.message.endswith(said)
