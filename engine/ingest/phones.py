"""A phone number a channel sends to, checked when the customer is loaded.

The daemon refuses a message whose phone field holds a letter (`1380013800O`), an extension
(`13800138000转2`, `ext 2`) or two numbers (adapters/recipients.py): the message is dead at
once. A load keeps such a row (the customer's other fields still classify them) and says
at once what the daemon would refuse, by the same rules: a warning naming the row, the field
and the fix, and a quarantine record marked as loaded (`guanxi quarantine list`) holding the
value. The warning leaves the value out: a load's output lands in cron mails and logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guanxi.adapters import recipients
from guanxi.adapters.base import Message, PermanentError
from guanxi.engine.i18n import _
from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.store.base import Row

# A Chinese keyboard's full-width digits, plus, dash and space: the phone as meant
FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－　", "0123456789+- ")


def with_ascii_digits(check: Check, fields: Iterable[str]) -> Check:
    """`check`, and the phone `fields` of its row typed in full-width digits
    (`１３８００１３８０００`) as the digits they are: the daemon sends to ASCII digits only."""
    names = tuple(fields)
    if not names:
        return check

    def checked(record: Any) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        typed = {n: row[n] for n in names if type(row.get(n)) is str and not row[n].isascii()}
        meant = {n: value.translate(FULL_WIDTH) for n, value in typed.items()}
        return ({**row, **meant} if meant else row), problems

    return checked


def phone_fields(contacts: Iterable[str]) -> tuple[str, ...]:
    """The fields of `contacts` (those a channel sends to) that hold a phone number, known by
    their names as the daemon knows them."""
    return tuple(sorted(n for n in contacts if recipients.address_kind(n) == "phone"))


def phone_problems(row: Row, fields: Iterable[str]) -> list[Problem]:
    """(field, value, what is wrong) for each of `fields` in `row` the daemon would refuse."""
    found: list[Problem] = []
    for name in fields:
        value = row.get(name)
        if type(value) is not str or _plain_number(value):
            continue  # nearly every phone: digits only, which the check takes
        problem = _problem(name, value)
        if problem is not None:
            found.append((name, value, problem))
    return found


def _plain_number(value: str) -> bool:
    """Digits only, as many as a phone number has: what the check takes, asked first as it
    costs a tenth of the check."""
    return value.isdigit() and value.isascii() and len(value) in recipients.PHONE_DIGITS


def _problem(field: str, value: str) -> str | None:
    """What the daemon's recipient check refuses in `value`, for a clerk; None if nothing."""
    try:
        recipients.one_recipient("load", _addressed(value), True, field)
    except PermanentError:
        if recipients.PHONE_LIKE.fullmatch(value):
            return _(
                "it is not one phone number (5 to 15 digits, a + only in front): two numbers"
                " in one cell? keep one"
            )
        return recipients._phone_problem(value)
    return None


def _addressed(value: str) -> Message:
    return Message("", "", "", "message", "", value, None, "")


def kept_reason(problem: str) -> str:
    """The reason of the quarantine record of a row loaded with a phone the daemon refuses."""
    return _(
        "loaded, but no message can go to this phone: {problem}; correct it in the file and"
        " load it again"
    ).format(problem=problem)


def kept_warning(unit: str, number: int, field: str, problem: str) -> str:
    """The load's warning of such a row, without the value."""
    where = _("line {number}") if unit == "line" else _("row {number}")
    return _(
        "{where}: '{field}' is not a phone number a message can go to: {problem}; the row is"
        " loaded, and messages to it will be refused until it is corrected"
    ).format(where=where.format(number=number), field=field, problem=problem)
