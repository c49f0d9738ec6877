"""Numbers as bankers write them: `50万`, `1.2亿`, `70%`; `500,000` refused with its rewrite.

`spell_out(source)` writes every 万/亿/% number of a condition out as the plain number it
means (exact decimal arithmetic: `1.2亿` is 120000000, `70%` is 0.7) before the parser sees the
text, so the one AST, and with it every back end, holds the plain number. It remembers where
each rewritten number stood, so an error found later still points at what the user wrote.

A comma is never read as a thousands separator in a condition, because a comma also separates
the values of `IN (…)` and the arguments of a function: `>= 500,000` is an error saying
`write 500000`. Inside a list `1,000` is ambiguous (1000, or the values 1 and 000): it is an
error when it cannot be a list as written (a group with a leading 0, or a list whose other
commas are followed by a space); `IN (100,200)` stays the two values SQL reads.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot.errors import TokenError
from sqlglot.tokens import Tokenizer, TokenType  # type: ignore[attr-defined]

from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.dates import date_literal_hint
from guanxi.engine.language.limits import MAX_NUMBER

SCALES = {"万": 4, "亿": 8, "万亿": 12}  # powers of ten
_UNIT_CHARS = "万亿"
CURRENCY = "¥￥"  # the yuan sign, half and full width
_GROUP = re.compile(r"\d{3}")
_OPERAND_START = {
    TokenType.NUMBER,
    TokenType.VAR,
    TokenType.STRING,
    TokenType.L_PAREN,
    TokenType.IDENTIFIER,
}
UNIT_HINT = N_("write 万 or 亿 once, right after a number: 50万 = 500000, 1.2亿 = 120000000")


class NumberSpelling(ValueError):
    """A decision-table cell's number cannot be read; `hint` says how to write it."""

    def __init__(self, message: str, hint: str | None, code: str = "number-format") -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


@dataclass(frozen=True)
class Move:
    """A number rewritten: its span in the written-out text and in the source (end exclusive)."""

    new_start: int
    new_end: int
    old_start: int
    old_end: int


@dataclass(frozen=True)
class Spelled:
    text: str
    moves: tuple[Move, ...] = ()

    def original(self, offset: int, length: int) -> tuple[int, int]:
        """An error's span in the written-out text, as a span of the source."""
        start = self._place(offset, first=True)
        end = self._place(offset + max(length, 1) - 1, first=False)
        return start, max(end - start + 1, 1)

    def _place(self, offset: int, first: bool) -> int:
        shift = 0
        for move in self.moves:
            if offset < move.new_start:
                break
            if offset < move.new_end:
                return move.old_start if first else move.old_end - 1
            shift = move.old_end - move.new_end
        return offset + shift


def plain_number(digits: str, unit: str) -> str:
    """`digits` scaled by `unit` (万, 亿, 万亿, % or nothing), written out exactly."""
    try:
        value = Decimal(digits)
    except InvalidOperation:
        message = _("'{written}' is not a number").format(written=digits + unit)
        raise ValueError(message) from None
    if unit == "%":
        value = value.scaleb(-2)
    elif unit:
        value = value.scaleb(SCALES[unit])
    if not value.is_finite() or abs(value) > MAX_NUMBER:
        raise ValueError(_("the number {number} is too large").format(number=digits + unit))
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def spell_out(source: str) -> Spelled:
    """The source with every 万/亿/% number written out; ConditionError for a misspelt one."""
    try:
        tokens = list(Tokenizer().tokenize(source))
    except TokenError:
        return Spelled(source)  # an unclosed quote: the parser's own message says so
    _check_commas(source, tokens)
    moves: list[tuple[int, int, str]] = []  # source span and its replacement
    index = 0
    while index < len(tokens):
        _check_spoken_share(source, tokens, index)
        _check_currency(source, tokens, index)
        found = _scaled(source, tokens, index)
        if found is None:
            _check_lone_unit(tokens, index)
            index += 1
            continue
        moves.append(found[:3])
        index = found[3]
    return _rewrite(source, moves)


