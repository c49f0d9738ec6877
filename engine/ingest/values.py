"""Reading one value of a field: text, numbers, true/false, dates and times.

How values are read (business users ask about these, so they are decided here once):

- Spaces around a value are removed; an empty cell, a JSON null and a missing JSON key all
  mean "no value", in every type of field; so do the words programs write for a missing
  value (`NULL`, `None`, `nan`, `\\N`, in any letter case and in full width, `ＮＵＬＬ`: a
  database export's NULL, pandas' nan), as text and as the number, true/false or date the
  field takes. A required field left so is quarantined as empty.
- string: at most TEXT_CHARS characters (an id: ID_CHARS; an id is also read in NFKC:
  `ＣＵＳＴ００１`, typed in full width, is `CUST001`, and letter case counts, as in the core
  banking systems ids come from). A number given for text (JSON, Parquet, an Excel number
  cell) is its text, a whole one without its `.0` (`13800000000.0` is `13800000000`), and
  so is an id written as a real in a text cell (`123.0`, a float export, is `123`); one of
  more than 15 digits written as a real (an 18-digit id in an Excel number cell) is rejected,
  as its last digits are not what was typed. So is such a number written as text
  (`13800000000.0`, as pandas writes a column of reals to a CSV file) in a field a channel
  sends to (its `address_field`).
  A number that is not finite (JSON `NaN`, `Infinity`, `1e999`) is no text: it is rejected,
  and so are Excel's error values (`#N/A`, `#DIV/0!`).
  Line breaks and tabs are fine in text; other invisible control characters (NUL, escape,
  ...), text direction controls (a right-to-left override, which turns around how the text
  after it reads in a message) and broken characters (a JSON `\\ud800` escape) are rejected: a
  store cannot keep them all, and a person cannot see them.
  An id takes neither line breaks nor invisible format characters (a zero-width space).
- integer, number: `1234`, `-12.5`, `1e3`. Thousands separators are accepted only in groups of
  three (`1,234,567.50`, as Excel exports); any other comma (`1,5`, `12,3x4`) is rejected, since
  `1,5` may be a decimal comma. A number in parentheses is negative (`(1,234.00)` is
  -1234, as the accounting format writes it); a dash alone (`-`, the accounting format's
  zero but some reports' "no value") and a percentage (`5%`: 0.05 or 5?) are rejected with
  what to write instead (a dash in an optional field keeps only its value out: rows.py).
  Full-width digits and commas (`１,２３４`) read as their
  ASCII twins, and `万` and `亿` scale a number as in the rules (`1.5亿`); one in Chinese
  numerals (`一万`, `三十五`) is refused with its digits, as the rules refuse it. An amount
  of money (`unit: 元`) may name 元 before or after the number (`¥100`, `RMB 100`, `CNY 1,000`,
  `人民币100元`, `100 元`, `100元整`, `100圆`: currencies.py) or be written in capitals
  as on a cheque (`人民币壹万贰仟叁佰肆拾伍元陆角柒分`, read exactly: capitals.py), but is
  never counted in 块 (`100块`, as 元 is said aloud: refused with what to write), and 元
  alone (`人民币`, `¥`: an amount left blank) is refused as a dash is; another
  currency (`$100`, `100 USD`, `HK$100`,
  `100港元`) is refused naming it, never read as 元, and a plain number field takes no
  currency at all (refused with the number to write). An integer may be
  written `3.0` but not `3.5`; inf is rejected, and so is a number that is not finite given
  as a number (a JSON `NaN`, a Parquet NaN: a failed computation, as for text), while the
  word `nan` in a text cell is pandas' missing value. A field's `min:` and `max:` bound
  it (a balance is never negative).
- boolean: true/false, yes/no, y/n, 1/0, 是/否, in any letter case and width (`Ｙ`); also
  真/假 (as decision tables take them), √/× (a ticked or crossed box, ✓/✗ too), t/f
  (PostgreSQL's export) and 1.0/0.0 (a pandas column of flags with a gap is one of reals, as a
  number too).
- date: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` or `YYYY年M月D日` (month and day of one or two
  digits), or `YYYYMMDD` (as core banking systems export one, in a number cell too), a real
  calendar day, which midnight without an offset may follow (`2026-11-03
  00:00:00`, as databases export a date); a timestamp (Parquet's) at midnight, to the
  nanosecond, is its day (one with a zone: in the project's zone, instants.py). The year
  comes first: `03/11/2026` could be 3 November or March 11, so it is rejected, never
  guessed. datetime: one of those dates, then `T` or a space
  and `HH:MM[:SS[.fffffffff]]` (read to the microsecond), with an optional offset (`+08:00`,
  Java's `+0800`, `+08`, `Z`); without one the time is
  in the project's time zone. Datetimes are stored as UTC ISO text. Both lie between EARLIEST
  and LATEST, and may be typed in full width as numbers may (`２０２６－１１－０２`,
  `２０２６年１１月２日`, `１０：３０`: read in NFKC).
- A field with `values:` takes one of them exactly (letter case counts), by name or by its
  label when `values:` gives labels (`{sms: 短信}`); the name is stored. A word for a
  missing value that `values:` lists (`values: [none, active]`) is that value there
  (guanxi.engine.ingest.rows).

A value that does not fit raises Invalid, whose message is the quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from guanxi.engine.bidi import BIDI, BIDI_CONTROLS
from guanxi.engine.i18n import N_, _
from guanxi.engine.ingest import capitals, currencies
from guanxi.engine.language.numbers import chinese_number, plain_number
from guanxi.engine.not_text import is_excel_error, is_missing_written
from guanxi.engine.unseen import FORMAT_CHARACTERS, UNSEEN_IN_ID, printable

BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "是": True,
    "否": False,
    "真": True,  # as decision tables take them
    "假": False,
    "t": True,  # PostgreSQL's export of a boolean column
    "f": False,
    "√": True,  # a ticked or crossed box, as Chinese forms and Excel sheets mark them
    "×": False,
    "✓": True,
    "✔": True,
    "✗": False,
    "✘": False,
    "1.0": True,  # pandas' column of flags with a gap is one of reals
    "0.0": False,
}
GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", re.ASCII)
SCALED_NUMBER = re.compile(r"(-?\d+(?:\.\d+)?)\s*(万亿|万|亿)", re.ASCII)  # 100万, 1.5亿
YUAN = "元"  # an amount as Chinese staff write it: 1,200元
# (1,234.00): the accounting format's -1,234.00, as bank reports and Excel export it
ACCOUNTING_NEGATIVE = re.compile(r"\(\s*([^-+()\s][^()]*?)\s*\)")
# A number with a word after it, as a clerk writes what it counts (30岁, 3个, 12笔, 5 years)
COUNTED = re.compile(r"([+-]?\d+(?:,\d{3})*(?:\.\d+)?)\s*([^\W\d_]{1,8})")
DASHES = frozenset({"-", "--", "–", "—", "——"})  # the accounting format's zero, or no value
# The date part: the year first, then month and day, all one separator or 年月日, or none at
# all (YYYYMMDD, as core banking systems export a date).
_DAY = (
    r"(?P<y>\d{4})(?:(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})"
    r"|年(?P<cm>\d{1,2})月(?P<cd>\d{1,2})日|(?P<bm>\d{2})(?P<bd>\d{2}))"
)
DATE = re.compile(_DAY, re.ASCII)
# A time: up to nine digits of a second (SQL Server's datetime2 writes seven, Java's Instant
# nine: read to the microsecond), and an offset with or without its colon (Java's +0800)
DATETIME = re.compile(
    # the hour may have one digit: Excel saves a date and time cell as `2026/1/5 9:30`
    _DAY + r"(?:[T ]|(?<=日))(?P<t>\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)",
    re.ASCII,
)
MIDNIGHT = re.compile(r"0?0:00(:00(\.0{1,9})?)?", re.ASCII)
# The DATETIME that fromisoformat reads as it is (YYYY-MM-DDTHH:MM…): most files write this
ISO_DATETIME = re.compile(
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]{1,9})?)?"
    "(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
DATE_FORMS = N_("YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD or YYYY年M月D日")
TEXT_CHARS = 4_000  # a long complaint note fits; a pasted document or a runaway cell does not
ID_CHARS = 64  # customer, manager, group, branch and event ids: bank ids are far shorter, indexed
# Characters no text needs: C0 and C1 controls but tab, line feed and carriage return (a note
# may have lines), the bidirectional controls, and lone UTF-16 surrogates (JSON `\ud800`),
# which are not text at all. PostgreSQL refuses NUL and surrogates outright; SQLite would keep
# what no one can see.
UNSEEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_CONTROLS}\ud800-\udfff]")
# Text of these alone (a lone zero-width space) looks like an empty cell, and is read as one.
LOOKS_EMPTY = re.compile(f"[\\s{FORMAT_CHARACTERS}]*")
# Dates and times outside these are slips (0202 for 2020), a spreadsheet's day zero
# (1899-12-30) or a placeholder for "never" (9999-12-31). Planning adds delays and years to
# them, which must stay far from the years 1 and 9999 where Python's dates end.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)
SHOWN_CHARS = 40  # of a value quoted in a reason
EXACT_DIGITS = 15  # of a whole number written as a real: all that Excel keeps of one


class Invalid(ValueError):
    """A value that does not fit its field; the message is the quarantine reason."""


def quoted(text: str) -> str:
    """A value as a reason quotes it: printable, and cut short when long."""
    return f"'{_cut(printable(text))}'"


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def shown(value: Any) -> str:
    if isinstance(value, str):
        return quoted(value.strip())
    return _cut(printable(json.dumps(value, ensure_ascii=False, default=str)))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        # a program's NaN or Infinity (JSON `NaN`, `1e999`) would be written "nan" or "inf"
        raise Invalid(
            _(
                "{value} is not text: the program that wrote the file put a missing or"
                " overflowing number here; write the text, or leave it empty"
            ).format(value=shown(value))
        )
    if isinstance(value, float) and value.is_integer():
        return _whole_text(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise Invalid(_("expected text, got {value}").format(value=shown(value)))


def _whole_text(value: float) -> str:
    """A whole number stored as a real (a phone in a pandas column with a gap, an id in an
    Excel number cell) as the digits it stands for: 13800000000.0 is `13800000000`. Past
    EXACT_DIGITS digits a real holds only approximately what was typed (Excel keeps 15), so
    the digits it holds would be another phone or customer."""
    if abs(value) < 10**EXACT_DIGITS:
        return str(int(value))
    raise Invalid(
        _(
            "{value} is a number of more than {digits} digits, which Excel and other programs"
            " keep only approximately (its last digits change); in Excel, format the column as"
            " Text and type it again"
        ).format(value=shown(value), digits=EXACT_DIGITS)
    )


def _reader(
    unseen: re.Pattern[str],
    limit: int,
    same: Callable[[str], str] = str.strip,
    not_text: Callable[[Any], str | None] = _text,
) -> Callable[[Any], str | None]:
    """Reads text of at most `limit` characters without `unseen` ones (the usual case: one
    length and one search), written as `same` writes it; a value that is not text (a JSON
    number, whose digits JSON does not limit) is read by `not_text`, and held to `limit` too."""

    def read(value: Any) -> str | None:
        written = same(value) if type(value) is str else not_text(value)
        if written is None:
            return None
        if len(written) <= limit and not unseen.search(written):
            return _not_a_placeholder(written) or None
        raise Invalid(_why_not_text(written, unseen, limit))

    return read


def _not_a_placeholder(value: str) -> str:
    """`value`; empty for a program's word for a missing value (a database export's NULL),
    which is no more than an empty cell, and for invisible characters alone; Invalid for an
    Excel error, where a formula failed."""
    if is_missing_written(value) or LOOKS_EMPTY.fullmatch(value):
        return ""
    if is_excel_error(value):
        raise Invalid(
            _(
                "{value} is the error Excel shows where a formula failed (a lookup that found"
                " nothing), not text; correct the formula, or write the value, or leave the"
                " cell empty"
            ).format(value=quoted(value))
        )
    return value


def _id_text(value: Any) -> str | None:
    """An id given as a number (JSON, Parquet) as the text it stands for: `7.0` is `7`."""
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return _text(value)


def _why_not_text(value: str, unseen: re.Pattern[str], limit: int) -> str:
    if len(value) > limit:
        return _("{length} characters long; at most {limit} are allowed here").format(
            length=f"{len(value):,}", limit=f"{limit:,}"
        )
    bad = unseen.search(value)
    assert bad is not None  # not too long, so `read` found one
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        why = _("contains a broken character ({code}) at character {place}; remove it")
    elif BIDI.match(char):
        why = _(
            "contains a text direction control ({code}) at character {place}, which can make"
            " the text around it read in another order; remove it"
        )
    else:
        why = _("contains an invisible character ({code}) at character {place}; remove it")
    return why.format(code=f"U+{ord(char):04X}", place=bad.start() + 1)


# A whole number as pandas writes a column of reals to a CSV file (13800000000.0)
WRITTEN_AS_REAL = f"([0-9]{{1,{EXACT_DIGITS}}})[.]0"
# a number of 12 digits or more as Excel's General format shows it, and saves it in a CSV file
SHOWN_IN_EXPONENT = "[0-9]([.][0-9]+)?[Ee][+][0-9]{2}"


def _contact_text(value: str) -> str:
    """An address a channel sends to (a phone) that pandas wrote as a real, as its digits, as
    the same number given as a real is read (`_whole_text`)."""
    written = value.strip()
    found = re.fullmatch(WRITTEN_AS_REAL, written)
    return found.group(1) if found else written


def _id_written(value: str) -> str:
    """An id as typed (`same_id`); one a float export wrote as a real (`123.0`, as pandas
    writes a column of ids with a gap) as its digits, as the same id in an Excel number cell
    or a JSON number is read: one customer, whichever file they came from."""
    written = unicodedata.normalize("NFKC", value).strip()  # same_id, inlined: one call an id
    if "+" in written and re.fullmatch(SHOWN_IN_EXPONENT, written):
        raise Invalid(
            _(
                "{value} is a long number as Excel shows it, in scientific notation: its last"
                " digits are lost, so it is no id; in Excel, format the column as Text, type"
                " the ids again and save"
            ).format(value=quoted(written))
        )
    if written[-2:] != ".0":  # nearly every id: no pattern to match
        return written
    found = re.fullmatch(WRITTEN_AS_REAL, written)
    return found.group(1) if found else written


text = _reader(UNSEEN_IN_TEXT, TEXT_CHARS)
identifier = _reader(UNSEEN_IN_ID, ID_CHARS, _id_written, _id_text)
contact = _reader(UNSEEN_IN_TEXT, TEXT_CHARS, _contact_text)


def no_value(written: str) -> bool:
    """Whether a value, spaces removed, says "no value": an empty cell, or a word programs
    write for a missing value (a database export's NULL, pandas' nan)."""
    return not written or is_missing_written(written)


def number(value: Any) -> float | None:
    if type(value) is str:
        written = value.strip()
        try:
            result = float(written)
        except ValueError:
            if no_value(written):
                return None
            result = _written_number(written)
        else:  # checked only where float() took the text: plain numbers pay nothing
            if math.isnan(result) and no_value(written):
                return None
        if "_" in written or math.isnan(result) or _names_infinity(written):
            raise Invalid(_("{value} is not a number").format(value=quoted(written)))
        if math.isinf(result):
            raise _too_large(written)
        return result + 0.0  # -0.0 is 0.0: a balance of -0.0 would be written "-0.0元"
    if value is None:
        return None
    if type(value) is int and abs(value) > sys.float_info.max:  # JSON keeps 10**400 exact
        raise _too_large(str(value))
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value) + 0.0
        raise Invalid(_("{value} is not a number").format(value=value))
    raise Invalid(_("expected a number, got {value}").format(value=shown(value)))


class _TooLarge(Invalid):
    """A number written plainly, past what a double holds (1e309)."""


def _too_large(written: str) -> _TooLarge:
    message = _("{value} is too large: numbers up to about 1.8e308 are held")
    return _TooLarge(message.format(value=quoted(written)))


def _names_infinity(written: str) -> bool:
    """`inf`, `-Infinity`: a word, not a number too large (`1e309`)."""
    return "inf" in unicodedata.normalize("NFKC", written).lower()


class _Hinted(Invalid):
    """Not a number, with what to write instead."""


class NoNumber(_Hinted):
    """A cell that holds no number where one goes: a dash alone (zero in the accounting
    format, no value in some reports), or 元 alone (`人民币`, `¥`: a form's amount left
    blank). Never guessed; a load leaves an optional field as stored (rows.py)."""


def _written_number(written: str) -> float:
    """A number as people write it: full-width digits, thousands separators, 万 or 亿 as in
    the rules (`1.5亿`), an accounting negative in parentheses (`(1,234.00)`)."""
    plain = unicodedata.normalize("NFKC", written)
    try:
        return float(plain)
    except ValueError:
        pass
    if negative := ACCOUNTING_NEGATIVE.fullmatch(plain):
        return -_accounted(negative.group(1), written)
    if plain in DASHES or plain.endswith("%"):
        raise _not_plain(written, plain)
    if scaled := SCALED_NUMBER.fullmatch(plain):
        try:
            return float(plain_number(scaled.group(1), scaled.group(2)))
        except ValueError as error:
            raise Invalid(str(error)) from None
    if not GROUPED_NUMBER.fullmatch(plain):
        raise _not_a_number(written, plain)
    return float(plain.replace(",", ""))


class _Currency(_Hinted):
    """A number naming a currency, in a field that is no amount in 元."""


def _not_a_number(written: str, plain: str) -> Invalid:
    """Not a number; one naming a currency (`100元`, `$5`) told to leave it out, since the
    field is no amount in 元 (money() reads those)."""
    currency = currencies.named(plain)
    if currency is None and (said := chinese_number(plain)) is not None:
        return _in_words(written, said)
    if currency is None and (counted := COUNTED.fullmatch(plain)):
        return _counted(written, counted)
    if currency is None:
        return Invalid(_("{value} is not a number").format(value=quoted(written)))
    message = _(
        "{value} names a currency, but this field is a plain number, not an amount in 元"
        " (schema.yaml gives it no unit: 元): write {number}; if the field holds an amount"
        " in 元, give it unit: 元 in schema.yaml"
    )
    return _Currency(message.format(value=quoted(written), number=currency.number))


class _InWords(_Hinted):
    """A number in Chinese numerals (`一万`, `三十五`), as staff say it: read by nothing else
    (conditions and durations answer it the same way), so refused with its digits."""

    def __init__(self, message: str, said: int) -> None:
        super().__init__(message)
        self.said = said


def _in_words(written: str, said: int) -> _InWords:
    message = _("{value} is written in Chinese numerals: write the number in digits, {number}")
    return _InWords(message.format(value=quoted(written), number=said), said)


class _Counted(_Hinted):
    """A number with what it counts written after it (`30岁`)."""


def _counted(written: str, counted: re.Match[str]) -> _Counted:
    """`30岁`: what the number counts, written after it; the field says that already."""
    number, word = counted.groups()
    message = _(
        "{value} has the word '{word}' after the number: write the number alone, {number}"
        " (what it counts is the field's, not the cell's)"
    )
    return _Counted(message.format(value=quoted(written), word=word, number=number))


def _accounted(inside: str, written: str) -> float:
    """The amount inside an accounting negative's parentheses."""
    try:
        return _written_number(inside)
    except Invalid:
        raise Invalid(_("{value} is not a number").format(value=quoted(written))) from None


