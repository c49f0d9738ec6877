"""Loads that quarantine rows: exit code 3, --max-quarantine (all or nothing), and
`guanxi quarantine list|show|clear`, on both stores."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.ingest.limit import QuarantineLimit
from guanxi.engine.privacy.audit import entries
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.store import open_store

RULES = Path(__file__).parent.parent / "rules"
LINES = ["customer_id,name,kind,balance", "C1,张三,personal,100", "C2,李四,vip,", "C3,王五,,1x"]
REFUSED = (
    "Error: c.csv: 2 of 3 rows (66.7%) could not be loaded, more than --max-quarantine {}"
    " allows: nothing was loaded. Correct the rows shown and load the file again\n"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store not made yet, on each store, and a working folder holding c.csv: one good
    row, two bad."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return "guanxi.db"


def run(where: str, *args: str, stdin: str | None = None) -> Result:
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(cli, [*args, "--rules", str(RULES), "--store", where], input=stdin)


def counts(where: str) -> tuple[int, int]:
    store = open_store(where)
    try:
        store.prepare(load_ruleset(RULES).schema)  # a refused first load left no table
        [customers] = store.execute("SELECT COUNT(*) AS n FROM customers")
        [quarantined] = store.execute("SELECT COUNT(*) AS n FROM quarantine")
        return customers["n"], quarantined["n"]
    finally:
        store.close()


def test_a_load_with_quarantined_rows_exits_3_and_says_where_they_are(where: str) -> None:
    result = run(where, "load", "customers", "c.csv")
    assert result.exit_code == 3, result.output
    assert result.stderr == (
        "2 row(s) of c.csv quarantined, not loaded:"
        f" guanxi quarantine list --store {shlex.quote(where)}\n"
    )
    assert counts(where) == (1, 2)
    clean = Path("ok.csv")
    clean.write_text("customer_id,name\nC9,赵六\n", encoding="utf-8")
    assert run(where, "load", "customers", "ok.csv").exit_code == 0


@pytest.mark.parametrize("limit", ["1", "50%"])
def test_past_max_quarantine_nothing_is_loaded_and_it_exits_1(where: str, limit: str) -> None:
    result = run(where, "load", "customers", "c.csv", "--max-quarantine", limit)
    assert result.exit_code == 1
    assert result.stderr == REFUSED.format(limit)
    assert "'vip' is not one of" in result.stdout  # the rows to correct
    assert counts(where) == (0, 0)


def test_within_max_quarantine_the_load_goes_on(where: str) -> None:
    result = run(where, "load", "customers", "c.csv", "--max-quarantine", "70%", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["quarantined"] == 2
    assert counts(where) == (1, 2)


def test_a_refused_load_as_json_says_why(where: str) -> None:
    result = run(where, "load", "customers", "c.csv", "--max-quarantine", "0", "--json")
    assert result.exit_code == 1
    refused = json.loads(result.stdout)
    assert refused["refused"] == REFUSED.format(0)[len("Error: ") : -1]
    assert (refused["read"], refused["quarantined"]) == (3, 2)


def test_a_bad_limit_is_a_usage_error(where: str) -> None:
    result = run(where, "load", "customers", "c.csv", "--max-quarantine", "many")
    assert result.exit_code == 2
    assert "'many' is not a number of rows (50) or a percentage (5%)" in result.stderr


def test_quarantine_list_show_and_clear(where: str, tmp_path: Path) -> None:
    run(where, "load", "customers", "c.csv")
    listed = json.loads(run(where, "quarantine", "list", "--json").stdout)
    assert listed["total"] == 2
    assert [(r["row_number"], r["field"], r["value"]) for r in listed["quarantined"]] == [
        (4, "balance", "1x"),
        (3, "kind", "vip"),
    ]
    first = listed["quarantined"][1]["id"]
    shown = run(where, "quarantine", "show", str(first))
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[1:] == [
        "  kind: 'vip' is not one of: corporate (公司客户), institutional (机构客户),"
        " personal (个人客户)",
        "      value: vip",
    ]
    # the file by its whole path: another folder's c.csv is another file
    assert shown.stdout.startswith(f"customers line 3 of {tmp_path / 'c.csv'} (")
    assert run(where, "quarantine", "list", "--source", "other.csv", "--json").stdout.startswith(
        '{\n  "total": 0'
    )
    written = run(where, "quarantine", "list", "--csv", str(tmp_path / "q.csv"))
    assert written.stderr == f"wrote 2 row(s) to {tmp_path / 'q.csv'}\n"
    assert (
        (tmp_path / "q.csv")
        .read_text("utf-8-sig")
        .startswith("id,kind,source,row_number,field,value,reason,at,loaded,customer_id,status\n")
    )
    kept = run(where, "quarantine", "clear", stdin="n\n")
    assert kept.exit_code == 1 and counts(where) == (1, 2)  # not confirmed: nothing deleted
    cleared = run(where, "quarantine", "clear", "--yes", "--json")
    assert json.loads(cleared.stdout) == {"cleared": 2}
    assert counts(where) == (1, 0)


def test_quarantine_csv_never_hands_excel_a_formula(where: str, tmp_path: Path) -> None:
    """The values a load refused are what a hostile file carries: in the CSV for Excel they
    are text, not formulas that run when the bank's staff open it (a negative balance, also
    refused, stays a plain number)."""
    link = '=HYPERLINK("http://evil.example/","点我")'
    rows = [["customer_id", "name", "kind", "balance"], ["C7", "赵七", "personal", link],
            ["C8", "钱八", "@SUM(A1)", "-12.5"]]  # fmt: skip
    with Path("evil.csv").open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    assert run(where, "load", "customers", "evil.csv").exit_code == 3
    assert run(where, "quarantine", "list", "--csv", str(tmp_path / "q.csv")).exit_code == 0
    with (tmp_path / "q.csv").open(encoding="utf-8-sig", newline="") as file:
        written = {(r["field"], r["value"]) for r in csv.DictReader(file)}
    assert written == {("balance", "'" + link), ("kind", "'@SUM(A1)"), ("balance", "-12.5")}


def test_showing_a_record_that_is_not_there(where: str) -> None:
    run(where, "load", "customers", "c.csv")
    result = run(where, "quarantine", "show", "99")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: no quarantined row 99: 'guanxi quarantine list' shows their ids\n",
    )


def test_limits_parse() -> None:
    assert QuarantineLimit.parse("12") == QuarantineLimit(rows=12)
    assert QuarantineLimit.parse(" 2.5% ") == QuarantineLimit(percent=2.5)
    for bad in ("", "-1", "1.5", "120%", "ten"):
        with pytest.raises(ValueError):
            QuarantineLimit.parse(bad)


PERSONAL = ["张三丰", "13812345678", "110101199003071234", "zhang.san@example.com", "王五"]


def test_quarantined_personal_data_is_masked_unless_unmasked_and_audited(
    where: str, tmp_path: Path
) -> None:
    """A name and a phone number refused for an invisible character, a broken line holding a
    name, an ID-card number and an e-mail address: masked in the load's own report (refused or
    not), the table, JSON, CSV and `show` alike; --unmask shows them whole, and is in the
    audit log first."""
    lines = ["customer_id,name,kind,balance,phone",
             "C1,张三丰\x07,personal,100,13800000001",
             "C2,李娜,personal,100,13812345678\x07",
             "C3,王五,110101199003071234,zhang.san@example.com,1,2,3"]  # fmt: skip
    Path("p.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = run(where, "load", "customers", "p.csv", "--json", "--max-quarantine", "1")
    assert refused.exit_code == 1 and json.loads(refused.stdout)["problems"]
    loaded = run(where, "load", "customers", "p.csv")
    assert loaded.exit_code == 3
    csv_file = tmp_path / "q.csv"
    listed = run(where, "quarantine", "list", "--json")
    ids = [str(r["id"]) for r in json.loads(listed.stdout)["quarantined"]]
    outputs = [
        refused.stdout,
        loaded.stdout,
        listed.stdout,
        run(where, "quarantine", "list").stdout,
        run(where, "quarantine", "list", "--csv", str(csv_file)).stdout,
        csv_file.read_text("utf-8-sig"),
        *(run(where, "quarantine", "show", record).stdout for record in ids),
    ]
    for output in outputs:
        assert not [value for value in PERSONAL if value in output], output
    assert "张*****7" in outputs[2] and "C3…,3" in outputs[2]  # 张三丰\\x07, the line
    assert audited(where) == []
    whole = run(where, "quarantine", "list", "--json", "--unmask")
    assert all(value in whole.stdout for value in PERSONAL)
    shown = run(where, "quarantine", "show", ids[-1], "--unmask")
    assert "张三丰" in shown.stdout
    assert audited(where) == [
        ("quarantine show --unmask", {"id": int(ids[-1]), "records": 1}),
        (
            "quarantine list --unmask",
            {"kind": None, "source": None, "customer": None, "csv": False, "records": 3},
        ),
    ]


def audited(where: str) -> list[tuple[str, dict[str, object]]]:
    store = open_store(where)
    try:
        return [(entry["action"], entry["detail"]) for entry in entries(store)]
    finally:
        store.close()


def test_loading_a_file_again_lists_its_bad_rows_once(where: str) -> None:
    assert run(where, "load", "customers", "c.csv").exit_code == 3
    again = run(where, "load", "customers", "c.csv", "--json")
    assert again.exit_code == 3
    assert json.loads(again.stdout)["quarantined"] == 2  # the load still says what it refused
    assert counts(where) == (1, 2)
    Path("d.csv").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    assert run(where, "load", "customers", "d.csv").exit_code == 3
    assert counts(where) == (1, 4)  # another file's bad rows count on their own
    Path("c.csv").write_text("\n".join([*LINES[:3], "C3,王五,,2"]) + "\n", encoding="utf-8")
    assert run(where, "load", "customers", "c.csv").exit_code == 3
    # C3 corrected and loaded; its old record stays in the log, C2's is not doubled
    assert counts(where) == (2, 4)
