"""What a `priority:` holds, told to someone who wrote it in words (`priority: 高`): the
higher number goes first, in a playbook step (when a cap binds) and in a decision table with
`hit_policy: priority` alike."""

from __future__ import annotations

from guanxi.engine.i18n import _
from guanxi.engine.language.numbers import chinese_number

WORDS = {"高": 80, "中": 50, "中等": 50, "低": 20}  # as the default rules use them


def priority_hint(written: str) -> str:
    """The hint for a priority that is no whole number, with the number to write when the
    words say one (高, 五十)."""
    text = written.strip()
    number = WORDS.get(text, chinese_number(text))
    meaning = _(
        "a priority is a whole number from 0 to 100, and the higher goes first"
        " (高 80, 中 50, 低 20)"
    )
    if number is None:
        return meaning
    return _("{meaning}: for '{written}' write {number}").format(
        meaning=meaning, written=text, number=number
    )
