"""Holding an assignment: a ladder's `hold: N runs` lets a new answer take effect only once it
has come out of N classification runs in a row.

A customer hovering around a line (a percentile, a balance threshold) would otherwise change
tier at every run and get the steps on entering and leaving again and again. Meanwhile the
customer keeps the old assignment, and the new answer waits in the assignment's pending
columns: `pending_<kind>` (the answer), `pending_<kind>_runs` (runs in a row that gave it) and
`pending_<kind>_since` (the first of those runs). A customer without an assignment takes the
answer at once; an answer equal to the assignment clears what was pending.

The rule is one SQL expression per column, written once here for every engine (the store's,
DuckDB for snapshots and Spark's output), so that every engine holds the same customers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guanxi.engine.ruleset import RuleSet

LADDERS = ("tier", "level", "strategy")
PARTS = {"": "TEXT", "_runs": "INTEGER", "_since": "BIGINT"}  # pending_<kind><part>: SQL type
PENDING_TYPES = {f"pending_{kind}{part}": t for kind in LADDERS for part, t in PARTS.items()}
PENDING = tuple(PENDING_TYPES)
STATE = ("gold", *LADDERS, *PENDING)  # what an assignment holds besides its key and stamps
ASSIGNED = ("customer_id", "gold", *LADDERS)  # a change with nothing pending: its key and answers
WAITING = " OR ".join(f"{c} > 0" for c in PENDING if c.endswith("_runs"))  # SQL: held back


def holds(ruleset: RuleSet) -> dict[str, int]:
    """Runs in a row each ladder's answer must repeat before it takes effect (1: at once).
    A ladder that does not say holds as the one it is built on (levels on tiers, strategies
    on levels): a strategy made from a held tier then stays with that tier."""
    tier = ruleset.tiers.hold or 1
    level = tier if ruleset.levels.hold is None else ruleset.levels.hold
    given = ruleset.strategies.hold if ruleset.strategies else None
    return {"tier": tier, "level": level, "strategy": level if given is None else given}


def same(a: str, b: str, dialect: str) -> str:
    """SQL true when a and b are equal, NULLs included (NULL and NULL are the same)."""
    return f"{a} IS {b}" if dialect == "sqlite" else f"{a} IS NOT DISTINCT FROM {b}"


def held_changes(
    result: str,
    key: str,
    stored: str,
    hold: Mapping[str, int],
    run_id: int,
    dialect: str,
    kept: Sequence[str] = (),
    answers: str = "TEXT",
) -> str:
    """A SELECT of the new state (customer_id and STATE) of every customer of `result` whose
    state differs from its row in `stored` (or who has none), the holds applied; `kept`:
    columns of `stored` carried along as they are (NULL for a customer without a row);
    `answers`: the SQL type both hold the ladders' answers in (DuckDB's are codes)."""
    ladders = [_ladder(kind, hold.get(kind, 1), run_id, dialect, answers) for kind in LADDERS]
    columns = ", ".join(
        [f"{key} AS customer_id", "r.gold AS gold"]
        + [part for ladder in ladders for part in ladder]
        + [f"a.{c} AS _was_{c}" for c in ("customer_id", *STATE, *kept)]
    )
    moved = " OR ".join(f"NOT ({same(c, f'_was_{c}', dialect)})" for c in STATE)
    carried = "".join(f", _was_{c} AS {c}" for c in kept)
    return (
        f"SELECT customer_id, {', '.join(STATE)}{carried}"
        f" FROM (SELECT {columns}, {_settled(dialect)}"
        f" AS _settled FROM {result} AS r LEFT JOIN {stored} AS a ON a.customer_id = {key}) AS h"
        f" WHERE _was_customer_id IS NULL OR (NOT _settled AND ({moved}))"
    )


def _settled(dialect: str) -> str:
    """SQL true (never NULL) when the stored row already is the answer, nothing pending: then
    no hold applies and the new state is the stored one. A cheap test of plain columns that
    spares most customers of a night the held columns' CASEs (the full test decides the
    others)."""
    answers = [same(f"a.{c}", f"r.{c}", dialect) for c in ("gold", *LADDERS)]
    idle = [same(f"a.pending_{kind}_runs", "0", dialect) for kind in LADDERS]
    idle += [f"a.pending_{kind}{part} IS NULL" for kind in LADDERS for part in ("", "_since")]
    return "(" + " AND ".join(answers + idle) + ")"


def _ladder(kind: str, runs_needed: int, run_id: int, dialect: str, answers: str) -> list[str]:
    """The columns `kind`, `pending_kind`, `pending_kind_runs`, `pending_kind_since`."""
    pending = f"pending_{kind}"
    if runs_needed <= 1:
        return [
            f"r.{kind} AS {kind}",
            f"CAST(NULL AS {answers}) AS {pending}",
            f"0 AS {pending}_runs",
            f"CAST(NULL AS BIGINT) AS {pending}_since",
        ]
    again = f"(a.{pending}_runs > 0 AND {same(f'a.{pending}', f'r.{kind}', dialect)})"
    runs = f"(CASE WHEN {again} THEN a.{pending}_runs + 1 ELSE 1 END)"
    held = (
        f"(a.customer_id IS NOT NULL AND NOT ({same(f'a.{kind}', f'r.{kind}', dialect)})"
        f" AND {runs} < {int(runs_needed)})"
    )
    since = f"CASE WHEN {again} THEN a.{pending}_since ELSE {int(run_id)} END"
    return [
        f"CASE WHEN {held} THEN a.{kind} ELSE r.{kind} END AS {kind}",
        f"CASE WHEN {held} THEN r.{kind} END AS {pending}",
        f"CASE WHEN {held} THEN {runs} ELSE 0 END AS {pending}_runs",
        f"CASE WHEN {held} THEN {since} END AS {pending}_since",
    ]
