"""`guanxi explain` of a customer whose row a load quarantined: not "no customer", but which
row of which file, each problem, and how to bring them in; a stored customer whose later row
was quarantined is explained with a note that their data may be stale. The quarantine keeps
the customer a row names (migration m036), which `quarantine list --customer` filters by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.store import Store

RULES = Path(__file__).parent.parent / "rules"
HEADER = "customer_id,name,kind,balance,phone"
BAD = [
    HEADER,
    "C1,张三,personal,100,13800138000",
    "C4,赵六,vip,1x,13900139000",  # not loaded: two problems
    ",无名,personal,100,13800138000",  # not loaded: no id, so no customer named
]
NOW = "2026-12-01T10:00:00+08:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return "guanxi.db"


def write(name: str, lines: list[str]) -> str:
    Path(name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def run(where: str, *args: str, lang: str = "en") -> Result:
    runner = CliRunner(env={"COLUMNS": "250", "GUANXI_LANG": lang})
    return runner.invoke(cli, [*args, "--rules", str(RULES), "--store", where])


def test_explain_says_which_row_was_quarantined_and_why(where: str) -> None:
    assert run(where, "load", "customers", write("c.csv", BAD)).exit_code == 3
    unknown = run(where, "explain", "C9", "--now", NOW)
    assert unknown.exit_code == 1 and "no customer 'C9'" in unknown.stderr
    missing = run(where, "explain", "C4", "--now", NOW)
    assert missing.exit_code == 1  # as for an unknown customer: there is nothing to explain
    said = missing.stderr
    assert "no customer 'C4' in the store: a load quarantined their row" in said
    assert f"line 3 of {Path('c.csv').absolute()}, quarantined when loaded on 20" in said
    assert "  kind: 'vip' is not one of" in said and "  balance: '1x'" in said
    assert "correct the file and load it again to bring them in" in said
    chinese = run(where, "explain", "C4", "--now", NOW, lang="zh").stderr
    assert "客户 'C4' 不在库中" in chinese and "第 3 行" in chinese and "重新导入" in chinese


def test_the_quarantined_values_are_masked_unless_unmasked(where: str) -> None:
    """A later row's values may be data the stored customer does not hold (a new name)."""
    run(where, "load", "customers", write("c.csv", BAD))
    run(where, "load", "customers", write("n.csv", [HEADER, "C1,孙悟空\x01,personal,1,"]))
    shown = run(where, "explain", "C1", "--now", NOW, "--json")
    [record] = json.loads(shown.stdout)["quarantined"]
    assert record["field"] == "name" and "孙悟空" not in shown.stdout
    whole = run(where, "explain", "C1", "--now", NOW, "--json", "--unmask")
    assert "孙悟空" in json.loads(whole.stdout)["quarantined"][0]["value"]


def test_a_stored_customer_notes_the_row_a_later_load_quarantined(where: str) -> None:
    run(where, "load", "customers", write("bad.csv", BAD))
    fixed = [HEADER, "C4,赵六,personal,100,13900139000"]
    run(where, "load", "customers", write("good.csv", fixed))
    explained = run(where, "explain", "C4", "--now", NOW)
    assert explained.exit_code == 0 and "stale" not in explained.stdout  # fixed since
    later = [HEADER, "C4,赵六,personal,-5,13900139000"]
    run(where, "load", "customers", write("later.csv", later))
    explained = run(where, "explain", "C4", "--now", NOW)
    assert explained.exit_code == 0
    assert "a later load quarantined a row of this customer" in explained.stdout
    assert "line 2 of" in explained.stdout and "later.csv" in explained.stdout
    as_json = json.loads(run(where, "explain", "C4", "--now", NOW, "--json").stdout)
    assert [(r["field"], r["row_number"]) for r in as_json["quarantined"]] == [("balance", 2)]
    chinese = run(where, "explain", "C4", "--now", NOW, lang="zh").stdout
    assert "数据可能已过时" in chinese


def test_quarantine_list_by_customer(where: str) -> None:
    run(where, "load", "customers", write("c.csv", BAD))
    listed = json.loads(run(where, "quarantine", "list", "--customer", "C4", "--json").stdout)
    assert {(r["field"], r["customer_id"]) for r in listed["quarantined"]} == {
        ("kind", "C4"),
        ("balance", "C4"),
    }
    everything = json.loads(run(where, "quarantine", "list", "--json").stdout)["quarantined"]
    assert {r["customer_id"] for r in everything} == {"C4", None}  # the row without an id


@pytest.mark.every_store
def test_records_from_before_the_upgrade_name_nobody(store: Store) -> None:
    """A store from before m036: the column is added, its earlier records left NULL."""
    store.execute("DROP INDEX quarantine_customer")
    store.execute("ALTER TABLE quarantine DROP COLUMN customer_id")
    table = "_sqlite_migrations" if store.dialect == "sqlite" else "guanxi_migrations"
    store.execute(f"DELETE FROM {table} WHERE name = 'm036_quarantine_customer'")
    store.execute(
        "INSERT INTO quarantine (kind, source, row_number, reason) VALUES"
        " ('customers', 'c.csv', 2, 'bad')"
    )
    assert "m036_quarantine_customer" in store.migrate()
    assert store.execute("SELECT customer_id FROM quarantine") == [{"customer_id": None}]
