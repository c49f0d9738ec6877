"""Reading one rule file: size and encoding checks, YAML with positions, path -> line:col.

Business users edit these files by hand, so every failure becomes a Diagnostic that points
at the exact line and column, never an exception.
"""

from __future__ import annotations

import bisect
import codecs
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.encoding import BOM, GB18030, UTF8, Decoded, NotText, decode
from guanxi.engine.i18n import _
from guanxi.engine.ruleset.files import FileProblem, read_bounded, size_limit
from guanxi.engine.ruleset.fullwidth import Replacement, shifts
from guanxi.engine.ruleset.fullwidth_yaml import repaired_events
from guanxi.engine.ruleset.yaml_errors import control_character, plain_yaml_error
from guanxi.engine.ruleset.yaml_limits import LimitExceeded, bracket_too_deep, first_limit_exceeded

PathKey = str | int
GBK_FILE = "gbk-file"
UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Notepad's "Unicode" (big endian)
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")  # UTF-8 by the JSON standard


class SourceError(Exception):
    """A file that cannot be used: its `diagnostic`, and its `text` as far as it was read
    (for showing the line the diagnostic points at), or None, and the `encoding` it was read
    in."""

    def __init__(
        self,
        diagnostic: Diagnostic,
        text: str | None = None,
        repairs: Sequence[Any] = (),
        encoding: str = UTF8,
    ) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.text = text
        self.repairs: list[Replacement] = list(repairs)  # full-width characters found first
        self.encoding = encoding


@dataclass
class Source:
    """One file's text and its parsed YAML tree, which remembers where every value came from.
    `text` is the file as read with full-width punctuation repaired (`repairs`); `original`
    is the file as written, shown under diagnostics; `encoding` the one it was read in."""

    path: str
    text: str
    data: Any = None
    lines: list[str] = field(default_factory=list)
    original: str = ""
    repairs: list[Replacement] = field(default_factory=list)
    # (line, col, characters added) where a repair changed the line's length
    added: list[tuple[int, int, int]] = field(default_factory=list)
    encoding: str = UTF8

    def __post_init__(self) -> None:
        self.lines = self.text.splitlines()
        self.original = self.original or self.text
        starts = [-1] + [i for i, c in enumerate(self.text) if c == "\n"]
        for index, count in shifts(self.repairs):
            line = bisect.bisect_left(starts, index)
            self.added.append((line, index - starts[line - 1], count))

    def line(self, number: int) -> str | None:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else None

    def diagnostic(
        self, at: tuple[int, int], code: str, message: str, length: int = 1, **extra: Any
    ) -> Diagnostic:
        col = at[1] - sum(n for line, c, n in self.added if line == at[0] and c < at[1])
        return Diagnostic(self.path, at[0], col, code, message, length=length, **extra)

    def position(self, path: Sequence[PathKey], key: bool = False) -> tuple[int, int]:
        """1-based line and column of the value (or, with key=True, the key) at `path`."""
        node, line, col = self.data, 0, 0
        for i, step in enumerate(path):
            found = _child_position(node, step, key and i == len(path) - 1)
            if found is None:
                break
            line, col = found
            node = _child(node, step)
        return line + 1, col + 1

    def block_position(self, path: Sequence[PathKey]) -> tuple[int, int]:
        """Where a key missing from the block at `path` is pointed at: the block's `{` when it
        is written inline, else its key (its own keys are on the lines below)."""
        node = self.value(path)
        inline = isinstance(node, CommentedMap) and node.fa.flow_style()
        return self.position(path, key=not inline)

    def value(self, path: Sequence[PathKey]) -> Any:
        node = self.data
        for step in path:
            node = _child(node, step)
        return node

    def expression_position(self, path: Sequence[PathKey], offset: int) -> tuple[int, int]:
        """Where character `offset` of the expression stored at `path` stands in the file."""
        value = self.value(path)
        line, col = self.position(path)
        if isinstance(value, LiteralScalarString | FoldedScalarString) or "\n" in str(value):
            return self._search(str(value), offset, line)
        quoted = isinstance(value, DoubleQuotedScalarString | SingleQuotedScalarString)
        text = self.line(line) or ""
        start = col - 1 + (1 if quoted else 0)
        if text[start : start + len(str(value))] == str(value):
            return line, start + offset + 1
        return self._search(str(value), offset, line)

    def _search(self, value: str, offset: int, line: int) -> tuple[int, int]:
        """Find the text at `offset` in the lines of a block or folded value: each line of
        the file after `line` is a piece of the value, in order (a fold joins two lines with a
        space, so the text at the end of a line is followed by none in the file)."""
        cursor = 0
        for number in range(line + 1, min(len(self.lines), line + 200) + 1):
            piece = (self.line(number) or "").strip()
            at = value.find(piece, cursor) if piece else -1
            if at < 0:
                continue
            if at <= offset < at + len(piece):
                indent = len(self.line(number) or "") - len((self.line(number) or "").lstrip())
                return number, indent + offset - at + 1
            cursor = at + len(piece)
        return self._probe(value, offset, line)

    def _probe(self, value: str, offset: int, line: int) -> tuple[int, int]:
        wanted = value[offset:].split("\n")[0].strip()
        for size in (len(wanted), 12, 4):
            probe = wanted[:size]
            for number in range(line, min(len(self.lines), line + 40) + 1):
                index = (self.line(number) or "").find(probe) if probe else -1
                if index >= 0:
                    return number, index + 1
        return line, 1