def _not_plain(written: str, plain: str) -> _Hinted:
    """A dash or a percentage: which number it means depends on who wrote it, so never
    guessed."""
    if plain in DASHES:
        message = _(
            "{value} is how the accounting format shows zero, and how some reports show no"
            " value: write 0 for zero, or leave the cell empty for no value"
        )
    else:
        message = _(
            "{value} is a percentage: write the number without %, as 0.05 for 5% where the"
            " field holds a share (as the rules compare contribution_pct >= 0.90)"
        )
    hinted = NoNumber if plain in DASHES else _Hinted
    return hinted(message.format(value=quoted(written.strip())))


def money(value: Any) -> float | None:
    """An amount of money (a field with `unit: 元`): a number, which may name 元 before or
    after it (`¥100`, `RMB 100`, `100元`, `100元整`: currencies.py), or an amount in
    capitals (`人民币壹佰元整`: capitals.py); never an amount in another currency, nor one
    counted in 块."""
    if type(value) is not str:
        return number(value)
    written = value.strip()
    amount = unicodedata.normalize("NFKC", written)
    currency = currencies.named(amount)
    if currency and currency.currency != currencies.YUAN:
        raise _foreign(written, currency.currency)
    if currency and not currency.number:
        raise _no_amount(written)
    try:
        return number(currency.number if currency else amount)
    except Invalid as error:
        if capitals.written_in(amount):  # 人民币壹万贰仟叁佰肆拾伍元陆角柒分
            return _in_capitals(written, amount)
        raise _unread(written, amount, error) from None


