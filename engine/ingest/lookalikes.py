"""The characters NFKC writes with only the letters of the words for a missing value (N, ｎ,
Ｌ, ＼, ℕ, Ⓝ, 𝐍 and the like), for the screen's regular expression (screen.py).

Finding them normalises every code point: 0.4 s of CPU at the start of every snapshot night.
They are written here as hexadecimal code points and ranges, as found under the Unicode
versions of FOUND_IN; under another version they are found again.
tests/test_screen_lookalikes.py holds this list to the search it saves.
"""

from __future__ import annotations

import sys
import unicodedata

from guanxi.engine import not_text

FOUND_IN = frozenset({"14.0.0", "15.0.0"})  # Python 3.11 and 3.12
LOOKALIKES = (
    "41 45 4c 4e-4f 55 5c 61 65 6c 6e-6f 75 aa ba 2e1 1d2c 1d31 1d38 1d3a 1d3c 1d41 1d43 1d49 "
    "1d52 1d58 1d64 207f 2090-2092 2097 2099 2112-2113 2115-2116 212f-2130 2134 2147 216c "
    "217c 24b6 24ba 24c1 24c3-24c4 24ca 24d0 24d4 24db 24dd-24de 24e4 3373 3381 33d1 fe68 "
    "ff21 ff25 ff2c ff2e-ff2f ff35 ff3c ff41 ff45 ff4c ff4e-ff4f ff55 1d400 1d404 1d40b "
    "1d40d-1d40e 1d414 1d41a 1d41e 1d425 1d427-1d428 1d42e 1d434 1d438 1d43f 1d441-1d442 "
    "1d448 1d44e 1d452 1d459 1d45b-1d45c 1d462 1d468 1d46c 1d473 1d475-1d476 1d47c 1d482 "
    "1d486 1d48d 1d48f-1d490 1d496 1d49c 1d4a9-1d4aa 1d4b0 1d4b6 1d4c1 1d4c3 1d4ca 1d4d0 "
    "1d4d4 1d4db 1d4dd-1d4de 1d4e4 1d4ea 1d4ee 1d4f5 1d4f7-1d4f8 1d4fe 1d504 1d508 1d50f "
    "1d511-1d512 1d518 1d51e 1d522 1d529 1d52b-1d52c 1d532 1d538 1d53c 1d543 1d546 1d54c "
    "1d552 1d556 1d55d 1d55f-1d560 1d566 1d56c 1d570 1d577 1d579-1d57a 1d580 1d586 1d58a "
    "1d591 1d593-1d594 1d59a 1d5a0 1d5a4 1d5ab 1d5ad-1d5ae 1d5b4 1d5ba 1d5be 1d5c5 "
    "1d5c7-1d5c8 1d5ce 1d5d4 1d5d8 1d5df 1d5e1-1d5e2 1d5e8 1d5ee 1d5f2 1d5f9 1d5fb-1d5fc "
    "1d602 1d608 1d60c 1d613 1d615-1d616 1d61c 1d622 1d626 1d62d 1d62f-1d630 1d636 1d63c "
    "1d640 1d647 1d649-1d64a 1d650 1d656 1d65a 1d661 1d663-1d664 1d66a 1d670 1d674 1d67b "
    "1d67d-1d67e 1d684 1d68a 1d68e 1d695 1d697-1d698 1d69e 1f130 1f134 1f13b 1f13d-1f13e "
    "1f144"
)


def missing_lookalikes() -> list[str]:
    """The characters, in code point order."""
    if unicodedata.unidata_version not in FOUND_IN:
        return searched()
    found: list[str] = []
    for written in LOOKALIKES.split():
        first, _, last = written.partition("-")
        found.extend(map(chr, range(int(first, 16), int(last or first, 16) + 1)))
    return found


def searched() -> list[str]:
    """Every character whose NFKC, in capitals, holds only those letters."""
    letters = set("".join(not_text.MISSING_WRITTEN))
    return [
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if set(unicodedata.normalize("NFKC", c).upper()) <= letters
    ]
