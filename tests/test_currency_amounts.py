"""Amounts as Chinese bank staff type them: `RMB 100`, `CNY 1,000`, `人民币100元`, `100元整`.

An amount of money in 元 (a field with `unit: 元`) names its currency before or after the
number, or both; any other currency (`$100`, `100 USD`, `HK$100`, `100港元`) is never read as
元, and a plain number field (no `unit: 元`) takes no currency: both refused with what to
write (engine/ingest/currencies.py). The snapshot screen reads them alike (test_snapshot_screen).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.ingest import load_customers, load_events, values
from guanxi.engine.ingest.values import Invalid, integer, money
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
IN_YUAN = {
    "RMB 100": 100,
    "CNY 1,000": 1000,
    "人民币100元": 100,
    "100 元": 100,
    "100元": 100,
    "￥139,300": 139300,
    "rmb100": 100,
    "100 RMB": 100,
    "人民币 2.5万": 25000,
    "12.5万元": 125000,
    "(¥1,234.00)": -1234,
    "-¥50": -50,
    "ＲＭＢ　８": 8,  # typed in a Chinese keyboard's full-width mode
    "100元整": 100,  # 整, "exactly", as cheques write it
    "1,234.00元整": 1234,
    "人民币100元整": 100,
    "100圆": 100,  # 圆: the formal 元
    "100圆整": 100,
    "100元正": 100,
    "人民币壹万贰仟叁佰肆拾伍元陆角柒分": 12345.67,  # capitals: test_capital_amounts
}
FOREIGN = {
    "100 USD": "US dollars (USD)",
    "$100": "US dollars (USD)",
    "US$100": "US dollars (USD)",
    "100美元": "US dollars (USD)",
    "HK$100": "Hong Kong dollars (HKD)",
    "100港元": "Hong Kong dollars (HKD)",
    "€100": "euros (EUR)",
    "JP¥100": "Japanese yen (JPY)",
    "100日元": "Japanese yen (JPY)",
    "约100美元": "US dollars (USD)",  # named within: still not 元
}


def write(path: Path, field: str, cells: list[str]) -> Path:
    lines = [f"customer_id,name,{field}"]
    lines += [f'C{i},客户{i},"{cell}"' for i, cell in enumerate(cells)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reasons(store: Store) -> dict[str, str]:
    found = store.execute("SELECT value, reason FROM quarantine")
    return {r["value"]: r["reason"] for r in found}


@pytest.mark.every_store
def test_an_amount_in_yuan_is_read_however_staff_name_the_currency(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Before, `RMB 100`, `CNY 1,000` and `人民币100元` were quarantined ('is not a number'),
    while `100元` and `￥139,300` were read."""
    cells = list(IN_YUAN)
    report = load_customers(
        store, ruleset, write(tmp_path / "c.csv", "annual_contribution", cells), NOW
    )
    assert (report.loaded, report.quarantined) == (len(cells), 0)
    found = store.execute("SELECT customer_id, annual_contribution FROM customers")
    read = {int(r["customer_id"][1:]): r["annual_contribution"] for r in found}
    assert [read[i] for i in range(len(cells))] == list(IN_YUAN.values())


