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

What the value must be is known from the channel where its name says (`sms`, `短信`,
`phone`, `电话外呼` send to a phone; `email`, `电子邮件` to an e-mail address), else from the
channel's address field where its name says (`phone`, `mobile_number`, `手机号码` … a phone;
`email`, `邮箱地址` … an e-mail address, and nothing else: `mobile_app_id` or 手机银行用户号
is not a phone field), else from the value's shape. A phone field is checked as a phone
whatever it holds: `1380013800O` (the letter O), `138 0013 8000 ext 2` or `13800138000转2`
is refused with what is wrong and where (the letter at character 11, the extension), never
handed to a gateway as an app id; and so is a phone in the field of an SMS channel named
`contact` or `联系方式`, which says nothing of its kind.

No value is longer than MAX_LENGTH: an e-mail address by RFC 5321, a phone number by its 15
digits with room for spaces and brackets (not thousands of spaces between two digits), any
other (a device token) by the longest that a push service issues, with room to spare.
"""

from __future__ import annotations

import functools
import re

from guanxi.adapters.base import Message, PermanentError
from guanxi.engine.i18n import _
from guanxi.engine.ids import same_id
from guanxi.engine.privacy.personal import FIELD_KINDS

NOT_IN_AN_ADDRESS = frozenset(' ,;<>"()[]\\，；、|/')
PHONE_LIKE = re.compile(r"[0-9 ()\-.+]+", re.ASCII)  # a "+" but first: checked as a number
PHONE_DIGITS = range(5, 16)
DIGIT_RUN = re.compile("[0-9]{5}")  # as long as the shortest number
MAX_LENGTH = {"email": 254, "phone": 32, "other": 1024}  # a phone: 15 digits, spaced out
EXTENSION = re.compile(r"(?i)(?:ext\.?|extension|x|转|分机|#)\s*[0-9]+\s*$")
BETWEEN_NUMBERS = re.compile(r"[,;/|，；、或\s]+")  # list separators, line breaks
BETWEEN_ADDRESSES = re.compile(r"[,;/|，；、或和\s]+")  # … and 和 (a@x.com和b@y.com)
IDEOGRAPHIC_STOPS = str.maketrans({"。": ".", "｡": "."})  # a Chinese keyboard's full stop
LOOK_ALIKES = {"O": "0", "o": "0", "I": "1", "l": "1"}  # letters typed for digits
# A field's name gives its kind when its words are one of the kind's and, besides, only words
# that qualify an address: `mobile_app_id`, `telegram_id` or 手机银行用户号 (a mobile-banking
# user id) hold no phone number, `email_opt_in` no address.
KIND_WORDS = {
    "phone": frozenset(("phone", "mobile", "tel", "telephone", "cell", "cellphone", "msisdn")),
    "email": frozenset(("email", "mail")),
}
QUALIFIERS = frozenset(
    ("number", "no", "num", "nr", "address", "addr", "contact", "customer", "main", "primary",
     "home", "work", "office", "personal", "mobile", "phone", "e", "sms")
)  # fmt: skip
CHINESE_WORDS = {"phone": ("手机", "电话"), "email": ("邮箱", "电子邮件")}
# A channel's name gives its kind when it is of the kind's words and words that qualify a
# channel only: `sms`, `phone`, `call_centre`, `email`, `e_mail` (not `mobile_app`, `wechat`)
CHANNEL_WORDS = {
    "phone": frozenset(("sms", "phone", "tel", "telephone", "call")),
    "email": frozenset(("email",)),
}
CHANNEL_QUALIFIERS = frozenset(
    ("text", "message", "msg", "centre", "center", "outbound", "voice", "marketing", "service",
     "notice", "customer", "main", "e", "mail", "banking")
)  # fmt: skip
CHINESE_CHANNEL_WORDS = {"phone": ("短信", "电话", "外呼"), "email": ("邮件", "邮箱")}
CHINESE_QUALIFIERS = ("号码", "号", "地址", "客户", "联系", "常用", "移动", "电子", "主")
NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # snake_case, camelCase, CAPS; no digits


@functools.cache  # a handful of field names, asked for every message
def address_kind(field: str | None) -> str | None:
    """'phone' or 'email' when the address field's name says so, else None."""
    if not field:
        return None
    kind = FIELD_KINDS.get(field.lower())
    if kind in ("phone", "email"):
        return kind
    return _chinese_kind(field) if not field.isascii() else _words_kind(field)


