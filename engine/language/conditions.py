"""Parse and check condition expressions against the customer schema.

Only a whitelist of sqlglot node types is accepted: columns of the declared schema, literals,
comparisons, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL, LIKE, + - * /, and `FUNCTIONS`. Anything
else (a subquery, a second statement, an unknown function) is a `ConditionError` with the
offset of the offending text, which the rule loader turns into `path:line:col`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Tokenizer, TokenType  # type: ignore[attr-defined]

from guanxi.engine.diagnostics import did_you_mean
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.dates import date_literal_hint
from guanxi.engine.language.limits import check_depth, check_tokens
from guanxi.engine.language.mistakes import (
    check_program_signs,
    check_reversed_signs,
    check_split_signs,
    check_words,
    excel_wildcards,
    null_operand,
)
from guanxi.engine.language.numbers import spell_out
from guanxi.engine.language.yes_no import yes_or_no

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
Kind = Literal["number", "string", "boolean", "date", "null"]

KIND_OF_TYPE: dict[str, Kind] = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "date",
}

FUNCTIONS: dict[str, str] = {
    "ABS": "ABS(x): the value without its sign",
    "COALESCE": "COALESCE(x, y, …): the first of its arguments that is not empty",
    "LENGTH": "LENGTH(text): the number of characters",
    "DAYS_SINCE": "DAYS_SINCE(date): whole days from that date to today",
}

COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
LOGIC = (exp.And, exp.Or)


@dataclass(frozen=True)
class Condition:
    """A checked expression. `tree` is the one AST every back end compiles from."""

    text: str
    tree: exp.Expression = field(compare=False, repr=False)
    fields: frozenset[str]
    field_types: Mapping[str, str] = field(compare=False, repr=False)
    plain: str = field(default="", compare=False)  # as compiled: 50万 written out as 500000

    @property
    def compiled_text(self) -> str:
        """The condition as it was compiled, numbers written out (`balance >= 500000`)."""
        return self.plain or self.text

    def sql(self, dialect: str = "sqlite", today: dt.date | None = None) -> str:
        from guanxi.engine.language.to_sql import to_sql

        return to_sql(self.tree, dialect, today, self.field_types)

    def compile(self, today: dt.date | None = None) -> Callable[[Mapping[str, Any]], Any]:
        """A Python function of one record giving the SQL value (None for NULL)."""
        from guanxi.engine.language.to_python import compile_python

        return compile_python(self.tree, self.field_types, today)

    def evaluate(self, record: Mapping[str, Any], today: dt.date | None = None) -> bool:
        """True when the record matches; NULL (unknown) counts as not matching, as in SQL."""
        return self.compile(today)(record) is True

    def written_span(self, offset: int, length: int) -> tuple[int, int]:
        """A span of `compiled_text` (where the tree's positions point) as a span of `text`."""
        if self.plain in ("", self.text):
            return offset, length
        return spell_out(self.text).original(offset, length)

    @property
    def is_always_true(self) -> bool:
        return isinstance(self.tree, exp.Boolean) and self.tree.this is True


def parse_condition(text: str, fields: Mapping[str, str]) -> Condition:
    """Parse a boolean condition; raise ConditionError saying where and what is wrong."""
    return _parse(text, fields, "boolean")


def parse_value(text: str, fields: Mapping[str, str]) -> Condition:
    """Parse a numeric expression (a derived measure such as `annual_contribution * 5`)."""
    return _parse(text, fields, "number")


def _parse(text: str, fields: Mapping[str, str], want: Kind) -> Condition:
    source = str(text)
    if not source.strip():
        raise ConditionError("condition-syntax", _("the expression is empty"), 0, 1)
    spelled = spell_out(source)
    try:
        tree = _checked_tree(spelled.text, fields, want)
    except ConditionError as error:
        error.offset, error.length = spelled.original(error.offset, error.length)
        raise
    columns = frozenset(field_name(c) for c in tree.find_all(exp.Column))
    return Condition(source, tree, columns, dict(fields), spelled.text)


def _checked_tree(source: str, fields: Mapping[str, str], want: Kind) -> exp.Expression:
    check_words(source, fields)
    tree = _syntax_tree(source)
    _Checker(source, fields).check(tree)
    got = _Typer(source, fields).kind(tree)
    if got not in (want, "null"):
        _wrong_kind(source, want, got)
    return tree


def field_name(column: exp.Column) -> str:
    """A column's field: `balance`, or `event.amount` for a field of the triggering event."""
    return f"{column.table}.{column.name}" if column.table else column.name


def _wrong_kind(source: str, want: Kind, got: Kind) -> None:
    if want == "boolean":
        raise ConditionError(
            "not-a-condition",
            _("this expression gives a {kind}, not true or false").format(kind=kind_word(got)),
            0,
            len(source),
            hint=_("compare it with something, e.g. 'balance >= 100000'"),
        )
    message = _("this expression gives a {kind}, a number is needed").format(kind=kind_word(got))
    raise ConditionError("type-mismatch", message, 0, len(source))


KIND_WORDS = {
    "number": N_("number"),
    "string": N_("string"),
    "date": N_("date"),
    "boolean": N_("boolean"),
    "null": N_("null"),
}


def kind_word(kind: str) -> str:
    """A kind of value ('number', 'date', …) in the user's language."""
    return _(KIND_WORDS[kind]) if kind in KIND_WORDS else kind


def _syntax_tree(source: str) -> exp.Expression:
    tokens = _tokens(source)
    check_tokens(source, tokens)
    check_split_signs(source, tokens)
    check_reversed_signs(source, tokens)
    check_program_signs(source, tokens)
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise ConditionError(
                "forbidden-construct",
                _("';' is not allowed: a condition is one expression, not SQL statements"),
                token.start,
                len(source) - token.start,
            )
    try:
        tree = sqlglot.parse_one(source)
    except ParseError as error:
        raise _syntax_error(source, error) from None
    if not isinstance(tree, exp.Expression):
        raise ConditionError("condition-syntax", _("the expression is empty"), 0, 1)
    check_depth(source, tree)
    return tree


def _tokens(source: str) -> list[Any]:
    try:
        return list(Tokenizer().tokenize(source))
    except TokenError:
        quote = _unclosed_quote(source)
        raise ConditionError(
            "condition-syntax",
            _("a text value is not closed: a quote ' is missing"),
            quote,
            len(source) - quote,
            hint=_("text values are written in single quotes, e.g. kind = 'personal'"),
        ) from None


def _unclosed_quote(source: str) -> int:
    start = -1
    for i, ch in enumerate(source):
        if ch == "'":
            start = i if start < 0 else -1
    return max(start, 0)


def _syntax_error(source: str, error: ParseError) -> ConditionError:
    info = error.errors[0] if error.errors else {}
    highlight = str(info.get("highlight") or "")
    line, col = int(info.get("line") or 1), int(info.get("col") or 1)
    offset = _offset(source, line, col) - len(highlight)
    description = str(info.get("description") or "")
    expected = None
    if description.startswith("Expecting "):
        expected = description.removeprefix("Expecting ")
        message = _("'{expected}' is missing").format(expected=expected)
    elif "Required keyword" in description:
        message = _("'{word}' needs a value on its right").format(word=highlight)
    else:
        message = _("this expression cannot be read near '{word}'").format(word=highlight)
    result = ConditionError("condition-syntax", message, max(offset, 0), len(highlight) or 1)
    if expected:
        result.hint = _("expected: {expected}").format(expected=expected)
    elif "Unexpected token" in description:
        result.hint = _("is an AND or OR missing? Two conditions are joined with AND or OR")
    return result


def _offset(source: str, line: int, col: int) -> int:
    lines = source.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + col


class _Checker:
    """Rejects every node outside the whitelist, with the offset of the offending text."""

    ALLOWED = (
        exp.Column,
        exp.Identifier,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.Paren,
        exp.Not,
        exp.Neg,
        exp.In,
        exp.Between,
        exp.Is,
        exp.Like,
        exp.Abs,
        exp.Coalesce,
        exp.Length,
        *COMPARISONS,
        *ARITHMETIC,
        *LOGIC,
    )

    def __init__(self, source: str, fields: Mapping[str, str]) -> None:
        self.source = source
        self.fields = fields

    def check(self, tree: exp.Expression) -> None:
        for node in tree.walk():
            if isinstance(node, exp.Expression):
                self.check_node(node)

    def check_node(self, node: exp.Expression) -> None:
        if isinstance(node, exp.Column):
            self.check_column(node)
        elif isinstance(node, exp.Cast):
            self.check_cast(node)
        elif isinstance(node, exp.Anonymous):
            self.check_function(str(node.this))
        elif isinstance(node, exp.Alias):
            self.unexpected_word(node)
        elif isinstance(node, exp.DataType) and isinstance(node.parent, exp.Cast):
            return
        elif isinstance(node, exp.Binary) and not isinstance(node, self.ALLOWED):
            self.forbidden(node)
        elif isinstance(node, exp.Func) and not isinstance(node, self.ALLOWED):
            self.check_function(node.sql_name())
        elif not isinstance(node, self.ALLOWED):
            self.forbidden(node)

    def check_column(self, column: exp.Column) -> None:
        if column.args.get("db") or not isinstance(column.this, exp.Identifier):
            raise self.error_at(column.sql(), "forbidden-construct", _("write a plain field name"))
        name = field_name(column)
        if name in self.fields:
            return
        meta = (column.args.get("table") or column.this).meta
        start = int(meta.get("start", self.source.find(name)))
        if column.table:
            message = _("no event field '{name}'").format(name=name)
        else:
            message = _("no customer field '{name}'").format(name=name)
        raise ConditionError(
            "unknown-field",
            message,
            start,
            len(name),
            hint=did_you_mean(name, self.fields),
        )

    def check_cast(self, cast: exp.Cast) -> None:
        target = cast.to.this if isinstance(cast.to, exp.DataType) else None
        literal = cast.this
        if target == exp.DataType.Type.DATE and isinstance(literal, exp.Literal):
            if literal.is_string and _iso_date(literal.this):
                return
            message = _("'{text}' is not a date").format(text=literal.this)
            hint = date_literal_hint(str(literal.this))
            if hint is None:
                raise self.error_at(literal.this, "condition-syntax", message, "YYYY-MM-DD")
            error = self.error_at(literal.this, "condition-syntax", message)
            error.hint = hint
            raise error
        raise self.error_at("CAST", "forbidden-construct", _("CAST is not allowed"))

    def check_function(self, name: str) -> None:
        if name.upper() == "DAYS_SINCE":  # the one function sqlglot does not know itself
            return
        match = re.search(rf"\b{re.escape(name)}\s*\(", self.source, re.IGNORECASE)
        start = match.start() if match else 0
        hint = did_you_mean(name.upper(), FUNCTIONS)
        raise ConditionError(
            "unknown-function",
            _("function '{name}' is not allowed").format(name=name),
            start,
            len(name),
            hint=hint or _("allowed functions: {names}").format(names=", ".join(FUNCTIONS)),
        )

    def unexpected_word(self, alias: exp.Alias) -> None:
        word = alias.alias
        start = self.source.rfind(word)
        raise ConditionError(
            "condition-syntax",
            _("unexpected '{word}' after a complete expression").format(word=word),
            max(start, 0),
            len(word),
            hint=_("join two conditions with AND or OR"),
        )

    def forbidden(self, node: exp.Expression) -> None:
        if isinstance(node, exp.Subquery | exp.Select):
            raise self.error_at("select", "forbidden-construct", _("subqueries are not allowed"))
        start, text = _first_foreign_token(self.source)
        if isinstance(node, exp.Binary):
            start, text = self.operator(node)
        raise ConditionError(
            "forbidden-construct",
            _("'{text}' ({kind}) is not allowed in a condition").format(
                text=text, kind=node.key.upper()
            ),
            start,
            len(text),
            hint=_("conditions use fields, values, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE"),
        )

    def operator(self, node: exp.Binary) -> tuple[int, str]:
        """The operator of a binary node as written, e.g. '>>' in 'balance >> 2'."""
        whole, left, right = node.sql(), node.left.sql(), node.right.sql()
        operator = whole[len(left) : len(whole) - len(right)].strip() or whole
        start = self.source.upper().find(operator.upper())
        return (start, operator) if start >= 0 else (0, self.source)

    def error_at(
        self, text: str, code: str, message: str, expected: str | None = None
    ) -> ConditionError:
        start = self.source.lower().find(text.lower())
        length = len(text) if start >= 0 else len(self.source)
        error = ConditionError(code, message, max(start, 0), length)
        if expected:
            error.hint = _("expected: {expected}").format(expected=expected)
        return error


_PLAIN_TOKENS = {
    TokenType.VAR,
    TokenType.NUMBER,
    TokenType.STRING,
    TokenType.L_PAREN,
    TokenType.R_PAREN,
    TokenType.COMMA,
    TokenType.EQ,
    TokenType.NEQ,
    TokenType.GT,
    TokenType.GTE,
    TokenType.LT,
    TokenType.LTE,
    TokenType.AND,
    TokenType.OR,
    TokenType.NOT,
    TokenType.IN,
    TokenType.BETWEEN,
    TokenType.IS,
    TokenType.NULL,
    TokenType.LIKE,
    TokenType.PLUS,
    TokenType.DASH,
    TokenType.STAR,
    TokenType.SLASH,
    TokenType.TRUE,
    TokenType.FALSE,
    TokenType.DATE,
    TokenType.IDENTIFIER,
}


def _first_foreign_token(source: str) -> tuple[int, str]:
    """Where the first token that no allowed construct uses starts, and its text."""
    for token in Tokenizer().tokenize(source):
        if token.token_type not in _PLAIN_TOKENS:
            return token.start, source[token.start : token.end + 1]
    return 0, source


def _iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class _Typer:
    """Infers the kind of every node and rejects mixtures such as `balance > 'abc'`."""

    def __init__(self, source: str, fields: Mapping[str, str]) -> None:
        self.source = source
        self.fields = fields

    def kind(self, node: exp.Expression) -> Kind:
        if isinstance(node, exp.Paren):
            return self.kind(node.this)
        if isinstance(node, exp.Column):
            return KIND_OF_TYPE.get(self.fields[field_name(node)], "string")
        if isinstance(node, exp.Literal):
            return "string" if node.is_string else "number"
        if isinstance(node, exp.Boolean):
            return "boolean"
        if isinstance(node, exp.Null):
            return "null"
        if isinstance(node, exp.Cast):
            return "date"
        return self.compound(node)

    def compound(self, node: exp.Expression) -> Kind:
        if isinstance(node, LOGIC):
            self.expect(node.this, "boolean")
            self.expect(node.expression, "boolean")
            return "boolean"
        if isinstance(node, exp.Not):
            self.expect(node.this, "boolean")
            return "boolean"
        if isinstance(node, COMPARISONS):
            self.no_null(node, [node.this, node.expression])
            self.same(node, [node.this, node.expression])
            return "boolean"
        if isinstance(node, exp.In):
            self.no_null(node, [node.this, *node.expressions])
            self.same(node, [node.this, *node.expressions])
            return "boolean"
        if isinstance(node, exp.Between):
            self.no_null(node, [node.this, node.args["low"], node.args["high"]])
            self.same(node, [node.this, node.args["low"], node.args["high"]])
            return "boolean"
        if isinstance(node, exp.Is):
            self.kind(node.this)
            return "boolean"
        if isinstance(node, exp.Like):
            self.no_null(node, [node.this, node.expression])
            excel_wildcards(self.source, node)
            self.expect(node.this, "string")
            self.expect(node.expression, "string")
            return "boolean"
        return self.numeric_or_function(node)

    def numeric_or_function(self, node: exp.Expression) -> Kind:
        if isinstance(node, ARITHMETIC):
            self.no_null(node, [node.this, node.expression])
            self.expect(node.this, "number")
            self.expect(node.expression, "number")
            return "number"
        if isinstance(node, exp.Neg | exp.Abs):
            self.expect(node.this, "number")
            return "number"
        if isinstance(node, exp.Length):
            self.expect(node.this, "string")
            return "number"
        if isinstance(node, exp.Coalesce):
            return self.same(node, [node.this, *node.expressions])
        if isinstance(node, exp.Anonymous):  # DAYS_SINCE, the only one the checker lets by
            self.days_since_argument(node)
            return "number"
        message = _("{construct} is not allowed").format(construct=node.key)
        raise ConditionError("forbidden-construct", message, 0, 1)

    def no_null(self, parent: exp.Expression, operands: list[exp.Expression]) -> None:
        """A NULL written as an operand makes the comparison or sum NULL for every customer:
        never true (`balance = NULL`, `kind NOT IN ('a', NULL)`), so the rule matches no one."""
        plain = [_unwrapped(o) for o in operands]
        if any(isinstance(o, exp.Null) for o in plain):
            tested = next((o for o in plain if not isinstance(o, exp.Null)), plain[0])
            raise null_operand(self.source, parent, tested)

    def days_since_argument(self, node: exp.Anonymous) -> None:
        if len(node.expressions) != 1:
            raise self.mismatch(node, _("DAYS_SINCE takes exactly one date"))
        self.expect(node.expressions[0], "date")

    def expect(self, node: exp.Expression, want: Kind) -> None:
        got = self.kind(node)
        if got not in (want, "null"):
            message = _("a {want} is needed here, this is a {got}")
            raise self.mismatch(node, message.format(want=kind_word(want), got=kind_word(got)))

    def same(self, parent: exp.Expression, nodes: list[exp.Expression]) -> Kind:
        kinds = [self.kind(n) for n in nodes]
        known = {k for k in kinds if k != "null"}
        if len(known) > 1:
            hint = _quotes_hint(nodes) if known == {"number", "string"} else None
            if known == {"boolean", "string"}:
                hint = _yes_no_hint(nodes)
            if known in ({"date", "string"}, {"date", "number"}):
                hint = self.date_hint(nodes)
            words = _(" with ").join(kind_word(k) for k in sorted(known))
            raise self.mismatch(parent, _("cannot compare {kinds}").format(kinds=words), hint=hint)
        return known.pop() if known else "null"

    def date_hint(self, nodes: list[exp.Expression]) -> str:
        """`'2026-03-01'`, `2026/3/1` (a division) or `'2026年3月1日'` compared with a date:
        the DATE literal to write for it."""
        for node in nodes:
            if self.kind(node) == "date":
                continue
            unwrapped = _unwrapped(node)
            written = unwrapped.this if isinstance(unwrapped, exp.Literal) else None
            if not isinstance(unwrapped, exp.Literal):
                start, length = _span(self.source, node)
                written = self.source[start : start + length]
            hint = date_literal_hint(str(written))
            if hint is not None:
                return hint
        return _("write dates as DATE '2024-01-31'")

    def mismatch(
        self, node: exp.Expression, message: str, hint: str | None = None
    ) -> ConditionError:
        start, length = _span(self.source, node)
        return ConditionError("type-mismatch", message, start, length, hint=hint)


def _quotes_hint(nodes: list[exp.Expression]) -> str | None:
    """`products_held >= '3'`: the quotes to take away; `kind <> 1`: the quotes to add."""
    literals = [n for n in map(_unwrapped, nodes) if isinstance(n, exp.Literal)]
    if len(literals) != 1:
        return None
    value = str(literals[0].this)
    if not literals[0].is_string:
        return _("write '{value}', in quotes").format(value=value)
    if re.fullmatch(r"-?\d+(\.\d+)?[万亿%]?", value.strip()):
        return _("write {value}, without quotes").format(value=value.strip())
    return None


def _yes_no_hint(nodes: list[exp.Expression]) -> str | None:
    """`consent_sms = '是'` (or `'yes'`, `'对'`): TRUE or FALSE, without quotes."""
    for node in map(_unwrapped, nodes):
        said = yes_or_no(str(node.this)) if isinstance(node, exp.Literal) else None
        if said is not None:
            return _("write {value}, without quotes").format(value="TRUE" if said else "FALSE")
    return None


def _unwrapped(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _span(source: str, node: exp.Expression) -> tuple[int, int]:
    """Best-effort character span of a node: from its first to its last identifier."""
    metas = [i.meta for i in node.find_all(exp.Identifier, exp.Literal) if "start" in i.meta]
    if metas:
        start = min(int(m["start"]) for m in metas)
        end = max(int(m["end"]) for m in metas)
        return start, end - start + 1
    return 0, len(source)
