"""Erasure beyond the store: the files guanxi wrote that may name the person.

    *.jsonl     the outbox and other JSON-lines files: the person's lines are removed (a line
                is theirs when its customer_id is their id)
    *.parquet   retention's archives and snapshots: the person's rows are removed, or in
                an archive of a table erasure keeps (archive/followups/…) pseudonymised
    *.db        kept simulation copies (SQLite stores): erased as the store is
    *.assignments.duckdb
                the snapshot engine's columnar copy of a SQLite store's assignments: removed
                whole when it names the person (with its write-ahead log; the next
                classification builds it again from the store), as DuckDB may keep a deleted
                row's bytes in the file

Another customer's line or row that names the person's phone, e-mail or id keeps its place
with `[erased]` there (a referral in a message sent to someone else), as in the store.

A folder stands for every such file in it, at any depth. A file is rewritten whole into a new
file that then replaces it (a crash leaves the old one whole); a JSON-lines file under the
lock the outbox takes for each line, which a running daemon then writes to the new file
(adapters/outbox.py), so that its next line is not lost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from guanxi.adapters.outbox import rewrite_lines
from guanxi.engine.errors import DeliveryError
from guanxi.engine.privacy import audit
from guanxi.engine.privacy.catalog import tables
from guanxi.engine.privacy.erasure import CLEARED, KEPT, Person, erase_rows
from guanxi.engine.privacy.mentions import Mention, scrubbed
from guanxi.engine.privacy.retention import KINDS
from guanxi.engine.ruleset.variables import resolved_options
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet

SUFFIXES = (".jsonl", ".parquet", ".db", ".duckdb")
COLUMNAR_COPY = ".assignments.duckdb"  # classify/mirror.py names a store's copy so
SPARK_OUTPUT = ".assignments.parquet"  # classify/spark.py's output beside a store, unless told


def written_files(ruleset: RuleSet, folder: Path) -> list[Path]:
    """The files the rule project has guanxi write, relative paths from `folder`: each file
    adapter's (the outbox) and retention's archive folder."""
    found = [folder / ruleset.settings.retention.archive_folder, *adapter_files(ruleset, folder)]
    return list(dict.fromkeys(found))


def adapter_files(ruleset: RuleSet, folder: Path) -> list[Path]:
    """The files the project's file adapters write (the outbox), relative paths from
    `folder`, with `${NAME}` read from the environment as the daemon reads it (a path whose
    variable is not set names no file: no daemon can start with it)."""
    import inspect

    from guanxi.adapters.base import UnknownAdapterError
    from guanxi.adapters.registry import adapter_class

    delivery = ruleset.settings.delivery
    found = []
    for channel, spec in [("default", delivery.default), *delivery.channels.items()]:
        try:
            takes = inspect.signature(adapter_class(spec.adapter).__init__).parameters
            options = resolved_options(spec, channel)
        except (UnknownAdapterError, DeliveryError):
            continue
        if "path" in takes:
            found.append(folder / str(options.get("path", f"{spec.adapter}.jsonl")))
    return list(dict.fromkeys(found))


def columnar_copy(store: Store) -> list[Path]:
    """The snapshot engines' copies of a store's assignments, where there are some: DuckDB's
    beside a SQLite store, and Spark's output (every customer's assignment, as Parquet) where
    it goes unless told (`spark_output`)."""
    spark = spark_output(store)
    if not isinstance(store, SQLiteStore):
        return [spark] if spark.is_dir() else []
    copy = store.path.with_name(store.path.name + COLUMNAR_COPY)
    return [path for path in (copy, spark) if path.exists()]


def spark_output(store: Store) -> Path:
    """Where `classify --engine spark` writes the assignments unless told: beside a SQLite
    store, else in the working folder."""
    if isinstance(store, SQLiteStore):
        return store.path.with_name(store.path.name + SPARK_OUTPUT)
    return Path.cwd() / f"guanxi{SPARK_OUTPUT}"


def files_in(paths: Iterable[Path]) -> list[Path]:
    """The files to look through: those named, and those of the named folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
    return list(dict.fromkeys(found))


def erase_from_files(paths: Iterable[Path], person: Person, key: str, alias: str) -> dict[str, int]:
    """Remove the person from each file; lines, rows (or, in a store, rows changed) by file."""
    erase = {
        ".jsonl": _erase_lines,
        ".parquet": _erase_parquet,
        ".db": _erase_copy,
        ".duckdb": _erase_columnar_copy,
    }
    done: dict[str, int] = {}
    for path in files_in(paths):
        eraser = erase.get(path.suffix)
        if eraser is not None:
            done[str(path)] = eraser(path, person, key, alias)
    return done


def may_name(paths: Iterable[Path], person: Person) -> bool:
    """Whether erasing the person from the files may change one, read without writing: a
    JSON-lines file holding their id as text, a columnar copy with a row of theirs (or that
    cannot be read), any Parquet or SQLite file (read only by erasing)."""
    for path in files_in(paths):
        if path.suffix == ".jsonl" and _lines_name(path, person.customer_id):
            return True
        if path.name.endswith(COLUMNAR_COPY) and _rows_naming(path, person) != 0:
            return True
        if path.suffix in (".parquet", ".db"):
            return True
    return False


