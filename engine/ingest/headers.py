"""Which field a column means: a file's columns (or JSON keys) may be headed by the field's
name, its Chinese `label` or its `label_en`, as schema.yaml declares them.

Headers are compared without spaces of any width (a byte-order mark, a full-width space, the
space in 'Customer ID') and without letter case. A header that means no field is kept as it is
written (load warns about it, as before); one that could mean two fields, or two columns that
mean one field, stop the load with a DataError naming them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from guanxi.engine.encoding import UTF8
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _
from guanxi.engine.ingest.formats import Record, Source, Unreadable, columns_needed, first_rows
from guanxi.engine.ruleset.models import FieldSpec, Schema
from guanxi.engine.sheets import SheetError

# The envelope of an event has no schema entry: its Chinese and English headers are these.
ENVELOPE_HEADERS = {
    "id": ("事件编号", "event id"),
    "type": ("事件类型", "event type"),
    "customer_id": ("客户编号", "customer id"),
    "at": ("发生时间", "时间", "occurred at", "time"),
}


KNOWN_KEYS = 1_000  # sets of JSON keys whose renaming a Headers remembers


def normal(header: str) -> str:
    """A header as compared: no byte-order mark, no spaces anywhere, no letter case."""
    return "".join(header.replace("\ufeff", " ").split()).casefold()


class Headers:
    """The fields that headers mean, for one set of fields."""

    def __init__(self, aliases: Mapping[str, Iterable[str | None]]) -> None:
        self.fields: dict[str, str] = {}  # normal header -> field name
        self.ambiguous: dict[str, set[str]] = {}
        self.known: dict[tuple[str, ...], dict[str, str] | str] = {}  # keys -> renaming/why
        self.aliases = {
            name: list(dict.fromkeys([name, *filter(None, others)]))
            for name, others in aliases.items()
        }
        for name in aliases:  # a field's own name wins over another field's label
            self.fields[normal(name)] = name
        for name, others in aliases.items():
            for alias in filter(None, others):
                key = normal(alias)
                meant = self.fields.setdefault(key, name)
                if meant != name and normal(meant) != key:
                    self.ambiguous.setdefault(key, {meant}).add(name)

    @classmethod
    def of(cls, fields: Mapping[str, FieldSpec]) -> Headers:
        return cls({name: (spec.label, spec.label_en) for name, spec in fields.items()})

    def field(self, header: str, keys: bool = False) -> str | None:
        """The field `header` means; None for none. DataError when it could mean two (the
        message names a JSON key when `keys`, else a column)."""
        key = normal(header)
        if key in self.ambiguous:
            *some, last = [f"'{f}'" for f in sorted(self.ambiguous[key])]
            meant = _("{some} or {last}").format(some=", ".join(some), last=last)
            if keys:
                why = _(
                    "key '{column}' could mean the field {fields};"
                    " head the key with the field's name"
                )
            else:
                why = _(
                    "column '{column}' could mean the field {fields};"
                    " head the column with the field's name"
                )
            raise DataError(why.format(column=header.strip(), fields=meant))
        return self.fields.get(key)

    def renaming(self, headers: Iterable[str], keys: bool = False) -> dict[str, str]:
        """Each header -> the field it means (or itself, stripped); DataError when two
        headers mean the same field."""
        renamed: dict[str, str] = {}
        given: dict[str, str] = {}
        for header in headers:
            meant = self.field(header, keys) if header else None
            name = meant or header.strip()
            if meant is not None and meant in given:
                if keys:
                    why = _(
                        "keys '{first}' and '{second}' both mean the field"
                        " '{field}'; keep one of them"
                    )
                else:
                    why = _(
                        "columns '{first}' and '{second}' both mean the field"
                        " '{field}'; keep one of them"
                    )
                raise DataError(why.format(first=given[meant], second=header.strip(), field=meant))
            given.setdefault(name, header.strip())
            renamed[header] = name
        return renamed

    def record(self, record: Mapping[str, Any]) -> Record:
        """A JSON record with its keys renamed to the fields they mean."""
        renaming = self._renaming(tuple(record))
        if isinstance(renaming, str):
            return Unreadable(renaming, "")
        if not renaming:
            return record
        return {renaming[key]: value for key, value in record.items()}

    def _renaming(self, keys: tuple[str, ...]) -> dict[str, str] | str:
        """`renaming` of JSON keys, empty when it renames none, or why it cannot be done.
        The lines of a file mostly give the same keys: each set is worked out once."""
        known = self.known.get(keys)
        if known is None:
            try:
                renaming = self.renaming(keys, keys=True)
                same = all(key == name for key, name in renaming.items())
                known = {} if same else renaming
            except DataError as error:
                known = str(error)
            if len(self.known) >= KNOWN_KEYS:
                self.known.clear()
            self.known[keys] = known
        return known


def customer_headers(schema: Schema) -> Headers:
    return Headers.of(schema.fields)


def event_headers(schema: Schema) -> Headers:
    """The envelope's headers: an event's customer is also headed as the customers' key is."""
    return Headers(envelope_aliases(schema))