def _unread(written: str, amount: str, error: Invalid) -> Invalid:
    """Why an amount in 元 was not read: as number() said, told what to write."""
    if isinstance(error, _TooLarge):
        return _too_large(written)
    if isinstance(error, _InWords):  # 一万元: the amount's digits, quoting all of it
        return _in_words(written, error.said)
    if isinstance(error, _Hinted) and not isinstance(error, _Currency | _Counted):
        return error
    return _unread_amount(written, amount, error)  # another currency still: ¥¥100, ¥$100


def _unread_amount(written: str, amount: str, error: Invalid) -> Invalid:
    """Not an amount; one naming a currency within (`约100美元`, `100元整整`) or counting in 块
    told what to write."""
    currency = currencies.mentioned(amount)
    if currency not in (None, currencies.YUAN):
        return _foreign(written, currency)
    if "块" in amount:
        return _spoken(written)
    if currency is None and amount[-1:] in "整正" and _reads_as_number(amount[:-1]):
        return _whole_without_yuan(written, amount[:-1].strip())
    if currency is None:
        if isinstance(error, _Counted):
            return error
        return Invalid(_("{value} is not a number").format(value=quoted(written)))
    return _not_an_amount(written)


def _reads_as_number(text: str) -> bool:
    try:
        return number(text) is not None
    except Invalid:
        return False


