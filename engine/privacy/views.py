"""Personal data as the views of customers show it (`explain`, `followups`, `tasks`, the
report): masked unless the viewer asks for it whole, and then the view is audited.

Which customer fields hold personal data is the schema's to say (`personal: name`, `phone`,
`email`, `id_number`, `other`, or `false`); a field that does not say is known by its name
(name, phone, mobile, email, id_card …). A view masks the values of those fields of the
customers it shows wherever they appear (a rendered message that greets 张三丰 by name too),
and any phone, ID-card, bank-card number or e-mail address in its text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guanxi.engine.privacy.personal import FIELD_KINDS, mask_as, mask_personal_numbers

if TYPE_CHECKING:
    from guanxi.engine.ruleset.models import Schema
    from guanxi.engine.store.base import Store

SHORTEST = 2  # a value shorter than this is too common to be searched for in text


def personal_fields(schema: Schema) -> dict[str, str]:
    """The customer fields that hold personal data, each with its kind."""
    found = {}
    for name, spec in schema.fields.items():
        kind = FIELD_KINDS.get(name) if spec.personal is None else spec.personal
        if kind:
            found[name] = kind
    return found


@dataclass(frozen=True)
class Masker:
    """Masks what a view shows: the known personal values (whole value -> masked) and the
    numbers and addresses any text may hold. `Masker.whole()` masks nothing."""

    known: Mapping[str, str] = field(default_factory=dict)
    masks: bool = True

    @classmethod
    def whole(cls) -> Masker:
        return cls(masks=False)

    @classmethod
    def of(
        cls, kinds: Mapping[str, str], records: Iterable[Mapping[str, Any]], ids: Iterable[str]
    ) -> Masker:
        """For the customers `records` (their fields by name), of the fields in `kinds`; the
        customers' `ids` stay as they are, even where a name is its customer's id."""
        values = {
            (str(record[name]), kind)
            for record in records
            for name, kind in kinds.items()
            if record.get(name) is not None and len(str(record[name])) >= SHORTEST
        }
        kept = set(ids)
        return cls({value: mask_as(kind, value) for value, kind in values if value not in kept})

    def text(self, text: str) -> str:
        if not self.masks:
            return text
        return mask_personal_numbers(self._known_masked(text) if self.known else text)

    def deep(self, data: Any) -> Any:
        """JSON-like data with every text in it masked (keys stay: they are field names)."""
        if not self.masks:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, Mapping):
            return {key: self.deep(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.deep(value) for value in data]
        if isinstance(data, int) and not isinstance(data, bool) and str(data) in self.known:
            return self.known[str(data)]  # a phone number stored as a number
        return data

    def _known_masked(self, text: str) -> str:
        """`text` with each known value masked where it stands whole: the longest first
        (张三丰 before 张三), not inside a longer word or number (Li is not masked in Lily).
        Found by their first characters: a regex of thousands of alternatives is slow."""
        firsts, lengths = self._index
        parts, done = [], 0
        for hit in firsts.finditer(text):
            at = hit.start()
            if at < done or (at > 0 and _alphanumeric(text[at - 1])):
                continue
            for length in lengths[text[at]]:
                end = at + length
                piece = text[at:end]
                if piece in self.known and not (end < len(text) and _alphanumeric(text[end])):
                    parts += [text[done:at], self.known[piece]]
                    done = end
                    break
        return "".join([*parts, text[done:]])

    @functools.cached_property
    def _index(self) -> tuple[re.Pattern[str], dict[str, list[int]]]:
        """The first characters of the known values, and the lengths of those that begin with
        each, longest first."""
        lengths: dict[str, set[int]] = {}
        for value in self.known:
            lengths.setdefault(value[0], set()).add(len(value))
        firsts = re.compile("[" + "".join(re.escape(c) for c in lengths) + "]")
        return firsts, {c: sorted(n, reverse=True) for c, n in lengths.items()}


def _alphanumeric(character: str) -> bool:
    return character.isascii() and character.isalnum()


def customer_records(
    store: Store, schema: Schema, columns: Iterable[str], ids: Iterable[str]
) -> list[dict[str, Any]]:
    """The `columns` of the customers `ids` (those loaded), 500 at a time."""
    from guanxi.engine.store.dialect import quoted_name  # when a view needs it

    wanted, named = sorted(set(ids)), [quoted_name(c) for c in columns]
    if not wanted or not named:
        return []
    found: list[dict[str, Any]] = []
    for start in range(0, len(wanted), 500):
        chunk = {f"id{i}": value for i, value in enumerate(wanted[start : start + 500])}
        marks = ", ".join(f":{name}" for name in chunk)
        found += store.execute(
            f"SELECT {', '.join(named)} FROM customers"
            f" WHERE {quoted_name(schema.key)} IN ({marks})",
            chunk,
        )
    return found


def masker(store: Store, schema: Schema, ids: Iterable[str]) -> Masker:
    """What masks a view of the customers `ids`."""
    kinds, ids = personal_fields(schema), set(ids)
    return Masker.of(kinds, customer_records(store, schema, kinds, ids), ids)


def quarantine_masker(schema: Schema, rows: Iterable[Mapping[str, Any]]) -> Masker:
    """What masks quarantined rows: the value of a personal field by its kind (a name too),
    and in every text the numbers and addresses any text may hold (a whole line kept)."""
    kinds = personal_fields(schema)
    known = {
        str(row["value"]): mask_as(kinds[row["field"]], str(row["value"]))
        for row in rows
        if row.get("field") in kinds and len(str(row.get("value") or "")) >= SHORTEST
    }
    return Masker(known)
