"""Which kind of file a file is: customers, events or consent records, told by its columns.

A file given to the wrong command (an events file to `guanxi load customers`) would fail on
every row and fill the quarantine with one problem a row; it is refused whole instead, naming
the command that takes it. A CSV, Excel or Parquet file is judged by its header, a JSON Lines
file by the keys of its first record (a later line of another kind is that line's problem,
quarantined as any bad row is).

A file is of a kind when it has every column the kind needs; of the kinds it could be, it is
the one most of whose columns mean a field of it, the kind being loaded when it ties.
"""

from __future__ import annotations

import dataclasses
import itertools
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from guanxi.engine import consent
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import N_, _
from guanxi.engine.ingest.formats import Record, Source, Unreadable
from guanxi.engine.ingest.headers import Headers, customer_headers, envelope_aliases
from guanxi.engine.ingest.rows import ENVELOPE
from guanxi.engine.ruleset.ruleset import RuleSet

PEEKED = 20  # JSON Lines records read ahead to find one that is a record at all
SHELL_SPECIAL = "'\"$`\\;&|<>()*?!#~"
FILES = {
    "customers": N_("a customers file"),
    "events": N_("an events file"),
    "consents": N_("a consent records file"),
}


@dataclass(frozen=True)
class Kind:
    """One kind of file: the columns every row of it needs, and the headers of its fields."""

    name: str
    needed: tuple[str, ...]
    headers: Headers

    def fits(self, columns: Iterable[str]) -> bool:
        return set(self.needed) <= set(self.meant(columns))

    def meant(self, columns: Iterable[str]) -> list[str]:
        """The fields of this kind that `columns` mean."""
        found = []
        for column in columns:
            try:
                field = self.headers.field(column)
            except DataError:  # a header that could mean two fields: means one, surely
                field = column
            if field is not None:
                found.append(field)
        return found


def kinds(ruleset: RuleSet) -> dict[str, Kind]:
    """The kinds of file of `ruleset`; an events file's columns are the envelope and the
    fields of every event type."""
    schema = ruleset.schema
    consents = consent.file_schema(ruleset.policies)
    payload = {
        name: (spec.label, spec.label_en)
        for event in schema.events.values()
        for name, spec in event.fields.items()
    }
    envelope = envelope_aliases(schema)
    required = (n for n, f in schema.fields.items() if f.required and n != schema.key)
    return {
        "customers": Kind("customers", (schema.key, *required), customer_headers(schema)),
        "events": Kind("events", ENVELOPE, Headers({**payload, **envelope, "payload": ()})),
        "consents": Kind(
            "consents",
            tuple(n for n, f in consents.fields.items() if f.required),
            customer_headers(consents),
        ),
    }


def kind_of(columns: tuple[str, ...], loading: str, known: Mapping[str, Kind]) -> str | None:
    """The kind of a file with these columns (None: of no kind; `loading` wins a tie)."""
    fitting = [kind for kind in known.values() if kind.fits(columns)]
    fitting.sort(key=lambda kind: (len(kind.meant(columns)), kind.name == loading))
    return fitting[-1].name if fitting else None


def refusing_other_kinds(path: Path, source: Source, loading: str, ruleset: RuleSet) -> Source:
    """`source` as it was; DataError when its columns (a JSON Lines file's: the keys of its
    first record) make it a file of another kind than `loading`."""
    columns, source = _columns(source)
    known = kinds(ruleset)
    found = kind_of(columns, loading, known) if columns else None
    if found is None or found == loading:
        return source
    refused = _(
        "{path}: this looks like {found}, not {expected} (it has the columns {columns});"
        " nothing was loaded. Load it with: guanxi load {command} {file}"
    )
    needed = known[found].needed
    telling = [c for c in columns if set(known[found].meant([c])) & set(needed)]
    raise DataError(
        refused.format(
            path=path,
            found=_(FILES[found]),
            expected=_(FILES[loading]),
            columns=", ".join(telling),
            command=found,
            file=shell_argument(path),
        )
    )


def shell_argument(path: Path | str) -> str:
    """`path` as a shell command takes it (quoted when it has spaces or quotes)."""
    text = str(path)
    return shlex.quote(text) if any(c.isspace() or c in SHELL_SPECIAL for c in text) else text


def _columns(source: Source) -> tuple[tuple[str, ...], Source]:
    """The file's columns, and the source to read its records from (a JSON Lines file's
    first records are read ahead for their keys, and given again)."""
    if source.columns is not None:
        return source.columns, source
    ahead = list(itertools.islice(source.records, PEEKED))
    first = next((r for _n, r in ahead if not isinstance(r, Unreadable)), None)
    records: Iterator[tuple[int, Record]] = itertools.chain(ahead, source.records)
    return tuple(first or ()), dataclasses.replace(source, records=records)
