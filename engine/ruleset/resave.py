"""What `guanxi validate --fix` repairs before full-width punctuation: the files that cannot
be read at all. Notepad's "Unicode" (UTF-16) is saved as UTF-8, and the tabs a YAML file is
indented with (an editor's Tab key) become spaces.

How wide a tab was is not in the file: each width an editor uses (2, 4, 8) is tried in turn,
and the first that gives a file YAML can read is taken; the diff shows the result.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from guanxi.engine.encoding import BOM, NotText, decode
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.files import FileProblem, locate
from guanxi.engine.ruleset.fullwidth_yaml import repaired_events
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.source import UTF16_MARKS

TAB_WIDTHS = (2, 4, 8)
MAX_ROUNDS = 5  # a file saved as UTF-16 may turn out to be indented with tabs too
LEADING = re.compile(r"^[ \t]+", re.MULTILINE)
TAB_AFTER_KEY = re.compile(r"^([ ]*(?:-[ ]+)?[^\s#'\"\[{][^#'\"\n]*?):\t+(?=\S)", re.MULTILINE)
CSV_SUFFIXES = (".csv",)  # Excel opens a UTF-8 CSV as UTF-8 only with the byte-order mark


@dataclass(frozen=True)
class Resaved:
    """One file written anew: its `name` in the project, its text before and after, and
    whether it was UTF-16."""

    name: str
    old: str
    new: str
    was_utf16: bool

    def note(self, shown: str) -> str:
        if not self.was_utf16:
            return ""
        return (
            _("{file}: saved as UTF-8 (it was UTF-16, Notepad's 'Unicode')").format(file=shown)
            + "\n"
        )


def resave_unreadable(root: Path) -> Iterator[Resaved]:
    """Write anew each file of the project at `root` that validation found saved as UTF-16
    or indented with tabs, until none is left."""
    done: set[str] = set()
    for _round in range(MAX_ROUNDS):
        names = _unreadable(root) - done
        if not names:
            return
        for name in sorted(names):
            done.add(name)
            resaved = _resave(root, name)
            if resaved is not None:
                yield resaved
                done.discard(name)  # resaved as UTF-8, it may still be indented with tabs


def _unreadable(root: Path) -> set[str]:
    shown = str(root)
    found = validate_project(root).diagnostics
    return {_name(shown, d.file) for d in found if d.code in ("not-utf8", "yaml-tab")}


def _name(shown: str, path: str) -> str:
    if shown in ("", "."):
        return path
    try:
        return str(PurePath(path).relative_to(shown))
    except ValueError:
        return path


def _resave(root: Path, name: str) -> Resaved | None:
    try:
        path = locate(root, name)
    except FileProblem:
        return None
    raw = path.read_bytes()
    if raw.startswith(UTF16_MARKS):
        return _from_utf16(path, name, raw)
    return _untabbed(path, name, raw)


def _from_utf16(path: Path, name: str, raw: bytes) -> Resaved | None:
    try:
        text = raw.decode("utf-16").removeprefix(BOM)
    except UnicodeDecodeError:
        return None  # not UTF-16 after all: the diagnostic says where it is not text
    mark = codecs.BOM_UTF8 if name.lower().endswith(CSV_SUFFIXES) else b""
    path.write_bytes(mark + text.encode("utf-8"))
    return Resaved(name, text, text, was_utf16=True)


def _untabbed(path: Path, name: str, raw: bytes) -> Resaved | None:
    try:
        decoded = decode(raw)
    except NotText:
        return None
    if "\t" not in decoded.text or not name.lower().endswith((".yaml", ".yml")):
        return None
    new = _without_tabs(decoded.text, name)
    if new == decoded.text:
        return None
    bom = BOM.encode(decoded.encoding)
    path.write_bytes((bom if raw.startswith(bom) else b"") + new.encode(decoded.encoding))
    return Resaved(name, decoded.text, new, was_utf16=False)


def _without_tabs(text: str, name: str) -> str:
    """`text` with a space for each tab after a key's colon, and its indentation's tabs
    expanded at the width that reads furthest (the first that reads whole)."""
    text = TAB_AFTER_KEY.sub(r"\1: ", text)
    widths = [(_expanded(text, width), width) for width in TAB_WIDTHS]
    best = max(widths, key=lambda found: (_read_until(found[0], name), -found[1]))
    return best[0]


def _expanded(text: str, width: int) -> str:
    return LEADING.sub(lambda match: match.group(0).expandtabs(width), text)


def _read_until(text: str, name: str) -> float:
    """How far YAML reads `text` (with full-width punctuation repaired, as validation reads
    it): the line of its first error, or infinity."""
    try:
        YAML(typ="rt").load(repaired_events(text, name)[0])
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        return float(mark.line) if mark is not None else 0.0
    except YAMLError:
        return 0.0
    return float("inf")
