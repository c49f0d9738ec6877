"""A chain of query stages rendered as CTEs, each passing on only what later stages read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp


@dataclass
class Stage:
    """One CTE: `columns` (alias -> SQL) computed from the stage before it (or `source`)."""

    name: str
    columns: dict[str, str]
    uses: set[str]  # columns of earlier stages that `columns` read
    source: str | None = None  # the first stage reads this relation
    materialize: bool = False
    inline: bool = False  # NOT MATERIALIZED: read again by each stage that uses it, not copied
    keep: list[str] = field(default_factory=list)  # earlier columns passed on unchanged


def render(
    stages: Sequence[Stage],
    extra: Sequence[tuple[str, str, str]],
    outputs: Sequence[str],
    dialect: str,
) -> str:
    """`WITH … SELECT outputs FROM <last stage>`; each `extra` CTE (after, name, SQL) reads the
    stage named `after` and is placed right after it."""
    _prune(stages, outputs)
    # an extra CTE has a row per segment: PostgreSQL would fold it into the join with every
    # customer and run its subqueries (a segment's cut-off: a sort) once per customer
    hint = "MATERIALIZED " if dialect == "postgres" else ""
    ctes: list[str] = []
    for index, stage in enumerate(stages):
        previous = stage.source or stages[index - 1].name
        ctes.append(_cte(stage, previous, dialect))
        ctes += [
            f"{name} AS {hint}(\n  {sql}\n)" for after, name, sql in extra if after == stage.name
        ]
    select = ", ".join(quote(c, dialect) for c in outputs)
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {select} FROM {stages[-1].name}"


def _prune(stages: Sequence[Stage], outputs: Sequence[str]) -> None:
    """Fill each stage's `keep`: the earlier columns some later stage or the output needs."""
    defined: list[set[str]] = []
    seen: set[str] = set()
    for stage in stages:
        seen = seen | set(stage.columns)
        defined.append(seen)
    needed = set(outputs)
    for index in range(len(stages) - 1, -1, -1):
        stage = stages[index]
        before = defined[index - 1] if index else set()
        stage.keep = sorted(needed & before - set(stage.columns))
        if index:
            stage.columns = {a: sql for a, sql in stage.columns.items() if a in needed}
        needed = (needed - set(stage.columns)) | stage.uses | set(stage.keep)


def _cte(stage: Stage, previous: str, dialect: str) -> str:
    parts = [quote(c, dialect) for c in stage.keep]
    for alias, sql in stage.columns.items():
        quoted = quote(alias, dialect)
        parts.append(quoted if sql == quoted else f"{sql} AS {quoted}")
    hint = "MATERIALIZED " if stage.materialize else "NOT MATERIALIZED " if stage.inline else ""
    return f"{stage.name} AS {hint}(\n  SELECT {', '.join(parts)} FROM {previous}\n)"


def quote(name: str, dialect: str) -> str:
    """A column or table name quoted for `dialect`."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)
