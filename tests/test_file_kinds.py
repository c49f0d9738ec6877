"""A file given to the wrong load command (events to `load customers`, ...) is refused whole,
naming the command that takes it; rows of another kind later in a JSON Lines file are that
row's problem."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.errors import DataError
from guanxi.engine.ingest import load_consents, load_customers, load_events
from guanxi.engine.ingest.kinds import Kind, kind_of, kinds
from guanxi.engine.ingest.limit import Loader
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.test_ingest import NOW, write

EVENT = {"id": "E1", "type": "sale", "customer_id": "C1", "at": "2026-11-20T10:30:00+08:00"}
EVENTS = [json.dumps({**EVENT, "id": f"E{n}", "amount": 100}) for n in range(1, 6)]
CUSTOMERS = ["customer_id,name,kind", "C1,张三,personal", "C2,李四,corporate"]
CONSENTS = ["customer_id,channel,purpose,granted,source", "C1,sms,marketing,no,branch"]
LOADERS: dict[str, Loader] = {
    "customers": load_customers,
    "events": load_events,
    "consents": load_consents,
}


def rows(store: Store, table: str) -> int:
    return int(store.execute(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files(folder: Path) -> dict[str, Path]:
    """A file of each kind, in each of the formats a kind is often given in."""
    parquet = folder / "events.parquet"
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in EVENTS]), parquet)
    return {
        "events.jsonl": write(folder, "events.jsonl", *EVENTS),
        "events.parquet": parquet,
        "customers.csv": write(folder, "customers.csv", *CUSTOMERS),
        "customers.jsonl": write(
            folder, "customers.jsonl", json.dumps({"customer_id": "C1", "name": "张三"})
        ),
        "consents.csv": write(folder, "consents.csv", *CONSENTS),
    }


@pytest.mark.every_store
@pytest.mark.parametrize(
    ("name", "given_to", "kind"),
    [
        ("events.jsonl", "customers", "events"),
        ("events.parquet", "customers", "events"),
        ("events.jsonl", "consents", "events"),
        ("customers.csv", "events", "customers"),
        ("customers.jsonl", "events", "customers"),
        ("customers.csv", "consents", "customers"),
        ("consents.csv", "customers", "consents"),
        ("consents.csv", "events", "consents"),
    ],
)
def test_a_file_of_another_kind_is_refused_whole(
    store: Store, ruleset: RuleSet, tmp_path: Path, name: str, given_to: str, kind: str
) -> None:
    path = files(tmp_path)[name]
    with pytest.raises(DataError) as error:
        LOADERS[given_to](store, ruleset, path, NOW)
    assert str(error.value).startswith(f"{path}: this looks like ")
    assert str(error.value).endswith(f"nothing was loaded. Load it with: guanxi load {kind} {path}")
    store.prepare(ruleset.schema)
    for table in ("customers", "events", "quarantine", "consent_ledger"):
        assert rows(store, table) == 0, table


@pytest.mark.parametrize("name", ["events.jsonl", "customers.csv", "consents.csv"])
def test_a_file_of_the_right_kind_loads(
    store: Store, ruleset: RuleSet, tmp_path: Path, name: str
) -> None:
    report = LOADERS[name.split(".")[0]](store, ruleset, files(tmp_path)[name], NOW)
    assert report.quarantined == 0
    assert report.loaded > 0


def test_json_lines_of_another_kind_after_good_ones_are_quarantined_rows(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    good = [json.dumps({"customer_id": f"C{n}", "name": "张三"}) for n in range(1, 4)]
    path = write(tmp_path, "mixed.jsonl", *good, *EVENTS[:2])
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (3, 2)
    reasons = store.execute("SELECT row_number, field, reason FROM quarantine ORDER BY row_number")
    assert [(r["row_number"], r["field"], r["reason"]) for r in reasons] == [
        (4, "name", "required, but missing"),
        (5, "name", "required, but missing"),
    ]


def test_a_first_line_that_is_no_record_does_not_hide_the_kind(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = write(tmp_path, "events.jsonl", "{not json", *EVENTS)
    with pytest.raises(DataError, match="guanxi load events"):
        load_customers(store, ruleset, path, NOW)


def test_an_events_file_is_refused_even_where_customers_need_only_their_key(
    ruleset: RuleSet,
) -> None:
    known = kinds(ruleset)
    loose = Kind("customers", ("customer_id",), known["customers"].headers)
    columns = tuple(json.loads(EVENTS[0]))
    assert kind_of(columns, "customers", {**known, "customers": loose}) == "events"
    assert kind_of(("customer_id", "name"), "customers", {**known, "customers": loose}) == (
        "customers"
    )


def test_columns_headed_in_chinese_tell_the_kind(ruleset: RuleSet) -> None:
    known = kinds(ruleset)
    assert kind_of(("客户编号", "客户名称", "年龄"), "events", known) == "customers"
    assert kind_of(("事件编号", "事件类型", "客户编号", "发生时间"), "customers", known) == "events"


def test_the_cli_names_the_command_in_english_and_chinese(here: Path) -> None:
    write(here, "events.jsonl", *EVENTS)
    result = invoke("load", "customers", "events.jsonl")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "Error: events.jsonl: this looks like an events file, not a customers file (it has the"
        " columns id, type, customer_id, at); nothing was loaded. Load it with:"
        " guanxi load events events.jsonl\n"
    )
    chinese = invoke("--lang", "zh", "load", "customers", "events.jsonl")
    assert chinese.exit_code == 1
    assert chinese.stderr.endswith(
        "错误：events.jsonl：这看起来是事件文件，不是客户文件（它有列 id, type, customer_id, at）；"
        "没有导入任何数据。请用这条命令导入：guanxi load events events.jsonl\n"
    )


def test_the_hint_for_a_customers_file_given_to_load_events(here: Path) -> None:
    write(here, "客户 名单.csv", *CUSTOMERS)
    result = invoke("load", "events", "客户 名单.csv")
    assert result.exit_code == 1
    assert "did you mean" not in result.stderr
    assert result.stderr.endswith(
        "(it has the columns customer_id, name); nothing was loaded."
        " Load it with: guanxi load customers '客户 名单.csv'\n"
    )


@pytest.mark.parametrize(
    ("lang", "title"), [("en", "consent records from"), ("zh", "同意记录：从")]
)
def test_load_consents_prints_its_table_and_quarantine(here: Path, lang: str, title: str) -> None:
    """A consents file, one row of it bad, loaded as a table (not --json): the counts, the bad
    row with its reason and exit code 3, no traceback."""
    header = "customer_id,channel,purpose,granted,source,effective_at"
    write(
        here,
        "consents.csv",
        header,
        "C1,sms,marketing,no,branch,",
        "C2,sms,marketing,no,branch,0001-01-01",
    )
    result = invoke("--lang", lang, "load", "consents", "consents.csv", "--store", "g.db")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 3, result.output
    assert title in result.stdout
    assert "0001-01-01" in result.stdout