def _scaled(source: str, tokens: list[Any], index: int) -> tuple[int, int, str, int] | None:
    """A number with a unit at `index`: its source span, written-out text, next token index."""
    number = tokens[index]
    if number.token_type != TokenType.NUMBER or index + 1 >= len(tokens):
        return None
    unit = tokens[index + 1]
    after = tokens[index + 2] if index + 2 < len(tokens) else None
    if unit.token_type == TokenType.VAR and unit.text[0] in _UNIT_CHARS:
        written = source[number.start : unit.end + 1]
        if unit.text not in SCALES:
            raise _misspelt_unit(number, unit, written)
    elif unit.token_type == TokenType.VAR and unit.start == number.end + 1:
        raise _glued_word(number, unit, source[number.start : unit.end + 1])
    elif unit.token_type == TokenType.MOD and not _operand(after):  # `70%`, not `n % 2`
        written = source[number.start : unit.end + 1]
    else:
        return None
    try:
        plain = plain_number(number.text, unit.text)
    except ValueError as error:
        hint = _("numbers in conditions are at most 1,000,000,000,000,000 (10^15)")
        raise _error(str(error), number.start, len(written), hint, "number-out-of-range") from None
    return number.start, unit.end + 1, plain, index + 2


def _misspelt_unit(number: Any, unit: Any, written: str) -> ConditionError:
    """`5万万`, `50万元`, or `50万AND` (a space missing before a word)."""
    scale = next(u for u in sorted(SCALES, key=len, reverse=True) if unit.text.startswith(u))
    rest = unit.text[len(scale) :]
    if rest.isascii() and rest.isalpha():
        message = _("a space is missing after {number}").format(number=number.text + scale)
        write = _("write {text}").format(text=f"{number.text}{scale} {rest}")
        return _error(message, number.start, len(written), write)
    if (mixed := mixed_amount_hint(written)) is not None:
        hint = mixed
    elif rest[0] in _UNIT_CHARS:
        hint = _(UNIT_HINT)
    else:
        hint = _("leave out '{word}': write {number}").format(word=rest, number=number.text + scale)
    return _error(
        _("'{written}' is not a number").format(written=written), number.start, len(written), hint
    )


# Words that multiply the number they follow but are not written in conditions: 5千 is 5000,
# not 5 with a unit to leave out.
MULTIPLIERS = {"十": 1, "百": 2, "千": 3, "十万": 5, "百万": 6, "千万": 7, "k": 3, "m": 6}


def _glued_word(number: Any, word: Any, written: str) -> ConditionError:
    """A word glued to a number: `50w`, `50k`, `5千`, `7成`, `50元`, `2026年3月1日`; a
    condition never has one."""
    power = MULTIPLIERS.get(word.text.lower())
    day_hint = date_literal_hint(written)
    if day_hint is not None:
        message = _("'{written}' is a date, which a condition writes as DATE 'YYYY-MM-DD'")
        return _error(message.format(written=written), number.start, len(written), day_hint)
    if (share := spoken_percent(written)) is not None:
        hint = _("write {text}").format(text=share)
    elif word.text.lower() == "w":
        hint = _("for 万 write {number}").format(number=number.text + "万")
    elif power is not None:
        whole = format(Decimal(number.text).scaleb(power).normalize(), "f")
        hint = _("write {text}").format(text=whole)
    elif (mixed := mixed_amount_hint(written)) is not None:
        hint = mixed
    else:
        hint = _("leave out '{word}': write {number}").format(word=word.text, number=number.text)
    return _error(
        _("'{written}' is not a number").format(written=written), number.start, len(written), hint
    )


# `1亿5千万` as said: parts with falling powers of ten, each a number and its unit
_MIXED_PART = re.compile(r"(\d+(?:\.\d+)?)(万亿|千万|百万|十万|亿|万|千|百|十)")
_POWERS = {
    **SCALES,
    **{unit: MULTIPLIERS[unit] for unit in ("十", "百", "千", "十万", "百万", "千万")},
}


def mixed_amount_hint(written: str) -> str | None:
    """What to write for an amount said in parts (`1亿5千万`, `1亿5000万`, `3万5千`): its plain
    number and its 亿 or 万 form; None when `written` is no such amount."""
    parts = _MIXED_PART.findall(written.strip())
    powers = [_POWERS[unit] for _digits, unit in parts]
    if len(parts) < 2 or "".join(map("".join, parts)) != written.strip():
        return None
    if any(later >= earlier for earlier, later in itertools.pairwise(powers)):
        return None
    value = sum((Decimal(digits).scaleb(_POWERS[unit]) for digits, unit in parts), Decimal(0))
    if value < 10**4:
        return _("write {text}").format(text=_decimal_text(value))
    unit = "亿" if value >= 10**8 else "万"
    short = _decimal_text(value.scaleb(-SCALES[unit])) + unit
    return _("write {number} or {short}").format(number=_decimal_text(value), short=short)


