"""A release's files: read from a rule project, kept as JSON in the store, written back out.

In memory a release is `Files`: each file's name in the project (POSIX, relative) and its
text, or its bytes for a file that is not UTF-8 text (an Excel decision table, a table saved
as GB18030: kept byte for byte, and shown as text in a diff). In the store it is one JSON
object: `{"tiers.yaml": "…", "tiers.xlsx": {"base64": "…"}}`.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import shutil
import tempfile
from pathlib import Path

from guanxi.engine.encoding import BOM, UTF8, Decoded, NotText, decode, unix_lines
from guanxi.engine.errors import ReleaseError
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.files import FileProblem, read_bounded, size_limit
from guanxi.engine.ruleset.source import text_encodings

Content = str | bytes
Files = dict[str, Content]

# the files a rule project is made of: rules, decision tables, scenario tests, populations,
# and what else a rule file may name (a release is validated from these files alone)
SUFFIXES = (".yaml", ".yml", ".csv", ".jsonl", ".xlsx", ".json", ".txt")
MAX_FILES = 1000


def read_files(folder: Path) -> Files:
    """Every file of the rule project at `folder` (hidden ones, `__pycache__` and stores left
    out), each within the size limit a rule project's file has. ReleaseError if one cannot
    be read."""
    found: Files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        hidden = any(part.startswith((".", "__")) for part in name.split("/"))
        if hidden or path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        if len(found) == MAX_FILES:
            message = _("the rule project has more than {limit} files").format(limit=MAX_FILES)
            raise ReleaseError(message)
        found[name] = _content(path, name)
    return found


def _content(path: Path, name: str) -> str | bytes:
    try:
        raw = read_bounded(path, size_limit(name))
    except FileProblem as problem:
        raise ReleaseError(f"{path}: {problem.message}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def to_json(files: Files) -> str:
    return json.dumps(
        {
            n: c if isinstance(c, str) else {"base64": base64.b64encode(c).decode()}
            for n, c in files.items()
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def from_json(text: str) -> Files:
    stored = json.loads(text)
    return {
        n: c if isinstance(c, str) else base64.b64decode(c["base64"]) for n, c in stored.items()
    }


def materialise(files: Files, cache: Path, key: str) -> Path:
    """The folder `cache/key` holding `files`, written once: into a scratch folder beside it
    first and then renamed, so a daemon never reads half a release (another daemon sharing
    the cache may write the same folder at the same time)."""
    target = cache / key
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    for name, content in files.items():
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
    try:
        os.rename(scratch, target)
    except OSError:  # written meanwhile by another daemon: theirs has the same files
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def same_files(one: Files, other: Files) -> bool:
    """The same files with the same texts, whichever line endings and byte-order mark
    their editors wrote."""
    return one.keys() == other.keys() and all(
        _unified(one[name]) == _unified(other[name]) for name in one
    )


def _unified(content: Content) -> Content:
    return unix_lines(content.removeprefix(BOM)) if isinstance(content, str) else content


def differences(old: Files, new: Files) -> list[str]:
    """A unified diff, file by file, from `old` to `new`: of the text of a file saved as
    GB18030 too, with a line where a file's encoding changed (a changed binary file in one
    line)."""
    lines: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before != after:
            lines += _file_differences(name, before, after)
    return lines


def _file_differences(name: str, before: Content | None, after: Content | None) -> list[str]:
    old, new = _text(name, before), _text(name, after)
    if old is None or new is None:
        return [_("{name}: binary file changed").format(name=name)]
    lines = []
    if old.encoding and new.encoding and old.encoding != new.encoding:
        lines.append(
            _("{name}: now saved as {new} (was {old})").format(
                name=name, new=new.encoding.upper(), old=old.encoding.upper()
            )
        )
    return lines + list(
        difflib.unified_diff(
            old.text.splitlines(),
            new.text.splitlines(),
            f"a/{name}" if before is not None else "/dev/null",
            f"b/{name}" if after is not None else "/dev/null",
            lineterm="",
        )
    )


def _text(name: str, content: Content | None) -> Decoded | None:
    """A file's text and encoding ("" for a file that is not there), as a rule project reads
    it; None for a file that is not text (an Excel workbook)."""
    if content is None:
        return Decoded("", "")
    if isinstance(content, str):
        return Decoded(content, UTF8)
    if name.lower().endswith(".xlsx"):
        return None
    try:
        return decode(content, text_encodings(name))
    except NotText:
        return None
