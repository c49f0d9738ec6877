"""Business days and waits as a bank's staff say them in a rule file: `每月第一个工作日` as a
schedule, `节假日顺延` as a key or beside a value, `after: 立即` or `当天`.

A schedule counts calendar days, so none names a month's first business day. What comes
closest is day 1 with the one shift guanxi makes by itself: a task due on a day that is no
business day (by the project's `calendar:` in guanxi.yaml, public holidays and make-up
working days, 调休, included) moves to the next business day, the month's first. A message
has no such shift: it is sent on the 1st. Pure text: the hints only, which timing.py and
the rule reader give.
"""

from __future__ import annotations

import re

from guanxi.engine.i18n import _

_FIRST_BUSINESS_DAY = re.compile(
    r"(?:每个?月的?|月)?(?:第一个|第1个|第一|首个|头一个)(?:工作日|交易日|营业日)"
    r"|first (?:business|working) day(?: of (?:the|each|every) month)?",
    re.IGNORECASE,
)
_HOLIDAY_SHIFT = re.compile(
    r"(?:遇到?|逢)?(?:法定)?(?:节假日|节日|假日|假期|周末|非工作日)?(?:自动)?顺延(?:至下一个?工作日)?"
)
_AT_ONCE = frozenset(
    ("立即", "马上", "立刻", "即刻", "即时", "实时", "当即", "随即", "第一时间", "无延迟", "不等待")
) | frozenset(("immediately", "now", "at once", "right away", "asap", "instantly"))
_SAME_DAY = frozenset(("当天", "当日", "同一天", "同日", "当天内", "same day", "the same day"))


def says_first_business_day(text: str) -> bool:
    """`每月第一个工作日`, `首个工作日`, `first business day`."""
    return _FIRST_BUSINESS_DAY.fullmatch(text.strip()) is not None


def first_business_day_message(text: str) -> str:
    return _(
        "'{text}' cannot be scheduled: a schedule counts calendar days, and none names the"
        " month's first business day"
    ).format(text=text)


def first_business_day_hint() -> str:
    return _(
        "the nearest: 'every: month' and 'day: 1'; a task (do: task) due on a day off moves"
        " to the next business day by itself (calendar: in guanxi.yaml, 调休 included); a"
        " message is sent on the 1st"
    )


def holiday_shift_hint(text: str) -> str | None:
    """For `节假日顺延` written as a key or beside a value: what moves a follow-up off a
    holiday, and that the words go; None when `text` does not say it."""
    said = _HOLIDAY_SHIFT.search(text)
    if said is None:
        return None
    return _(
        "leave out '{words}': a task (do: task) due on a day off moves to the next business"
        " day by itself (calendar: in guanxi.yaml, 调休 included); a message has no such"
        " setting and is sent on its day"
    ).format(words=said.group())


def at_once_hint(text: str) -> str | None:
    """For `after: 立即` or `after: 当天`: what the rule language writes for it, or None."""
    written = text.strip().lower()
    if written in _AT_ONCE:
        return _(
            "to act at once, leave out 'after:': a step without it is due when its trigger"
            " happens (at the next 'at:' time, when the step gives one)"
        )
    if written in _SAME_DAY:
        return _("for the same day as the trigger, write '0 days' (at the step's 'at:' time)")
    return None
