"""A consent file's values as a bank's core system writes them, read before the usual check.

A withdrawal is the one row whose loss hurts: a row the ledger stored under a name nothing
reads, or for an id no customer has, leaves the older consent in force and messages still go.
So each value is either read as the project's name or the row is quarantined:

- channel, purpose, source: a name or a label, in any letter case and width, with spaces
  around (`SMS`, `Sms `, `短信`, `ＡＰＰ`, `营销`); a channel also by the two halves of its
  label (`短信` and `SMS` of `短信 SMS`); every channel, or every purpose, as `all`, 全部 or
  所有 (a withdrawal of everything, stored as one record for each purpose). Anything else
  (`电话`, part of a label; `邮件`, an everyday word; `微信`, a channel the project lacks) is
  quarantined with the channels it could mean, never guessed: a withdrawal read for the wrong
  channel stops the wrong messages;
- granted: also as consent forms write it, 同意 / 不同意, 拒绝, 撤回;
- effective_at: a date alone is that day's start in the project's zone;
- customer_id: an id no customer has, where the same without its spaces is a stored
  customer's (`C 0001`), is quarantined naming that id: the withdrawal protects no one. An id
  no customer has at all is kept, for a customer the customers file brings later.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from guanxi.engine import consent
from guanxi.engine.i18n import _
from guanxi.engine.ids import is_stored, without_spaces
from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.ingest.values import DATE, quoted
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.ruleset.synonyms import CHANNEL_WORDS
from guanxi.engine.store.base import Row, Store

GRANTED_WORDS = {"同意": "true", "不同意": "false", "拒绝": "false", "撤回": "false"}
ALL_WORDS = ("全部", "所有")  # every channel, every purpose
NAMED = ("channel", "purpose", "source")


def folded(text: str) -> str:
    """`text` as it is compared: NFKC (full width as ASCII), letter case and spaces dropped."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def reading_bank_values(check: Check, policies: PoliciesFile | None) -> Check:
    """`check` of a consent file's rows, given the values read as the module says; a channel
    left unread is quarantined with the channels it could mean."""
    spellings = {name: _spellings(labels) for name, labels in _labels(policies).items()}
    channels = _labels(policies)["channel"]

    def checked(record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        given = dict(record)
        for name in NAMED:
            if isinstance(given.get(name), str):
                given[name] = _read(spellings[name], given[name])
        if "granted" in given:
            given["granted"] = _granted(given["granted"])
        if "effective_at" in given:
            given["effective_at"] = _day_start(given["effective_at"])
        row, problems = check(given)
        return row, [_explained(problem, channels) for problem in problems]

    return checked


def read_named(field: str, written: str, policies: PoliciesFile | None) -> str:
    """The channel, purpose or source (`field`) `written` means, as a consent file's value is
    read (`guanxi consent record --channel 短信` as a file's 短信); else `written` as given."""
    return _read(_spellings(_labels(policies)[field]), written)


def _read(spellings: Mapping[str, str], written: str) -> str:
    return spellings.get(folded(written), written)


def _labels(policies: PoliciesFile | None) -> dict[str, dict[str, str]]:
    """Each named field -> its names -> their labels."""
    channels = {name: c.label for name, c in (policies.channels if policies else {}).items()}
    return {
        "channel": {**channels, consent.ALL: "全部"},
        "purpose": {**consent.PURPOSES, consent.ALL: "全部"},
        "source": consent.SOURCES,
    }


def _spellings(labels: Mapping[str, str]) -> dict[str, str]:
    """How a name may be written, folded -> the name: itself, its label, the label's halves
    (`短信`, `sms` of `短信 SMS`), and 'all' as 所有 too; a half two names share is neither's."""
    found: dict[str, set[str]] = {}
    for name, label in labels.items():
        first, _space, rest = label.strip().partition(" ")
        also = ALL_WORDS if name == consent.ALL else ()
        for written in {name, label, first, rest, *also} - {""}:
            found.setdefault(folded(written), set()).add(name)
    return {written: names.pop() for written, names in found.items() if len(names) == 1}


def _granted(value: Any) -> Any:
    if isinstance(value, str):
        return GRANTED_WORDS.get(folded(value), value)
    return value


def _day_start(value: Any) -> Any:
    """A date alone (`2026-12-01`, `2026年12月1日`) as its first minute, read in the zone."""
    if isinstance(value, str) and DATE.fullmatch(unicodedata.normalize("NFKC", value.strip())):
        return f"{value.strip()} 00:00"
    return value


def _explained(problem: Problem, channels: Mapping[str, str]) -> Problem:
    """A channel's problem says which channels the value could mean (a value with a character
    no one can see keeps the reason that says so)."""
    name, value, _reason = problem
    if name != "channel" or not isinstance(value, str) or not value.strip().isprintable():
        return problem
    return name, value, _channel_reason(value, channels)


def _channel_reason(value: str, channels: Mapping[str, str]) -> str:
    could = _could_mean(folded(value), channels)
    if could:
        message = _(
            "{value} is not a channel's name or label, but could mean {channels}: write the"
            " one meant (its name or label) and load the file again; until then the record"
            " is not in the ledger"
        )
    else:
        could, message = (
            list(channels),
            _(
                "{value} is no channel of the project, which has {channels}: write one of them"
                " (its name or label) and load the file again; until then the record is not in"
                " the ledger"
            ),
        )
    listed = ", ".join(f"{name} ({channels[name]})" for name in could)
    return message.format(value=quoted(value.strip()), channels=listed)


def _could_mean(written: str, channels: Mapping[str, str]) -> list[str]:
    """The channels whose label holds `written` (电话 of 电话银行外呼) or that it is an everyday
    word for (邮件: email)."""
    return [
        name
        for name, label in channels.items()
        if (written and written in folded(label))
        or written in (folded(w) for w in CHANNEL_WORDS.get(name, ()))
    ]


def refusing_near_ids(check: Check, store: Store, customer_key: str, key: str) -> Check:
    """`check`, and a row whose `key` no customer has, while the same id without its spaces
    (in NFKC) is a stored customer's, is refused, naming that id: `C 0001` protects no one.
    An id no customer has at all is kept: a consent file may come before the customers file
    that brings the customer, and a withdrawal kept for them holds from their first day. An id
    written as stored costs no look-up."""

    def checked(record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        given = row.get(key)
        if not isinstance(given, str) or any(p[0] == key for p in problems):
            return row, problems
        meant = without_spaces(given)
        if meant == given or not is_stored(store, customer_key, meant):
            return row, problems
        if is_stored(store, customer_key, given):  # `C 0001` is a customer too
            return row, problems
        return row, [*problems, (key, given, _near_reason(given, meant))]

    return checked


def _near_reason(given: str, meant: str) -> str:
    return _(
        "no customer has id {given}, but {meant} does: write the id as stored (no spaces"
        " inside) and load the file again; until then the record is not in the ledger"
    ).format(given=quoted(given), meant=meant)
