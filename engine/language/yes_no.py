"""A yes or no as rule files say it: in English (true, yes, on, y, 1), in Chinese (是, 否, 对,
开, 关 …), ticked (√, ×), or typed in full width (ｔｒｕｅ, Ｙｅｓ), and the true or false it
means. Every yes/no key of the rule files (`enabled:`, `mandatory:`, `required:`, a scenario's
`gold:` …) and a decision table's cell for a boolean field read the same words with it."""

from __future__ import annotations

import unicodedata
from typing import Any

YES = ("是", "真", "对", "开", "开启", "打开", "启用", "√", "✓", "✔")
NO = ("否", "假", "错", "不", "关", "关闭", "停用", "禁用", "×", "✗", "✘")
ENGLISH_YES = ("true", "yes", "y", "on", "1")  # as YAML 1.1 and pydantic read them
ENGLISH_NO = ("false", "no", "n", "off", "0")
WORDS = dict.fromkeys((*YES, *ENGLISH_YES), True) | dict.fromkeys((*NO, *ENGLISH_NO), False)


def yes_or_no(written: str) -> bool | None:
    """The true or false `written` says, None when it is no yes or no word."""
    word = unicodedata.normalize("NFKC", written).strip().lower()  # ｔｒｕｅ, ＹＥＳ
    return WORDS.get(word)


def said_yes_no(value: Any) -> Any:
    """`value` as true or false when it is one of the words; anything else as it is."""
    said = yes_or_no(value) if isinstance(value, str) else None
    return value if said is None else said
