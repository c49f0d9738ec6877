"""Which language a person wants: `--lang`, else GUANXI_LANG, else the locale, else English."""

from __future__ import annotations

import os
from collections.abc import Mapping

from guanxi.engine.i18n.catalog import Language

ENVIRONMENT = ("GUANXI_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


def parse_language(value: str | None) -> Language | None:
    """'zh', 'zh_CN.UTF-8', 'zh-Hans', 'ZH_tw' -> 'zh'; 'en', 'en_US', 'C', 'POSIX' -> 'en';
    an empty or unknown value -> None (look further)."""
    if not value:
        return None
    code = value.strip().lower().replace("-", "_").split(".")[0].split("@")[0].split("_")[0]
    if code == "zh":
        return "zh"
    if code in ("en", "c", "posix"):
        return "en"
    return None


def detect_language(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> Language:
    """The language of `explicit`, else of the first of GUANXI_LANG, LC_ALL, LC_MESSAGES,
    LANG that is set and names a language; English when none does."""
    env = os.environ if environ is None else environ
    for value in (explicit, *(env.get(name) for name in ENVIRONMENT)):
        found = parse_language(value)
        if found is not None:
            return found
    return "en"
