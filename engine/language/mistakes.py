"""Two mistakes of people who know what they mean but not SQL's spelling of it, each caught
at its column with the exact text to write instead:

- a Chinese word where the condition needs an operator (`balance 大于 100`, `A 且 B`,
  `balance 不为空`): without this the parser stops at the word after it, saying an AND may be
  missing;
- NULL as an operand (`balance = NULL`, `balance <> NULL`, `kind NOT IN ('a', NULL)`): valid
  SQL that is NULL, never true, for every customer, so the rule would silently match no one;
- a space inside a comparison sign (`balance > = 100`, which an input method may insert):
  the parser would say the '=' lacks a value;
- a comparison sign written the other way round (`balance => 100`, `balance =< 100`), as a
  sentence says it (大于或等于): the parser would ask for a ')' or a value after the AND;
- a programmer's `&&`, `||` (or `&`, `|`) for AND and OR: the parser would ask whether an
  AND or OR is missing, or call `||` a construct that is not allowed;
- Excel's wildcards in a LIKE pattern (`name LIKE '张*'`): LIKE matches `*` and `?` as
  themselves, so the rule would match no one where `%` and `_` were meant.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp
from sqlglot.tokens import Tokenizer, TokenType  # type: ignore[attr-defined]

from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import _
from guanxi.engine.language.yes_no import yes_or_no

SQL_YES_NO = ("TRUE", "FALSE")  # what SQL reads as it stands

# The words a Chinese sentence uses for what a condition writes as an operator, and that
# operator. Longer words first where one starts another (不等于 before 不).
WORD_OPERATORS: dict[str, str] = {
    "大于或等于": ">=",
    "小于或等于": "<=",
    "大于等于": ">=",
    "小于等于": "<=",
    "不小于": ">=",
    "不低于": ">=",
    "不少于": ">=",
    "不大于": "<=",
    "不高于": "<=",
    "不超过": "<=",
    "不多于": "<=",
    "至少": ">=",
    "至多": "<=",
    "最多": "<=",
    "不等于": "<>",
    "等于": "=",
    "大于": ">",
    "超过": ">",
    "高于": ">",
    "多于": ">",
    "小于": "<",
    "低于": "<",
    "少于": "<",
    "不为空": "IS NOT NULL",
    "不是空": "IS NOT NULL",
    "非空": "IS NOT NULL",
    "有值": "IS NOT NULL",
    "为空": "IS NULL",
    "是空": "IS NULL",
    "为空值": "IS NULL",
    "不属于": "NOT IN (…)",
    "不在": "NOT IN (…)",
    "属于": "IN (…)",
    "在": "IN (…)",
    "介于": "BETWEEN … AND …",
    "包含": "LIKE '%…%'",
    "并且": "AND",
    "而且": "AND",
    "同时": "AND",
    "以及": "AND",
    "且": "AND",
    "和": "AND",
    "与": "AND",
    "或者": "OR",
    "或是": "OR",
    "或": "OR",
    "不是": "<>",
    "并非": "NOT",
    "非": "NOT",
    "不": "NOT",
    "是": "=",
    "为": "=",
}
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"")


def check_words(source: str, fields: Mapping[str, str]) -> None:
    """ConditionError at the first Chinese operator word outside quotes and field names."""
    unquoted = _QUOTED.sub(lambda m: " " * len(m.group()), source)
    _yes_or_no(unquoted, fields)
    for run in _CJK_RUN.finditer(unquoted):
        if any(run.group() in name for name in fields):  # a field named in Chinese
            continue
        found = _operator_word(run.group())
        if found is not None:
            offset, word = found
            raise ConditionError(
                "chinese-word",
                _("'{word}' is a word: a condition writes it as the operator {operator}").format(
                    word=word, operator=WORD_OPERATORS[word]
                ),
                run.start() + offset,
                len(word),
                hint=_("write {operator} in place of '{word}', e.g. {example}").format(
                    operator=WORD_OPERATORS[word], word=word, example=_example(word)
                ),
            )


# A value after a comparison: `consent_sms = 对` (not `>=`, whose '=' ends its sign)
_COMPARED_VALUE = re.compile(r"([\w.]*)\s*(?:(?<![<>!])=|<>|!=)\s*([^\s()'\",]+)")


def _yes_or_no(unquoted: str, fields: Mapping[str, str]) -> None:
    """`consent_sms = 是` (对, 开, √, Ｙｅｓ …): after a comparison a yes/no word is a
    true/false value, not an operator or a field."""
    for compared in _COMPARED_VALUE.finditer(unquoted):
        field, word = compared.groups()
        said = yes_or_no(word)
        if said is None or word in fields or word.upper() in SQL_YES_NO or word.isdigit():
            continue
        if fields.get(field, "boolean") != "boolean":  # `industry = 开`: a text, unquoted
            continue
        value = "TRUE" if said else "FALSE"
        raise ConditionError(
            "chinese-word",
            _("'{word}' is a true/false value here: a condition writes it as {value}").format(
                word=word, value=value
            ),
            compared.start(2),
            len(word),
            hint=_("write {value} in place of '{word}', e.g. consent_sms = {value}").format(
                value=value, word=word
            ),
        )


def _operator_word(run: str) -> tuple[int, str] | None:
    """The operator word a run of Chinese characters is, or ends or starts with (余额大于 is a
    label followed by 大于): its offset in the run and the word. Single characters count only
    as the whole run, as they start or end too many ordinary words (存款余额为 … is kept)."""
    if run in WORD_OPERATORS:
        return 0, run
    for word in WORD_OPERATORS:
        if len(word) < 2:
            continue
        if run.endswith(word):
            return len(run) - len(word), word
        if run.startswith(word):
            return 0, word
    return None


_EXAMPLES = {
    ">=": "balance >= 100",
    "<=": "balance <= 100",
    ">": "balance > 100",
    "<": "balance < 100",
    "=": "kind = 'personal'",
    "<>": "kind <> 'personal'",
    "IS NULL": "balance IS NULL",
    "IS NOT NULL": "balance IS NOT NULL",
    "IN (…)": "kind IN ('corporate', 'institutional')",
    "NOT IN (…)": "kind NOT IN ('corporate', 'institutional')",
    "BETWEEN … AND …": "age BETWEEN 30 AND 50",
    "LIKE '%…%'": "name LIKE '%科技%'",
    "AND": "balance >= 100 AND age < 60",
    "OR": "balance >= 100 OR age < 60",
    "NOT": "NOT kind = 'personal'",
}


def _example(word: str) -> str:
    return _EXAMPLES[WORD_OPERATORS[word]]


def null_operand(source: str, parent: exp.Expression, value: exp.Expression) -> ConditionError:
    """The error for NULL written as an operand of `parent`, at that NULL, with the test for
    an empty `value` to write instead."""
    start = _operand_null(source)
    tested = value.sql() if not isinstance(value, exp.Null) else "…"
    if isinstance(parent, exp.EQ | exp.Like):
        hint = _("to find customers whose value is empty, write {test}").format(
            test=f"{tested} IS NULL"
        )
    elif isinstance(parent, exp.NEQ):
        hint = _("to find customers whose value is not empty, write {test}").format(
            test=f"{tested} IS NOT NULL"
        )
    elif isinstance(parent, exp.In):
        hint = _("list the values alone, and add OR {test} for the empty ones").format(
            test=f"{tested} IS NULL"
        )
    else:
        hint = _("test an empty value with {test}, or give it a value with {fallback}").format(
            test=f"{tested} IS NULL", fallback=f"COALESCE({tested}, 0)"
        )
    return ConditionError(
        "null-comparison",
        _(
            "a comparison with NULL is never true, and a calculation with NULL has no value,"
            " for every customer"
        ),
        start,
        4,
        hint=hint,
    )


def _operand_null(source: str) -> int:
    """Where the first NULL that is not part of IS [NOT] NULL starts."""
    tokens = list(Tokenizer().tokenize(source))
    for index, token in enumerate(tokens):
        if token.token_type != TokenType.NULL:
            continue
        before = [t.token_type for t in tokens[max(index - 2, 0) : index]]
        if before[-1:] == [TokenType.IS] or before == [TokenType.IS, TokenType.NOT]:
            continue
        return int(token.start)
    return 0


def excel_wildcards(source: str, like: exp.Like) -> None:
    """ConditionError for a LIKE pattern written with Excel's wildcards (* and ?)."""
    pattern = like.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return
    found = next((c for c in ("*", "?", "？") if c in pattern.this), None)
    if found is None:
        return
    escaped = pattern.this.replace("'", "''")  # as written between the quotes
    written = escaped.replace("*", "%").replace("？", "_").replace("?", "_")
    start = source.find(f"'{escaped}'")
    place = start + 1 + escaped.index(found) if start >= 0 else 0
    raise ConditionError(
        "like-wildcard",
        _(
            "LIKE takes '{char}' as itself: its wildcards are % (any text) and _ (one character)"
        ).format(char=found),
        place,
        1,
        hint=_("write {text}").format(text=f"{like.this.sql()} LIKE '{written}'"),
    )