def chinese_amount(text: str) -> int | None:
    """An amount in Chinese numerals, with or without its yuan (`三千万元`, `二十万`), or None."""
    for unit in ("块钱", "元", "块"):
        text = text.removesuffix(unit)
    return chinese_number(text)


def _check_currency(source: str, tokens: list[Any], index: int) -> None:
    """`¥200000` or `￥ 50万`: an amount in a condition is the number alone."""
    token = tokens[index]
    if token.token_type != TokenType.VAR or token.text[0] not in CURRENCY:
        return
    end = token.end + 1
    if len(token.text) == 1:  # the sign apart from its number
        end = _amount_end(tokens, index + 1) or end
    amount = source[token.start + 1 : end].strip()
    if not amount[:1].isdigit():
        return
    message = _("'{written}' is not a number").format(written=source[token.start : end])
    hint = _("leave out the ¥ sign of an amount: write {number}").format(number=amount)
    raise _error(message, token.start, end - token.start, hint)


def _amount_end(tokens: list[Any], index: int) -> int | None:
    """Where the number at `index` ends, with its 万 or 亿; None when there is no number."""
    if index >= len(tokens) or tokens[index].token_type != TokenType.NUMBER:
        return None
    end = int(tokens[index].end) + 1
    unit = tokens[index + 1] if index + 1 < len(tokens) else None
    if unit is not None and unit.start == end and unit.text[0] in _UNIT_CHARS:
        return int(unit.end) + 1
    return end


def _check_spoken_share(source: str, tokens: list[Any], index: int) -> None:
    """A share said in words, `百分之七十` or `七成`: the error says to write `70%`."""
    token = tokens[index]
    if token.token_type != TokenType.VAR:
        return
    last = index
    decimals = tokens[index + 1 : index + 3]  # 百分之7.5: the tokenizer splits off '.5'
    if token.text.startswith(PERCENT_WORD) and [t.token_type for t in decimals] == [
        TokenType.DOT,
        TokenType.NUMBER,
    ]:
        last = index + 2 if decimals[0].start == token.end + 1 else index
    if chinese_number(token.text) is not None and _glued_percent(tokens, index):
        last += 1  # 七十%: a share in Chinese numerals
    written = source[token.start : tokens[last].end + 1]
    share = spoken_percent(written)
    if share is not None:
        message = _("'{written}' is not a number").format(written=written)
        raise _error(message, token.start, len(written), _("write {text}").format(text=share))


def _glued_percent(tokens: list[Any], index: int) -> bool:
    """Whether a '%' follows the token at `index` with no space between."""
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    if after is None or after.token_type != TokenType.MOD:
        return False
    return bool(after.start == tokens[index].end + 1)


PERCENT_WORD = "百分之"
TENTHS_WORD = "成"  # 7成 is seven tenths: 70%


def spoken_percent(written: str) -> str | None:
    """A share said in words as a rule writes it (`百分之七十`, `百分之70`, `7成`, `七成`: `70%`),
    or None when `written` is no such share."""
    text = written.strip()
    if text.endswith("%") and (number := chinese_number(text[:-1])) is not None:
        return f"{number}%"  # 七十%
    if text.startswith(PERCENT_WORD):
        amount = _amount(text[len(PERCENT_WORD) :])
        return None if amount is None else f"{_decimal_text(amount)}%"
    if text.endswith(TENTHS_WORD):
        amount = _amount(text[: -len(TENTHS_WORD)])
        return None if amount is None else f"{_decimal_text(amount.scaleb(1))}%"
    return None


