"""The currency a number cell names, as bank staff type an amount: `RMB 100`, `100元`, `$100`.

An amount of money in 元 (a field with `unit: 元`) may name its currency once before the
number, once after it, or both (`人民币100元`, as forms write it): `¥`/`￥`, `RMB`, `CNY`,
`人民币` before, `元`, `RMB`, `CNY` after (`元` also as its formal `圆`, and followed by `整`,
"exactly", as cheques write it: `100元整`), spaces between or not, a sign or an accounting
negative's parentheses around it all (`-¥100`, `(¥1,234.00)`). Another currency (`$100`,
`100 USD`, `HK$100`, `100港元`) is never read as 元: values.py refuses it naming the
currency, and refuses any currency in a field that is no amount in 元. The text given here
is in NFKC (`￥` is `¥`, `＄` is `$`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from guanxi.engine.i18n import N_

YUAN = "CNY"
AFTER_ONLY = tuple(f"{yuan}{exactly}" for yuan in "元圆圓" for exactly in ("", "整", "正"))
# How each currency is written, letters in upper case. ¥ is 元 here: a Chinese bank's
# sheets mean 元 by it (the yen is written JP¥, 円 or 日元).
WRITTEN = {
    # after the number, 元 may be written as its formal 圆 (圓), then 整 or 正 ("exactly"),
    # as cheques write it: 100元整
    YUAN: ("CNY", "RMB", "人民币", "¥", *AFTER_ONLY),
    "USD": ("USD", "US$", "$", "美元", "美金"),
    "HKD": ("HKD", "HK$", "港元", "港币", "港幣"),
    "MOP": ("MOP", "MOP$", "澳门元", "澳门币", "澳門元"),
    "TWD": ("TWD", "NT$", "新台币", "台币"),
    "EUR": ("EUR", "€", "欧元"),
    "GBP": ("GBP", "£", "英镑"),
    "JPY": ("JPY", "JP¥", "円", "日元"),
    "KRW": ("KRW", "₩", "韩元"),
    "SGD": ("SGD", "S$", "新加坡元", "新元"),
    "AUD": ("AUD", "A$", "澳元"),
    "CAD": ("CAD", "C$", "加元"),
    "CHF": ("CHF", "瑞士法郎"),
}
NAMES = {  # for the reason a foreign amount is refused
    "USD": N_("US dollars (USD)"),
    "HKD": N_("Hong Kong dollars (HKD)"),
    "MOP": N_("Macau patacas (MOP)"),
    "TWD": N_("New Taiwan dollars (TWD)"),
    "EUR": N_("euros (EUR)"),
    "GBP": N_("pounds sterling (GBP)"),
    "JPY": N_("Japanese yen (JPY)"),
    "KRW": N_("Korean won (KRW)"),
    "SGD": N_("Singapore dollars (SGD)"),
    "AUD": N_("Australian dollars (AUD)"),
    "CAD": N_("Canadian dollars (CAD)"),
    "CHF": N_("Swiss francs (CHF)"),
}
_CODES = {mark: code for code, marks in WRITTEN.items() for mark in marks}
_FIRSTS = frozenset(mark[0] for mark in _CODES)
_LASTS = frozenset(mark[-1] for mark in _CODES)
_LENGTHS = sorted({len(mark) for mark in _CODES}, reverse=True)  # HK$ before $, 港元 before 元
_ANYWHERE = re.compile("|".join(map(re.escape, sorted(_CODES, key=len, reverse=True))), re.I)


class Named(NamedTuple):
    """A number cell naming a currency: which (its ISO code; a foreign one if any of the
    two it names is), and the number without it (`-¥1,234` -> `-1,234`)."""

    currency: str
    number: str


def named(text: str) -> Named | None:
    """The currency `text` (NFKC, without spaces around it) names before or after its number,
    and the number without it; None where it names none."""
    if text[:1].isdigit() and text[-1:].isdigit():  # most cells: no currency at either end
        return None
    sign, body = (text[0], text[1:].lstrip()) if text.startswith(("-", "(")) else ("", text)
    before = _mark(body, at_start=True)
    before = None if before in AFTER_ONLY else before  # 元100: no amount
    body = body[len(before or "") :].lstrip()
    close = ")" if sign == "(" and body.endswith(")") else ""
    body = body.removesuffix(close).rstrip()
    after = _mark(body, at_start=False)
    body = body[: len(body) - len(after or "")].rstrip()
    if before is None and after is None:
        return None
    codes = [_CODES[mark.upper()] for mark in (before, after) if mark]
    return Named(_first_foreign(codes), sign + body + close)


def _mark(text: str, at_start: bool) -> str | None:
    """The currency written at `text`'s start (or end) as written, the longest first."""
    if (text[:1] if at_start else text[-1:]).upper() not in (_FIRSTS if at_start else _LASTS):
        return None  # a digit, as most cells have at one end at least: nothing to look up
    for length in _LENGTHS:
        end = text[:length] if at_start else text[-length:]
        if len(end) == length and end.upper() in _CODES:
            return end
    return None


def mentioned(text: str) -> str | None:
    """The currency `text` (NFKC) names anywhere (`约100美元`: USD), a foreign one first; None
    where it names none."""
    codes = [_CODES[found.group().upper()] for found in _ANYWHERE.finditer(text)]
    return _first_foreign(codes) if codes else None


def _first_foreign(codes: list[str]) -> str:
    return next((code for code in codes if code != YUAN), YUAN)