def _child(node: Any, step: PathKey) -> Any:
    try:
        return node[step]
    except (KeyError, IndexError, TypeError):
        return None


def _child_position(node: Any, step: PathKey, key: bool) -> tuple[int, int] | None:
    try:
        if isinstance(node, CommentedMap) and step in node:
            # an empty value (`basic:`) has no place of its own: ruamel gives the next token's
            found = node.lc.key(step) if key or node[step] is None else node.lc.value(step)
            return int(found[0]), int(found[1])
        if isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            found = node.lc.item(step)
            return int(found[0]), int(found[1])
    except (KeyError, IndexError, TypeError):
        return None
    return None


def read_text(path: Path, shown: str) -> Decoded:
    """The text of project file `path` (already located) and the encoding it was read in, or
    SourceError for a file that is too large, not text, or empty. Never reads more than the
    file's size limit. A file that is not UTF-8 is read as GB18030 when it is GB18030 text
    (`gbk_warning` says so), but for JSON, which is UTF-8 by its standard."""
    try:
        raw = read_bounded(path, size_limit(path.name))
    except FileProblem as problem:
        diagnostic = Diagnostic(shown, 1, 1, problem.code, problem.message, problem.hint)
        raise SourceError(diagnostic) from None
    if raw.startswith(UTF16_MARKS) and len(raw) % 2 == 0:
        raise SourceError(_utf16_file(shown), _utf16_text(raw)) from None
    try:
        decoded = decode(raw, text_encodings(path.name))
    except NotText as error:
        raise SourceError(_not_text(error, shown), error.text) from None
    if not decoded.text.strip():
        message = _("the file is empty")
        diagnostic = Diagnostic(shown, 1, 1, "empty-file", message)
        raise SourceError(diagnostic, decoded.text, (), decoded.encoding)
    return decoded


def text_encodings(name: str) -> tuple[str, ...]:
    """The encodings a rule project's file `name` is read in, in turn."""
    return (UTF8,) if name.lower().endswith(JSON_SUFFIXES) else (UTF8, GB18030)


def _not_text(error: NotText, shown: str) -> Diagnostic:
    byte = f"0x{error.byte:02x}"
    if error.encoding == UTF8:
        message = _("byte {byte} is not UTF-8 text").format(byte=byte)
    else:
        message = _("byte {byte} is not GBK/GB18030 text, and the file is not UTF-8 either")
        message = message.format(byte=byte)
    hint = _("save the file as UTF-8 (in Excel: 'CSV UTF-8'; in Notepad: 'UTF-8')")
    return Diagnostic(shown, error.line, error.col, "not-utf8", message, hint=hint)


