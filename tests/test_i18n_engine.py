"""The engine's own messages in Chinese: quarantine reasons of a load (stored in the language
of the load, like policy reasons), `guanxi test` differences, explain's reasons, doctor's
checks; and the same messages in English unchanged."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify.facts import Fact
from guanxi.engine.doctor.checks import Check
from guanxi.engine.i18n import Language, language
from guanxi.engine.ingest import load_customers
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import open_store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
BAD_ROWS = [
    "customer_id,name,kind,opened_on,balance,age,preferred_channel,consent_sms,last_txn_date",
    "C1,张三,personal,2026-11-03,1000,30,sms,true,2026-11-20",
    "C2,李四,personal,03/11/2026,1000,30,sms,true,2026-11-20",
    "C3,王五,personal,2026-11-03,很多,30,sms,maybe,2026-11-20",
    "C1,赵六,personal,2026-11-03,1000,30,sms,true,2026-11-20",
]


def cli_in(lang: Language, *args: str) -> Result:
    """`guanxi --lang LANG ARGS`; the process's language is as before afterwards."""
    with language("en"):
        return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["--lang", lang, *args])


def quarantine_after_load(tmp_path: Path, ruleset: RuleSet, lang: Language) -> list[tuple]:
    path = tmp_path / f"customers_{lang}.csv"
    path.write_text("\n".join(BAD_ROWS) + "\n", encoding="utf-8")
    store = SQLiteStore(tmp_path / f"{lang}.db")
    try:
        store.prepare(ruleset.schema)
        with language(lang):
            report = load_customers(store, ruleset, path, NOW)
        assert (report.loaded, report.quarantined) == (1, 3)
        sql = "SELECT row_number, field, reason FROM quarantine ORDER BY row_number, id"
        return [(r["row_number"], r["field"], r["reason"]) for r in store.execute(sql)]
    finally:
        store.close()


def test_a_load_in_chinese_stores_chinese_reasons_with_the_line_numbers(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    assert quarantine_after_load(tmp_path, ruleset, "zh") == [
        (
            3,
            "opened_on",
            "'03/11/2026' 不是日期：请写成 YYYY-MM-DD、YYYY/MM/DD、YYYY.MM.DD 或 YYYY年M月D日"
            "（年份在前）",
        ),
        (4, "balance", "'很多' 不是数字"),
        (4, "consent_sms", "'maybe' 不是是/否（请写 true/false、yes/no、y/n、1/0 或 是/否）"),
        (5, "customer_id", "customer_id「C1」重复：第 2 行已有"),
    ]


def test_the_same_load_in_english_keeps_the_english_reasons(
    tmp_path: Path, ruleset: RuleSet
) -> None:
    assert quarantine_after_load(tmp_path, ruleset, "en") == [
        (
            3,
            "opened_on",
            "'03/11/2026' is not a date: write it YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or"
            " YYYY年M月D日 (year first)",
        ),
        (4, "balance", "'很多' is not a number"),
        (
            4,
            "consent_sms",
            "'maybe' is not true or false (write true/false, yes/no, y/n, 1/0 or 是/否)",
        ),
        (5, "customer_id", "duplicate customer_id 'C1': already on line 2"),
    ]


def failing_project(tmp_path: Path) -> Path:
    project = tmp_path / "rules"
    shutil.copytree(RULES, project, ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.db*"))
    tiers = project / "tiers.yaml"
    busy = "AND monthly_txn_count >= {} AND contribution_pct >= 70%"  # 负责型's customer: 15
    text = tiers.read_text("utf-8")
    assert busy.format(10) in text
    tiers.write_text(text.replace(busy.format(10), busy.format(20)), "utf-8")
    playbooks = project / "playbooks.yaml"
    text = playbooks.read_text("utf-8")
    playbooks.write_text(text.replace("after: 3 business days", "after: 4 business days"), "utf-8")
    return project


def test_guanxi_test_in_chinese_says_what_differed(tmp_path: Path) -> None:
    project = failing_project(tmp_path)
    found = cli_in("zh", "test", str(project), "--only", "负责型", "--json")
    assert found.exit_code == 1, found.output
    [scenario] = json.loads(found.stdout)["scenarios"]
    assert [d["message"] for d in scenario["differences"]] == [
        "期望层级为 valuable，实际为 low_value",
        "1 项跟进期望未满足（- 期望的，+ 已计划的）",
    ]
    shown = cli_in("zh", "test", str(project))
    assert shown.exit_code == 1
    assert "1 项跟进期望未满足（- 期望的，+ 已计划的）" in shown.stdout
    assert "- responsible_post_sale_call · rm_task · 到期 2026-10-09T10:00" in shown.stdout
    english = cli_in("en", "test", str(project), "--only", "负责型", "--json")
    [scenario] = json.loads(english.stdout)["scenarios"]
    assert [d["message"] for d in scenario["differences"]] == [
        "expected tier valuable, got low_value",
        "1 follow-up expectation(s) not met (- expected, + planned)",
    ]


def test_explain_says_why_a_condition_failed_in_the_readers_language() -> None:
    fact = Fact("balance >= 100000", False, {"balance": 500})
    with language("zh"):
        assert str(fact) == "balance >= 100000 不成立 (balance = 500)"
    assert str(fact) == "balance >= 100000 is false (balance = 500)"


def test_doctor_in_chinese_names_its_checks_and_keeps_their_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("guanxi.engine.doctor.checks.which", lambda name: None)
    shutil.copytree(RULES, tmp_path / "rules", ignore=shutil.ignore_patterns("*.py", "*.db*"))
    open_store(str(tmp_path / "guanxi.db")).close()
    result = cli_in("zh", "doctor", "--timeout", "1", "--json")
    checks = {c["code"]: c for c in json.loads(result.stdout)["checks"]}
    assert (checks["store"]["name"], checks["store"]["detail"]) == ("数据库", "guanxi.db 有回应")
    assert (checks["migrations"]["name"], checks["migrations"]["detail"]) == (
        "数据库升级",
        "全部已应用",
    )
    assert checks["java"]["detail"] == "未找到：只有 classify --engine spark 需要它"
    assert checks["delivery default"]["name"] == "发送 default"
    shown = cli_in("zh", "doctor", "--timeout", "1")
    assert "时区: Asia/Shanghai：当地时间" in shown.stdout
    english = cli_in("en", "doctor", "--timeout", "1", "--json")
    checks = {c["code"]: c for c in json.loads(english.stdout)["checks"]}
    assert checks["store"] == {
        "name": "store",
        "code": "store",
        "status": "ok",
        "detail": "guanxi.db answers",
    }
    assert Check("delivery sms", "ok", "").name == "delivery sms"