def _lines_name(path: Path, customer_id: str) -> bool:
    """Whether the file holds the id as written or as JSON escapes it (`\\u5f20`)."""
    escaped = json.dumps(customer_id)[1:-1].encode("ascii")
    with path.open("rb") as lines:
        return any(customer_id.encode("utf-8") in line or escaped in line for line in lines)


def _theirs(person: Person, key: str, record: dict[str, Any]) -> bool:
    """Whether a line or row is the person's: their id in a customer column."""
    return any(str(record.get(c)) == person.customer_id for c in {"customer_id", key})


def _customers_kept(record: Any, body: str, new: str, key: str) -> str:
    """The line `body` of another customer's JSON `record`, scrubbed (`new`) but for its
    customer columns: an id holding the person's (`C0001-2`) is that customer's, no mention."""
    ids = {c: record[c] for c in {"customer_id", key} if c in record}
    if not ids or not isinstance(scrubbed_record := json.loads(new), dict):
        return new
    kept = scrubbed_record | ids
    return body if kept == record else json.dumps(kept, ensure_ascii=False)


def _erase_lines(path: Path, person: Person, key: str, alias: str) -> int:
    """The person's lines removed, others' mentions of them scrubbed; how many changed."""
    others = person.replacements(alias, everything=False)
    return rewrite_lines(path, lambda line: _erased_line(person, key, others, line))


def _erased_line(person: Person, key: str, others: list[Mention], line: bytes) -> bytes | None:
    """None for the person's line, another's with its mentions of them (`others`) scrubbed."""
    text = line.decode("utf-8", errors="replace")
    try:
        record = json.loads(text)
    except ValueError:
        record = {}
    if _theirs(person, key, record if isinstance(record, dict) else {}):
        return None
    body = text.rstrip("\r\n")
    new = scrubbed(body, others)
    if new != body and isinstance(record, dict):
        new = _customers_kept(record, body, new, key)
    return line if new == body else (new + text[len(body) :]).encode("utf-8")


def _erase_parquet(path: Path, person: Person, key: str, alias: str) -> int:
    """The person's rows removed (pseudonymised in an archive of a kept table), others'
    mentions of them scrubbed; how many rows changed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    kept = _archived_table(path.parent.name)
    kept = kept if kept in KEPT else None
    rows, erased, changed = table.to_pylist(), [], 0
    mentions = Mentions(
        person.replacements(alias, everything=False),
        person.replacements(alias, everything=True, own=True),
    )
    for row in rows:
        new = _erased_row(person, key, alias, kept, row, mentions)
        changed += new != row
        if new is not None:
            erased.append(new)
    if changed:
        partial = path.with_name(path.name + ".partial")
        pq.write_table(pa.Table.from_pylist(erased, schema=table.schema), partial)
        os.replace(partial, path)
        # Spark's checksum of the old file: Spark would refuse the new one
        path.with_name(f".{path.name}.crc").unlink(missing_ok=True)
    return changed


def _archived_table(folder: str) -> str | None:
    """The table whose rows retention archives under `archive/<folder>/`: a kind's, or one
    that goes with a kind's rows (tasks with their follow-ups)."""
    if folder in KINDS:
        return KINDS[folder].table
    return folder if any(folder in kind.dependents for kind in KINDS.values()) else None


class Mentions(NamedTuple):
    """How the person is scrubbed from others' rows and, where kept, from their own."""

    others: list[Mention]
    own: list[Mention]


def _erased_row(
    person: Person, key: str, alias: str, kept: str | None, row: dict[str, Any], how: Mentions
) -> dict[str, Any] | None:
    """None for the person's row, unless its table is `kept`: then under the pseudonym, as
    erasure leaves it in the store; another's with its mentions of them scrubbed."""
    if not _theirs(person, key, row):
        ids = {c: row[c] for c in {"customer_id", key} if c in row}
        return _scrubbed_row(row, how.others) | ids  # another's id is no mention
    if kept is None:
        return None
    own = {c: alias for c in {"customer_id", key} if row.get(c) is not None}
    return _scrubbed_row(row, how.own) | own | dict(CLEARED.get(kept, {}))


def _scrubbed_row(row: dict[str, Any], mentions: list[Mention]) -> dict[str, Any]:
    return {c: scrubbed(v, mentions) if isinstance(v, str) else v for c, v in row.items()}


def _erase_copy(path: Path, person: Person, key: str, alias: str) -> int:
    copy = SQLiteStore(path, migrate=False)
    try:
        if copy.is_new():
            return 0  # not a guanxi store
        with copy.transaction():
            done = erase_rows(copy, person, key, alias)
            if any(t.name == "audit_log" for t in tables(copy)):
                audit.pseudonymise_subject(copy, person.customer_id, alias)
    finally:
        copy.close()
    return sum(sum(counts.values()) for counts in done.values())


def _erase_columnar_copy(path: Path, person: Person, key: str, alias: str) -> int:
    """Remove a store's columnar copy (another DuckDB file is not guanxi's: left alone) when
    it names the person, or cannot be read (a classification is writing it); how many of its
    rows named them."""
    if not path.name.endswith(COLUMNAR_COPY):
        return 0
    rows = _rows_naming(path, person)
    if rows != 0:
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        path.unlink(missing_ok=True)
    return rows or 0


def _rows_naming(path: Path, person: Person) -> int | None:
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as copy:
            [(rows,)] = copy.execute(
                "SELECT count(*) FROM assignments WHERE customer_id = ?", [person.customer_id]
            ).fetchall()
    except duckdb.Error:
        return None
    return int(rows)
