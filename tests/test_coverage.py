"""`guanxi validate --store`: the customers each rule and step catches, on every store."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.classify.coverage import coverage
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet, load_ruleset
from guanxi.engine.store import Store
from tests.conftest import RULES
from tests.test_within import line_number

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
AT = ["--now", NOW.isoformat()]

GUIDE = line_number(RULES / "playbooks.yaml", "    - id: self_service_guide")
NEWS = line_number(RULES / "playbooks.yaml", "    - id: proactive_product_news")
LOW_VALU = """\
<project>/strategies.csv:6:1: warning[catches-no-customer]: strategy 'general' \
(strategies.csv row 6) gets 0 of 2,000 customers; its condition alone matches 0
  6 | general,一般客户:自助服务,general: self-service,,,not dormant,,,,,,,>= 100000,低成本自助产品
    | ^^^^^^^
  hint: no customer in the store meets 'value_ratio >= 100000': check the value it compares with
<project>/playbooks.yaml:{guide}:11: warning[catches-no-customer]: step 'self_service_guide' \
(playbooks.yaml line {guide}) could act on 0 of 2,000 customers
  {guide} |     - id: self_service_guide
      |           ^^^^^^^^^^^^^^^^^^
  hint: none of the 2,000 customers of any level meets its when: strategy = 'general' AND \
