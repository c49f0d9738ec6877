"""Whether a message's recipient is exactly one address, before anything is sent to it.

An address field filled by hand can hold two addresses (`13800138000;13900139000`), a name
and an address, or a line break. Sent as it is, the message would reach someone else too, or
carry a header or gateway parameter of the field's making; so it is refused (PermanentError,
dead at once, the reason saying what to fix in the customer's record). Every adapter that
hands the recipient on checks it: smtp and the webhook, and amqp and the outbox, whose
readers send to it (these two pass a message without one on: their reader may find the
customer by id).

    email       local@domain, printable, no space or list separator; one @, no source
                route (`@relay:local@domain`); a domain of labels of letters, digits and
                inner hyphens (Chinese ones too)
    phone       +, digits, and spaces, hyphens, dots or brackets between them; 5 to 15 digits
                (E.164 numbers have at most 15)
    any other   (an app user id, a device token) one token: no space, no list separator or
                slash, no number beside Chinese words
"""

from __future__ import annotations

import re

from guanxi.adapters.base import Message, PermanentError
from guanxi.engine.i18n import _

NOT_IN_AN_ADDRESS = frozenset(' ,;<>"()[]\\，；、|/')
PHONE_LIKE = re.compile(r"[0-9 ()\-.+]+", re.ASCII)  # a "+" but first: checked as a number
PHONE_DIGITS = range(5, 16)
DIGIT_RUN = re.compile("[0-9]{5}")  # as long as the shortest number


def one_email_address(adapter: str, message: Message) -> str:
    """The one email address `message` goes to, or PermanentError."""
    recipient = _given(adapter, message)
    local, _at, domain = recipient.rpartition("@")
    if _broken(recipient) or not local or "@" in local or ":" in local or not _host(domain):
        raise PermanentError(_not_one(adapter, message, _("email address")))
    return recipient


def _host(domain: str) -> bool:
    """Whether `domain` names a host: two labels or more, none empty, of letters and digits
    with hyphens between them (no port, path or underscore)."""
    labels = domain.split(".")
    return len(labels) > 1 and all(_label(label) for label in labels)


def _label(label: str) -> bool:
    return (
        label.replace("-", "").isalnum() and not label.startswith("-") and not label.endswith("-")
    )


def one_recipient(adapter: str, message: Message, addressed: bool) -> str | None:
    """The one address or number `message` goes to; None when the channel has no address
    field (`addressed` False: the receiver finds the customer by id). PermanentError when
    the field is empty or is not one address."""
    if not addressed and message.recipient is None:
        return None
    recipient = _given(adapter, message)
    if "@" in recipient:
        return one_email_address(adapter, message)
    if PHONE_LIKE.fullmatch(recipient):
        return _one_number(adapter, message, recipient)
    if _broken(recipient) or _number_among_words(recipient):
        raise PermanentError(_not_one(adapter, message, _("address")))
    return recipient


def _number_among_words(recipient: str) -> bool:
    """A number with Chinese beside it: `13800138000或13900139000`, `13800138000张三` (an app
    id or a device token is ASCII)."""
    return not recipient.isascii() and DIGIT_RUN.search(recipient) is not None


def _one_number(adapter: str, message: Message, recipient: str) -> str:
    digits = sum(c.isdigit() for c in recipient)
    if digits not in PHONE_DIGITS or "+" in recipient[1:]:
        raise PermanentError(_not_one(adapter, message, _("phone number")))
    return recipient


def _given(adapter: str, message: Message) -> str:
    if not message.recipient:
        missing = _("{adapter}: follow-up {key} has no {channel} address: fill in the customer's"
                    " {channel} address")  # fmt: skip
        raise PermanentError(
            missing.format(adapter=adapter, key=message.key, channel=message.channel)
        )
    return message.recipient


def _broken(recipient: str) -> bool:
    return any(not c.isprintable() or c in NOT_IN_AN_ADDRESS for c in recipient)


def _not_one(adapter: str, message: Message, what: str) -> str:
    return _(
        "{adapter}: follow-up {key}: the {what} is not one address (two of them, a name, no"
        " domain, or a line break or control character that would make a header of its own):"
        " correct the customer's {channel} address so it holds exactly one"
    ).format(adapter=adapter, key=message.key, what=what, channel=message.channel)