def _amount(text: str) -> Decimal | None:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return Decimal(text)
    number = chinese_number(text)
    return None if number is None else Decimal(number)


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def number_hint(written: str) -> str | None:
    """What to write for a number said as a banker says it in a setting that takes a plain
    number (`五`, `百分之五`, `5千`), or None."""
    text = written.strip()
    if (share := spoken_percent(text)) is not None:
        return _("write {text}").format(text=share)
    if (multiplied := _multiplied(text)) is not None:
        return _("write {text}").format(text=multiplied)
    if (number := chinese_number(text)) is not None:
        return _("write the number in digits: {number}").format(number=number)
    if (counted := _COUNTED.fullmatch(text)) is not None:
        return _("write the number alone: {number}").format(number=counted.group(1))
    if (said := _COUNTED_IN_WORDS.fullmatch(text)) and (number := chinese_number(said[1])):
        return _("write the number alone: {number}").format(number=number)
    return None


# 2次, 25个, 每天25个: one number, with Chinese words that say what it counts or how often
_COUNTED = re.compile(r"[\u3400-\u9fff]*\s*(\d+)\s*[\u3400-\u9fff]+")
# 两次, 最多三次, 二十五个: the number in words, with what it counts
_COUNTED_IN_WORDS = re.compile(
    r"(?:最多|至多|不超过|每天|每日)?\s*([零〇一二两三四五六七八九十百千]+)\s*(?:次|个|条|封|件|通|位|名|单)"
)


def _operand(token: Any) -> bool:
    return token is not None and token.token_type in _OPERAND_START


def _check_lone_unit(tokens: list[Any], index: int) -> None:
    token = tokens[index]
    if token.token_type == TokenType.VAR and token.text[0] in _UNIT_CHARS:
        message = _("'{unit}' needs a number right before it").format(unit=token.text)
        raise _error(message, token.start, len(token.text), _(UNIT_HINT))


_CELL_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(万亿|万|亿|%)?")


def cell_number(written: str) -> str:
    """A decision-table cell's number written out. A cell holds one test, so a comma between
    digit groups there can only be a thousands separator: `500,000` is 500000."""
    compact = re.sub(r"(?<=\d)[,_](?=\d{3}(?!\d))", "", written.strip())
    found = _CELL_NUMBER.fullmatch(compact)
    if found is None:
        # a range (8万-20万) is not a number misspelt: the table answers it (tables.py)
        ranged = _CELL_RANGE.fullmatch(compact) is not None
        said = None if ranged else _cell_said(compact) or _cell_words(compact)
        if said is not None:
            message = _("'{written}' is not a number").format(written=written)
            raise NumberSpelling(message, said)
        if not ranged and any(c in written for c in _UNIT_CHARS):
            raise NumberSpelling(
                _("'{written}' is not a number").format(written=written), _(UNIT_HINT)
            )
        raise NumberSpelling(
            _("'{written}' is not a number").format(written=written), None, "decision-table"
        )
    try:
        return plain_number(found.group(1), found.group(2) or "")
    except ValueError as error:
        raise NumberSpelling(str(error), None, "number-out-of-range") from None


_CELL_AMOUNT = r"-?\d+(?:\.\d+)?\s*(?:万亿|万|亿|%)?"
_CELL_WORDS = re.compile(rf"({_CELL_AMOUNT})\s*(\S+)")
_CELL_RANGE = re.compile(rf"{_CELL_AMOUNT}\s*(?:-|~|～|—|–|至|到)\s*{_CELL_AMOUNT}\S?")
_CELL_REACHED = re.compile(rf"满\s*({_CELL_AMOUNT})\s*[^\d\s]?")
AT_LEAST = ("以上", "及以上", "或以上", "起")
AT_MOST = ("以下", "及以下", "或以下", "以内")
YUAN_WORDS = ("元", "块", "块钱")


def _cell_words(written: str) -> str | None:
    """What to write for a cell's number with a word after it (`8万以上`, `8万元`), or None
    (a range written as in a sentence, `8万-20万`, is answered by the table: tables.py)."""
    if (reached := _CELL_REACHED.fullmatch(written)) is not None:  # 满25岁: 25 reached
        number, word = reached.group(1).replace(" ", ""), "满"
    elif (found := _CELL_WORDS.fullmatch(written)) is not None:
        number, word = found.group(1).replace(" ", ""), found.group(2)
    else:
        return None
    if word[1:] in AT_LEAST + AT_MOST and not word[0].isdigit():
        word = word[1:]  # 25岁以上: what the number counts, then the bound
    if word in (*AT_LEAST, "满"):
        return _("write >= {number} ({word} counts {number} in), or > {number}").format(
            number=number, word=word
        )
    if word in AT_MOST:
        return _("write <= {number} ({word} counts {number} in), or < {number}").format(
            number=number, word=word
        )
    if word in YUAN_WORDS:
        return _("leave out '{word}': write {number}").format(word=word, number=number)
    return None


