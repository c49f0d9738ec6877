"""Every text value has a domain: the names a tier, level, strategy or channel can have, and
the `values:` a schema field declares. A text outside its domain matches no customer, so
`tier = 'low valu'` would empty a group without a word; it is an error instead.

Labels are not synonyms: rule files hold the canonical names, so they stay searchable and
their diffs exact, and a label can be renamed without changing what a rule means. A label
(低价值客户, or label_en 'low value') is answered with the exact name to write.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from sqlglot import exp

from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import N_, _
from guanxi.engine.language import Condition
from guanxi.engine.language.conditions import field_name
from guanxi.engine.language.numbers import chinese_amount
from guanxi.engine.ruleset.models import Channel, EventSpec, FieldSpec, PoliciesFile, Schema
from guanxi.engine.ruleset.ruleset import Ladder
from guanxi.engine.ruleset.synonyms import EVENT_WORDS, synonym_of
from guanxi.engine.ruleset.tables import OUTPUT_COLUMNS, DecisionTable, cell_starts

UNKNOWN_VALUE = "unknown-value"
PADDED_VALUE = "padded-value"
LADDER_NOUNS = {
    "tier": (N_("tier"), N_("tiers")),
    "level": (N_("relationship level"), N_("levels")),
    "strategy": (N_("strategy"), N_("strategies")),
    "channel": (N_("channel"), N_("channels")),
}
_CJK = re.compile(r"[\u3400-\u9fff]")
_LABEL_WORD = re.compile(r"[\s:：]")  # '成长型客户' of '成长型客户:财富管理' or '短信 SMS'
NEGATION_WORDS = ("不等于", "不是", "不为", "除了", "排除", "除", "非", "not ", "!", "≠")
_OPERATOR = re.compile(r"^(=|<>|!=)\s*(.+)$")


@dataclass(frozen=True)
class Domain:
    """The names a value may take. `field` is set for a schema field's `values:`; otherwise
    `noun` and `plural` name what the names are ('tier', 'tiers')."""

    names: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)  # name -> its Chinese label
    aliases: Mapping[str, str] = field(default_factory=dict)  # casefolded label -> name
    noun: str = N_("value")
    plural: str = N_("values")
    field: str | None = None

    def problem(self, text: str) -> tuple[str, str | None] | None:
        """None when `text` is one of the names, else the message and hint to give."""
        if text in self.names:
            return None
        answer = self.label_answer(text)
        if answer is not None:
            return answer
        listing = ", ".join(self.names)
        if self.field:
            message = _("'{text}' is not a value of {field}; its values are {listing}").format(
                text=text, field=self.field, listing=listing
            )
        else:
            message = _("'{text}' is not a {noun}; the {plural} are {listing}").format(
                text=text, noun=_(self.noun), plural=_(self.plural), listing=listing
            )
        return message, did_you_mean(text, self.names) or self.label_part_answer(text)

    def label_part_answer(self, text: str) -> str | None:
        """'个人' of '个人客户', '价值' of two labels: the names to write, when `text` is Chinese
        and part of their labels."""
        written = text.strip()
        if not _CJK.search(written):
            return None
        named = [(n, self.labels[n]) for n in self.names if written in self.labels.get(n, "")]
        named = named or self._near_label(written)
        if not named:
            return None
        shown = [_("'{name}' ({label})").format(name=n, label=label) for n, label in named]
        return _("write {names}").format(names=_(" or ").join(shown))

    def _near_label(self, written: str) -> list[tuple[str, str]]:
        """A label mistyped by one character of three or more (伙半型 for 伙伴型)."""
        labels = {self.labels[n]: n for n in self.names if self.labels.get(n)}
        near = difflib.get_close_matches(written, labels, n=1, cutoff=0.6)
        return [(labels[near[0]], near[0])] if near and len(written) >= 3 else []

    def synonym_answer(
        self, text: str, words: Mapping[str, tuple[str, ...]], among: Collection[str] = ()
    ) -> str | None:
        """When `text` is an everyday word for one of the names (购买 for sale), or of those
        `among` if given (a cap's channel may also be 'all'): the rewrite."""
        name = synonym_of(text, words, among or self.names)
        if not name:
            return None
        label = self.labels.get(name)
        if label:
            return _("write '{name}' ({label})").format(name=name, label=label)
        return _("write '{name}'").format(name=name)

    def label_answer(self, text: str) -> tuple[str, str] | None:
        """When `text` is the label of a name: the message and the exact rewrite."""
        folded = text.strip().casefold()
        name = self.aliases.get(folded)
        if name is None or folded in (n.casefold() for n in self.names):
            return None  # a name in other letter case ('Dormant') gets a did-you-mean
        label = self.labels.get(name)
        if label:
            write = _("write '{name}' ({label})").format(name=name, label=label)
        else:
            write = _("write '{name}'").format(name=name)
        if self.field:
            message = _("'{text}' is the label of '{name}', a value of {field}")
            return message.format(text=text, name=name, field=self.field), write
        message = _("'{text}' is the label of {noun} '{name}'")
        return message.format(text=text, noun=_(self.noun), name=name), write


def label_answer(domains: Iterable[Domain | None], text: str) -> tuple[str, str] | None:
    """The first of `domains` in which `text` is a label, answered as Domain.label_answer."""
    for domain in domains:
        answer = domain.label_answer(text) if domain is not None else None
        if answer is not None:
            return answer
    return None


def label_part_hint(domains: Iterable[Domain | None], text: str) -> str | None:
    """The names to write for Chinese `text` that is part of their labels (被动 of 被动型), in
    the first of `domains` that has any; None otherwise."""
    for domain in domains:
        hint = domain.label_part_answer(text) if domain is not None else None
        if hint is not None:
            return hint
    return None


def _aliases(labels: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Each label (and a mixed label's Chinese first word: '短信' of '短信 SMS', '成长型客户' of
    '成长型客户:财富管理') -> its name."""
    found: dict[str, str] = {}
    for name, label in labels:
        if not label:
            continue
        found.setdefault(label.strip().casefold(), name)
        first = _LABEL_WORD.split(label.strip())[0]
        if _CJK.search(first):
            found.setdefault(first.casefold(), name)
    return found


def ladder_domain(kind: str, ladder: Ladder) -> Domain:
    """The names of the tiers, levels or strategies, with their labels."""
    noun, plural = LADDER_NOUNS[kind]
    pairs = [(r.name, r.label) for r in ladder.rules] + [(r.name, r.label_en) for r in ladder.rules]
    labels = {r.name: r.label for r in ladder.rules}
    return Domain(ladder.names, labels, _aliases(pairs), noun, plural)


def channel_domain(channels: Mapping[str, Channel]) -> Domain:
    """The channels of policies.yaml, with their labels."""
    noun, plural = LADDER_NOUNS["channel"]
    labels = {n: c.label for n, c in channels.items()}
    return Domain(tuple(channels), labels, _aliases(labels.items()), noun, plural)


def preferred_domain(name: str, schema: Schema, policies: PoliciesFile) -> Domain | None:
    """`name`, the step channel that is the customer's preferred one, labelled as the field
    that holds it (偏好渠道), so that the field's label written for it is answered."""
    field = schema.fields.get(policies.preferred.field) if policies.preferred else None
    if field is None or name in policies.channels:
        return None
    noun, plural = LADDER_NOUNS["channel"]
    pairs = [(name, field.label), (name, field.label_en)]
    return Domain((name,), {name: field.label}, _aliases(pairs), noun, plural)


def field_domain(name: str, spec: FieldSpec) -> Domain | None:
    """The domain a field's `values:` declare: a list of names, or a mapping name -> label."""
    if spec.values is None:
        return None
    labels = _value_labels(spec.values)
    names = tuple(str(v) for v in spec.values)
    return Domain(names, labels, _aliases(labels.items()), field=name)


def _value_labels(values: Iterable[str]) -> dict[str, str]:
    if isinstance(values, Mapping):
        return {str(k): str(v) for k, v in values.items() if v is not None}
    return {}


def field_domains(schema: Schema, policies: PoliciesFile | None) -> dict[str, Domain]:
    """Customer fields with a domain. The preferred-channel field without `values:` of its
    own holds one of the message channels."""
    found = {n: d for n, s in schema.fields.items() if (d := field_domain(n, s)) is not None}
    if policies is None or policies.preferred is None:
        return found
    preferred = policies.preferred.field
    channels = {n: c for n, c in policies.channels.items() if c.kind == "message"}
    if preferred in found:  # its own values, with the labels of the channels they name
        own = found[preferred]
        labels = {n: c.label for n, c in channels.items() if n in own.names}
        found[preferred] = replace(
            own,
            labels={**labels, **own.labels},
            aliases={**_aliases(labels.items()), **own.aliases},
        )
    elif preferred in schema.fields:
        found[preferred] = channel_domain(channels)
    return found


def event_type_hint(schema: Schema, name: str) -> str | None:
    """What to write for an event type that schema.yaml does not declare: its name when
    `name` is one's label ('销售' -> 'sale') or an everyday word for it ('购买'), else the
    closest name, or the events whose Chinese labels hold `name` ('到期')."""
    events = schema.events
    pairs = [(n, e.label) for n, e in events.items()] + [(n, e.label_en) for n, e in events.items()]
    labels = {n: e.label for n, e in events.items()}
    domain = Domain(tuple(events), labels, _aliases(pairs))
    answer = domain.label_answer(name)
    if answer is not None:
        return answer[1]
    return (
        domain.synonym_answer(name, EVENT_WORDS)
        or did_you_mean(name, events)
        or domain.label_part_answer(name)
    )


def event_domains(event: EventSpec) -> dict[str, Domain]:
    """The fields of one event type with a domain, as conditions name them: event.outcome."""
    found: dict[str, Domain] = {}
    for name, spec in event.fields.items():
        domain = field_domain(f"event.{name}", spec)
        if domain is not None:
            found[f"event.{name}"] = domain
    return found


# --- conditions -------------------------------------------------------------------------


def condition_problems(condition: Condition, domains: Mapping[str, Domain]) -> list[ConditionError]:
    """Every text literal compared (=, <>, IN, NOT IN) with a field it is not a value of."""
    problems: list[ConditionError] = []
    for node, column, literal in _compared(condition.tree):
        if padded := _padded(condition, column, literal):
            problems.append(padded)
            continue
        domain = domains.get(field_name(column))
        found = domain.problem(str(literal.this)) if domain is not None else None
        if found is not None:
            name = negated_name(domain, str(literal.this)) if domain is not None else None
            hint = _negation_hint(node, field_name(column), name) if name else found[1]
            start, end = int(literal.meta.get("start", 0)), int(literal.meta.get("end", 0))
            offset, length = condition.written_span(start, end - start + 1)
            problems.append(ConditionError(UNKNOWN_VALUE, found[0], offset, length, hint=hint))
    return sorted(problems, key=lambda p: p.offset)


def compared_texts(condition: Condition) -> Iterator[tuple[str, str, int, int]]:
    """Each text literal compared (=, <>, IN, NOT IN; never LIKE) with a field: the field,
    the text, and its offset and length in the condition as written (the quotes included)."""
    for _node, column, literal in _compared(condition.tree):
        start, end = int(literal.meta.get("start", 0)), int(literal.meta.get("end", 0))
        offset, length = condition.written_span(start, end - start + 1)
        yield field_name(column), str(literal.this), offset, length


def _padded(
    condition: Condition, column: exp.Column, literal: exp.Literal
) -> ConditionError | None:
    """`branch = '长沙支行 '`: values are read without spaces around them, so a text with
    them equals no customer's value (an empty group, silently)."""
    text = str(literal.this)
    if text == text.strip():
        return None
    start, end = int(literal.meta.get("start", 0)), int(literal.meta.get("end", 0))
    offset, length = condition.written_span(start, end - start + 1)
    return ConditionError(
        PADDED_VALUE,
        _(
            "'{value}' has spaces around it, but values are read without them: no {field}"
            " is ever '{value}'"
        ).format(value=text, field=field_name(column)),
        offset,
        length,
        hint=_("write '{value}'").format(value=text.strip()),
    )


def _negation_hint(node: exp.Expr, field: str, name: str) -> str:
    """`tier = '非dormant'` meant `tier <> 'dormant'`: the operator says 'not', never the text."""
    if isinstance(node, exp.In):
        return _("write {field} NOT IN ('{name}')").format(field=field, name=name)
    operator = "=" if isinstance(node, exp.NEQ) else "<>"
    return _("write {field} {operator} '{name}'").format(field=field, operator=operator, name=name)


def _compared(tree: exp.Expression) -> Iterator[tuple[exp.Expr, exp.Column, exp.Literal]]:
    for node in tree.walk():
        pairs: list[tuple[exp.Expression, exp.Expression]] = []
        if isinstance(node, exp.EQ | exp.NEQ):
            pairs = [(node.this, node.expression), (node.expression, node.this)]
        elif isinstance(node, exp.In):
            pairs = [(node.this, item) for item in node.expressions]
        for left, right in pairs:
            column, literal = left.unnest(), right.unnest()
            text = literal if isinstance(literal, exp.Literal) and literal.is_string else None
            if isinstance(column, exp.Column) and text is not None:
                yield node, column, text


# --- decision-table cells ---------------------------------------------------------------


def table_problems(table: DecisionTable, domains: Mapping[str, Domain]) -> list[Diagnostic]:
    """Every item of a cell in a column with a domain that is not one of its names, at the
    item's own column in the CSV line."""
    records = list(csv.reader(io.StringIO(table.text)))
    if not records:
        return []
    header = [h.strip() for h in records[0]]
    read = {row.line for row in table.rows}
    problems: list[Diagnostic] = []
    for number, cells in enumerate(records[1:], start=2):
        if number in read:
            problems.extend(_row_problems(table, number, header, cells, domains))
    return problems


def _row_problems(
    table: DecisionTable,
    number: int,
    header: list[str],
    cells: list[str],
    domains: Mapping[str, Domain],
) -> Iterator[Diagnostic]:
    for column, item, col in _row_items(table, number, header, cells, domains):
        domain = domains[column]
        found = domain.problem(item)
        if found is not None:
            found = (found[0], _negated(domain, item) or found[1])
            yield Diagnostic(
                table.path,
                number,
                col,
                UNKNOWN_VALUE,
                _("column '{column}': {problem}").format(column=column, problem=found[0]),
                hint=found[1],
                length=len(item),
            )


def table_texts(
    table: DecisionTable, columns: Collection[str]
) -> Iterator[tuple[str, str, int, int]]:
    """Each text a cell in one of `columns` compares its field with: the field, the text,
    and its line and column in the table."""
    records = list(csv.reader(io.StringIO(table.text)))
    header = [h.strip() for h in records[0]] if records else []
    read = {row.line for row in table.rows}
    for number, cells in enumerate(records[1:], start=2):
        if number in read:
            for column, item, col in _row_items(table, number, header, cells, columns):
                yield column, item, number, col


def _row_items(
    table: DecisionTable,
    number: int,
    header: list[str],
    cells: list[str],
    columns: Collection[str],
) -> Iterator[tuple[str, str, int]]:
    """The names the cells of row `number` in `columns` compare with, each with its column
    (1-based) in the CSV line."""
    raw = table.line(number) or ""
    starts = [*cell_starts(raw), len(raw) + 1]
    for index, (column, cell) in enumerate(zip(header, cells, strict=False)):
        if column not in columns or column in OUTPUT_COLUMNS or index + 1 >= len(starts):
            continue
        written = raw[starts[index] : starts[index + 1] - 1]
        for item, offset in _items(cell, written):
            yield column, item, starts[index] + offset + 1


def _negated(domain: Domain, item: str) -> str | None:
    """'非 dormant', '不是睡眠客户': a negation in words, as a cell writes it ('not dormant');
    the name alone, which a did-you-mean would offer, means the opposite."""
    name = negated_name(domain, item)
    return _("write 'not {name}'").format(name=name) if name else None


def negated_name(domain: Domain, text: str) -> str | None:
    """The name that `text` negates in words ('非 dormant', 'not 睡眠客户': 'dormant')."""
    for word in NEGATION_WORDS:
        rest = text[len(word) :].strip() if text.casefold().startswith(word) else ""
        name = rest if rest in domain.names else domain.aliases.get(rest.casefold())
        if name:
            return name
    return None


def _items(cell: str, written: str) -> Iterator[tuple[str, int]]:
    """The names a cell compares with ('a, b', 'not a', '= a', 'a') and where each stands in
    the cell as written in the line."""
    text = cell.strip()
    ranged = text[:1] in "<>[" and not text.startswith("<>")  # '>= 180', '[1..10]'
    if ranged or text.lower() in ("", "-", "null"):
        return
    if text.lower().startswith("not "):
        text = text[4:]
    elif (match := _OPERATOR.match(text)) is not None:
        text = match.group(2)
    cursor = 0
    for option in next(csv.reader([text], skipinitialspace=True), []):
        item = option.strip()
        if len(item) > 1 and item[0] == item[-1] == "'":
            item = item[1:-1]
        if not item:
            continue
        at = written.find(item, cursor)
        cursor = at + len(item) if at >= 0 else cursor
        yield item, max(at, 0)


TITLE_MARKS = "《》〈〉「」『』"  # marks Chinese text sets a name or a quotation in


def unknown_field_hint(
    word: str,
    quoted: bool,
    labels: Mapping[str, Iterable[str | None]],
    domains: Mapping[str, Domain],
) -> str | None:
    """What to write for a word a condition reads as an unknown field: the name of the field
    it is the label of (存款余额, or part of it: 余额), or the value it is in quotes ('personal',
    written bare or in double quotes, which name a field)."""
    word = word.strip(TITLE_MARKS) or word  # 《制造业》: the text, in a Chinese text's marks
    folded = word.casefold()
    shown = labelled_fields(word, labels)
    if shown:
        return _("a condition names a field by its name, not its label: {fields}").format(
            fields=shown
        )
    for field_name_, domain in domains.items():  # a field's values, a tier's, a level's …
        if word in domain.names or folded in domain.aliases:
            value = word if word in domain.names else domain.aliases[folded]
            write = f"{field_name_} = '{value}'"
            if quoted:
                message = _("double quotes name a field; a text value is in single quotes: {write}")
            else:
                message = _("a text value is written in single quotes: {write}")
            return message.format(write=write)
    if (number := chinese_amount(word)) is not None:
        return _("write the number in digits: {number}").format(number=number)
    if near := near_labelled_fields(word, labels):
        return _("the fields whose labels are nearest: {fields}; write the field's name").format(
            fields=near
        )
    if _CJK.search(word):
        return _(
            "fields are named as in schema.yaml, in English letters; a text value is written"
            " in single quotes: '{word}'"
        ).format(word=word)
    if quoted:
        message = _("double quotes name a field; a text value is in single quotes: {write}")
        return message.format(write=f"'{word}'")
    return None


def step_label_hint(label: str, labels: Mapping[str, str | None]) -> str | None:
    """A step named by its label (产品使用建议): the ids to write (steps may share a label)."""
    ids = [i for i, written in labels.items() if written and written == label.strip()]
    shown = [_("'{name}' ({label})").format(name=i, label=label.strip()) for i in ids]
    return _("write {names}").format(names=_(" or ").join(shown)) if shown else None


def labelled_fields(word: str, labels: Mapping[str, Iterable[str | None]]) -> str | None:
    """The fields `word` is the label of (or, in Chinese, part of one), shown as
    'balance (存款余额), …'; None for none."""
    folded = word.casefold()
    named = [n for n, ls in labels.items() if any(folded == (x or "").casefold() for x in ls)]
    named = named or [n for n, ls in labels.items() if len(word) > 1 and _part_of(word, ls)]
    return ", ".join(f"{n} ({_first(labels[n])})" for n in named[:4]) if named else None


def near_labelled_fields(word: str, labels: Mapping[str, Iterable[str | None]]) -> str | None:
    """The fields whose Chinese label is close to the Chinese `word` (月交易次数 for 月均交易笔数,
    a label half remembered), shown as `labelled_fields` shows them; None for none."""
    if not _CJK.search(word):
        return None
    by_label = {x: n for n, ls in labels.items() for x in ls if x and _CJK.search(x)}
    close = difflib.get_close_matches(word, list(by_label), n=3, cutoff=0.6)
    named = dict.fromkeys(by_label[x] for x in close)
    return ", ".join(f"{n} ({_first(labels[n])})" for n in named) if named else None


def labels_of(fields: Mapping[str, FieldSpec]) -> dict[str, tuple[str | None, ...]]:
    return {name: (spec.label, spec.label_en) for name, spec in fields.items()}


def field_label_hint(word: str, labels: Mapping[str, Iterable[str | None]]) -> str | None:
    """For a field written by its label outside a condition (a scenario's customer, within:):
    the name to write."""
    if shown := labelled_fields(word, labels):
        return _("write the field's name, not its label: {fields}").format(fields=shown)
    if near := near_labelled_fields(word, labels):
        return _("the fields whose labels are nearest: {fields}; write the field's name").format(
            fields=near
        )
    return None


def _part_of(word: str, labels: Iterable[str | None]) -> bool:
    return any(_CJK.search(word) and word in (x or "") for x in labels)


def _first(labels: Iterable[str | None]) -> str:
    return next((x for x in labels if x), "")