@functools.cache  # a handful of channels, asked for every message
def recipient_kind(channel: str | None, field: str | None) -> str | None:
    """'phone' or 'email': what `channel` sends to where its name says (`sms`, `短信`,
    `email`), else what the name of its address `field` says (`address_kind`), else None."""
    return _channel_kind(channel) or address_kind(field)


def _channel_kind(channel: str | None) -> str | None:
    if not channel:
        return None
    if not channel.isascii():
        said = {k for k, words in CHINESE_CHANNEL_WORDS.items() if any(w in channel for w in words)}
        return said.pop() if len(said) == 1 else None
    words = {word.lower() for word in NAME_WORDS.findall(channel)}
    if {"e", "mail"} <= words:
        words.add("email")
    for kind, kind_words in CHANNEL_WORDS.items():
        if words & kind_words and words <= kind_words | CHANNEL_QUALIFIERS:
            return kind
    return None


def _words_kind(field: str) -> str | None:
    """The kind a name of English words says (`phone_number`, `mobilePhone`, `contact_email`)."""
    words = {word.lower() for word in NAME_WORDS.findall(field)}
    for kind, kind_words in KIND_WORDS.items():
        if words & kind_words and words <= kind_words | QUALIFIERS:
            return kind
    return None


def _chinese_kind(field: str) -> str | None:
    """The kind a Chinese name says (手机号码, 联系电话, 邮箱地址): its word, and else only
    words that qualify an address."""
    for kind, kind_words in CHINESE_WORDS.items():
        rest = field
        for word in (*kind_words, *CHINESE_QUALIFIERS):
            rest = rest.replace(word, "")
        if not rest.strip("_ 0123456789") and any(w in field for w in kind_words):
            return kind
    return None


def one_email_address(adapter: str, message: Message) -> str:
    """The one email address `message` goes to, or PermanentError."""
    recipient = _given(adapter, message)
    _not_too_long(adapter, message, recipient, MAX_LENGTH["email"])
    local, _at, domain = recipient.rpartition("@")
    if _broken(recipient) or not local or "@" in local or ":" in local or not _host(domain):
        raise PermanentError(_not_one(adapter, message, _("email address")))
    return recipient


def email_problem(recipient: str) -> str:
    """What makes `recipient`, which `one_email_address` refuses, not one e-mail address:
    for a clerk, with the fix, and without the address (a load's warnings land in logs)."""
    if len(recipient) > MAX_LENGTH["email"]:
        return _("it is longer than any e-mail address ({limit} characters)").format(
            limit=MAX_LENGTH["email"]
        )
    if sum("@" in part for part in BETWEEN_ADDRESSES.split(recipient)) > 1:
        return _("it holds more than one e-mail address: keep one")
    local = recipient.rpartition("@")[0]
    if not local:
        return _("it is not name@domain (as zhang@bank.com): no @, or no name before it")
    unfit = next(((n, c) for n, c in enumerate(recipient, 1) if _not_in_an_address(c)), None)
    if unfit is not None:
        return _unfit_character(*unfit, _("an e-mail address"))
    if "@" in local or ":" in local:
        return _("it holds a second @ or a route (@relay:): keep the one address")
    return _("what follows the @ is not a domain (as bank.com): correct it")


def _not_in_an_address(char: str) -> bool:
    return not char.isprintable() or char in NOT_IN_AN_ADDRESS


def _unfit_character(place: int, char: str, what: str) -> str:
    """Character `place` of a value, `char`, which `what` does not hold."""
    if not char.isprintable():
        return _(
            "character {place} is an invisible or control character (U+{code:04X}): remove it"
        ).format(place=place, code=ord(char))
    return _("character {place} is '{char}', which {what} does not hold").format(
        place=place, char=char, what=what
    )


def typed_email(value: str) -> str:
    """`value` as the e-mail address a Chinese keyboard's user meant: full-width letters,
    digits and signs (`ｚｈａｎｇ`, `＠`, `．`) as their ASCII twins, as the daemon reads an
    address (NFKC), and the ideographic full stop (`bank。com`) as a dot."""
    return same_id(value).translate(IDEOGRAPHIC_STOPS)


