"""Ids as they are stored and looked up.

A Chinese keyboard in full-width mode types `ＣＵＳＴ００１` for `CUST001`; kept as typed, it
would be a second customer, whose events and follow-ups escape the first one's contact caps.
So every id that enters guanxi (a file's key, an event's, an id given on the command line) is
read in Unicode NFKC, as full-width digits are read as numbers: full-width letters, digits
and punctuation as their ASCII twins, an ideographic space as a space; then spaces around it
are removed.
"""

from __future__ import annotations

import unicodedata


def same_id(text: str) -> str:
    """`text` as the id it stands for: NFKC, spaces around it removed."""
    return unicodedata.normalize("NFKC", text).strip()
