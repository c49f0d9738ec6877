"""Today's reading of bank files, attacked: each test is a defect found and fixed."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from guanxi.engine.i18n.catalog import language
from guanxi.engine.ingest import load_customers, load_events
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def inside(tmp_path: Path) -> Iterator[None]:
    here = Path.cwd()
    try:
        yield
    finally:
        os.chdir(here)


def write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("customer_id,name,age\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_reload_keeps_the_records_of_a_file_of_that_name_in_another_folder(
    store: Store, ruleset: RuleSet, tmp_path: Path, inside: None
) -> None:
    """Two branches' exports, both c.csv and loaded by a relative path from their folders,
    with the same mistake in the same row: each file's record stays."""
    for branch in ("a", "b"):
        write(tmp_path / branch / "c.csv", ["C1,张三,abc"])
    for branch in ("a", "b"):
        os.chdir(tmp_path / branch)
        load_customers(store, ruleset, Path("c.csv"), NOW)
    sources = [r["source"] for r in store.execute("SELECT source FROM quarantine")]
    assert len(set(sources)) == 2 and len(sources) == 2
    os.chdir(tmp_path / "a")
    load_customers(store, ruleset, Path("c.csv"), NOW)  # the same file again: listed once
    assert len(store.execute("SELECT id FROM quarantine")) == 2


@pytest.mark.every_store
def test_a_reload_in_the_other_language_lists_each_problem_once(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Colleagues on English and Chinese load the same file: its records are replaced, each
    problem kept once, in the words of the latest load."""
    path = write(tmp_path / "c.csv", ["C1,张三,abc", "C2,李四,30", "C3,王五,-5"])
    for lang in ("en", "zh", "en", "zh"):
        with language(lang):
            load_customers(store, ruleset, path, NOW)
        records = store.execute("SELECT row_number, reason FROM quarantine ORDER BY row_number")
        assert [r["row_number"] for r in records] == [2, 4]
        chinese = [any("\u4e00" <= c <= "\u9fff" for c in r["reason"].replace("张三", ""))
                   for r in records]  # fmt: skip
        assert chinese == [lang == "zh"] * 2, records


@pytest.mark.parametrize("written", ["(1,234.00)", "(¥1,234.00)", "（1,234）"])
def test_an_accounting_negative_under_min_0_says_it_was_read_as_negative(
    store: Store, ruleset: RuleSet, tmp_path: Path, written: str
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f'customer_id,name,balance\nC1,张三,"{written}"\n', encoding="utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert report.quarantined == 1
    [record] = store.execute("SELECT field, value, reason FROM quarantine")
    assert (record["field"], record["value"]) == ("balance", written)
    assert written in record["reason"] and "parentheses is negative" in record["reason"]
    assert "below 0" in record["reason"]


DASH_REASON = (
    "is how the accounting format shows zero, and how some reports show no value: write 0 for"
    " zero, or leave the cell empty for no value"
)


@pytest.mark.every_store
@pytest.mark.parametrize(("field", "dash"), [("balance", "-"), ("age", " - "), ("balance", "—")])
def test_a_dash_in_an_optional_number_field_loses_only_the_value(
    store: Store, ruleset: RuleSet, tmp_path: Path, field: str, dash: str
) -> None:
    """`-` is zero or no value, never guessed: the field is left as stored, the customer's
    other fields are loaded, and the load says so (warning, record marked as loaded)."""
    first = tmp_path / "first.csv"
    first.write_text(f"customer_id,name,{field},branch\nC1,张三,7,长沙\n", encoding="utf-8")
    load_customers(store, ruleset, first, NOW)
    path = tmp_path / "c.csv"
    path.write_text(f'customer_id,name,{field},branch\nC1,张三,"{dash}",北京\n', encoding="utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 0)
    [row] = store.execute(f"SELECT {field} AS kept, branch FROM customers")
    assert (row["kept"], row["branch"]) == (7, "北京")
    assert any(w.startswith(f"line 2: loaded without its '{field}'") for w in report.warnings)
    [record] = store.execute("SELECT field, value, reason FROM quarantine")
    assert (record["field"], record["value"]) == (field, dash)
    assert (
        record["reason"].startswith("loaded without this value") and DASH_REASON in record["reason"]
    )


def test_a_dash_with_another_problem_quarantines_the_row_with_both(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("customer_id,name,balance,age\nC1,张三,-,forty\n", encoding="utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (0, 1)
    reasons = {r["field"]: r["reason"] for r in store.execute("SELECT * FROM quarantine")}
    assert DASH_REASON in reasons["balance"] and "not a whole number" in reasons["age"]


def test_a_dash_in_a_required_field_quarantines_the_row(
    ruleset: RuleSet, tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "e.csv"
    lines = ["id,type,customer_id,at,amount", "E1,balance_drop,C1,2026-11-01 09:30,-"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (0, 1)
