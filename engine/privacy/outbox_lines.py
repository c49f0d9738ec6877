"""Retention of the file adapters' lines (the outbox): a line goes once the due time of its
follow-up (`metadata.due_at`, UTC) is past the window; a line without one (written by
something else) stays. The file is rewritten atomically under the writers' lock
(adapters/outbox.py `rewrite_lines`), so that a running daemon loses no line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from guanxi.adapters.outbox import rewrite_lines


def prune(files: Iterable[Path], cutoff: str, dry_run: bool) -> tuple[int, str | None]:
    """The lines of `files` due before `cutoff` removed (with `dry_run`, only counted): how
    many, and the oldest due time kept."""
    gone, kept = 0, []
    for path in files:
        if path.suffix != ".jsonl" or not path.is_file():
            continue
        if dry_run:
            times = [_due(line) for line in path.read_bytes().splitlines()]
            gone += sum(t is not None and t < cutoff for t in times)
            kept += [t for t in times if t is not None and t >= cutoff]
            continue
        gone += rewrite_lines(path, lambda line: None if _past(line, cutoff) else line)
        kept += [t for t in map(_due, path.read_bytes().splitlines()) if t is not None]
    return gone, min(kept, default=None)


def _past(line: bytes, cutoff: str) -> bool:
    due = _due(line)
    return due is not None and due < cutoff


def _due(line: bytes) -> str | None:
    """The line's due time without its `Z` (as retention compares times), if it has one."""
    try:
        record = json.loads(line)
        due = record["metadata"]["due_at"]
    except (ValueError, KeyError, TypeError):
        return None
    return due.removesuffix("Z") if isinstance(due, str) else None
