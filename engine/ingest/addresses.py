"""A phone number or e-mail address a channel sends to, checked when the customer is loaded.

The daemon refuses a message whose address field holds what is not one address of its kind
(adapters/recipients.py): a phone with a letter (`1380013800O`), an extension
(`13800138000转2`) or two numbers; an e-mail address without a domain, or two of them
(`a@x.com;b@y.com`, `a@x.com 或 b@y.com`): the message is dead at once, never sent to both.
A load keeps such a row (the customer's other fields still classify them) and says at once
what the daemon would refuse, by the same checks: a warning naming the row, the field and
the fix, and a quarantine record marked as loaded (`guanxi quarantine list`) holding the
value. The warning leaves the value out: a load's output lands in cron mails and logs.

The kind of each field is the daemon's: the channel's (`sms` sends to a phone, `email` to an
e-mail address, whatever its field is called: `contact`, `联系方式`), else the field's name.

What a Chinese keyboard types in full width is stored as meant, without a word: a phone's
digits (`１３８…`) always; an e-mail address's letters and signs (`zhang＠bank.com`,
`ｚｈａｎｇ@bank.com`, `zhang@bank。com`) when what was meant is an address the daemon takes,
else as written, and warned of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from guanxi.adapters import recipients
from guanxi.adapters.base import Message, PermanentError
from guanxi.engine.i18n import N_, _
from guanxi.engine.ids import same_id
from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.store.base import Row

# A Chinese keyboard's full-width digits, plus, dash and space: the phone as meant
FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－　", "0123456789+- ")


def address_kinds(channels: Mapping[str, str]) -> dict[str, str]:
    """field → 'phone' or 'email': the address fields of `channels` (channel → field, as
    policies.yaml gives them) whose kind the daemon knows (`recipients.recipient_kind`). A
    field that channels read as both kinds is left out: no value suits both."""
    kinds: dict[str, set[str]] = {}
    for channel, field in channels.items():
        kind = recipients.recipient_kind(channel, field)
        if kind is not None:
            kinds.setdefault(field, set()).add(kind)
    return {field: kind.pop() for field, kind in sorted(kinds.items()) if len(kind) == 1}


def as_meant(check: Check, kinds: Mapping[str, str]) -> Check:
    """`check`, and the address fields (`kinds`) of its row typed in full width as meant."""
    typed = {field: _MEANT[kind] for field, kind in kinds.items()}
    if not typed:
        return check

    def checked(record: Any) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        found = {n: v for n, v in ((n, row.get(n)) for n in typed) if type(v) is str}
        meant = {n: typed[n](v) for n, v in found.items() if not v.isascii()}
        return ({**row, **meant} if meant else row), problems

    return checked


def _phone_meant(value: str) -> str:
    """The daemon sends to ASCII digits only."""
    return value.translate(FULL_WIDTH)


def _email_meant(value: str) -> str:
    meant = recipients.typed_email(value)
    return meant if _email_refused(meant) is None else value


class Refused(NamedTuple):
    """An address field of a loaded row whose value the daemon would refuse, and why."""

    field: str
    kind: str  # 'phone' or 'email'
    value: str
    problem: str  # what is wrong, and the fix, for a clerk


def address_problems(row: Row, kinds: Mapping[str, str]) -> list[Refused]:
    """The address fields (`kinds`) of `row` whose value the daemon would refuse."""
    found: list[Refused] = []
    for name, kind in kinds.items():
        value = row.get(name)
        if type(value) is not str or (kind == "phone" and _plain_number(value)):
            continue  # nearly every phone: digits only, which the check takes
        sent = _as_sent(value)
        problem = _PROBLEM[kind](sent) if sent else None  # blank: no address, none wrong
        if problem is not None:
            found.append(Refused(name, kind, value, problem))
    return found


def kept_reason(refused: Refused) -> str:
    """The reason of the quarantine record of a row loaded with an address the daemon refuses."""
    return _(_REASON[refused.kind]).format(problem=refused.problem)


def kept_warning(unit: str, number: int, refused: Refused) -> str:
    """The load's warning of such a row, without the value."""
    where = _("line {number}") if unit == "line" else _("row {number}")
    return _(_WARNING[refused.kind]).format(
        where=where.format(number=number), field=refused.field, problem=refused.problem
    )


def _as_sent(value: str) -> str:
    """`value` as the daemon reads an address (adapters/base.py `_recipient`): a small or
    compatibility sign (`﹔`, `﹣`) is the sign it stands for, which may make or break it."""
    return value if value.isascii() and value == value.strip() else same_id(value)


def _plain_number(value: str) -> bool:
    """Digits only, as many as a phone number has: what the check takes, asked first as it
    costs a tenth of the check."""
    return value.isdigit() and value.isascii() and len(value) in recipients.PHONE_DIGITS


def _phone_refused(value: str) -> str | None:
    """What the daemon's recipient check refuses in a phone, for a clerk; None if nothing."""
    try:
        recipients.one_recipient("load", _addressed(value, "phone"), True)
    except PermanentError:
        if recipients.PHONE_LIKE.fullmatch(value):
            return _(
                "it is not one phone number (5 to 15 digits, a + only in front): two numbers"
                " in one cell? keep one"
            )
        return recipients.phone_problem(value)
    return None


def _email_refused(value: str) -> str | None:
    """What the SMTP adapter's check refuses in an e-mail address; None if nothing."""
    try:
        recipients.one_email_address("load", _addressed(value, "email"))
    except PermanentError:
        return recipients.email_problem(value)
    return None


def _addressed(value: str, channel: str) -> Message:
    """A message to `value` on a channel of the kind (recipients.recipient_kind)."""
    return Message("", "", "", "message", channel, value, None, "")


_MEANT = {"phone": _phone_meant, "email": _email_meant}
_PROBLEM = {"phone": _phone_refused, "email": _email_refused}
# the reasons of the quarantine records of rows loaded with an address the daemon refuses
_REASON = {
    "phone": N_(
        "loaded, but no message can go to this phone: {problem}; correct it in the file and"
        " load it again"
    ),
    "email": N_(
        "loaded, but no e-mail can go to this address: {problem}; correct it in the file and"
        " load it again"
    ),
}
_WARNING = {
    "phone": N_(
        "{where}: '{field}' is not a phone number a message can go to: {problem}; the row is"
        " loaded, and messages to it will be refused until it is corrected"
    ),
    "email": N_(
        "{where}: '{field}' is not an e-mail address a message can go to: {problem}; the row"
        " is loaded, and messages to it will be refused until it is corrected"
    ),
}
