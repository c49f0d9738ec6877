"""Under GUANXI_LANG=zh the single words a clerk reads are Chinese too: the quarantine's
headers and row kinds, explain's tier/level/strategy labels and yes/no, a step's kind, the
stage a daemon failed in. English keeps the words as stored, and --json/--csv keep them."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest

from guanxi.engine.daemon import heartbeat
from guanxi.engine.daemon.logs import TextFormatter
from guanxi.engine.store.base import open_store
from tests.test_chinese_output import NOW, guanxi, run

CUSTOMER = "C0000001"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zhwords")
    code, shown = guanxi("demo", "--customers", "200", "--dir", folder / "demo", "--now", NOW)
    assert code == 0, shown
    return folder / "demo" / "guanxi.db"


def header(table_text: str) -> list[str]:
    line = next(line for line in table_text.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def column(table_text: str, index: int) -> set[str]:
    rows = [line for line in table_text.splitlines() if line.startswith("│")]
    return {row.strip("│").split("│")[index].strip() for row in rows} - {""}


def test_quarantine_list_in_chinese_names_its_id_column_and_row_kinds(db: Path) -> None:
    shown = run("quarantine", "list", "--store", db).stdout
    assert header(shown)[:3] == ["编号", "状态", "类型"], shown
    assert column(shown, 2) == {"客户", "事件"}, shown


def test_quarantine_list_in_english_and_json_keep_the_stored_kinds(db: Path) -> None:
    english = run("quarantine", "list", "--store", db, lang="en").stdout
    assert header(english)[:3] == ["id", "status", "kind"]
    assert column(english, 2) == {"customers", "events"}
    machine = json.loads(run("quarantine", "list", "--store", db, "--json").stdout)
    assert {row["kind"] for row in machine["quarantined"]} == {"customers", "events"}


def test_quarantine_show_in_chinese_names_the_row_kind(db: Path) -> None:
    listed = run("quarantine", "list", "--store", db, "--json").stdout
    first = next(r for r in json.loads(listed)["quarantined"] if r["kind"] == "customers")
    shown = run("quarantine", "show", str(first["id"]), "--store", db).stdout
    assert shown.startswith("客户："), shown


def test_explain_in_chinese_labels_the_decisions_and_says_yes_or_no(db: Path) -> None:
    shown = run("explain", CUSTOMER, "--store", db).stdout
    for label in ("层级", "关系水平", "策略"):
        assert re.search(rf"^{label}: ", shown, re.M), shown
    assert re.search(r"^(tier|level|strategy): ", shown, re.M) is None, shown
    assert re.search(r"│ (True|False|None|nan) +│", shown) is None, shown
    assert re.search(r"│ gold +│ 金牌客户 +│ (是|否) +│", shown), shown
    assert re.search(r"^gold: (是|否) — ", shown, re.M), shown
    assert re.search(r"· (task|message) ·", shown) is None, shown


def test_explain_in_english_keeps_true_false_and_the_rule_words(db: Path) -> None:
    shown = run("explain", CUSTOMER, "--store", db, lang="en").stdout
    assert re.search(r"^tier: ", shown, re.M) and re.search(r"^level: ", shown, re.M)
    assert re.search(r"│ gold +│ 金牌客户 +│ (True|False) +│", shown), shown


def test_followups_list_in_chinese_shows_the_step_kind_as_a_word(db: Path) -> None:
    shown = run("followups", "list", "--limit", "50", "--store", db).stdout
    kinds = column(shown, header(shown).index("类型"))
    assert kinds and kinds <= {"任务", "消息"}, shown
    english = run("followups", "list", "--limit", "50", "--store", db, lang="en").stdout
    assert column(english, header(english).index("kind")) <= {"task", "message"}


def test_health_in_chinese_names_the_stage_a_daemon_failed_in(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "health.db"
    copy.write_bytes(db.read_bytes())
    store = open_store(str(copy))
    try:
        at = NOW + dt.timedelta(minutes=1)
        failure = ConnectionError("smtp.bank.cn refused")
        heartbeat.record_failed_start(store, "bank-app-1:4242", at, "start", failure, 60.0)
    finally:
        store.close()
    chinese = run("health", "--store", copy, "--now", NOW.isoformat())
    assert "启动: ConnectionError: smtp.bank.cn refused" in chinese.stdout, chinese.stdout
    english = run("health", "--store", copy, "--now", NOW.isoformat(), lang="en")
    assert "start: ConnectionError" in english.stdout
    stages = json.loads(run("health", "--store", copy, "--now", NOW.isoformat(), "--json").stdout)
    assert [d["failed_stage"] for d in stages["daemons"]] == ["start"]


def test_the_text_log_leaves_out_a_field_without_a_value() -> None:
    record = logging.makeLogRecord({"msg": "guanxi daemon started", "levelname": "INFO"})
    record.__dict__.update({"ruleset": "6d2a", "release": None, "port": None})
    line = TextFormatter().format(record)
    assert line.endswith("guanxi daemon started ruleset=6d2a"), line
    assert "None" not in line


def test_rules_with_a_store_in_chinese_names_each_ladder(db: Path) -> None:
    shown = run("rules", "--store", db).stdout
    for label in ("层级", "关系水平", "策略"):
        assert f"{label}：每条规则匹配的客户数" in shown, shown
    assert re.search(r"^(tier|level|strategy)：", shown, re.M) is None, shown
