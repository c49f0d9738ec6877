"""The ladders' answers as small integer codes inside DuckDB.

A tier, level or strategy is a name (`high_value_added`); ten million of them, carried as text
through the classification's result, the comparison with the columnar copy and the copy
itself, cost far more than the few bytes of a code: the comparison joins ten million rows
carrying six answer columns, and the result of a 30M night would not fit its memory limit.
So DuckDB keeps each answer as its name's place in a dictionary (a USMALLINT), and names it
again only where the answers leave DuckDB: the changes written into the store and the
distribution reported.

The dictionary lives in the copy's file (`mirror.names`), because the copy's rows are codes:
a name keeps its code for as long as the copy lives, and new names (a rule renamed, a tier
added) are appended, never renumbered. A name no rule gives any more keeps its code: the
copy's older rows may still hold it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb

from guanxi.engine.classify import coded
from guanxi.engine.classify.compile import ladders
from guanxi.engine.classify.hold import LADDERS
from guanxi.engine.ruleset import RuleSet

NAMES = "mirror.names"  # (kind, code, name): the copy's dictionary
CODE = coded.CODE
MAX_NAMES = 65_535  # codes a USMALLINT holds


@dataclass(frozen=True)
class Codes:
    """Each ladder's names in code order (a name's code is its place)."""

    names: Mapping[str, tuple[str, ...]]

    def encode(self, kind: str, column: str) -> str:
        """SQL: the code of the name in `column` (NULL stays NULL)."""
        if not self.names[kind]:  # nothing to name: no rule gives one, no row holds one
            return f"CAST(NULL AS {CODE})"
        return f"CAST(enum_code(CAST({column} AS {_type(kind)})) AS {CODE})"

    def decode(self, kind: str, column: str) -> str:
        """SQL: the name of the code in `column` (NULL stays NULL)."""
        if not self.names[kind]:
            return "CAST(NULL AS VARCHAR)"
        return f"{_list(self.names[kind])}[{column} + 1]"

    def encoded(self, columns: Iterable[str] = LADDERS) -> str:
        """A `* REPLACE (…)` list turning `columns` (ladders or their pending answers) into
        codes."""
        return ", ".join(f"{self.encode(_kind(c), c)} AS {c}" for c in columns)

    def named(self, columns: Iterable[str]) -> str:
        """A select list of `columns`, the ladders' answers among them named again."""
        return ", ".join(f"{self.decode(_kind(c), c)} AS {c}" if _kind(c) else c for c in columns)

    def create_types(self, duck: duckdb.DuckDBPyConnection) -> None:
        """The ENUM types `encode` casts to, on this connection."""
        for kind, names in self.names.items():
            duck.execute(f"DROP TYPE IF EXISTS {_type(kind)}")
            if names:
                duck.execute(f"CREATE TYPE {_type(kind)} AS ENUM {_list(names, '(', ')')}")


def load_codes(
    duck: duckdb.DuckDBPyConnection, ruleset: RuleSet, found: Mapping[str, Iterable[str]]
) -> Codes:
    """The copy's dictionary, with the names `ruleset` gives and the names `found` (per ladder:
    names read from the store) it lacks appended and saved; its types created."""
    kept: dict[str, list[str]] = {kind: [] for kind in LADDERS}
    stored = duck.execute(f"SELECT kind, name FROM {NAMES} ORDER BY kind, code").fetchall()
    for kind, name in stored:
        kept.setdefault(str(kind), []).append(str(name))
    wanted = {kind: [*rule_names(ruleset, kind), *found.get(kind, ())] for kind in LADDERS}
    for kind in LADDERS:
        known = set(kept[kind])
        new = [n for n in dict.fromkeys(wanted[kind]) if n not in known]
        if len(kept[kind]) + len(new) > MAX_NAMES:
            raise ValueError(f"more than {MAX_NAMES} {kind} names")  # no rule project has
        if new:
            duck.executemany(
                f"INSERT INTO {NAMES} VALUES (?, ?, ?)",
                [(kind, len(kept[kind]) + i, name) for i, name in enumerate(new)],
            )
            kept[kind].extend(new)
    codes = Codes({kind: tuple(kept[kind]) for kind in LADDERS})
    codes.create_types(duck)
    return codes


def rule_names(ruleset: RuleSet, kind: str) -> list[str]:
    """The names a ladder's rules give, in rule order."""
    ladder = ladders(ruleset)[kind]
    return [rule.name for rule in ladder.rules] if ladder else []


def _kind(column: str) -> str:
    """The ladder whose answer `column` holds (its own, or its pending one), else ''."""
    name = column.removeprefix("pending_")
    return name if name in LADDERS else ""


def _type(kind: str) -> str:
    return f"_gx_{kind}_name"


def _list(names: Iterable[str], start: str = "[", end: str = "]") -> str:
    return start + ", ".join("'" + n.replace("'", "''") + "'" for n in names) + end
