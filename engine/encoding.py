"""Text files as Chinese bank staff save them: UTF-8, or GBK/GB18030.

Chinese Excel's "CSV (逗号分隔)" and Notepad's "ANSI" save GBK (code page 936); core-banking
exports are often GB18030, of which GBK is a part. So `gbk` names GB18030 here.

A rule project's file is read as UTF-8 when it is UTF-8 (a byte-order mark dropped), else as
GB18030 when every byte of it decodes as GB18030 (`decode`; a UTF-8 byte-order mark before
GB18030 text dropped too); the reading warns about the second. A data file is read in the
encoding the user gives (`--encoding`, or a load's `encoding=`: `gbk` in any letter case is
GB18030, `named`), checked first, a stream at a time (`first_bad_line`), so that nothing is
loaded from a file that is not.

Columns count characters, whatever the encoding: a Chinese character is one column, as it is
in the text the diagnostics show.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

UTF8 = "utf-8"
GB18030 = "gb18030"
ENCODINGS = {"utf-8": UTF8, "gb18030": GB18030, "gbk": GB18030}  # GBK is part of GB18030
BOM = "\ufeff"  # UTF-8's EF BB BF, GB18030's 84 31 95 33
CHUNK = 1 << 20
LINE_END = re.compile(r"\r\n?")  # Windows' CR LF, old Mac's CR


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # UTF8 or GB18030


class NotText(Exception):
    """Bytes that are text in none of the encodings tried: the bad byte that the encoding
    which read furthest stopped at (its 1-based `line` and `col` in characters), and the
    text as far as it could be read, a bad byte shown as U+FFFD."""

    def __init__(self, raw: bytes, error: UnicodeDecodeError) -> None:
        super().__init__(str(error))
        self.encoding = codecs.lookup(error.encoding).name
        self.byte = raw[error.start]
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        self.line = raw.count(b"\n", 0, error.start) + 1
        before = raw[line_start : error.start].decode(self.encoding)
        self.col = len(before.removeprefix(BOM) if line_start == 0 else before) + 1
        self.text = raw.decode(self.encoding, "replace").removeprefix(BOM)


def named(name: str) -> str:
    """The encoding a data file is read in that `name` names, in any letter case or alias
    Python knows (`GBK`, `utf8`, `cp936`): UTF8 or GB18030. ValueError for another."""
    try:
        return ENCODINGS[codecs.lookup(name).name]
    except LookupError:  # KeyError too
        known = ", ".join(ENCODINGS)
        raise ValueError(f"cannot read a data file in {name!r}: give one of {known}") from None


def decode(raw: bytes, encodings: Sequence[str] = (UTF8, GB18030)) -> Decoded:
    """`raw` in the first of `encodings` it is text in, a byte-order mark dropped; NotText
    when it is text in none (at the place where the one read furthest failed)."""
    failures: list[UnicodeDecodeError] = []
    for encoding in encodings:
        # An editor may put UTF-8's mark before GBK text: read as GBK, it would be '锘'.
        mark = codecs.BOM_UTF8 if encoding != UTF8 and raw.startswith(codecs.BOM_UTF8) else b""
        try:
            return Decoded(raw[len(mark) :].decode(encoding).removeprefix(BOM), encoding)
        except UnicodeDecodeError as error:
            start, end = error.start + len(mark), error.end + len(mark)
            failures.append(UnicodeDecodeError(error.encoding, raw, start, end, error.reason))
    raise NotText(raw, max(failures, key=lambda error: error.start))


def unix_lines(text: str) -> str:
    """`text` with every line ending written LF: the same text to a reader, whichever
    editor saved it (Windows Notepad writes CR LF)."""
    return LINE_END.sub("\n", text)


def first_bad_line(path: Path, encoding: str) -> int | None:
    """The line of the first byte of the file at `path` that is not `encoding` text, or
    None: read a chunk at a time, never whole. A line break is never part of a UTF-8 or
    GB18030 character, so lines are counted in bytes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return line + chunk[: max(0, error.start - pending)].count(b"\n")
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line
    return None


def utf8_beyond_ascii(path: Path) -> bool:
    """Whether the file is UTF-8 text with some character beyond ASCII: then it is UTF-8,
    not GB18030 (GBK's Chinese is hardly ever valid UTF-8; UTF-8's often decodes as GBK,
    to other characters)."""
    decoder = codecs.getincrementaldecoder(UTF8)()
    ascii_only = True
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            ascii_only = ascii_only and chunk.isascii()
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return not ascii_only
