"""Words that stand in a text field without being text: the errors Excel shows where a
formula failed (a VLOOKUP that found nothing: #N/A, kept in a CSV saved from it), and what
databases and scripts write for a missing value (SQL NULL, Python None, pandas nan, MySQL
\\N). No name or product is one, yet a message would write "#N/A您好". Load refuses an Excel
error and reads a missing-value word as an empty cell (guanxi.engine.ingest.values); a
template reads either, kept in a store loaded before, as no value (guanxi.engine.templating)."""

from __future__ import annotations

from typing import Any

EXCEL_ERRORS = frozenset(
    ["#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
     "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"]
)  # fmt: skip
MISSING_WRITTEN = frozenset(["NULL", "NONE", "NAN", "\\N"])  # in any letter case


def is_excel_error(text: str) -> bool:
    return text.strip().upper() in EXCEL_ERRORS


def is_missing_written(text: str) -> bool:
    return text.strip().upper() in MISSING_WRITTEN


def stands_for_nothing(value: Any) -> bool:
    """Whether `value` is one of these words (any other value, text or not, is not)."""
    return isinstance(value, str) and (is_excel_error(value) or is_missing_written(value))
