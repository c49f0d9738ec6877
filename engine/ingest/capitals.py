"""Amounts written in capitals (大写金额), as cheques and bank forms write them.

`人民币壹万贰仟叁佰肆拾伍元陆角柒分` is 12345.67, `贰拾万元整` 200000, `零元整` 0, `伍角` 0.5,
read exactly (a Decimal: 陆角柒分 is .67). The forms the People's Bank's rules for writing
amounts allow are read: 人民币 (or ¥, RMB, CNY) before; 元 or its formal 圆 (圓); 整 or 正
after 元 or 角 (after 分 too, where it changes nothing); a leading 拾 for 壹拾 (`拾万元整`);
the traditional 貳 參 叄 陸 萬 億. A 零 stands for the missing digits between two others
(`壹仟零伍元` is 1005, `壹万零伍佰元` 10500); it may be left out only where the rules let it
be, where the zeros end a 万 (or 亿) group and the next digit is a 仟 (`壹拾万柒仟元` is
107000), and may follow 元 (`壹佰元零伍分`). Anything else is refused with why, never guessed:
`壹佰伍元` may mean 105 or, as people say it, 150; `壹亿伍仟元` may mean 100005000 or, as
people say it, 150000000; `壹佰佰元` and `拾元角` are no amount at all. Up to
玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分 (under 1万亿) is read.
The text given here is in NFKC, without spaces around it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from guanxi.engine.i18n import _

DIGITS = {"零": 0, "壹": 1, "贰": 2, "貳": 2, "叁": 3, "參": 3, "叄": 3, "肆": 4, "伍": 5,
          "陆": 6, "陸": 6, "柒": 7, "捌": 8, "玖": 9}  # fmt: skip
UNITS = {"拾": 1, "佰": 2, "仟": 3}  # within a group of four digits
GROUPS = {"万": 4, "萬": 4, "亿": 8, "億": 8}
YUAN = frozenset("元圆圓")
CENTS = {"角": 1, "分": 0}  # the power of ten of each, in 分
EXACTLY = frozenset("整正")
CAPITALS = frozenset(DIGITS) | frozenset(UNITS)
WHOLE_UNITS = frozenset(UNITS) | frozenset(GROUPS)
KNOWN = CAPITALS | WHOLE_UNITS | frozenset(CENTS) | EXACTLY
# The everyday numerals, which cheques leave out as easy to alter, and the spoken 块 and
# 毛: what to write instead
LOWER = {"〇": "零", "一": "壹", "二": "贰", "两": "贰", "三": "叁", "四": "肆", "五": "伍",
         "六": "陆", "七": "柒", "八": "捌", "九": "玖", "十": "拾", "百": "佰", "千": "仟",
         "块": "元", "毛": "角"}  # fmt: skip
PREFIX = re.compile(r"(?:人民币|RMB|CNY|¥)\s*", re.I)
ZERO = DIGITS["零"]
# The longest amount read, 人民币玖仟玖佰玖拾玖亿…玖角玖分整, with every 零 it may have, is
# under 50 characters: a longer cell is refused before it is read (a cell may be a megabyte).
LONGEST = 64


class Unread(ValueError):
    """Capitals that are no amount; the message says why."""


class _Digit(NamedTuple):
    """A digit written in the text: its value, its power of ten (None: a 零 marking missing
    digits) and where it is (from 0)."""

    value: int
    power: int | None
    at: int


def written_in(text: str) -> bool:
    """Whether `text` has a capital numeral in it: an amount in capitals, or a try at one."""
    return not CAPITALS.isdisjoint(text)


def read(text: str) -> Decimal:
    """The amount `text` writes in capitals; Unread saying why where it is none."""
    if len(text) > LONGEST:
        message = _("{count} characters are more than any amount in capitals has ({most})")
        raise Unread(message.format(count=f"{len(text):,}", most=LONGEST))
    start = match.end() if (match := PREFIX.match(text)) else 0
    yuan = next((at for at in range(start, len(text)) if text[at] in YUAN), None)
    if yuan is None:
        return _only_cents(text, start)
    whole = 0 if text[start:yuan] == "零" else _whole(text, start, yuan)
    return whole + Decimal(_cents(text, yuan + 1)) / 100


def _only_cents(text: str, start: int) -> Decimal:
    """An amount under 1元 written without 元 (`伍角`, `伍角陆分`)."""
    other = next((at for at in range(start, len(text)) if text[at] not in KNOWN), None)
    if other is not None:
        raise _not_capital(text[other], other)  # 壹佰块: write 元
    if CENTS.keys().isdisjoint(text[start:]) or not WHOLE_UNITS.isdisjoint(text):
        raise Unread(_("no 元 follows the whole amount (write 壹佰元整, 壹佰元伍角)"))
    return Decimal(_cents(text, start)) / 100


def _whole(text: str, start: int, end: int) -> int:
    """The whole 元 written from `start` to `end` (where 元 is)."""
    digits = _Groups(text, start).read(end)
    _check_zeros(text, digits)
    return sum(d.value * 10**d.power for d in digits if d.power is not None)


class _Groups:
    """Reads whole 元 a character at a time: digits, each with its unit (拾佰仟) or none
    (the last of its group), in groups closed by 亿 then 万."""

    def __init__(self, text: str, start: int) -> None:
        self.text, self.start = text, start
        self.done: list[_Digit] = []  # of the groups closed, with their powers
        self.group: list[_Digit] = []  # of the open group, powers within it
        self.waiting: _Digit | None = None  # a digit not yet given a unit, or a 零
        self.low, self.last_group = 4, 12  # the lowest unit of the group, and of the groups

    def read(self, end: int) -> list[_Digit]:
        for at in range(self.start, end):
            self.take(self.text[at], at)
        self.close_group(0, end)
        return self.done

    def take(self, char: str, at: int) -> None:
        if char in DIGITS:
            self.digit(DIGITS[char], at)
        elif char in UNITS:
            self.unit(UNITS[char], at)
        elif char in GROUPS:
            self.close_group(GROUPS[char], at)
        else:
            raise _not_capital(char, at)

    def digit(self, value: int, at: int) -> None:
        if self.waiting and self.waiting.value:
            raise _two_digits(self.text[at], at)
        if self.waiting:  # a 零, then this digit
            self.group.append(self.waiting)
        self.waiting = _Digit(value, None if value == ZERO else 0, at)

    def unit(self, power: int, at: int) -> None:
        if self.waiting and self.waiting.value:
            digit, self.waiting = self.waiting._replace(power=power), None
        elif at == self.start and power == 1:  # 拾万元: 壹拾万元
            digit = _Digit(1, power, at)
        else:
            raise _no_digit(self.text[at], at)
        if power >= self.low:
            raise _out_of_order(self.text[at], at)
        self.low = power
        self.group.append(digit)

    def close_group(self, power: int, at: int) -> None:
        """At 亿 or 万 (power 8 or 4) or at 元 (0): the group before it is done."""
        if self.waiting and self.waiting.value:
            self.group.append(self.waiting)  # the group's last digit, of no unit
        elif self.waiting:  # a 零 with no digit after it
            raise _stray_zero(self.waiting.at)
        if power and power >= self.last_group:
            raise _out_of_order(self.text[at], at)
        if not any(d.power is not None for d in self.group) and (power or not self.done):
            raise _no_digit(self.text[at], at)
        self.done += [d._replace(power=_shift(d.power, power)) for d in self.group]
        self.group, self.waiting, self.low, self.last_group = [], None, 4, power or 12


def _shift(power: int | None, by: int) -> int | None:
    return None if power is None else power + by


def _check_zeros(text: str, digits: list[_Digit]) -> None:
    """A 零 between two digits stands for missing ones, and such a gap has one, but where
    the rules let it be left out."""
    before: _Digit | None = None
    zero: _Digit | None = None
    for digit in digits:
        if digit.power is None:
            if before is None or zero is not None:
                raise _stray_zero(digit.at)
            zero = digit
            continue
        if before is not None:
            gap = _gap(before, digit)
            if zero and not gap:
                raise _stray_zero(zero.at)
            if gap and not zero and not _may_skip(before, digit):
                raise _missing_zero(text[digit.at], digit.at)
        before, zero = digit, None


def _gap(higher: _Digit, lower: _Digit) -> int:
    assert higher.power is not None and lower.power is not None
    return higher.power - lower.power - 1


def _may_skip(higher: _Digit, lower: _Digit) -> bool:
    """Whether the zeros between two digits may go unwritten: they end the 万 (亿) group
    just above the lower digit, which is a 仟 (`壹拾万柒仟`)."""
    assert higher.power is not None and lower.power is not None
    return lower.power % 4 == 3 and higher.power // 4 == lower.power // 4 + 1


def _cents(text: str, start: int) -> int:
    """The 角 and 分 written from `start` (after 元), in 分; then 整 if anything."""
    cents, low, waiting = 0, 2, None
    for at in range(start, len(text)):
        char = text[at]
        if char in DIGITS:
            waiting = _cent_digit(text, at, waiting)
        elif char in CENTS and waiting is not None and CENTS[char] < low:
            cents, low, waiting = cents + waiting.value * 10 ** CENTS[char], CENTS[char], None
        elif char in EXACTLY and waiting is None:
            if at < len(text) - 1:
                raise Unread(_("nothing may follow 整 at character {place}").format(place=at + 1))
        else:
            raise _after_yuan(text, at, waiting)
    if waiting is not None:
        raise _no_cent_unit(text, waiting)
    return cents


def _cent_digit(text: str, at: int, waiting: _Digit | None) -> _Digit:
    value = DIGITS[text[at]]
    if waiting is not None and (waiting.value or not value):  # 伍陆角, 零零伍分
        raise _two_digits(text[at], at) if waiting.value else _stray_zero(at)
    return _Digit(value, 0, at)


def _after_yuan(text: str, at: int, waiting: _Digit | None) -> Unread:
    char = text[at]
    if char in CENTS:
        return _out_of_order(char, at) if waiting else _no_digit(char, at)
    if waiting is not None:
        return _no_cent_unit(text, waiting)
    if char in YUAN or char in UNITS or char in GROUPS:
        message = _("'{char}' at character {place} cannot come after 元")
        return Unread(message.format(char=char, place=at + 1))
    return _not_capital(char, at)


def _no_cent_unit(text: str, digit: _Digit) -> Unread:
    message = _("'{char}' at character {place} has no 角 or 分 after it")
    return Unread(message.format(char=text[digit.at], place=digit.at + 1))


def _not_capital(char: str, at: int) -> Unread:
    if char in LOWER:
        message = _("'{char}' at character {place} is no capital: write {capital}")
        return Unread(message.format(char=char, place=at + 1, capital=LOWER[char]))
    message = _("'{char}' at character {place} is no capital numeral")
    return Unread(message.format(char=char, place=at + 1))


def _two_digits(char: str, at: int) -> Unread:
    message = _("'{char}' at character {place} follows a digit with no unit between them")
    return Unread(message.format(char=char, place=at + 1))


def _no_digit(char: str, at: int) -> Unread:
    message = _("'{char}' at character {place} has no digit before it")
    return Unread(message.format(char=char, place=at + 1))


def _out_of_order(char: str, at: int) -> Unread:
    message = _(
        "'{char}' at character {place} is out of order: units go from the largest down,"
        " as in 壹仟贰佰亿叁仟肆佰万伍仟陆佰元柒角捌分"
    )
    return Unread(message.format(char=char, place=at + 1))


def _stray_zero(at: int) -> Unread:
    message = _("'零' at character {place} stands for no missing digit")
    return Unread(message.format(place=at + 1))


def _missing_zero(char: str, at: int) -> Unread:
    message = _(
        "a 零 is missing before '{char}' at character {place}, or a unit after it"
        " (壹佰零伍元 is 105, 壹佰伍拾元 150)"
    )
    return Unread(message.format(char=char, place=at + 1))
