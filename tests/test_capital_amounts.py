"""Amounts in 元 written in capitals (大写金额), as cheques and bank forms write them.

`人民币壹万贰仟叁佰肆拾伍元陆角柒分` was quarantined ('is not a number'); it is read exactly
(engine/ingest/capitals.py), and capitals that are no amount (`壹佰佰元`, `拾元角`, `壹佰伍元`,
which may mean 105 or 150) are refused saying why. The snapshot screen reads them as load
does (test_snapshot_screen).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.engine.i18n import language
from guanxi.engine.ingest import capitals, load_customers
from guanxi.engine.ingest.values import Invalid, money
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
READ = {
    "人民币壹万贰仟叁佰肆拾伍元陆角柒分": "12345.67",
    "壹佰元整": "100",
    "贰拾万元整": "200000",
    "零元整": "0",
    "壹亿元整": "100000000",
    "壹佰圆整": "100",  # 圆: the formal 元
    "壹佰元正": "100",
    "壹佰元": "100",
    "伍角": "0.5",  # under 1元: no 元 written
    "伍角陆分": "0.56",
    "零元伍角整": "0.5",
    "柒分": "0.07",
    "拾万元整": "100000",  # a leading 拾 is 壹拾
    "壹仟零伍元整": "1005",
    "壹万零伍佰元整": "10500",
    "壹拾万柒仟元整": "107000",  # the zeros end the 万 group, before a 仟: 零 may be left out
    "壹拾万零柒仟元整": "107000",
    "壹亿零伍仟元整": "100005000",
    "壹仟陆佰捌拾元零叁角贰分": "1680.32",  # 零 after 元 when the 元 digit is 0
    "壹仟陆佰捌拾元叁角贰分": "1680.32",
    "壹万陆仟肆佰零玖元零贰分": "16409.02",  # 角 is 0: 元零贰分
    "¥壹佰元整": "100",
    "RMB 壹佰元整": "100",
    "人民幣壹萬貳仟元整": None,  # 幣 is no 币: not the prefix
    "壹萬貳仟參佰元整": "12300",  # traditional characters
    "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分": "999999999999.99",
}
READ = {written: amount for written, amount in READ.items() if amount is not None}
REFUSED = {
    "壹佰佰元": "'佰' at character 3 has no digit before it",
    "拾元角": "'角' at character 3 has no digit before it",
    "壹佰伍元": "a 零 is missing before '伍' at character 3, or a unit after it"
    " (壹佰零伍元 is 105, 壹佰伍拾元 150)",  # 150 as people say it, 105 as the rules write it
    "壹万伍元": "a 零 is missing before '伍' at character 3, or a unit after it"
    " (壹佰零伍元 is 105, 壹佰伍拾元 150)",
    "壹亿伍仟元": "a 零 is missing before '伍' at character 3, or a unit after it"
    " (壹佰零伍元 is 105, 壹佰伍拾元 150)",  # people say 一亿五千 for 150000000
    "壹贰元": "'贰' at character 2 follows a digit with no unit between them",
    "壹佰零元": "'零' at character 3 stands for no missing digit",
    "零伍元": "'零' at character 1 stands for no missing digit",
    "壹拾零伍元": "'零' at character 3 stands for no missing digit",
    "壹仟零零伍元": "'零' at character 4 stands for no missing digit",
    "壹佰贰仟元": "'仟' at character 4 is out of order: units go from the largest down,"
    " as in 壹仟贰佰亿叁仟肆佰万伍仟陆佰元柒角捌分",
    "壹万亿元": "'亿' at character 3 is out of order: units go from the largest down,"
    " as in 壹仟贰佰亿叁仟肆佰万伍仟陆佰元柒角捌分",
    "壹佰元伍分陆角": "'角' at character 7 is out of order: units go from the largest down,"
    " as in 壹仟贰佰亿叁仟肆佰万伍仟陆佰元柒角捌分",
    "壹佰": "no 元 follows the whole amount (write 壹佰元整, 壹佰元伍角)",
    "壹百元": "'百' at character 2 is no capital: write 佰",
    "壹佰块": "'块' at character 3 is no capital: write 元",
    "-壹佰元": "'-' at character 1 is no capital numeral",
    "壹佰元伍": "'伍' at character 4 has no 角 or 分 after it",
    "壹佰元整伍": "nothing may follow 整 at character 4",
    "壹佰元元": "'元' at character 4 cannot come after 元",
    "元伍角": "'元' at character 1 has no digit before it",
}


def test_amounts_in_capitals_are_read_exactly() -> None:
    for written, amount in READ.items():
        assert capitals.read(written) == Decimal(amount), written
        assert money(written) == float(amount), written


def test_capitals_that_are_no_amount_are_refused_saying_why() -> None:
    for written, why in REFUSED.items():
        with pytest.raises(Invalid) as refused:
            money(written)
        assert str(refused.value) == (
            f"'{written}' is written in capitals (大写金额) but cannot be read: {why}; write"
            " it as a cheque writes it (壹万零伍佰元整, 人民币壹佰元伍角陆分), or as a number"
        )


def test_a_cell_longer_than_any_amount_is_refused_before_it_is_read() -> None:
    """A line may be a megabyte: capitals are read a character at a time, and a cell of a
    million 零 took seconds; it is refused by its length."""
    for cell in ("零" * 1_000_000 + "元整", "壹" * 65):
        with pytest.raises(Invalid, match="characters are more than any amount in capitals"):
            money(cell)
    assert money("人民币壹仟零伍万零肆拾元零伍分整") == 10050040.05


def test_the_reason_is_in_chinese_for_a_chinese_user() -> None:
    with language("zh"), pytest.raises(Invalid) as refused:
        money("壹佰伍元")
    assert str(refused.value) == (
        "'壹佰伍元' 是大写金额，但无法读懂：第 3 个字符 '伍' 之前缺少“零”，或其后缺少单位"
        "（壹佰零伍元 是 105，壹佰伍拾元 是 150）；请按支票的写法书写（壹万零伍佰元整、"
        "人民币壹佰元伍角陆分），或写成数字"
    )


def test_load_reads_capitals_and_quarantines_the_malformed(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    cells = ["人民币壹万贰仟叁佰肆拾伍元陆角柒分", "壹佰佰元"]
    lines = ["customer_id,name,balance", *(f"C{i},客户{i},{c}" for i, c in enumerate(cells))]
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = load_customers(store, ruleset, path, NOW)
    assert (report.loaded, report.quarantined) == (1, 1)
    assert store.execute("SELECT balance FROM customers")[0]["balance"] == 12345.67
    reason = store.execute("SELECT reason FROM quarantine")[0]["reason"]
    assert "'佰' at character 3 has no digit before it" in reason


# A small writer of capitals, as the People's Bank's rules for writing amounts put them, with
# the choices they leave: the 零 at the end of a 万 (亿) group before a 仟, a leading 壹拾
# or 拾, 元 or 圆, 零 after 元 where the 元 digit is 0, 整 after 角.
NUMERALS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ["", "拾", "佰", "仟"]


def in_capitals(amount: Decimal, choices: dict[str, bool]) -> str:
    whole, cents = divmod(int(amount * 100), 100)
    jiao, fen = divmod(cents, 10)
    text = _whole_in_capitals(whole, choices) if whole else ""
    if whole or not cents or choices["零元"]:
        text += "圆" if choices["圆"] else "元"
    if jiao and whole % 10 == 0 and text != "元" and choices["零 after 元"]:
        text += "零"
    if not jiao and fen and text:
        text += "零"
    text += (NUMERALS[jiao] + "角" if jiao else "") + (NUMERALS[fen] + "分" if fen else "")
    if not fen and (not jiao or choices["整 after 角"]):
        text += "整"
    return ("人民币" if choices["人民币"] else "") + ("零" + text if text[0] in "元圆" else text)


def _whole_in_capitals(whole: int, choices: dict[str, bool]) -> str:
    digits = [int(d) for d in reversed(str(whole))]  # digits[p]: of 10**p
    text, last = "", None  # the power of the last digit written
    for power in range(len(digits) - 1, -1, -1):
        digit = digits[power]
        if digit:
            if last is not None and last - power > 1 and not _may_leave_out(last, power, choices):
                text += "零"
            leading_ten = last is None and digit == 1 and power % 4 == 1 and choices["拾"]
            text += ("" if leading_ten else NUMERALS[digit]) + PLACES[power % 4]
            last = power
        if power in (4, 8) and any(digits[power : power + 4]):
            text += "万" if power == 4 else "亿"
    return text


def _may_leave_out(higher: int, lower: int, choices: dict[str, bool]) -> bool:
    return choices["leave out 零"] and lower % 4 == 3 and higher // 4 == lower // 4 + 1


CHOSEN = ("零元", "圆", "零 after 元", "整 after 角", "人民币", "拾", "leave out 零")
CHOICES = st.fixed_dictionaries({choice: st.booleans() for choice in CHOSEN})
CENTS = 100 * 999_999_999_999 + 99
# amounts with many zero digits, where the 零 rules matter, and any amount
ZEROED = st.lists(st.sampled_from("000019"), min_size=14, max_size=14).map(
    lambda d: Decimal("".join(d)) / 100
)
AMOUNTS = st.one_of(ZEROED, st.integers(0, CENTS).map(lambda c: Decimal(c) / 100))


@given(AMOUNTS, CHOICES)
def test_any_amount_written_in_capitals_reads_back_exactly(
    amount: Decimal, choices: dict[str, bool]
) -> None:
    written = in_capitals(amount, choices)
    assert len(written) <= capitals.LONGEST  # never refused for its length
    assert capitals.read(written) == amount, written
    assert money(written) == float(amount), written


@given(AMOUNTS.filter(lambda a: a >= 1), CHOICES, st.data())
def test_leaving_out_a_zero_the_rules_require_is_refused(
    amount: Decimal, choices: dict[str, bool], data: st.DataObject
) -> None:
    """With every 零 the rules let go left out, each one left is needed: without it the
    capitals may mean another amount (壹佰伍元: 105 or 150), so they are refused."""
    written = in_capitals(amount, {**choices, "leave out 零": True})
    whole = written[: written.index("圆" if choices["圆"] else "元")]
    zeros = [at for at, char in enumerate(whole) if char == "零"]
    if zeros:
        at = data.draw(st.sampled_from(zeros))
        with pytest.raises(capitals.Unread):
            capitals.read(written[:at] + written[at + 1 :])