def _cell_said(written: str) -> str | None:
    """What to write for a cell's number said as a banker says it (`七成`, `5千`, `8w`,
    `八万`, `1亿5千万`), or None."""
    multiplied = spoken_percent(written) or _multiplied(written)
    if multiplied is not None:
        return _("write {text}").format(text=multiplied)
    if (tenthousands := re.fullmatch(r"(\d+(?:\.\d+)?)\s*[wW]", written)) is not None:
        return _("for 万 write {number}").format(number=tenthousands.group(1) + "万")
    if (number := chinese_amount(written)) is not None:
        return _("write the number in digits: {number}").format(number=number)
    return mixed_amount_hint(written)


def _multiplied(written: str) -> str | None:
    """`5千` written out (5000), or None when `written` is no number and multiplier."""
    found = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(\S+)", written)
    if found is None or found.group(2).lower() not in MULTIPLIERS:
        return None
    power = MULTIPLIERS[found.group(2).lower()]
    return format(Decimal(found.group(1)).scaleb(power).normalize(), "f")


_CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CHINESE_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000}
_CHINESE_NUMERAL = re.compile(f"[{''.join(_CHINESE_DIGITS)}{''.join(_CHINESE_UNITS)}万亿]+")


def chinese_number(text: str) -> int | None:
    """A number written in Chinese numerals (二十万, 三万五千, 一亿二千万), or None."""
    if not _CHINESE_NUMERAL.fullmatch(text) or text[0] in "万亿":  # 万 alone is no number
        return None
    total = section = number = 0
    for char in text:
        if char in _CHINESE_DIGITS:
            number = _CHINESE_DIGITS[char]
        elif char in _CHINESE_UNITS:
            section += (number or 1) * _CHINESE_UNITS[char]
            number = 0
        elif char == "万":
            total += (section + number) * 10**4
            section = number = 0
        else:  # 亿
            total = (total + section + number) * 10**8
            section = number = 0
    return total + section + number


def check_list(cell: str) -> None:
    """A list of numbers in one cell (`1, 2`), read as conditions read `IN (1,000, 2)`."""
    try:
        tokens = list(Tokenizer().tokenize(f"x IN ({cell})"))
    except TokenError:
        return
    try:
        _check_commas(f"x IN ({cell})", tokens)
    except ConditionError as error:
        raise NumberSpelling(error.message, error.hint) from None


def _rewrite(source: str, spans: list[tuple[int, int, str]]) -> Spelled:
    parts: list[str] = []
    moves: list[Move] = []
    done = 0
    length = 0
    for start, end, plain in spans:
        parts.append(source[done:start])
        length += start - done
        moves.append(Move(length, length + len(plain), start, end))
        parts.append(plain)
        length += len(plain)
        done = end
    parts.append(source[done:])
    return Spelled("".join(parts), tuple(moves))


def _check_commas(source: str, tokens: list[Any]) -> None:
    """A comma written inside a number (`500,000`) is an error saying how to write it."""
    lists: list[bool] = []  # for each open bracket: does it hold a list (IN, a function)?
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind == TokenType.L_PAREN:
            before = tokens[index - 1].token_type if index else None
            lists.append(before in (TokenType.IN, TokenType.VAR))  # IN (…) or a function's
        elif kind == TokenType.R_PAREN and lists:
            lists.pop()
        elif kind == TokenType.NUMBER and _spaced_group(source, tokens, index):
            _spaced_number(source, tokens, index)
        elif kind == TokenType.NUMBER and _starts_comma_number(tokens, index):
            in_list = bool(lists) and lists[-1]
            _comma_number(source, tokens, index, in_list)