def _whole_without_yuan(written: str, amount: str) -> _Hinted:
    """`100整`: a form's 元整 with 元 left out; read only as written in full."""
    mark = written[-1]
    message = _("{value} leaves out 元 before {mark}: write {yuan} or {plain}")
    return _Hinted(
        message.format(value=quoted(written), mark=mark, yuan=f"{amount}元{mark}", plain=amount)
    )


def _no_amount(written: str) -> NoNumber:
    """`人民币`, `¥`, `元`: the currency of an amount not written."""
    message = _(
        "{value} names 元 but no amount: write the amount (0 for zero), or leave the cell"
        " empty for no value"
    )
    return NoNumber(message.format(value=quoted(written)))


def _spoken(written: str) -> _Hinted:
    """`100块`: 元 as people say it. A bank's form never writes 块, which also counts pieces
    (3块 is three of something), so a cell in 块 was typed from speech, or holds no amount:
    refused, never read as 元."""
    message = _(
        "{value} counts in 块, as 元 is said aloud, not as a bank form writes it (块 also"
        " counts pieces): write the amount in 元, as 100, 100元 or 1,234.50元"
    )
    return _Hinted(message.format(value=quoted(written)))


def _in_capitals(written: str, amount: str) -> float:
    """An amount written in capitals (大写金额), read exactly: `陆角柒分` is .67."""
    try:
        return float(capitals.read(amount))
    except capitals.Unread as why:
        message = _(
            "{value} is written in capitals (大写金额) but cannot be read: {why}; write it as"
            " a cheque writes it (壹万零伍佰元整, 人民币壹佰元伍角陆分), or as a number"
        )
        raise _Hinted(message.format(value=quoted(written), why=why)) from None


