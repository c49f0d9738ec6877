"""Which texts compared with a free-text customer field no customer holds: `occupation IN
('公务元', '教师')` still catches the teachers, so nothing else tells that every civil
servant (公务员, one character off) silently lost the rule.

    unheld_values(store, compared, present) -> (Unheld, ...)   one query a field, two when a
                                                               text is held by nobody

Only fields without `values:` are asked about (the others are checked without a store), and
texts as the condition compares them: as written, while load keeps text as written (spaces
around it removed) and ids in NFKC (`ＲＭ００１` is stored as `RM001`: such a text is
answered with the stored one).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from guanxi.engine.classify.stages import quote
from guanxi.engine.ruleset.ruleset import ComparedValue
from guanxi.engine.store import Store

MOST_HELD = 1000  # distinct values read to suggest from, the most common first


@dataclass(frozen=True)
class Unheld:
    """A compared text no customer holds, with what the field does hold."""

    compared: ComparedValue
    holders: int  # customers with a value in the field
    held: tuple[tuple[str, int], ...]  # its most common values, with their customers

    def close(self, limit: int = 3) -> list[tuple[str, int]]:
        """The values held that the text may have meant, the most held first: one slip
        away (is_close), else alike as a did-you-mean finds names."""
        written = self.compared.value
        near = [pair for pair in self.held if is_close(written, pair[0])]
        if not near:
            alike = difflib.get_close_matches(written, [v for v, _n in self.held], limit)
            near = [pair for pair in self.held if pair[0] in alike]
        return near[:limit]


def unheld_values(
    store: Store, compared: Iterable[ComparedValue], present: Iterable[str]
) -> tuple[Unheld, ...]:
    """Each of `compared` (on a field among the store's columns `present`) held by nobody."""
    by_field: dict[str, list[ComparedValue]] = {}
    columns = set(present)
    for item in compared:
        if item.field in columns:
            by_field.setdefault(item.field, []).append(item)
    found: list[Unheld] = []
    for name, items in by_field.items():
        held = _held(store, name, {c.value for c in items})
        missing = [c for c in items if c.value not in held]
        if missing:
            values, holders = _most_held(store, name)
            found += [Unheld(c, holders, values) for c in missing]
    return tuple(found)


def _held(store: Store, name: str, values: set[str]) -> set[str]:
    """Those of `values` some customer holds in field `name`."""
    column = quote(name, store.dialect)
    params = {f"v{i}": value for i, value in enumerate(sorted(values))}
    listed = ", ".join(f":{key}" for key in params)
    sql = f"SELECT DISTINCT {column} AS v FROM customers WHERE {column} IN ({listed})"
    return {row["v"] for row in store.execute(sql, params)}


def _most_held(store: Store, name: str) -> tuple[tuple[tuple[str, int], ...], int]:
    """The field's most common values with their customers, and the customers with one."""
    column = quote(name, store.dialect)
    sql = (
        f"SELECT {column} AS v, COUNT(*) AS n, SUM(COUNT(*)) OVER () AS total FROM customers"
        f" WHERE {column} IS NOT NULL GROUP BY {column} ORDER BY COUNT(*) DESC LIMIT {MOST_HELD}"
    )
    rows = store.execute(sql)
    values = sorted(((str(r["v"]), int(r["n"])) for r in rows), key=lambda p: (-p[1], p[0]))
    return tuple(values), int(rows[0]["total"]) if rows else 0


def is_close(written: str, held: str) -> bool:
    """Whether `written` may be a slip for `held`: the same in NFKC and letter case (ＲＭ００１,
    rm001 for RM001), or, for texts of two characters or more, one character typed wrong,
    left out or added (公务元 for 公务员: a Chinese input method's slip)."""
    if written == held:
        return False
    if _folded(written) == _folded(held):
        return True
    return min(len(written), len(held)) >= 2 and _one_edit(written, held)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    if len(long) - len(short) != 1:
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
