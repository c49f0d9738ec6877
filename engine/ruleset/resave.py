"""What `guanxi validate --fix` repairs before full-width punctuation: the files that cannot
be read at all, or only with a warning. Notepad's "Unicode" (UTF-16) is saved as UTF-8, and so
is GBK/GB18030 (Notepad's "ANSI", Excel's "CSV (逗号分隔)") when the file is GB18030 text and
not UTF-8; the tabs a YAML file is indented with (an editor's Tab key) become spaces.

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

from guanxi.engine.encoding import GB18030, UTF8, NotText, decode
from guanxi.engine.i18n import N_, _
from guanxi.engine.ruleset.files import FileProblem, locate
from guanxi.engine.ruleset.fullwidth_yaml import repaired_events
from guanxi.engine.ruleset.load import validate_project
from guanxi.engine.ruleset.source import GBK_FILE, UTF16_MARKS, text_encodings

TAB_WIDTHS = (2, 4, 8)
MAX_ROUNDS = 5  # a file saved as UTF-16 may turn out to be indented with tabs too
LEADING = re.compile(r"^[ \t]+", re.MULTILINE)
TAB_AFTER_KEY = re.compile(r"^([ ]*(?:-[ ]+)?[^\s#'\"\[{][^#'\"\n]*?):\t+(?=\S)", re.MULTILINE)
CSV_SUFFIXES = (".csv",)  # Excel opens a UTF-8 CSV as UTF-8 only with the byte-order mark
UTF16 = "utf-16"
NOTES = {  # the encoding a file was saved in -> what --fix says it did
    UTF16: N_("{file}: saved as UTF-8 (it was UTF-16, Notepad's 'Unicode')"),
    GB18030: N_(
        "{file}: saved as UTF-8 (it was GBK/GB18030, Notepad's 'ANSI' or Excel's 'CSV (逗号分隔)')"
    ),
}


@dataclass(frozen=True)
class Resaved:
    """One file written anew: its `name` in the project, its text before and after, and
    the encoding it was saved in when it is saved as UTF-8 now (a key of NOTES)."""

    name: str
    old: str
    new: str
    was: str | None = None

    def note(self, shown: str) -> str:
        return _(NOTES[self.was]).format(file=shown) + "\n" if self.was else ""


def resave_unreadable(root: Path) -> Iterator[Resaved]:
    """Write anew each file of the project at `root` that validation found saved as UTF-16
    or GBK, or indented with tabs, until none is left."""
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
    codes = ("not-utf8", "yaml-tab", GBK_FILE)
    return {_name(shown, d.file) for d in found if d.code in codes}


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
    try:
        utf16 = raw.startswith(UTF16_MARKS)
        decoded = decode(raw, (UTF16,) if utf16 else text_encodings(name))
    except NotText:
        return None  # the diagnostic says where it is not text
    if decoded.encoding != UTF8:  # UTF-16, or GB18030 text that is no UTF-8, read as such
        return _as_utf8(path, name, decoded.text, decoded.encoding)
    return _untabbed(path, name, decoded.text, raw.startswith(codecs.BOM_UTF8))


def _as_utf8(path: Path, name: str, text: str, was: str) -> Resaved:
    mark = codecs.BOM_UTF8 if name.lower().endswith(CSV_SUFFIXES) else b""
    path.write_bytes(mark + text.encode("utf-8"))
    return Resaved(name, text, text, was)


def _untabbed(path: Path, name: str, text: str, marked: bool) -> Resaved | None:
    if "\t" not in text or not name.lower().endswith((".yaml", ".yml")):
        return None
    new = _without_tabs(text, name)
    if new == text:
        return None
    path.write_bytes((codecs.BOM_UTF8 if marked else b"") + new.encode(UTF8))
    return Resaved(name, text, new)


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