def _foreign(written: str, currency: str) -> _Hinted:
    message = _(
        "{value} is an amount in {currency}, and this field holds amounts in 元: write the"
        " amount converted to 元, as a number (1234.5, ¥1,234.50 or 1,234.50元)"
    )
    return _Hinted(message.format(value=quoted(written), currency=_(currencies.NAMES[currency])))


def _not_an_amount(written: str) -> _Hinted:
    message = _(
        "{value} is not an amount in 元: write a number, as 1234.5; ¥1,234.50, RMB 1,234.50,"
        " 人民币1,234.50元, 1,234.50元整, 12.5万元 and 人民币壹仟贰佰叁拾肆元伍角 are read too"
    )
    return _Hinted(message.format(value=quoted(written)))


def integer(value: Any) -> int | None:
    if type(value) is int:
        return _in_range(value)
    if type(value) is str:
        try:
            whole = int(value)
        except ValueError:
            pass
        else:
            if "_" not in value:
                return _in_range(whole)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return _in_range(int(value))  # a DECIMAL(19,0) column's, exactly: a real rounds it
    try:
        real = number(value)
    except _Hinted:
        raise
    except Invalid:
        raise Invalid(_("{value} is not a whole number").format(value=shown(value))) from None
    if real is None:
        return None
    if not real.is_integer():
        raise Invalid(_("{value} is not a whole number").format(value=shown(value)))
    return _in_range(int(real))


