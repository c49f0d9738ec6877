"""What every report section is made of: tables for people, plain data for machines.

A section's `tables()` are what the terminal, the CSV files and the HTML page show (wide,
labelled in Chinese and English); its `to_dict()` is the long-form data `--json` prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ColumnKind = Literal["text", "count", "share", "number", "money"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Table:
    name: str  # a slug: the CSV file's name
    title: str  # within its section ('' for a section's only table)
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    detail: bool = False  # long detail for files (CSV, JSON); the terminal and page skip it

    def records(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


class Section(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def title(self) -> str: ...

    def notes(self) -> list[str]: ...

    def tables(self) -> list[Table]: ...

    def to_dict(self) -> dict[str, Any]: ...


def shown(value: Any, kind: ColumnKind) -> str:
    """A value as people read it: 1,234 · 91.2% · 3.57 · ¥1,234,567 (money, whole yuan); a
    missing value as a dash. Files (CSV, JSON) keep the plain number."""
    if value is None:
        return "–"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "share":
        return f"{100 * float(value):.1f}%"
    if kind == "money":
        amount = float(value)
        return f"-¥{-amount:,.0f}" if amount < 0 else f"¥{amount:,.0f}"
    if kind == "number":
        return f"{float(value):,.2f}"
    return str(value)


def share(part: float, whole: float) -> float | None:
    """`part` of `whole`; none of a zero or an infinite whole (sums past the largest double:
    every part of it would read 0 % or NaN)."""
    return part / whole if whole and math.isfinite(whole) else None


def mean(total: float | None, count: int) -> float | None:
    return float(total) / count if count and total is not None else None