@pytest.mark.every_store
def test_an_amount_in_another_currency_is_never_read_as_yuan(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    report = load_customers(store, ruleset, write(tmp_path / "c.csv", "balance", [*FOREIGN]), NOW)
    assert (report.loaded, report.quarantined) == (0, len(FOREIGN))
    told = reasons(store)
    for written, currency in FOREIGN.items():
        assert told[written] == (
            f"'{written}' is an amount in {currency}, and this field holds amounts in 元: write"
            " the amount converted to 元, as a number (1234.5, ¥1,234.50 or 1,234.50元)"
        )


def test_an_unreadable_amount_naming_yuan_is_told_the_forms_read(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    cells = ["100元整整", "¥¥100", "RMB 一百", "很多"]
    load_customers(store, ruleset, write(tmp_path / "c.csv", "balance", cells), NOW)
    told = reasons(store)
    forms = (
        "¥1,234.50, RMB 1,234.50, 人民币1,234.50元, 1,234.50元整, 12.5万元 and"
        " 人民币壹仟贰佰叁拾肆元伍角 are read too"
    )
    for cell in cells[:2]:
        assert told[cell] == f"'{cell}' is not an amount in 元: write a number, as 1234.5; {forms}"
    said = "'RMB 一百' is written in Chinese numerals: write the number in digits, 100"
    assert told["RMB 一百"] == said
    assert told["很多"] == "'很多' is not a number"  # no currency: as before


SPOKEN = ["100块", "100块钱", "5块5", "人民币100块", "1.5万块"]


def test_an_amount_in_kuai_is_refused_with_what_to_write() -> None:
    """块 is 元 as said aloud: no bank form writes it, and 3块 may count pieces."""
    for cell in SPOKEN:
        with pytest.raises(Invalid) as refused:
            money(cell)
        assert str(refused.value) == (
            f"'{cell}' counts in 块, as 元 is said aloud, not as a bank form writes it (块 also"
            " counts pieces): write the amount in 元, as 100, 100元 or 1,234.50元"
        )


def test_a_whole_amount_without_yuan_is_refused_with_what_to_write() -> None:
    """`100整` is a form's 元整 with 元 left out: told both ways to write it; 整 alone, or after
    no number, is not a number."""
    told = {"100整": "100元整 or 100", "1,234.50正": "1,234.50元正 or 1,234.50",
            "１００ 整": "100元整 or 100"}  # fmt: skip
    for cell, forms in told.items():
        with pytest.raises(Invalid) as refused:
            money(cell)
        assert str(refused.value) == (f"'{cell}' leaves out 元 before {cell[-1]}: write {forms}")
    for cell in ["整", "NaN整", "-整", "很多整"]:
        with pytest.raises(Invalid, match="is not a number"):
            money(cell)


@pytest.mark.parametrize(
    ("read", "cell", "word", "alone"),
    [(integer, "30岁", "岁", "30"), (integer, "３ 个", "个", "3"),
     (values.number, "1,000.5笔", "笔", "1,000.5"), (integer, "5 years", "years", "5"),
     (money, "12笔", "笔", "12")],
)  # fmt: skip
def test_a_number_with_what_it_counts_is_told_to_write_the_number_alone(
    read: Callable[[str], Any], cell: str, word: str, alone: str
) -> None:
    with pytest.raises(Invalid) as refused:
        read(cell)
    assert str(refused.value) == (
        f"'{cell}' has the word '{word}' after the number: write the number alone, {alone}"
        " (what it counts is the field's, not the cell's)"
    )


def test_a_plain_number_field_takes_no_currency(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """expected_years has no `unit: 元`: `100元` there was read as 100 years before."""
    cells = ["100元", "RMB 3", "$5", "1.5万元"]
    report = load_customers(store, ruleset, write(tmp_path / "c.csv", "expected_years", cells), NOW)
    assert report.quarantined == len(cells)
    told = reasons(store)
    for cell, number in zip(cells, ["100", "3", "5", "1.5万"], strict=True):
        assert told[cell] == (
            f"'{cell}' names a currency, but this field is a plain number, not an amount in 元"
            f" (schema.yaml gives it no unit: 元): write {number}; if the field holds an amount"
            " in 元, give it unit: 元 in schema.yaml"
        )


def test_an_event_amount_is_an_amount_in_yuan(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    lines = ["id,type,customer_id,at,amount", "E1,sale,C1,2026-11-02 10:00,\"RMB 200,000\"",
             "E2,sale,C1,2026-11-02 11:00,100 USD"]  # fmt: skip
    path = tmp_path / "e.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_events(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert "US dollars (USD)" in reasons(store)["100 USD"]


YUAN_FORMS = ["{}", "¥{}", "￥{}", "RMB {}", "RMB{}", "CNY {}", "人民币{}", "{}元", "{} 元",
              "{} RMB", "人民币{}元", "{}CNY", "{}元整", "人民币{}元整", "{}圆", "{} 圆整",
              "{}元正"]  # fmt: skip
FOREIGN_FORMS = ["${}", "US$ {}", "{} USD", "HK${}", "{}港元", "{}美元", "€{}", "£{}", "JP¥{}",
                 "{}日元", "NT${}", "{} EUR", "MOP${}", "S${}", "A${}", "C${}", "{}韩元",
                 "{}瑞士法郎", "澳门元{}"]  # fmt: skip
AMOUNTS = st.decimals(min_value=-(10**9), max_value=10**9, places=2)


@given(AMOUNTS, st.sampled_from(YUAN_FORMS))
def test_any_amount_naming_yuan_is_that_amount(amount: object, form: str) -> None:
    assert money(form.format(amount)) == float(str(amount))


@given(AMOUNTS, st.sampled_from(FOREIGN_FORMS), st.sampled_from(["", "元", "¥", "元整"]))
def test_no_amount_naming_another_currency_is_read_as_yuan(
    amount: object, form: str, yuan: str
) -> None:
    """Whatever the number, and with 元 or ¥ written as well (`$100元`, `$100元整`)."""
    with pytest.raises(Invalid, match="is an amount in"):
        money(yuan + form.format(amount) if yuan == "¥" else form.format(amount) + yuan)
