"""A yes or no said in Chinese (是, 否) or ticked (√, ×), and the true or false it means.

Rule files name the word to write instead (`enabled: 否`: write 'false'); a scenario's
`expect: gold: 是` takes it, as the customer's own `consent_sms: 是` beside it is loaded."""

from __future__ import annotations

from typing import Any

YES = ("是", "真", "对", "开", "开启", "打开", "启用", "√", "✓", "✔")
NO = ("否", "假", "错", "不", "关", "关闭", "停用", "禁用", "×", "✗", "✘")
YES_NO_WORDS = dict.fromkeys(YES, "true") | dict.fromkeys(NO, "false")


def said_yes_no(value: Any) -> Any:
    """`value` as true or false when it is one of the words; anything else as it is."""
    said = YES_NO_WORDS.get(value.strip()) if isinstance(value, str) else None
    return value if said is None else said == "true"
