"""Cells of a CSV file for Excel, which runs a text cell that starts with = + - @ (or a tab or
carriage return before them) as a formula: `=HYPERLINK(…)` in a manager's id or a quarantined
value would be a live link in the bank's spreadsheet. Such a text cell is written with a
leading single quote, which Excel shows as text (OWASP, "CSV injection"); a plain number such
as -12.5 is left as it is."""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """A value as a CSV cell: empty for None, floats rounded, formulas written as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str):
        return as_text(value)
    return value


def as_text(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text, never runs it as a formula."""
    if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell
