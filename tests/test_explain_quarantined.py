"""`guanxi explain` of a customer whose row a load quarantined: not "no customer", but which
row of which file, each problem, and how to bring them in; a stored customer whose later row
was quarantined is explained with a note that their data may be stale, and one whose event or
consent row was quarantined with what that means (a withdrawal not taken: the older consent
stands) and what to do. The quarantine keeps the customer a row names (migration m036), which
`quarantine list --customer` filters by and erasure deletes by; the day of a load is told in
the project's zone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.classify.explain import QuarantinedCustomer, explain
from guanxi.engine.ingest.load import load_customers
from guanxi.engine.ruleset import RuleSet
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


EVENTS = [
    "id,type,customer_id,at,amount",
    "E1,sale,C1,2026-11-30T10:00:00,-5",  # not loaded: a negative amount
    "E2,sale,,2026-11-30T10:00:00,5",  # not loaded: no customer, so none named
]
CONSENTS = [
    "customer_id,channel,purpose,granted,source,effective_at",
    "C1,sms,marketing,yes,branch,2026-11-01T09:00:00",
    "C1,sms,marketing,no,post,2026-11-20T09:00:00",  # the withdrawal, of an unknown source
]


def loaded_with_bad_events_and_consents(where: str, at: str = NOW) -> None:
    """`at`: the time of the events' load (the others load at the clock's time)."""
    assert run(where, "load", "customers", write("c.csv", BAD)).exit_code == 3
    assert run(where, "load", "events", write("e.csv", EVENTS), "--now", at).exit_code == 3
    assert run(where, "load", "consents", write("k.csv", CONSENTS)).exit_code == 3


def test_a_quarantined_withdrawal_is_explained(where: str) -> None:
    loaded_with_bad_events_and_consents(where)
    explained = run(where, "explain", "C1", "--now", NOW)
    assert explained.exit_code == 0, explained.output
    said = explained.stdout
    assert "a load quarantined consent records of this customer" in said
    assert "If one withdrew consent, the store still holds the older consent" in said
    assert f"line 3 of {Path('k.csv').absolute()}, quarantined when loaded on" in said
    assert "  source: " in said
    assert f"(guanxi load consents {Path('k.csv').absolute()})" in said
    chinese = run(where, "explain", "C1", "--now", NOW, lang="zh").stdout
    assert "该客户的同意记录" in chinese and "库中仍保留较早的同意" in chinese
    assert f"{Path('k.csv').absolute()} 第 3 行" in chinese


def test_a_quarantined_event_row_is_explained(where: str) -> None:
    loaded_with_bad_events_and_consents(where)
    said = run(where, "explain", "C1", "--now", NOW).stdout
    assert "a load quarantined event rows of this customer" in said
    assert f"line 2 of {Path('e.csv').absolute()}, quarantined when loaded on" in said
    assert "  amount: " in said and "line 3 of" not in said.split("consent records")[0]
    assert f"(guanxi quarantine clear --source {Path('e.csv').absolute()})" in said
    as_json = json.loads(run(where, "explain", "C1", "--now", NOW, "--json").stdout)
    assert [r["row_number"] for r in as_json["quarantined_events"]] == [2]
    assert [r["field"] for r in as_json["quarantined_consents"]] == ["source"]
    assert as_json["quarantined"] == []  # their customer row was loaded
    chinese = run(where, "explain", "C1", "--now", NOW, lang="zh").stdout
    assert "该客户的事件行" in chinese and "guanxi load events" in chinese


def test_quarantine_list_by_customer_has_their_events_and_consents(where: str) -> None:
    loaded_with_bad_events_and_consents(where)
    listed = json.loads(run(where, "quarantine", "list", "--customer", "C1", "--json").stdout)
    assert {(r["kind"], r["row_number"]) for r in listed["quarantined"]} == {
        ("events", 2),
        ("consents", 3),
    }
    events = json.loads(run(where, "quarantine", "list", "--kind", "events", "--json").stdout)
    assert {r["row_number"]: r["customer_id"] for r in events["quarantined"]} == {2: "C1", 3: None}
    consents = run(where, "quarantine", "list", "--kind", "consents", "--json").stdout
    assert [r["customer_id"] for r in json.loads(consents)["quarantined"]] == ["C1"]


def test_erasure_deletes_their_quarantined_events_and_consents(where: str) -> None:
    loaded_with_bad_events_and_consents(where)
    erased = run(where, "customer", "erase", "C1", "--yes", "--now", NOW)
    assert erased.exit_code == 0, erased.output
    left = json.loads(run(where, "quarantine", "list", "--json").stdout)["quarantined"]
    assert {(r["kind"], r["row_number"]) for r in left} == {
        ("customers", 3),  # C4's two problems
        ("customers", 4),  # the row without an id
        ("events", 3),  # the event without a customer
    }


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "line 2 of {file}, quarantined when loaded on 2026-12-02:"),
        ("zh", "{file} 第 2 行，2026-12-02 导入时被隔离："),
    ],
)
def test_the_day_of_the_load_is_the_projects(where: str, lang: str, said: str) -> None:
    """A load at 01:30 in Shanghai is the evening before in UTC, where the store keeps it."""
    loaded_with_bad_events_and_consents(where, at="2026-12-02T01:30:00+08:00")
    explained = run(where, "explain", "C1", "--now", NOW, lang=lang)
    assert said.format(file=Path("e.csv").absolute()) in explained.stdout


@pytest.mark.every_store
def test_a_missing_customers_row_is_told_on_the_projects_day(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("\n".join(BAD) + "\n", encoding="utf-8")
    load_customers(store, ruleset, path, dt.datetime.fromisoformat("2026-12-02T01:30:00+08:00"))
    with pytest.raises(QuarantinedCustomer) as missing:
        explain(store, ruleset, "C4", dt.datetime.fromisoformat(NOW))
    assert f"line 3 of {path}, quarantined when loaded on 2026-12-02:" in str(missing.value)


def test_a_customer_never_stored_shows_their_quarantined_event_and_consent_rows(
    where: str,
) -> None:
    """C7's own row is yet to come. Before: only "no customer 'C7'"."""
    events = [EVENTS[0], "E7,sale,C7,2026-11-30T10:00:00,-5"]
    consents = [CONSENTS[0], "C7,sms,marketing,no,post,2026-11-20T09:00:00"]
    assert run(where, "load", "events", write("e.csv", events), "--now", NOW).exit_code == 3
    assert run(where, "load", "consents", write("k.csv", consents)).exit_code == 3
    explained = run(where, "explain", "C7", "--now", NOW)
    assert explained.exit_code == 1
    said = explained.stderr
    assert said.startswith("Error: no customer 'C7'\n")
    assert "a load quarantined event rows of this customer" in said
    assert f"line 2 of {Path('e.csv').absolute()}, quarantined when loaded on" in said
    assert "  amount: " in said and "  source: " in said
    assert f"(guanxi load events {Path('e.csv').absolute()})" in said
    assert "a load quarantined consent records of this customer" in said
    assert f"(guanxi quarantine clear --source {Path('k.csv').absolute()})" in said
    chinese = run(where, "explain", "C7", "--now", NOW, lang="zh")
    assert chinese.exit_code == 1
    assert "该客户的事件行" in chinese.stderr and "该客户的同意记录" in chinese.stderr
    assert f"{Path('e.csv').absolute()} 第 2 行" in chinese.stderr
    nobody = run(where, "explain", "C9", "--now", NOW)
    assert (nobody.exit_code, nobody.stderr) == (1, "Error: no customer 'C9'\n")


def test_a_quarantined_customer_row_comes_with_their_event_rows(where: str) -> None:
    assert run(where, "load", "customers", write("c.csv", BAD)).exit_code == 3
    events = [EVENTS[0], "E4,sale,C4,2026-11-30T10:00:00,-5"]
    run(where, "load", "events", write("e.csv", events), "--now", NOW)
    said = run(where, "explain", "C4", "--now", NOW).stderr
    assert "no customer 'C4' in the store: a load quarantined their row" in said
    assert said.index("correct the file and load it again") < said.index("event rows")
    assert f"line 2 of {Path('e.csv').absolute()}" in said
