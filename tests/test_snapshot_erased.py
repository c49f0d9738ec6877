"""A customer erased at their request (`guanxi customer erase`) never comes back through the
night's snapshot (`classify --input`, DuckDB and Spark), as `load` refuses them: their rows
are not classified, nothing is planned for them, and the night counts and lists the rows with
the receipt and the pseudonym only."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.cli.main import cli
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.privacy.erasure import fields_of, pseudonym, pseudonym_sql, store_secret
from guanxi.engine.privacy.requests import erase_request
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

RULES = Path(__file__).parent.parent / "rules"
ERASED = "C007"  # a partner: entering the level again plans a manager's welcome visit
NAME = "欧阳娜娜"
NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


def customer(i: int) -> dict[str, Any]:
    """Customers 1-9 large enough to be partners (high value added, gold), the rest small."""
    large = i < 10
    return {
        "customer_id": ERASED if i == 7 else f"C{i:03d}",
        "name": NAME if i == 7 else f"客户{i}",
        "kind": "personal",
        "balance": 500_000 if large else 1_000,
        "monthly_txn_count": 20,
        "last_txn_date": "2026-11-20",
        "products_held": 5,
        "annual_contribution": 50_000 + i if large else 10 + i,
        "cost_to_serve": 100,
        "consent_marketing": "true",
        "phone": f"139{i:08d}",
    }


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.table({c: [str(r[c]) for r in rows] for c in rows[0]}), path)
    return path


def guanxi(store: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--rules", str(RULES), "--store", str(store)])
    assert result.exit_code == 0, result.output
    return result


def classified_then_erased(tmp_path: Path, suffix: str) -> tuple[Path, Path]:
    """A store whose customers a night classified, one of them then erased; and the next
    night's snapshot, which still holds that customer, twice."""
    store = tmp_path / "guanxi.db"
    customers = [customer(i) for i in range(1, 41)]
    first = write(tmp_path / f"first{suffix}", customers)
    guanxi(store, "classify", "--input", str(first), "--now", "2026-11-26T02:00:00+08:00")
    guanxi(store, "customer", "erase", ERASED, "--yes")
    # the erased customer's rows are the first and the last: never named in a "duplicate"
    night = [customers[6], *customers[:6], *customers[7:], customers[6]]
    return store, write(tmp_path / f"night{suffix}", night)


def stored(store: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_erased_customer_in_the_nights_snapshot_is_refused_as_load_refuses_them(
    tmp_path: Path, suffix: str
) -> None:
    """Erased after a night classified them, still in the bank's export the next night: the
    night classified them again as a new customer, under their id, into the partners (whose
    welcome visit is planned once the customer row is there, which load refuses), and
    counted them among the customers."""
    store, night = classified_then_erased(tmp_path, suffix)
    result = guanxi(store, "classify", "--input", str(night), "--json")
    report = json.loads(result.stdout)
    assert_refused(store, report["customers"], report["rejected"], report["problems"], suffix)
    assert ERASED not in result.output + result.stderr and NAME not in result.output


def assert_refused(
    store: Path, customers: int, rejected: int, problems: list[dict[str, Any]], suffix: str
) -> None:
    """The erased customer's row was refused, counted and listed with the receipt and the
    pseudonym; nothing of them is stored again."""
    [(alias, receipt)] = stored(store, "SELECT pseudonym, id FROM erasures")
    for table in ("assignments", "transitions", "followups"):
        assert stored(store, f"SELECT * FROM {table} WHERE customer_id = '{ERASED}'") == []
    assert (customers, rejected) == (39, 2)
    rows = [1, 41] if suffix == ".parquet" else [2, 42]  # a CSV's rows by their lines
    assert [p["row_number"] for p in problems] == rows
    for problem in problems:  # each refused as load refuses it, the second no "duplicate"
        assert (problem["field"], problem["value"]) == ("customer_id", alias)
        assert problem["reason"].startswith("erased on ")
        assert f"(receipt {receipt})" in problem["reason"]
    assert stored(store, "SELECT field, value FROM quarantine") == [("customer_id", alias)] * 2
    quarantined = json.dumps(stored(store, "SELECT * FROM quarantine"), ensure_ascii=False)
    assert ERASED not in quarantined and NAME not in quarantined


def test_the_night_tells_of_the_erased_customer_in_chinese(tmp_path: Path) -> None:
    store, night = classified_then_erased(tmp_path, ".csv")
    result = guanxi(store, "--lang", "zh", "classify", "--input", str(night))
    said = " ".join(result.output.split())
    assert "2 行与 'guanxi load' 一样被拒收" in said  # counted as the screen's other rows
    assert "应客户请求删除（回执 1）" in said  # erased at their request, the receipt
    assert ERASED not in result.output and NAME not in result.output


def test_a_store_with_erasures_classifies_every_other_new_customer(tmp_path: Path) -> None:
    """Only the erased customer is refused: customers new to the store, whose ids begin or
    end like the erased one's, are classified and welcomed."""
    store, _night = classified_then_erased(tmp_path, ".parquet")
    newcomers = [{**customer(i), "customer_id": f"{ERASED}{i}"} for i in range(1, 4)]
    newcomers.append({**customer(4), "customer_id": ERASED.lower()})
    night = write(tmp_path / "new.parquet", [customer(i) for i in range(1, 41)] + newcomers)
    report = json.loads(guanxi(store, "classify", "--input", str(night), "--json").stdout)
    assert (report["customers"], report["rejected"]) == (43, 1)
    like = f"SELECT customer_id FROM assignments WHERE customer_id LIKE '%{ERASED[1:]}%'"
    found = stored(store, like)
    assert sorted(c for (c,) in found) == sorted(n["customer_id"] for n in newcomers)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.text(st.characters(exclude_categories=["Cs"])))
def test_the_sql_pseudonym_is_the_one_erasure_wrote(secret: bytes, customer_id: str) -> None:
    """The night finds an erased customer by the pseudonym, computed in SQL, that erasure
    computed in Python from the id (any id, in any script)."""
    sql = pseudonym_sql(secret, "id")
    [(found,)] = duckdb.execute(f"SELECT {sql} FROM (SELECT ? AS id)", [customer_id]).fetchall()
    assert found == pseudonym(secret, customer_id)


@pytest.mark.every_store
def test_every_store_refuses_an_erased_customer_at_night(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    customers = [customer(i) for i in range(1, 41)]
    first = write(tmp_path / "first.parquet", customers)
    classify_snapshot(store, ruleset, NOW - dt.timedelta(days=1), first)
    erase_request(store, fields_of(ruleset), ERASED, NOW - dt.timedelta(hours=1))
    report = classify_snapshot(store, ruleset, NOW, write(tmp_path / "night.parquet", customers))
    assert (report.customers, report.rejected) == (39, 1)
    assert [p["value"] for p in report.problems] == [pseudonym(store_secret(store), ERASED)]
    again = "SELECT customer_id FROM assignments WHERE customer_id = :id"
    assert store.execute(again, {"id": ERASED}) == []
