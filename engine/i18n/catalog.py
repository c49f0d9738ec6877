"""The current language and the compiled catalog it reads from."""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
DOMAIN = "guanxi"
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOG_LANGUAGE = {"zh": "zh_CN"}  # our language -> the catalog folder under locale/

_current: Language = "en"


@cache
def translations(lang: Language) -> stdlib_gettext.NullTranslations:
    """The catalog for `lang`; English is the msgids themselves."""
    if lang == "en":
        return stdlib_gettext.NullTranslations()
    return stdlib_gettext.translation(DOMAIN, LOCALE_DIR, [CATALOG_LANGUAGE[lang]])


def use_language(lang: Language) -> None:
    """Show every text from now on in `lang`."""
    global _current
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    _current = lang


def current_language() -> Language:
    return _current


@contextmanager
def language(lang: Language) -> Iterator[None]:
    """`lang` inside the block, the language before it afterwards."""
    before = _current
    use_language(lang)
    try:
        yield
    finally:
        use_language(before)


def gettext(message: str) -> str:
    """`message` in the current language (itself when the catalog has no translation)."""
    return translations(_current).gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for the count `n`, in the current language."""
    return translations(_current).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark `message` for the catalog without translating it yet (a module-level constant,
    translated with `_()` where it is shown)."""
    return message


_ = gettext
