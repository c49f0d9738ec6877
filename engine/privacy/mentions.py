"""Where text mentions a person: their id, phone or e-mail found in a value, and replaced.

A value is found as text, but not in what only looks like it: the id `2026` is not in a
timestamp (`2026-12-01T02:35:00Z`), a period (`2026-09`, `2026-Q1`) or a time (`02:35`), nor
`35` in `1.35`. Erasing those would corrupt every other customer's dates and the keys that
make planning idempotent (`step:C0001:2026-09`), and a line of a sent-messages file holding
such a date would be deleted. In JSON (a payload, a file's line) only strings are text:
`"amount": 35` is not customer 35. An id too short or too plainly a number to tell apart from
other numbers (WEAK) is a mention in the rows of others only as a whole value (`"referrer":
"35"`); in the person's own rows it is replaced wherever it stands as a word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Dates, timestamps, periods and clock times: never a mention, whatever digits they hold.
TIMES = re.compile(
    r"\d{4}-\d{2}(?:-\d{2})?(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{4}-(?:W\d{2}|Q[1-4])"
    r"|(?<![\d:])\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?![\d:])"
)
SHORTEST_ID = 4  # shorter ids are weak
SHORTEST_NUMBER_ID = 8  # ids of digits only: shorter ones are weak (a year, an amount)


@dataclass(frozen=True)
class Mention:
    """One value searched for, and what replaces it."""

    pattern: re.Pattern[str]
    replacement: str
    whole_value: bool = False  # only a value that is this and nothing else
    shield: re.Pattern[str] | None = None  # what holds the value but is not it (another id)

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.whole_value:
            stripped = text.strip()
            return [(0, len(text))] if stripped and self.pattern.fullmatch(stripped) else []
        found = [m.span() for m in self.pattern.finditer(text)]
        if not found:
            return []
        apart = [m.span() for m in TIMES.finditer(text)]
        apart += [m.span() for m in self.shield.finditer(text)] if self.shield else []
        return [s for s in found if not any(t[0] <= s[0] and s[1] <= t[1] for t in apart)]


def id_mention(
    customer_id: str, replacement: str, own: bool, others: tuple[str, ...] = ()
) -> Mention:
    """The id as a whole word (C001 is not in C0011, nor 35 in 1.35), its letter case as it
    is: ids are told apart by case (`c001` is another customer). Not inside `others`, the ids
    of other customers that hold it as a word (`C001-2`)."""
    pattern = re.compile(_whole_word(re.escape(customer_id)))
    longest = sorted(others, key=len, reverse=True)
    shield = re.compile(_whole_word("|".join(map(re.escape, longest)))) if others else None
    return Mention(pattern, replacement, not own and weak(customer_id), shield)


def _whole_word(pattern: str) -> str:
    return rf"(?<![A-Za-z0-9])(?<!\d\.)(?:{pattern})(?![A-Za-z0-9])(?!\.\d)"


def value_mention(value: str, replacement: str) -> Mention:
    """A phone, an e-mail or a name anywhere in text, in any letter case, but not inside a
    longer number, word or address: `li@example.com` is not in `wang.li@example.com` nor in
    `li@example.com.cn`, `87654321` not in the mobile `13887654321` (it is in `tel87654321`,
    `+86 87654321` and `8687654321`: a country code before a phone)."""
    pattern = _edge(value, 0) + re.escape(value) + _edge(value, 1)
    return Mention(re.compile(pattern, re.IGNORECASE), replacement)


# What may not stand next to a value's first (0) and last (1) character, by its kind
EMAIL_EDGES = (r"(?<![A-Za-z0-9._%+-])", r"(?![A-Za-z0-9])(?![.-][A-Za-z0-9])")
DIGIT_EDGES = (
    r"(?:(?<![0-9])(?<![0-9]\.)|(?<=(?<![0-9])86)|(?<=(?<![0-9])0086))",
    r"(?![0-9])(?!\.[0-9])",
)
LETTER_EDGES = (r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])")


def _edge(value: str, side: int) -> str:
    end = value[-1:] if side else value[:1]
    if not end.isascii():
        return ""
    if "@" in value and end.isalnum():
        return EMAIL_EDGES[side]
    if end.isdigit():
        return DIGIT_EDGES[side]
    return LETTER_EDGES[side] if end.isalpha() else ""


def weak(customer_id: str) -> bool:
    shortest = SHORTEST_NUMBER_ID if customer_id.isdigit() else SHORTEST_ID
    return len(customer_id) < shortest


def found(text: str, mentions: list[Mention]) -> bool:
    """Whether `text` (or, if it is JSON, one of its strings) mentions the person."""
    return any(any(m.spans(s) for m in mentions) for s in _strings(text))


def scrubbed(text: str, mentions: list[Mention]) -> str:
    """`text` with every mention replaced, in order (the longest values first, as given);
    JSON stays JSON, its strings scrubbed."""
    data = _json(text)
    if data is None:
        return _scrubbed_text(text, mentions)
    new = _walk(data, lambda s: _scrubbed_text(s, mentions))
    return text if new == data else json.dumps(new, ensure_ascii=False)


def _scrubbed_text(text: str, mentions: list[Mention]) -> str:
    for mention in mentions:
        spans = mention.spans(text)
        for start, end in reversed(spans):
            text = text[:start] + mention.replacement + text[end:]
    return text


def _json(text: str) -> Any:
    """`text` parsed, if it is a JSON object or array; else None."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _strings(text: str) -> list[str]:
    data = _json(text)
    if data is None:
        return [text]
    strings: list[str] = []

    def keep(text: str) -> str:
        strings.append(text)
        return text

    _walk(data, keep)
    return strings


def _walk(data: Any, change: Callable[[str], str]) -> Any:
    """`data` with `change` applied to every string, keys included."""
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [_walk(item, change) for item in data]
    if isinstance(data, dict):
        return {change(k): _walk(v, change) for k, v in data.items()}
    return data
