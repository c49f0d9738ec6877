"""Chinese and English: every text a person reads goes through this module.

    from guanxi.engine.i18n import N_, _, ngettext

    _("no customer field '{name}'").format(name=name)      # translate now
    LABEL = N_("pending")                                    # mark a constant ...
    _(LABEL)                                                 # ... translate where it is shown
    ngettext("{n} error", "{n} errors", n).format(n=n)

Placeholders are always named (`{name}`), so a translation may put them in another order.
The catalog is `locale/zh_CN/LC_MESSAGES/guanxi.po` (source of truth) and its compiled `.mo`,
read by the standard library's gettext: nothing but the stdlib is imported at run time.
`scripts/i18n.py` extracts, updates and compiles it with Babel.

One language holds for the whole process (the daemon's threads included). Until
`use_language` is called it is English; the CLI calls it with `detect_language(--lang)`.
"""

from guanxi.engine.i18n.catalog import (
    LANGUAGES,
    N_,
    Language,
    _,
    current_language,
    gettext,
    language,
    ngettext,
    use_language,
)
from guanxi.engine.i18n.detect import detect_language, parse_language

__all__ = [
    "LANGUAGES",
    "N_",
    "Language",
    "_",
    "current_language",
    "detect_language",
    "gettext",
    "language",
    "ngettext",
    "parse_language",
    "use_language",
]