def _utf16_file(shown: str) -> Diagnostic:
    """Notepad's 'Unicode' is UTF-16: readable, but no tool beside guanxi reads it so."""
    message = _("saved as UTF-16 (Notepad's 'Unicode'), which a rule file cannot be")
    hint = _("save it as UTF-8 (in Notepad: Save As, Encoding 'UTF-8')")
    return Diagnostic(shown, 1, 1, "not-utf8", message, hint=hint)


def _utf16_text(raw: bytes) -> str | None:
    """The file's text, to show under the diagnostic; None when it is not UTF-16 after all."""
    try:
        return raw.decode("utf-16").removeprefix(BOM)
    except UnicodeDecodeError:
        return None


def gbk_warning(shown: str) -> Diagnostic:
    """The warning for a file read as GB18030: what saved it so, and how to stop it."""
    if shown.lower().endswith(".csv"):
        message = _("saved as GBK/GB18030 (Excel's 'CSV (逗号分隔)'); read as GB18030")
        hint = _("save it as 'CSV UTF-8', or run 'guanxi validate --fix', to remove this warning")
    else:
        message = _("saved as GBK/GB18030 (Notepad's 'ANSI'); read as GB18030")
        hint = _(
            "save it as UTF-8 (in Notepad: 'UTF-8'), or run 'guanxi validate --fix', to remove"
            " this warning"
        )
    return Diagnostic(shown, 1, 1, GBK_FILE, message, hint, severity="warning")


class _DatesAsWritten(RoundTripConstructor):
    """`today: 2026-11-02` is the text 2026-11-02, as quoted: a rule file reads every date
    from text (a scenario's day, a customer's field), and YAML's own dates would be refused."""


_DatesAsWritten.add_constructor("tag:yaml.org,2002:timestamp", _DatesAsWritten.construct_yaml_str)


def load_yaml(path: Path, shown: str, name: str = "") -> Source:
    """Parse a YAML rule file; raise SourceError with the position of the first YAML error
    or of the first place over a limit (aliases, nesting, digits) that loading could not
    survive. Full-width punctuation where ASCII is needed is repaired first (`Source.repairs`);
    `name` is the file's name in the project, which tells what in it is free text."""
    decoded = read_text(path, shown)
    text, encoding = decoded.text, decoded.encoding
    deep = bracket_too_deep(text)
    if deep is not None:
        raise SourceError(_limit_diagnostic(Source(shown, text), deep), text, (), encoding)
    repaired, repairs, events = repaired_events(text, name or path.name)
    source = Source(shown, repaired, original=text, repairs=repairs, encoding=encoding)
    yaml = YAML(typ="rt")
    yaml.Constructor = _DatesAsWritten
    yaml.preserve_quotes = True
    try:
        problem = first_limit_exceeded(repaired, events)
        if problem is not None:
            raise SourceError(_limit_diagnostic(source, problem), text, repairs, encoding)
        source.data = yaml.load(repaired)
    except MarkedYAMLError as error:
        raise SourceError(plain_yaml_error(source, error), text, repairs, encoding) from None
    except ReaderError as error:
        raise SourceError(control_character(source, error), text, repairs, encoding) from None
    except YAMLError as error:
        diagnostic = Diagnostic(shown, 1, 1, "yaml-syntax", str(error))
        raise SourceError(diagnostic, text, repairs, encoding) from None
    if source.data is None:
        diagnostic = Diagnostic(shown, 1, 1, "empty-file", _("the file has only comments"))
        raise SourceError(diagnostic, text, repairs, encoding)
    return source


def _limit_diagnostic(source: Source, problem: LimitExceeded) -> Diagnostic:
    at = (problem.line + 1, problem.col + 1)
    return source.diagnostic(at, problem.code, problem.message, hint=problem.hint)
