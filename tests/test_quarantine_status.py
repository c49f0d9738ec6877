"""`guanxi quarantine list` and the load's summary tell the rows not loaded from the rows
loaded with a warning (an address no message can go to, a value left out), counted in rows:
a bank user reads "3 quarantined" as three customers not loaded. `show` and `clear` work
for both."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.store import Store
from tests.test_cli_quarantine import RULES

LINES = [
    "customer_id,name,kind,balance,phone,email",
    "C1,张三,personal,100,13800138000,zhang@bank.com",
    "C2,李四,personal,100,1380013800O,li@bank.com",  # loaded: the letter O in the phone
    "C3,王五,personal,100,13800138000,a@x.com;b@y.com",  # loaded: two addresses
    "C4,赵六,vip,1x,13800138000,zhao@bank.com",  # not loaded: two problems, one row
]
SUMMARY_EN = "not loaded: 1 row(s); loaded, with a warning: 2 row(s) (4 of 4 records, newest first)"
SUMMARY_ZH = "未导入：1 行；已导入，有提醒：2 行（共 4 条记录，显示 4 条，最新的在前）"


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return "guanxi.db"


def run(where: str, *args: str, lang: str = "en") -> Result:
    runner = CliRunner(env={"COLUMNS": "250", "GUANXI_LANG": lang})
    return runner.invoke(cli, [*args, "--rules", str(RULES), "--store", where])


def test_the_load_counts_the_rows_loaded_with_a_warning_apart(where: str) -> None:
    loaded = run(where, "load", "customers", "c.csv", "--json")
    assert loaded.exit_code == 3  # a row was not loaded
    report = json.loads(loaded.stdout)
    assert (report["loaded"], report["warned"], report["quarantined"]) == (3, 2, 1)
    table = run(where, "load", "customers", "c.csv").stdout
    assert "of them with a warning" in table and "not loaded (quarantined)" in table
    chinese = run(where, "load", "customers", "c.csv", lang="zh").stdout
    assert "其中有提醒" in chinese and "未导入（已隔离）" in chinese


def test_the_listing_tells_rows_not_loaded_from_rows_loaded(where: str, tmp_path: Path) -> None:
    run(where, "load", "customers", "c.csv")
    listed = json.loads(run(where, "quarantine", "list", "--json").stdout)
    assert (listed["total"], listed["rows"]) == (4, {"not_loaded": 1, "loaded_with_warning": 2})
    loaded = {(r["row_number"], r["field"]): r["loaded"] for r in listed["quarantined"]}
    assert loaded == {
        (5, "kind"): False,
        (5, "balance"): False,
        (4, "email"): True,
        (3, "phone"): True,
    }
    shown = run(where, "quarantine", "list").stdout
    assert SUMMARY_EN in shown
    statuses = [line.split("│")[2].strip() for line in shown.splitlines() if "c.csv" in line]
    assert statuses == ["loaded, with a warning"] * 2 + ["not loaded"] * 2
    assert run(where, "quarantine", "list", "--csv", str(tmp_path / "q.csv")).exit_code == 0
    with (tmp_path / "q.csv").open(encoding="utf-8-sig", newline="") as file:
        written = [(r["row_number"], r["loaded"], r["status"]) for r in csv.DictReader(file)]
    warned = [("4", "True", "loaded, with a warning"), ("3", "True", "loaded, with a warning")]
    assert written == [*warned, ("5", "False", "not loaded"), ("5", "False", "not loaded")]


def test_the_listing_in_chinese(where: str, tmp_path: Path) -> None:
    run(where, "load", "customers", "c.csv")
    shown = run(where, "quarantine", "list", lang="zh").stdout
    assert SUMMARY_ZH in shown
    assert "未导入" in shown and "已导入，有提醒" in shown
    run(where, "quarantine", "list", "--csv", str(tmp_path / "q.csv"), lang="zh")
    with (tmp_path / "q.csv").open(encoding="utf-8-sig", newline="") as file:
        statuses = [r["status"] for r in csv.DictReader(file)]
    assert statuses == ["已导入，有提醒"] * 2 + ["未导入"] * 2


def test_show_and_clear_work_for_both(where: str) -> None:
    run(where, "load", "customers", "c.csv")
    records = json.loads(run(where, "quarantine", "list", "--json").stdout)["quarantined"]
    ids = {r["loaded"]: r["id"] for r in records}
    loaded = run(where, "quarantine", "show", str(ids[True]))
    assert loaded.exit_code == 0 and loaded.stdout.splitlines()[0].endswith(
        ": loaded, with a warning"
    )
    assert "no message can go to this phone: character 11 is the letter 'O'" in loaded.stdout
    refused = run(where, "quarantine", "show", str(ids[False]), "--json")
    assert [r["loaded"] for r in json.loads(refused.stdout)["quarantined"]] == [False, False]
    shown = run(where, "quarantine", "show", str(ids[False])).stdout
    assert shown.splitlines()[0].endswith(": not loaded")
    cleared = run(where, "quarantine", "clear", "--yes", "--json")
    assert json.loads(cleared.stdout) == {"cleared": 4}
    listed = json.loads(run(where, "quarantine", "list", "--json").stdout)
    assert listed["rows"] == {"not_loaded": 0, "loaded_with_warning": 0}


@pytest.mark.every_store
def test_records_from_before_the_upgrade_are_marked_by_their_reason(store: Store) -> None:
    """A store whose records were written before `loaded` existed: their reasons, in English
    or in Chinese, say which rows were loaded all the same."""
    reasons = [
        "loaded, but no message can go to this phone: x",
        "已导入，但消息无法发到这个电话：x",
        "loaded without this value, left as stored: x",
        "已导入，但未采用这个值，该字段保持原值：x",
        "'vip' is not one of: personal",
        "已导入的客户 C1 已被删除",  # not the prefix of a kept row
    ]
    store.execute("ALTER TABLE quarantine DROP COLUMN loaded")
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm034_quarantine_loaded'")
    for number, reason in enumerate(reasons, 2):
        store.execute(
            "INSERT INTO quarantine (kind, source, row_number, reason) VALUES"
            " ('customers', 'c.csv', :n, :reason)",
            {"n": number, "reason": reason},
        )
    assert "m034_quarantine_loaded" in store.migrate()
    marked = store.execute("SELECT loaded FROM quarantine ORDER BY row_number")
    assert [row["loaded"] for row in marked] == [1, 1, 1, 1, 0, 0]


def test_a_row_listed_by_two_loads_is_one_row(where: str) -> None:
    """The second load, in Chinese, words its reasons anew and replaces the first load's
    records: the rows are still one not loaded and two loaded with a warning."""
    run(where, "load", "customers", "c.csv")
    first = json.loads(run(where, "quarantine", "list", "--json").stdout)
    run(where, "load", "customers", "c.csv", lang="zh")
    listed = json.loads(run(where, "quarantine", "list", "--json").stdout)
    assert listed["total"] == first["total"]
    assert listed["rows"] == {"not_loaded": 1, "loaded_with_warning": 2}
