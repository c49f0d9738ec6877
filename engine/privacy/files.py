"""Erasure beyond the store: the files guanxi wrote that may name the person.

    *.jsonl     the outbox and other JSON-lines files: the person's lines are removed (a line
                is theirs when its customer_id is their id or it names their phone, e-mail
                or id)
    *.parquet   retention's archives and snapshots: the person's rows are removed
    *.db        kept simulation copies (SQLite stores): erased as the store is

A folder stands for every such file in it, at any depth. A file is rewritten whole into a new
file that then replaces it, except a JSON-lines file, rewritten in place under the lock the
outbox takes for each line, so that a running daemon's next line is not lost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guanxi.adapters.outbox import locked
from guanxi.engine.privacy import audit
from guanxi.engine.privacy.catalog import tables
from guanxi.engine.privacy.erasure import Person, erase_rows
from guanxi.engine.privacy.mentions import found
from guanxi.engine.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from guanxi.engine.ruleset import RuleSet

SUFFIXES = (".jsonl", ".parquet", ".db")


def written_files(ruleset: RuleSet, folder: Path) -> list[Path]:
    """The files the rule project has guanxi write, relative paths from `folder`: each file
    adapter's (the outbox) and retention's archive folder."""
    import inspect

    from guanxi.adapters.base import UnknownAdapterError
    from guanxi.adapters.registry import adapter_class

    settings = ruleset.settings
    found = [folder / settings.retention.archive_folder]
    for spec in (settings.delivery.default, *settings.delivery.channels.values()):
        try:
            takes = inspect.signature(adapter_class(spec.adapter).__init__).parameters
        except UnknownAdapterError:
            continue
        if "path" in takes:
            found.append(folder / str(spec.options.get("path", f"{spec.adapter}.jsonl")))
    return list(dict.fromkeys(found))


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
    erase = {".jsonl": _erase_lines, ".parquet": _erase_parquet, ".db": _erase_copy}
    done: dict[str, int] = {}
    for path in files_in(paths):
        eraser = erase.get(path.suffix)
        if eraser is not None:
            done[str(path)] = eraser(path, person, key, alias)
    return done


def _theirs(person: Person, key: str, record: dict[str, Any], text: str) -> bool:
    """Whether a line or row is the person's: their id in a customer column, or their id,
    phone or e-mail anywhere in it."""
    if any(str(record.get(c)) == person.customer_id for c in {"customer_id", key}):
        return True
    return found(text, person.replacements("", everything=False))


def _erase_lines(path: Path, person: Person, key: str, alias: str) -> int:
    with path.open("r+b") as file, locked(file):
        lines = file.read().splitlines(keepends=True)
        kept = [line for line in lines if not _line_theirs(person, key, line)]
        if len(kept) != len(lines):
            file.seek(0)
            file.write(b"".join(kept))
            file.truncate()
            file.flush()
            os.fsync(file.fileno())
    return len(lines) - len(kept)


def _line_theirs(person: Person, key: str, line: bytes) -> bool:
    text = line.decode("utf-8", errors="replace")
    try:
        record = json.loads(text)
    except ValueError:
        record = {}
    return _theirs(person, key, record if isinstance(record, dict) else {}, text)


def _erase_parquet(path: Path, person: Person, key: str, alias: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    rows = table.to_pylist()
    keep = [
        not _theirs(person, key, row, json.dumps(row, ensure_ascii=False, default=str))
        for row in rows
    ]
    removed = keep.count(False)
    if removed:
        partial = path.with_name(path.name + ".partial")
        pq.write_table(table.filter(pa.array(keep)), partial)
        os.replace(partial, path)
    return removed


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