def _spaced_number(source: str, tokens: list[Any], index: int) -> None:
    end = index
    while _spaced_group(source, tokens, end):
        end += 1
    written = source[tokens[index].start : tokens[end].end + 1]
    joined = "".join(t.text for t in tokens[index : end + 1])
    message = _("'{written}' has a space inside the number").format(written=written)
    hint = _("write {number} (no thousands separator)").format(number=joined)
    raise _error(message, tokens[index].start, len(written), hint)


def _spaced_group(source: str, tokens: list[Any], index: int) -> bool:
    """`50 000`: a number, spaces, then three digits (two numbers in a row are never valid)."""
    if index + 1 >= len(tokens) or tokens[index + 1].token_type != TokenType.NUMBER:
        return False
    between = source[tokens[index].end + 1 : tokens[index + 1].start]
    return between.isspace() and _GROUP.fullmatch(tokens[index + 1].text) is not None


def _starts_comma_number(tokens: list[Any], index: int) -> bool:
    previous = tokens[index - 1] if index else None
    glued_before = (
        previous is not None
        and previous.token_type == TokenType.COMMA
        and previous.start == tokens[index].start - 1
        and index >= 2
        and tokens[index - 2].token_type == TokenType.NUMBER
        and tokens[index - 2].end + 1 == previous.start
    )
    return not glued_before and _glued_group(tokens, index) is not None


def _glued_group(tokens: list[Any], index: int) -> Any:
    """The number glued to the comma glued after the number at `index`, if any."""
    if index + 2 >= len(tokens):
        return None
    number, comma, group = tokens[index], tokens[index + 1], tokens[index + 2]
    glued = comma.start == number.end + 1 and group.start == comma.end + 1
    if comma.token_type == TokenType.COMMA and group.token_type == TokenType.NUMBER and glued:
        return group
    return None


def _comma_number(source: str, tokens: list[Any], index: int, in_list: bool) -> None:
    groups = [tokens[index].text]
    end = index
    while (group := _glued_group(tokens, end)) is not None:
        groups.append(group.text)
        end += 2
    start = tokens[index].start
    written = source[start : tokens[end].end + 1]
    thousands = all(_GROUP.fullmatch(g) for g in groups[1:]) and "." not in "".join(groups[:-1])
    joined = "".join(groups)
    if in_list and not _surely_one_number(source, tokens, index, groups):
        return  # `IN (100,200)`: two values, as SQL reads them
    if in_list:
        message = _("'{written}' could be the number {number} or the values {values}").format(
            written=written, number=joined, values=_(" and ").join(groups)
        )
        hint = _(
            "write {number} (no thousands separator); put a space after a comma between values"
        ).format(number=joined)
    elif thousands:
        message = _("'{written}' has a comma inside the number").format(written=written)
        hint = _("write {number} (no thousands separator)").format(number=joined)
    else:
        message = _("'{written}' is not a number: a comma cannot be inside a number").format(
            written=written
        )
        hint = _("write the number without commas, e.g. 500000")
    raise _error(message, start, len(written), hint, "number-format")


def _surely_one_number(source: str, tokens: list[Any], index: int, groups: list[str]) -> bool:
    """In a list, `1,000` means one number when `000` cannot be a value as written, or when the
    list's other commas are followed by a space (`IN (1,000, 2)`)."""
    if any(g.startswith("0") for g in groups[1:]):
        return True
    inside = _enclosing_text(source, tokens, index)
    return re.search(r",\s", inside) is not None


def _enclosing_text(source: str, tokens: list[Any], index: int) -> str:
    """The text inside the brackets around token `index` (the whole source outside any)."""
    opening = _unmatched(reversed(tokens[:index]), TokenType.L_PAREN, TokenType.R_PAREN)
    closing = _unmatched(tokens[index:], TokenType.R_PAREN, TokenType.L_PAREN)
    return source[opening.start if opening else 0 : closing.start if closing else len(source)]


def _unmatched(tokens: Iterable[Any], wanted: TokenType, nested: TokenType) -> Any | None:
    """The first `wanted` bracket in `tokens` not matched by a `nested` one before it."""
    depth = 0
    for token in tokens:
        if token.token_type == nested:
            depth += 1
        elif token.token_type == wanted:
            if depth == 0:
                return token
            depth -= 1
    return None


def _error(
    message: str, start: int, length: int, hint: str | None, code: str = "number-format"
) -> ConditionError:
    return ConditionError(code, message, start, length, hint=hint)