def _host(domain: str) -> bool:
    """Whether `domain` names a host: two labels or more, none empty, of letters and digits
    with hyphens between them (no port, path or underscore)."""
    labels = domain.split(".")
    return len(labels) > 1 and all(_label(label) for label in labels)


def _label(label: str) -> bool:
    return (
        label.replace("-", "").isalnum() and not label.startswith("-") and not label.endswith("-")
    )


def one_recipient(
    adapter: str, message: Message, addressed: bool, field: str | None = None
) -> str | None:
    """The one address or number `message` goes to; None when the channel has no address
    field (`addressed` False: the receiver finds the customer by id). PermanentError when
    the field is empty or is not one address, or, its name saying what it holds (`field`,
    see `address_kind`), not one of that kind."""
    if not addressed and message.recipient is None:
        return None
    recipient = _given(adapter, message)
    kind = recipient_kind(message.channel, field)
    if kind == "phone":
        return _one_phone(adapter, message, recipient, field or message.channel)
    if "@" in recipient or kind == "email":
        return one_email_address(adapter, message)
    if PHONE_LIKE.fullmatch(recipient):
        return _one_number(adapter, message, recipient)
    _not_too_long(adapter, message, recipient, MAX_LENGTH["other"])
    if _broken(recipient) or _number_among_words(recipient):
        raise PermanentError(_not_one(adapter, message, _("address")))
    return recipient


def _one_phone(adapter: str, message: Message, recipient: str, field: str) -> str:
    """`recipient` as the one phone number of a phone field, or PermanentError saying what
    in it is not part of a phone number."""
    if PHONE_LIKE.fullmatch(recipient):
        return _one_number(adapter, message, recipient)
    problem = phone_problem(recipient)
    raise PermanentError(
        _(
            "{adapter}: follow-up {key}: the customer's '{field}' (the {channel} address) is"
            " not a phone number: {problem}; correct the customer's '{field}'"
        ).format(
            adapter=adapter, key=message.key, field=field, channel=message.channel, problem=problem
        )
    )


def phone_problem(recipient: str) -> str:
    """What makes `recipient`, which is not PHONE_LIKE (digits, spaces, brackets, dots,
    hyphens, a + in front), not a phone number: for a clerk, with the fix (the extension,
    an e-mail address, two numbers, or the first character no phone number holds and where
    it is). `one_recipient` refuses a phone field with it; `guanxi load` warns with it."""
    extension = EXTENSION.search(recipient)
    if extension and PHONE_LIKE.fullmatch(recipient[: extension.start()].strip() or "x"):
        return _(
            "it ends in an extension ('{extension}'), which no message can dial: keep only"
            " the number, and the extension in another field"
        ).format(extension=extension.group().strip())
    if "@" in recipient:
        return _("it holds an e-mail address")
    if _numbers_in(recipient) > 1:
        return _("it holds more than one number: keep one")
    place, char = next((n, c) for n, c in enumerate(recipient, 1) if not PHONE_LIKE.match(c))
    if char in LOOK_ALIKES:
        return _(
            "character {place} is the letter '{char}', not the digit {digit}: type the digit"
        ).format(place=place, char=char, digit=LOOK_ALIKES[char])
    return _unfit_character(place, char, _("a phone number"))


def _number_among_words(recipient: str) -> bool:
    """A number with Chinese beside it: `13800138000或13900139000`, `13800138000张三` (an app
    id or a device token is ASCII)."""
    return not recipient.isascii() and DIGIT_RUN.search(recipient) is not None


def _numbers_in(recipient: str) -> int:
    """How many parts of `recipient`, split at list separators and line breaks, hold a
    number (at least as many digits as the shortest phone number)."""
    parts = BETWEEN_NUMBERS.split(recipient)
    return sum(sum(c.isdigit() for c in part) >= PHONE_DIGITS.start for part in parts)


def _not_too_long(adapter: str, message: Message, recipient: str, limit: int) -> None:
    if len(recipient) > limit:
        raise PermanentError(
            _(
                "{adapter}: follow-up {key}: the customer's {channel} address is {length}"
                " characters long, more than any address ({limit}): correct it"
            ).format(
                adapter=adapter,
                key=message.key,
                channel=message.channel,
                length=f"{len(recipient):,}",
                limit=limit,
            )
        )


def _one_number(adapter: str, message: Message, recipient: str) -> str:
    _not_too_long(adapter, message, recipient, MAX_LENGTH["phone"])
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