def _in_range(whole: int) -> int:
    # -2^63 is left out: its negation (ABS, unary minus) overflows 64 bits in every database
    if abs(whole) < 2**63:
        return whole
    raise Invalid(_("{value} is too large").format(value=_cut(str(whole))))


def boolean(value: Any) -> bool | None:
    if type(value) is str:
        written = value.strip()
        if (plain := _half_width(written).lower()) in BOOLEANS:  # Ｙ, typed in full width
            return BOOLEANS[plain]
        if no_value(written):
            return None
        raise Invalid(
            _("{value} is not true or false (write true/false, yes/no, y/n, 1/0 or 是/否)").format(
                value=quoted(written)
            )
        )
    if value is None:
        return None
    if type(value) is bool or (_is_number(value) and value in (0, 1)):  # 1.0 from pandas too
        return bool(value)
    raise Invalid(_("expected true or false, got {value}").format(value=shown(value)))


def _half_width(written: str) -> str:
    """Text typed with a Chinese input method left in full-width mode (`２０２６－１１－０２`,
    `１０：３０`) as the ASCII it stands for, read as numbers read it (NFKC); ASCII as it is."""
    return written if written.isascii() else unicodedata.normalize("NFKC", written)


def date(value: Any) -> str | None:
    if type(value) is str:
        written = value.strip()
        plain = _half_width(written)
        match = DATE.fullmatch(plain) or _midnight(plain)
        if match is None:
            if no_value(written):
                return None
            raise _excel_text(plain, written) or Invalid(
                _("{value} is not a date: write it {forms} (year first)").format(
                    value=quoted(written), forms=_(DATE_FORMS)
                )
            )
        return _plausible(_day(match, written), written).isoformat()
    if isinstance(value, dt.datetime) and at_midnight(value):
        return _plausible(value.date(), value.date()).isoformat()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return _plausible(value, value).isoformat()
    if value is None:
        return None
    if _is_number(value) and _whole_day(value):  # 20261103 in a number cell
        return date(str(int(value)))
    if _is_number(value) and (day := excel_day(value)) is not None:
        raise Invalid(
            _(
                "{value} is a number, not a date: Excel shows the date {day} as {value} when"
                " its cell is formatted as a number: format the column as Date, or write {day}"
            ).format(value=shown(value), day=day.isoformat())
        )
    if _is_number(value):
        raise Invalid(
            _(
                "{value} is a number, not a date: write it {forms}; in Excel, a date shows as"
                " a number (46000) when its cell is formatted as a number: format the column"
                " as Date"
            ).format(value=shown(value), forms=_(DATE_FORMS))
        )
    raise Invalid(_("expected a date, got {value}").format(value=shown(value)))