consent_marketing
<project>: valid (rule-set hash {hash})
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 demo customers (seed 1, data ending 2026-11-28, no bad rows)."""
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, 2000, 1, NOW.date(), bad_rows=False)
    return out / "customers.csv"


@pytest.fixture
def loaded(store: Store, ruleset: RuleSet, demo: Path) -> Store:
    load_customers(store, ruleset, demo, NOW)
    return store


def project(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the shipped rules with `old` replaced by `new` in `file`."""
    folder = tmp_path / "project"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.db*", "__pycache__"))
    text = (folder / file).read_text("utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new), "utf-8")
    return folder


def low_valu(tmp_path: Path) -> Path:
    """Valid but wrong: a ratio with zeros too many (100000 for 1), which no customer reaches.
    (A misspelt tier name such as 'low_valu' is an error of validate on its own.)"""
    old = ",not dormant,,,,,,,>= 1,"
    return project(tmp_path, "strategies.csv", old, old.replace(">= 1,", ">= 100000,"))


def run(*arguments: str) -> Result:
    return CliRunner().invoke(cli, [*arguments])


def shown(result: Result, folder: Path) -> str:
    return result.stderr.replace(str(folder), "<project>")


def test_a_misspelt_tier_cell_is_caught_with_its_numbers(loaded: Store, tmp_path: Path) -> None:
    folder = low_valu(tmp_path)
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    digest = load_ruleset(folder).hash
    assert shown(result, folder) == LOW_VALU.format(hash=digest, guide=GUIDE)
    row = next(line for line in result.stdout.splitlines() if "│ general" in line)
    assert cells(row)[3:7] == ["0", "0.0%", "0", "0.0%"]  # alone, gets
    assert "2,000 customers in" in result.stdout
    listed = run("rules", str(folder), "--store", loaded.location, *AT)
    assert listed.exit_code == 0
    assert (
        shown(listed, folder) == LOW_VALU.format(guide=GUIDE, hash="").split("<project>: valid")[0]
    )
    assert "tiers (hit policy: first)" in listed.stdout  # the summary, then the counts
    assert "strategy: customers each rule catches" in listed.stdout


def test_the_counts_are_the_classifications_own(loaded: Store, unheld: RuleSet) -> None:
    """What each rule gets is what classify gives: the same SQL decides."""
    counted = coverage(loaded, unheld, NOW)
    report = classify(loaded, unheld, NOW)
    for kind in ("tier", "level", "strategy"):
        classified: dict[str, int] = {}
        for cell in report.cells:
            name = getattr(cell, kind)
            classified[name] = classified.get(name, 0) + cell.customers
        gets: dict[str | None, int] = {}
        for r in counted.rules:  # several table rows may give one strategy
            if r.kind == kind:
                gets[r.name] = gets.get(r.name, 0) + r.gets
        assert gets == classified, kind
    assert counted.customers == report.customers == 2000


TABLE = """\
name,label,gold,tier,value_ratio,priority
gold_package,金牌,yes,,,50
growth,成长,,"valuable, high_value_added",,50
growth,成长二,,low_value,>= 3,50
general,普通,,low_value,>= 1,90
unprofitable,不盈利,,,,
"""


@pytest.mark.parametrize("policy", ["first", "priority"])
def test_rows_sharing_a_name_and_the_priority_policy(
    loaded: Store, tmp_path: Path, policy: str
) -> None:
    """Two rows give 'growth': each counts the customers it decides, and every customer is
    counted once; under 'priority' (general first) as classify decides too."""
    folder = project(tmp_path, "strategies.yaml", ": first", f": {policy}")
    (folder / "strategies.csv").write_text(TABLE, "utf-8")
    ruleset = load_ruleset(folder)
    counted = [r for r in coverage(loaded, ruleset, NOW).rules if r.kind == "strategy"]
    # gold within kind and industry: 104 of the 2,000 demo customers
    gets = {"first": [104, 129, 556, 438, 773], "priority": [1015, 83, 129, 0, 773]}[policy]
    assert [r.gets for r in counted] == gets and sum(gets) == 2000
    by_name: dict[str | None, int] = {}
    for r in counted:
        by_name[r.name] = by_name.get(r.name, 0) + r.gets
    classified = classify(loaded, ruleset, NOW).strategies()
    assert classified == {name: n for name, n in by_name.items() if n}


def test_counting_writes_nothing_and_ignores_earlier_runs(loaded: Store, tmp_path: Path) -> None:
    """A store classified with other rules counts as the rules given say, and is left as it
    was (no run, no assignment, no table)."""
    classify(loaded, load_ruleset(low_valu(tmp_path)), NOW)
    before = state(loaded)
    result = run("validate", str(RULES), "--store", loaded.location, "--json", *AT)
    assert result.exit_code == 0, result.output
    general = rule(json.loads(result.stdout)["coverage"], "strategy", "general")
    assert (general["alone"], general["gets"]) == (1227, 1024)
    assert state(loaded) == before
    assert loaded.execute("SELECT COUNT(*) AS n FROM classification_runs") == [{"n": 1}]


def test_a_store_never_classified_is_counted(loaded: Store) -> None:
    counted = coverage(loaded, load_ruleset(RULES), NOW)
    assert loaded.execute("SELECT COUNT(*) AS n FROM current_assignments") == [{"n": 0}]
    assert counted.customers == 2000
    assert [r.gets for r in counted.rules if r.kind == "strategy"] == [104, 107, 6, 30, 1024, 729]
    assert counted.unmatched == {"tier": 0, "level": 0, "strategy": 0}


def test_a_rule_catching_everyone_and_the_rules_it_starves(loaded: Store, tmp_path: Path) -> None:
    folder = project(
        tmp_path,
        "tiers.yaml",
        "balance = 0 AND COALESCE(wealth_balance, 0) = 0",
        "COALESCE(products_held, 0) >= 0 OR balance = 0",
    )
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0
    errors = shown(result, folder)
    tiers = folder / "tiers.yaml"
    dormant, high = (line_number(tiers, f"  - name: {t}") for t in ("dormant", "high_value_added"))
    low = line_number(tiers, "  - name: low_value")
    assert (
        f"<project>/tiers.yaml:{dormant}:11: warning[catches-every-customer]: tier 'dormant'"
        f" (tiers.yaml line {dormant}) gets all 2,000 customers\n"
        f"  {dormant} |   - name: dormant\n"
        f"  {' ' * len(str(dormant))} |           ^^^^^^^\n"
        "  hint: no customer is left for the other tier rules: check its condition;"
        " a rule meant for everyone belongs last, without 'when:'\n"
    ) in errors
    assert (
        f"<project>/tiers.yaml:{high}:11: warning[catches-no-customer]: tier 'high_value_added'"
        f" (tiers.yaml line {high}) gets 0 of 2,000 customers; its condition alone matches 48\n"
    ) in errors
    assert "hint: the 48 customers it matches all get an earlier tier:" in errors
    assert f"warning[catches-no-customer]: tier 'low_value' (tiers.yaml line {low})" in errors


def test_a_step_no_customer_reaches(loaded: Store, tmp_path: Path) -> None:
    folder = project(
        tmp_path,
        "playbooks.yaml",
        "when: consent_marketing\n",
        "when: consent_marketing AND COALESCE(balance, 0) < -1\n",
    )
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0
    assert (
        f"warning[catches-no-customer]: step 'proactive_product_news' (playbooks.yaml line {NEWS})"
        " could act on 0 of 2,000 customers\n"
        f"  {NEWS} |     - id: proactive_product_news\n"
        "     |           ^^^^^^^^^^^^^^^^^^^^^^\n"
        "  hint: none of the 98 customers of level 'proactive' meets its when:"
        " consent_marketing AND COALESCE(balance, 0) < -1\n"
    ) in shown(result, folder)


def test_against_the_shipped_rules(loaded: Store, tmp_path: Path) -> None:
    folder = low_valu(tmp_path)
    arguments = ["--store", loaded.location, "--against", str(RULES), *AT]
    data = json.loads(run("validate", str(folder), "--json", *arguments).stdout)
    found = {(d["kind"], d["name"]): d for d in data["differences"]}
    assert found[("strategy", "general")] == {
        "kind": "strategy", "name": "general", "rules": 0, "against": 1024, "delta": -1024
    }  # fmt: skip
    assert found[("strategy", "unprofitable")]["delta"] == 1024
    # general's own step goes with it: its customers get no self-service guide; unprofitable
    # now, they get no call to keep them or their money either (抛弃策略)
    moved = {k: d["delta"] for k, d in found.items() if k[0] != "strategy" and d["delta"]}
    assert moved == {
        ("step", "self_service_guide"): -359,
        ("step", "retention_call"): -1024,
        ("step", "balance_drop_call"): -96,
        ("step", "maturity_reinvest_call"): -96,
    }
    assert rule(data["against"], "strategy", "general")["gets"] == 1024
    table = run("validate", str(folder), *arguments).stdout
    assert f"customers each gets: {folder} against {RULES}" in table
    rows = [cells(row)[1:6] for row in table.splitlines()]
    assert ["strategy", "general", "0", "1,024", "-1,024"] in rows


def test_json_gives_the_same_numbers(loaded: Store, tmp_path: Path) -> None:
    folder = low_valu(tmp_path)
    result = run("validate", str(folder), "--json", "--store", loaded.location, *AT)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [d["code"] for d in data["diagnostics"]] == ["catches-no-customer"] * 2
    assert [d["line"] for d in data["diagnostics"]] == [6, GUIDE]
    counted = data["coverage"]
    assert counted["customers"] == 2000 and counted["today"] == "2026-11-28"
    assert rule(counted, "strategy", "general") == {
        "kind": "strategy", "name": "general", "file": f"{folder}/strategies.csv", "line": 6,
        "condition": "tier <> 'dormant' AND value_ratio >= 100000",
        "alone": 0, "alone_share": 0.0, "gets": 0, "gets_share": 0.0,
    }  # fmt: skip
    valuable = rule(counted, "tier", "valuable")
    assert (valuable["alone"], valuable["gets"], valuable["gets_share"]) == (212, 164, 0.082)
    news = next(s for s in counted["steps"] if s["step"] == "proactive_product_news")
    assert (news["customers"], news["when"]) == (33, "consent_marketing")
    listed = run("rules", str(folder), "--json", "--store", loaded.location, *AT)
    summary = json.loads(listed.stdout)
    assert summary["coverage"] == data["coverage"]
    assert summary["strategies"] == [
        "gold_package", "growth", "growth", "growth", "general", "unprofitable"
    ]  # fmt: skip


def test_an_empty_store_says_so(store: Store) -> None:
    result = run("validate", str(RULES), "--store", store.location, *AT)
    assert result.exit_code == 0
    assert "has no customers: nothing to count" in result.stdout
    assert "warning" not in result.stderr
    data = json.loads(run("validate", str(RULES), "--json", "--store", store.location).stdout)
    assert data["coverage"]["customers"] == 0 and data["diagnostics"] == []
    assert {r["gets_share"] for r in data["coverage"]["rules"]} == {None}
    store.execute("DROP TABLE customers")  # never loaded at all: the same, plainly
    result = run("validate", str(RULES), "--store", store.location, *AT)
    assert result.exit_code == 0 and "has no customers: nothing to count" in result.stdout


def test_no_store_there_is_an_error_not_a_new_store(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = run("validate", str(RULES), "--store", str(missing))
    assert result.exit_code == 1
    assert "no store at" in result.stderr and not missing.exists()
    result = run("validate", str(RULES), "--against", str(RULES))
    assert result.exit_code == 2 and "--against needs --store" in result.stderr


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.split("│")]


def rule(counted: dict[str, object], kind: str, name: str) -> dict[str, object]:
    rules = counted["rules"]
    assert isinstance(rules, list)
    return next(r for r in rules if r["kind"] == kind and r["name"] == name)


def state(store: Store) -> dict[str, object]:
    """Every table's rows (as a digest) and, for SQLite, the files' bytes."""
    found: dict[str, object] = {}
    for table in ("customers", "assignments", "classification_runs", "transitions"):
        rows = store.execute(f"SELECT * FROM {table} ORDER BY 1")
        found[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    if store.dialect == "sqlite":
        for path in Path(store.location).parent.glob("guanxi.db*"):
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_the_place_of_a_rule_reads_in_chinese(loaded: Store, tmp_path: Path) -> None:
    folder = low_valu(tmp_path)
    result = run("--lang", "zh", "validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    assert "（strategies.csv 第 6 行）" in result.stderr
    assert f"（playbooks.yaml 第 {GUIDE} 行）" in result.stderr
    assert " row " not in result.stderr + result.stdout
    assert " line " not in result.stderr + result.stdout


HVA_PRODUCTS = "AND contribution_pct >= 70% AND products_held >= 4"


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("products_held >= 40", "数据库中没有客户满足 'products_held >= 40'：请检查这里比较的值"),
        (
            "contribution_pct >= 70",
            "数据库中没有客户满足 'contribution_pct >= 70'：请检查这里比较的值",
        ),
    ],
)
def test_the_part_of_a_condition_that_no_customer_meets_is_named(
    loaded: Store, tmp_path: Path, written: str, hint: str
) -> None:
    """Before: 'no customer meets its condition: check the values it compares with', however
    many parts the condition has."""
    old = "products_held >= 4" if written.startswith("products") else "contribution_pct >= 70%"
    folder = project(tmp_path, "tiers.yaml", HVA_PRODUCTS, HVA_PRODUCTS.replace(old, written))
    result = run("--lang", "zh", "validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    line = line_number(RULES / "tiers.yaml", "  - name: high_value_added")
    place = f"{folder}/tiers.yaml:{line}:11: 警告[catches-no-customer]: 层级 'high_value_added'"
    [warning] = [w for w in result.stderr.split("\n" + str(folder)) if place in f"{folder}{w}"]
    assert f"  提示: {hint}" in warning.splitlines()


def test_parts_each_met_but_never_together_are_counted(loaded: Store, tmp_path: Path) -> None:
    together = "products_held >= 4 AND kind = 'institutional' AND age >= 60"
    folder = project(
        tmp_path, "tiers.yaml", HVA_PRODUCTS, HVA_PRODUCTS.replace("products_held >= 4", together)
    )
    counted = {
        r.name: r for r in coverage(loaded, load_ruleset(folder), NOW).rules if r.kind == "tier"
    }
    rule = counted["high_value_added"]
    assert rule.alone == 0
    parts = dict(rule.parts)
    assert set(parts) >= {"products_held >= 4", "kind = 'institutional'", "age >= 60"}
    assert all(count > 0 for count in parts.values())
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    fewest = sorted(parts.items(), key=lambda part: part[1])[:3]
    counted = ", ".join(f"'{text}' {count:,}" for text, count in fewest)
    said = "each part is met by some customers, but none meets them all; the parts met least: "
    assert f"  hint: {said}{counted}\n" in result.stderr
    assert "'kind = 'institutional''" in counted


def test_a_branch_overlay_no_customer_is_of(loaded: Store, demo: Path, tmp_path: Path) -> None:
    """branches/长沙天心.yaml where the customers' branch says 长沙天心支行: valid, and it
    changes nothing; --store says so at the file, with the branch the customers have."""
    assert ",长沙天心支行," in demo.read_text("utf-8")
    folder = project(tmp_path, "guanxi.yaml", "calendar: CN", "calendar: CN")
    (folder / "branches").mkdir()
    overlay = "tiers:\n  valuable:\n    when: total_assets >= 10万 AND monthly_txn_count >= 10\n"
    for branch in ("长沙天心", "长沙天心支行"):
        (folder / "branches" / f"{branch}.yaml").write_text(overlay, "utf-8")
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    assert (
        "<project>/branches/长沙天心.yaml:1:1: warning[catches-no-customer]: 长沙天心.yaml adjusts"
        " the rules for the customers of branch '长沙天心', but none of the 2,000 customers is"
        " of it: the overlay changes nothing\n"
        "  1 | tiers:\n"
        "    | ^\n"
        "  hint: did you mean '长沙天心支行'?\n"
    ) in shown(result, folder)
    assert "长沙天心支行.yaml adjusts" not in result.stderr


def test_a_step_on_a_channel_none_of_its_customers_consents_to(
    loaded: Store, tmp_path: Path
) -> None:
    """A new WeChat channel whose consent no customer has given yet: the usage tips would all
    be suppressed, though the step reaches its customers."""
    folder = project(
        tmp_path,
        "policies.yaml",
        "  app:     {kind: message",
        "  wechat:  {kind: message, label: 微信, consent_field: consent_wechat}\n"
        "  app:     {kind: message",
    )
    schema = folder / "schema.yaml"
    field = "  consent_wechat: {type: boolean, label: 同意微信}\n  consent_app:"
    schema.write_text(schema.read_text("utf-8").replace("  consent_app:", field, 1), "utf-8")
    playbooks = folder / "playbooks.yaml"
    tips = "      channel: preferred\n      template: usage_tips"
    text = playbooks.read_text("utf-8")
    assert tips in text
    playbooks.write_text(text.replace(tips, tips.replace("preferred", "wechat")), "utf-8")
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "consents" in line]
    assert len(warned) == 1
    assert "step 'proactive_usage_tips'" in warned[0]
    assert warned[0].endswith(
        "but none of them consents to its channel (consent_wechat):"
        " every follow-up would be suppressed"
    )
    shipped = run("validate", str(RULES), "--store", loaded.location, *AT)
    assert "consents to its channel" not in shipped.stderr


def test_a_branch_overlays_warning_points_at_its_branch_not_into_a_comment(
    loaded: Store, tmp_path: Path
) -> None:
    """Before: the warning stood at line 1 and at the first '长沙天心' on it, inside the
    comment, though `branch:` names it on line 3 (or, without it, the file's name does)."""
    folder = project(tmp_path, "guanxi.yaml", "calendar: CN", "calendar: CN")
    (folder / "branches").mkdir()
    rule = "tiers:\n  valuable:\n    when: total_assets >= 10万 AND monthly_txn_count >= 10\n"
    named = (
        "# 长沙天心的调整（长沙天心支行另有文件）\n# 负责人：王五\nbranch: 长沙天心  # 长沙天心\n"
    )
    (folder / "branches" / "tianxin.yaml").write_text(named + rule, "utf-8")
    (folder / "branches" / "长沙岳麓.yaml").write_text("# 长沙岳麓的调整\n" + rule, "utf-8")
    result = run("validate", str(folder), "--store", loaded.location, *AT)
    assert result.exit_code == 0, result.output
    stderr = shown(result, folder)
    assert "<project>/branches/tianxin.yaml:3:9: warning[catches-no-customer]" in stderr
    assert "  3 | branch: 长沙天心  # 长沙天心\n    |         ^^^^^^^^\n" in stderr
    assert "<project>/branches/长沙岳麓.yaml:1:1: warning[catches-no-customer]" in stderr
