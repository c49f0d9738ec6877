"""Characters no one can see, and text with them written as escapes (`\\x00`) so that it can
be stored and shown: PostgreSQL refuses a NUL and a lone surrogate in text, and a terminal
plays an escape sequence. `load` refuses them in ids (guanxi.engine.ingest.values); what a
server answers a send is written with them escaped (guanxi.engine.dispatch.outcomes)."""

from __future__ import annotations

import re

from guanxi.engine.bidi import BIDI_CONTROLS

# Invisible format characters (a zero-width space, a right-to-left override, a byte-order mark,
# a soft hyphen): in an id they make two ids that look alike differ, so one customer would be
# two, or show an id reversed.
FORMAT_CHARACTERS = (
    f"\u00ad\u180e\u200b-\u200d\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb{BIDI_CONTROLS}"
)
UNSEEN_IN_ID = re.compile(f"[\x00-\x1f\x7f-\x9f{FORMAT_CHARACTERS}\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every invisible character written as an escape (`\\x00`), so that it can be
    stored and shown."""
    return UNSEEN_IN_ID.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
