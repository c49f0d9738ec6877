"""Limits a condition must keep before it is parsed, checked and compiled.

sqlglot's parser and every back end (SQL, durable_rules JSON, Python) follow the expression
recursively, one level per bracket, NOT or chained AND/OR. A condition nested or chained
beyond these limits would exhaust Python's stack in one of them, so it is refused first, with
the place where it passes the limit. Numbers must be finite and no larger than a float holds
exactly (PostgreSQL's NUMERIC would refuse `1e999` at classification time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import _

MAX_NESTING = 16  # brackets, function calls and NOTs inside one another
MAX_DEPTH = 64  # levels of the expression tree; each AND/OR in a chain adds one
MAX_NUMBER = 1e15  # the largest magnitude of a number written in a condition

_OPEN = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSE = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}
_JOIN = {TokenType.AND, TokenType.OR, TokenType.COMMA}
_VALUE_END = {
    TokenType.VAR,
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.IDENTIFIER,
    TokenType.NULL,
    TokenType.TRUE,
    TokenType.FALSE,
    *_CLOSE,
}
_PREFIX = {TokenType.NOT, TokenType.DASH, TokenType.PLUS}
_IN_WORDS = {TokenType.IN, TokenType.LIKE, TokenType.BETWEEN, TokenType.NULL}


def check_tokens(source: str, tokens: Sequence[Any]) -> None:
    """Numbers in range and nesting within MAX_NESTING, before the parser sees the text."""
    groups = [0]  # for each open bracket: prefix operators in its current operand
    previous = None
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind == TokenType.NUMBER:
            _check_number(token)
        if kind in _OPEN:
            groups.append(0)
        elif kind in _CLOSE and len(groups) > 1:
            groups.pop()
        elif kind in _JOIN:
            groups[-1] = 0  # an operand ends: its NOTs are parsed and done
        elif _is_prefix(previous, token, tokens[index + 1 : index + 2]):
            groups[-1] += 1
        if len(groups) - 1 + sum(groups) > MAX_NESTING:
            raise _too_deep(token)
        previous = token


def _is_prefix(previous: Any, token: Any, following: Sequence[Any]) -> bool:
    """A NOT or sign that starts an operand (not `IS NOT NULL`, `NOT IN`, `a - b`)."""
    if token.token_type not in _PREFIX:
        return False
    if previous is not None and previous.token_type in (*_VALUE_END, TokenType.IS):
        return False
    return not (following and following[0].token_type in _IN_WORDS)


def check_depth(source: str, tree: exp.Expression) -> None:
    """The expression tree is at most MAX_DEPTH levels deep (measured without recursion)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(
                "too-complex",
                _(
                    "this condition is too long: more than {count} levels of AND, OR or brackets"
                ).format(count=MAX_DEPTH),
                0,
                len(source),
                hint=_("split it into several rules, or list values with IN ('a', 'b', …)"),
            )
        stack.extend((child, depth + 1) for child in node.iter_expressions())


def _check_number(token: Any) -> None:
    try:
        value = float(token.text)
    except ValueError:  # not a number after all ('1e'): the parser says what is wrong
        return
    if math.isfinite(value) and abs(value) <= MAX_NUMBER:
        return
    shown = token.text if len(token.text) <= 20 else token.text[:19] + "…"
    raise ConditionError(
        "number-out-of-range",
        _("the number {number} is too large").format(number=shown),
        token.start,
        token.end - token.start + 1,
        hint=_("numbers in conditions are at most 1,000,000,000,000,000 (10^15)"),
    )


def _too_deep(token: Any) -> ConditionError:
    return ConditionError(
        "too-complex",
        _("this condition is nested too deeply: more than {count} brackets or NOTs").format(
            count=MAX_NESTING
        ),
        token.start,
        token.end - token.start + 1,
        hint=_("write it more simply: fewer brackets, and NOT x = 1 as x <> 1"),
    )