EXCEL_DAY_ZERO = dt.date(1899, 12, 30)  # Excel's day 1 is 1900-01-01, but it counts 1900-02-29
EXCEL_DAYS = (10_000, 99_999)  # five digits: 1927 to 2173, the days a bank's columns hold
EXCEL_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?", re.ASCII)


def excel_day(value: float | int | Decimal) -> dt.date | None:
    """The day Excel keeps as the number `value` (46328 is 2026-11-02; a fraction is the time
    of day), or None when the number is not one of the EXCEL_DAYS."""
    if not EXCEL_DAYS[0] <= value < EXCEL_DAYS[1] + 1:  # NaN is not
        return None
    return EXCEL_DAY_ZERO + dt.timedelta(days=int(value))


def _excel_text(plain: str, written: str) -> Invalid | None:
    """`46328` in a date column of a CSV file: what Excel writes for a date whose cell was
    formatted as a number. Not read (a day count is no date the file says), but named."""
    if EXCEL_SERIAL.fullmatch(plain) is None or (day := excel_day(float(plain))) is None:
        return None
    return Invalid(
        _(
            "{value} is not a date but the number Excel keeps for {day}: in Excel, format the"
            " column as Date and save the file again, or write {day}"
        ).format(value=quoted(written), day=day.isoformat())
    )


def at_midnight(value: dt.datetime) -> bool:
    """Whether a timestamp is midnight on its clock, to the nanosecond (pandas' Timestamp
    keeps nanoseconds beyond the microseconds of its time())."""
    return value.time() == dt.time(0) and not getattr(value, "nanosecond", 0)


def _whole_day(value: float | Decimal) -> bool:
    """Whether a number is written as YYYYMMDD: 8 digits, from EARLIEST's year to LATEST's."""
    low, high = EARLIEST.year * 10_000 + 101, LATEST.year * 10_000 + 1231
    return low <= value <= high and value == int(value)  # NaN and infinity are neither


def _midnight(written: str) -> re.Match[str] | None:
    """A date followed by midnight and no offset, as databases export a DATE column
    (`2026-11-20 00:00:00`, SQL Server's `.000`): the day, as an Excel cell of that
    midnight is. Another time of day belongs to no date field."""
    match = DATETIME.fullmatch(written)
    if match is None or not MIDNIGHT.fullmatch(match.group("t")):
        return None
    return match


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _day(match: re.Match[str], written: str) -> dt.date:
    """The calendar day of a DATE (or DATETIME) match."""
    month = match.group("m") or match.group("cm") or match.group("bm")
    day = match.group("d") or match.group("cd") or match.group("bd")
    try:
        return dt.date(int(match.group("y")), int(month), int(day))
    except ValueError:
        raise Invalid(
            _("{value} is not a real calendar date").format(value=quoted(written))
        ) from None