SPLIT_SIGNS = {(TokenType.GT, TokenType.EQ): ">=", (TokenType.LT, TokenType.EQ): "<=",
               (TokenType.LT, TokenType.GT): "<>", (TokenType.NOT, TokenType.EQ): "!="}  # fmt: skip


def check_split_signs(source: str, tokens: Sequence[Any]) -> None:
    """`> =`: a comparison sign typed with a space inside it."""
    for first, second in itertools.pairwise(tokens):
        sign = SPLIT_SIGNS.get((first.token_type, second.token_type))
        between = source[first.end + 1 : second.start]
        if sign is not None and between and not between.strip():
            raise ConditionError(
                "condition-syntax",
                _("'{written}' is one sign written with a space inside").format(
                    written=source[first.start : second.end + 1]
                ),
                first.start,
                second.end + 1 - first.start,
                hint=_("write {sign}, without a space inside").format(sign=sign),
            )


# signs written the way a sentence says them, and what a condition writes
REVERSED_SIGNS: dict[tuple[str, ...], str] = {("=>",): ">=", ("=", "<"): "<=", ("=", ">"): ">="}


def check_reversed_signs(source: str, tokens: Sequence[Any]) -> None:
    """`=>` and `=<`: a comparison sign written the other way round."""
    for index, token in enumerate(tokens):
        texts: list[tuple[str, ...]] = [(token.text,)]
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if after is not None and after.start == token.end + 1:
            texts.append((token.text, after.text))
        for written in texts:
            sign = REVERSED_SIGNS.get(written)
            if sign is None:
                continue
            length = len("".join(written))
            raise ConditionError(
                "condition-syntax",
                _("'{written}' is a comparison sign written the other way round").format(
                    written="".join(written)
                ),
                token.start,
                length,
                hint=_("write {sign}").format(sign=sign),
            )


# and/or as programs write them, and the word a condition writes
PROGRAM_SIGNS = {TokenType.DAMP: "AND", TokenType.AMP: "AND", TokenType.DPIPE: "OR",
                 TokenType.PIPE: "OR"}  # fmt: skip


def check_program_signs(source: str, tokens: Sequence[Any]) -> None:
    """`&&`, `||`: AND and OR written as a program writes them."""
    for token in tokens:
        word = PROGRAM_SIGNS.get(token.token_type)
        if word is None:
            continue
        raise ConditionError(
            "condition-syntax",
            _("'{sign}' is how a program writes {word}: a condition writes the word {word}").format(
                sign=token.text, word=word
            ),
            token.start,
            len(token.text),
            hint=_("write {operator} in place of '{word}', e.g. {example}").format(
                operator=word, word=token.text, example=_EXAMPLES[word]
            ),
        )