def envelope_aliases(schema: Schema) -> dict[str, list[str | None]]:
    aliases: dict[str, list[str | None]] = {n: [*o] for n, o in ENVELOPE_HEADERS.items()}
    key = schema.fields.get(schema.key)
    if key is not None:
        aliases["customer_id"] += [schema.key, key.label, key.label_en]
    return aliases


def fields_meant(path: Path, columns: Iterable[str], headers: Headers) -> dict[str, str]:
    """Each column of the file at `path` -> the field it means (its label: 客户编号), or
    itself; DataError naming the file when two columns mean the same field."""
    try:
        return headers.renaming(columns)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def renamed(path: Path, source: Source, headers: Headers) -> Source:
    """`source` with each column (or JSON key) named by the field it means."""
    if source.columns is None:
        records = (_json(number, record, headers) for number, record in source.records)
        return dataclasses.replace(source, records=records)
    renaming = fields_meant(path, source.columns, headers)
    if all(column == name for column, name in renaming.items()):
        return source
    columns = tuple(renaming[c] for c in source.columns)
    return dataclasses.replace(
        source, columns=columns, records=_columns_renamed(source.records, renaming)
    )


def headed(
    path: Path, source: Source, headers: Headers, needed: Sequence[str], encoding: str = UTF8
) -> Source:
    """`source` with its columns named by the fields they mean (`renamed`), checked to have
    the `needed` ones. A bank's export often puts a title (a merged cell: 客户信息表) above
    the header: then the DataError names the row that holds the header, and what to delete."""
    source = renamed(path, source, headers)
    try:
        columns_needed(path, source.columns, needed)
    except DataError as error:
        row = header_row_below(path, headers, needed, encoding)
        if row is None:
            raise DataError(_with_headings(error, headers, needed, source.columns)) from None
        message = _(
            "{path}:{row}: this row names the columns, not the first one: delete the rows above"
            " it (a title, merged cells), so that the column names come first"
        )
        raise DataError(message.format(path=path, row=row)) from None
    return source


def _with_headings(
    error: DataError, headers: Headers, needed: Sequence[str], columns: Sequence[str] | None
) -> str:
    """The error, and the headings the first missing column may have (客户名称 where the
    file wrote 姓名): renaming the file's heading is the fix."""
    missing = next((n for n in needed if columns is not None and n not in columns), None)
    if missing is None:
        return str(error)
    names = ", ".join(f"'{name}'" for name in headers.aliases.get(missing, [missing]))
    return _("{error}; its heading may be any of {names}").format(error=error, names=names)


def header_row_below(
    path: Path, headers: Headers, needed: Sequence[str], encoding: str = UTF8
) -> int | None:
    """The number of a row after the first that names every `needed` field, or None."""
    try:
        rows = list(first_rows(path, encoding))[1:]
    except (OSError, UnicodeError, SheetError):
        return None
    for number, cells in rows:
        meant = {headers.fields.get(normal(cell), cell.strip()) for cell in cells}
        if set(needed) <= meant:
            return number
    return None


def _json(number: int, record: Record, headers: Headers) -> tuple[int, Record]:
    return number, record if isinstance(record, Unreadable) else headers.record(record)


def _columns_renamed(
    records: Iterator[tuple[int, Record]], renaming: Mapping[str, str]
) -> Iterator[tuple[int, Record]]:
    for number, record in records:
        if isinstance(record, Unreadable):
            yield number, record
        else:
            yield number, {renaming[k]: v for k, v in record.items()}
