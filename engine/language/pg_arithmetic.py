"""Floating-point arithmetic on PostgreSQL that gives what IEEE 754 gives, as the others do.

PostgreSQL raises "value out of range" where a double operation overflows (1e200 * 1e200,
1 / 1e-320) or underflows to zero (1e-200 * 1e-200); SQLite, DuckDB, Spark and Python give
±Infinity and ±0. One customer's extreme value would stop the whole classification, so on
PostgreSQL every +, -, * and / that may involve a double becomes a CASE:

- the common case first: both operands of a moderate size (a product or quotient of numbers
  between 2^-511 and 2^511 is a normal double), computed as written;
- otherwise the result's size is decided on operands scaled by a power of two (exact, and
  rounding commutes with it in the normal range), and ±Infinity or ±0 is returned where the
  plain operation would have raised.

The result is IEEE's in every case but one: a product or quotient within one rounding of half
the smallest subnormal (about 2.5e-324) gives 0 where IEEE may give 5e-324. Operations on
infinities are left to PostgreSQL (it raises only for finite operands), but NaN (inf - inf,
0 * inf, inf / inf) is NULL, as on every back end (see to_sql.py).

The rare cases are a subquery reading the operands from a one-row subquery fenced with
OFFSET 0: PostgreSQL compiles it apart and does not copy the operands into it, so the query
stays small. Operands holding a guarded operation themselves are
computed once, the whole CASE in such a subquery, so nested arithmetic grows the query
linearly; simple ones (a field, COALESCE(field, 0)) are written out in the common case.
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

MAX = 1.7976931348623157e308  # the largest finite double
_X, _Y, _ROW, _SLOW = "_gx_x", "_gx_y", "_gx", "_gx_slow"


def _double(value: float) -> str:
    """A double constant PostgreSQL reads exactly (repr is the shortest exact decimal)."""
    return f"CAST('{value!r}' AS DOUBLE PRECISION)"


_SIGNED = f"SIGN({_X}) * SIGN({_Y})"
_INF = f"{_SIGNED} * CAST('Infinity' AS DOUBLE PRECISION)"
_ZERO = f"{_SIGNED} * CAST(0 AS DOUBLE PRECISION)"
_FINITE = f"ABS({_X}) < CAST('Infinity' AS DOUBLE PRECISION) AND ABS({_Y}) < CAST('Infinity' AS DOUBLE PRECISION)"  # noqa: E501


def _nan_is_null(op: str) -> str:
    """An infinite operand: PostgreSQL does not raise; NaN (inf - inf) is NULL, as elsewhere."""
    return f"NULLIF({_X} {op} {_Y}, CAST('NaN' AS DOUBLE PRECISION))"


def _moderate(name: str) -> str:
    return f"ABS({name}) BETWEEN {_double(2.0**-511)} AND {_double(2.0**511)}"


# The common case: a product or quotient of numbers between 2^-511 and 2^511 is a normal
# double; a sum of numbers below 2^1022 is finite.
_PRODUCT_SAFE = f"{_moderate(_X)} AND {_moderate(_Y)}"
_SUM_SAFE = f"ABS({_X}) < {_double(2.0**1022)} AND ABS({_Y}) < {_double(2.0**1022)}"

# x * y otherwise: may overflow when both exceed 1, may underflow when both are below 1
_MUL = f"""CASE
 WHEN NOT ({_FINITE}) THEN {_nan_is_null("*")}
 WHEN {_X} = 0 OR {_Y} = 0 THEN {_X} * {_Y}
 WHEN ABS({_X}) > 1 AND ABS({_Y}) > 1 THEN CASE
  WHEN ABS({_X}) >= {_double(2.0**512)} AND ABS({_Y}) >= {_double(2.0**512)} THEN {_INF}
  WHEN ABS({_X} * {_double(2.0**-520)} * {_Y}) > {_double(MAX * 2.0**-520)} THEN {_INF}
  ELSE {_X} * {_Y} END
 WHEN ABS({_X}) < 1 AND ABS({_Y}) < 1 THEN CASE
  WHEN ABS({_X}) <= {_double(2.0**-538)} AND ABS({_Y}) <= {_double(2.0**-538)} THEN {_ZERO}
  WHEN ABS({_X} * {_double(2.0**600)} * {_Y}) <= {_double(2.0**-475)} THEN {_ZERO}
  ELSE {_X} * {_Y} END
 ELSE {_X} * {_Y} END"""

# x / y otherwise (y is never 0: NULLIF made it NULL): may overflow when |y| < 1, underflow
# when |y| > 1
_DIV = f"""CASE
 WHEN NOT ({_FINITE}) THEN {_nan_is_null("/")}
 WHEN {_X} = 0 THEN {_X} / {_Y}
 WHEN ABS({_Y}) < 1 THEN CASE
  WHEN ABS({_X}) < {_double(2.0**-51)} THEN {_X} / {_Y}
  WHEN ABS({_Y}) < {_double(2.0**-500)} AND ABS({_X}) > {_double(2.0**524)} THEN {_INF}
  WHEN ABS({_X} / ({_Y} * {_double(2.0**600)})) > {_double(MAX * 2.0**-600)} THEN {_INF}
  ELSE {_X} / {_Y} END
 WHEN ABS({_Y}) > 1 THEN CASE
  WHEN ABS({_X}) >= {_double(2.0**-50)} THEN {_X} / {_Y}
  WHEN ABS({_X}) < {_double(2.0**-540)} AND ABS({_Y}) > {_double(2.0**540)} THEN {_ZERO}
  WHEN ABS({_X} * {_double(2.0**600)} / {_Y}) <= {_double(2.0**-475)} THEN {_ZERO}
  ELSE {_X} / {_Y} END
 ELSE {_X} / {_Y} END"""


def _sum(op: str) -> str:
    """x + y or x - y otherwise: overflows only when an operand exceeds 2^1022. Halving is
    exact for normal doubles; a subnormal operand cannot move a sum that large."""
    tiny = _double(2.0**-1021)
    half = f"ABS({_X} * {_double(0.5)} {op} {_Y} * {_double(0.5)}) > {_double(MAX * 0.5)}"
    return f"""CASE
 WHEN NOT ({_FINITE}) THEN {_nan_is_null(op)}
 WHEN ABS({_X}) < {tiny} OR ABS({_Y}) < {tiny} THEN {_X} {op} {_Y}
 WHEN {half} THEN SIGN({_X}) * CAST('Infinity' AS DOUBLE PRECISION)
 ELSE {_X} {op} {_Y} END"""


_CASES = {  # operator: (when the plain operation is safe, the rare cases)
    "*": (_PRODUCT_SAFE, _MUL),
    "/": (_PRODUCT_SAFE, _DIV),
    "+": (_SUM_SAFE, _sum("+")),
    "-": (_SUM_SAFE, _sum("-")),
}
_OPERATORS: dict[type[exp.Expression], str] = {
    exp.Mul: "*",
    exp.Div: "/",
    exp.Add: "+",
    exp.Sub: "-",
}
GUARDED = tuple(_OPERATORS)


@functools.cache
def _parsed(sql: str) -> exp.Expression:
    parsed = sqlglot.parse_one(sql, read="postgres")
    assert isinstance(parsed, exp.Expression)
    return parsed


def guarded(node: exp.Expression) -> exp.Expression:
    """`node` (x op y, one of GUARDED) as a CASE that never raises for the size of a double
    result: the plain operation when the operands are of a moderate size, else the rare cases
    in a subquery (PostgreSQL compiles it apart: the query stays small for its JIT)."""
    operator = _OPERATORS[type(node)]
    safe, rare = _CASES[operator]
    x, y = node.this, node.expression
    common = f"CASE WHEN {safe} THEN {_X} {operator} {_Y} ELSE {_SLOW} END"
    if not (_simple(x) and _simple(y)):  # computed once, in the subquery
        return _subquery(_parsed(common.replace(_SLOW, rare)), x, y)
    operands = {_X: x, _Y: y, _SLOW: _subquery(_parsed(rare), x, y)}
    return exp.Paren(this=_parsed(common).transform(lambda n: _operand(n, operands)))


def _subquery(case: exp.Expression, x: exp.Expression, y: exp.Expression) -> exp.Expression:
    """(SELECT case FROM (SELECT x AS _gx_x, y AS _gx_y OFFSET 0) AS _gx). OFFSET 0 keeps
    PostgreSQL from pulling the operands up into each of the CASE's many references: nested
    arithmetic would otherwise be copied 10–15 times a level, and a formula five levels deep
    would take gigabytes to plan."""
    operands = exp.select(exp.alias_(x.copy(), _X), exp.alias_(y.copy(), _Y)).offset(0)
    return exp.Subquery(this=exp.select(case.copy()).from_(operands.subquery(_ROW)))


def _operand(node: exp.Expression, operands: dict[str, exp.Expression]) -> exp.Expression:
    if isinstance(node, exp.Column) and node.name in operands and not node.table:
        return operands[node.name].copy()
    return node


def _simple(operand: exp.Expression) -> bool:
    """Cheap to write out several times: holds no guarded operation (nor a subquery)."""
    return not any(isinstance(n, exp.Case | exp.Subquery) for n in operand.walk())