def _plausible(day: dt.date, given: Any) -> dt.date:
    if EARLIEST <= day <= LATEST:
        return day
    raise Invalid(
        _(
            "{value} is not a plausible date: dates from {earliest} to {latest}"
            " are accepted (is the year mistyped?)"
        ).format(value=quoted(str(given)), earliest=EARLIEST, latest=LATEST)
    )


def time_or_day(written: str) -> dt.datetime:
    """A time, or a day (its midnight), in any form a data file may write it; with the offset
    it is written with, if any. Invalid when it is neither."""
    try:
        return dt.datetime.fromisoformat(written)
    except ValueError:
        pass
    if (day := DATE.fullmatch(_half_width(written))) is not None:
        return dt.datetime.combine(_day(day, written), dt.time())
    return Moment.parse(written)


def _not_a_moment(value: Any) -> str:
    if _is_number(value):
        return _(
            "{value} is a number, not a date and time: write it as {forms}, then the time"
            " HH:MM:SS (a count of seconds, or of days as Excel counts them, is not read; in"
            " Excel, format the column as Date)"
        ).format(value=shown(value), forms=_(DATE_FORMS))
    return _("expected a date and time, got {value}").format(value=shown(value))


def _said_moment(plain: str, written: str) -> Invalid | None:
    """`2026年12月1日 10点`, `2026-12-01 下午3点半`: a date, then the time said in words;
    refused with the date and time to write (None: not written so). `plain`: `written`
    half-width."""
    from guanxi.engine.timing import said_time  # only here: timing imports apscheduler

    date_part, _space, time_part = plain.partition(" ")
    if not time_part and "日" in plain:  # 2026年12月1日10点
        date_part, time_part = plain.split("日", 1)
        date_part += "日"
    match = DATE.fullmatch(date_part)
    said = said_time(time_part) if time_part else None
    if match is None or said is None:
        return None
    try:
        day = _day(match, written)
    except Invalid:
        return None
    write = f"{day.isoformat()} {said.strftime('%H:%M')}"
    message = _("{value} says the time in words: write {write}")
    return _Hinted(message.format(value=quoted(written), write=write))


class Moment:
    """Reads a datetime; one without an offset is in `zone`. Gives UTC ISO text."""

    def __init__(self, zone: dt.tzinfo) -> None:
        self.zone = zone

    def __call__(self, value: Any) -> str | None:
        if type(value) is str:
            written = value.strip()
            if no_value(written):
                return None
            moment = self.parse(written)
        elif isinstance(value, dt.datetime):
            moment, written = value, value.isoformat()
        elif value is None:
            return None
        else:
            raise Invalid(_not_a_moment(value))
        if not EARLIEST.year <= moment.year <= LATEST.year:  # before the shift to UTC,
            _plausible(moment.date(), written)  # which could overflow
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(dt.UTC).isoformat()

    @staticmethod
    def parse(written: str) -> dt.datetime:
        plain = _half_width(written)
        if ISO_DATETIME.fullmatch(plain):  # the usual form, matched by a cheaper pattern
            try:
                return dt.datetime.fromisoformat(plain)
            except ValueError:
                pass  # not a real day or time: said below
        match = DATETIME.fullmatch(plain)
        if match is not None and match.start("t") == 11 and plain[10] == "T":
            try:  # YYYY-MM-DDT…: as the text below would write it, so read as it is
                return dt.datetime.fromisoformat(plain)
            except ValueError:
                pass  # not a real day or time: said below
        if match is None:
            raise _said_moment(plain, written) or Invalid(
                _(
                    "{value} is not a date and time: write the date {forms},"
                    " then the time HH:MM:SS (optionally with an offset such as +08:00)"
                ).format(value=quoted(written), forms=_(DATE_FORMS))
            )
        day, time = _day(match, written), match.group("t")
        time = time if time[2] == ":" else "0" + time  # 9:30 is 09:30
        try:
            return dt.datetime.fromisoformat(f"{day.isoformat()}T{time}")
        except ValueError:
            raise Invalid(
                _("{value} is not a real date and time").format(value=quoted(written))
            ) from None
