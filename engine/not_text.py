"""Words that stand in a text field without being text: the errors Excel shows where a
formula failed (a VLOOKUP that found nothing: #N/A, kept in a CSV saved from it), and what
databases and scripts write for a missing value (SQL NULL, Python None, pandas nan, MySQL
\\N, also as typed in a Chinese keyboard's full-width mode: ＮＵＬＬ, ｎａｎ). No name or
product is one, yet a message would write "#N/A您好". Load refuses an Excel
error and reads a missing-value word as an empty cell (guanxi.engine.ingest.values); a
template reads either, kept in a store loaded before, as no value (guanxi.engine.templating)."""

from __future__ import annotations

import unicodedata
from typing import Any

EXCEL_ERRORS = frozenset(
    ["#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"]
)  # fmt: skip
MISSING_WRITTEN = frozenset(["NULL", "NONE", "NAN", "\\N"])  # in any letter case, and NFKC
LONGEST_MISSING = max(map(len, MISSING_WRITTEN))  # NFKC never writes one in fewer characters


def is_excel_error(text: str) -> bool:
    return text.strip().upper() in EXCEL_ERRORS


def is_missing_written(text: str) -> bool:
    written = text.strip()
    if len(written) > LONGEST_MISSING:  # most text: no NFKC for it
        return False
    return unicodedata.normalize("NFKC", written).upper() in MISSING_WRITTEN


def stands_for_nothing(value: Any) -> bool:
    """Whether `value` is one of these words (any other value, text or not, is not)."""
    return isinstance(value, str) and (is_excel_error(value) or is_missing_written(value))
