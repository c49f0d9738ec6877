"""The files of one rule project as they are read: sources, models and diagnostics so far."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.encoding import UTF8, unix_lines
from guanxi.engine.errors import ConditionError
from guanxi.engine.i18n import _
from guanxi.engine.language import Condition, parse_condition, parse_value
from guanxi.engine.ruleset import fullwidth
from guanxi.engine.ruleset.domains import (
    Domain,
    compared_texts,
    condition_problems,
    unknown_field_hint,
)
from guanxi.engine.ruleset.files import FileProblem, locate, read_bounded, size_limit
from guanxi.engine.ruleset.fullwidth import Replacement
from guanxi.engine.ruleset.reading import shown_path, validate_model
from guanxi.engine.ruleset.ruleset import ComparedValue
from guanxi.engine.ruleset.source import (
    PathKey,
    Source,
    SourceError,
    gbk_warning,
    load_yaml,
    read_text,
)

M = TypeVar("M", bound=BaseModel)
SHEETS = (".xlsx",)  # a workbook's cells have no source line to show under a diagnostic


@dataclass(frozen=True)
class Known:
    """Names defined across the project. None: that file could not be read, so references to
    it are not checked (one broken file should not flood the report with follow-on errors)."""

    tiers: tuple[str, ...]
    levels: tuple[str, ...]
    channels: Mapping[str, str] | None  # name -> kind (task or message)
    templates: Mapping[str, str] | None  # name -> kind
    # id -> what a person calls it: its label, else its subject up to the first variable
    template_titles: Mapping[str, str] = field(default_factory=dict)
    steps: frozenset[str] | None = None
    step_labels: Mapping[str, str | None] = field(default_factory=dict)  # id -> its label
    strategies: tuple[str, ...] = ()
    ordered: frozenset[str] = frozenset()  # the ladders ('tier', 'level') with an `order:`
    # each ladder's names lowest first as its words and rules suggest, for an `order:` to write
    lowest_first: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    gold: bool = False  # tiers.yaml defines gold customers
    measures: tuple[str, ...] | None = None


@dataclass
class Project:
    """A rule project being read; collects every problem instead of stopping at the first."""

    root: Path
    shown_root: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # every file read, for the hash
    # what the values compared with a field may be (conditions, table columns), and the names
    # of tiers, levels, strategies and channels; filled in as their files are read
    domains: dict[str, Domain] = field(default_factory=dict)
    names: dict[str, Domain] = field(default_factory=dict)
    repairs: dict[str, list[Replacement]] = field(default_factory=dict)  # full-width ones
    # each customer field's and measure's labels, to answer a label written for its name
    labels: dict[str, tuple[str | None, ...]] = field(default_factory=dict)
    encodings: dict[str, str] = field(default_factory=dict)  # of every file read as text
    # every text a condition or table compares a customer field with, where it is written
    compared: list[ComparedValue] = field(default_factory=list)

    def repaired(self, name: str, text: str, repairs: Sequence[Replacement]) -> None:
        """Report the full-width characters of file `name` that were read as ASCII."""
        if repairs:
            self.repairs[name] = list(repairs)
            self.diagnostics.extend(fullwidth.diagnostics(self.shown(name), text, repairs))

    def read_in(self, name: str, encoding: str) -> None:
        """Note the encoding file `name` was read in; warn when it is not UTF-8."""
        if encoding != UTF8 and name not in self.encodings:  # once, if named twice
            self.diagnostics.append(gbk_warning(self.shown(name)))
        self.encodings[name] = encoding

    def shown(self, name: str) -> str:
        return shown_path(self.shown_root, name)

    def add(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def read_model(self, name: str, model: type[M], required: bool) -> M | None:
        if not os.path.lexists(self.root / name):
            if required:
                message = _("the rule project has no {name}").format(name=name)
                self.add(Diagnostic(self.shown(name), 1, 1, "missing-file", message))
            return None
        try:
            source = load_yaml(self._located(name), self.shown(name), name)
        except SourceError as error:
            self.add(error.diagnostic)
            self.texts[name] = error.text or ""
            self.read_in(name, error.encoding)
            self.repaired(name, error.text or "", error.repairs)
            return None
        self.sources[name] = source
        self.texts[name] = source.original
        self.read_in(name, source.encoding)
        self.repaired(name, source.original, source.repairs)
        parsed, problems = validate_model(source, model)
        self.diagnostics.extend(problems)
        return parsed

    def named_file(
        self, file: str, path: Sequence[PathKey], folder: str = ""
    ) -> tuple[str, str] | None:
        """The name in the project and the text of the file that `file` names at `path`
        (relative to `folder`); None with a diagnostic at that name when the file is missing,
        outside the project, not an ordinary file, too large, or not text."""
        written = str(self.sources[file].value(path))
        name = f"{folder}/{written}" if folder else written
        try:
            decoded = read_text(locate(self.root, written, folder), self.shown(name))
        except FileProblem as problem:
            beside = ""
            if folder and problem.code == "missing-file":
                beside = _(" beside {file}").format(file=file)
            self.error(file, path, problem.code, problem.message + beside, hint=problem.hint)
            return None
        except SourceError as error:
            self.add(error.diagnostic)
            self.texts[name] = error.text or ""
            self.read_in(name, error.encoding)
            return None
        self.texts[name] = decoded.text
        self.read_in(name, decoded.encoding)
        return name, decoded.text

    def named_bytes(self, file: str, path: Sequence[PathKey]) -> tuple[str, bytes] | None:
        """As `named_file`, for a file that is not text (an Excel workbook): its bytes."""
        written = str(self.sources[file].value(path))
        try:
            located = locate(self.root, written)
            return written, read_bounded(located, size_limit(written))
        except FileProblem as problem:
            self.error(file, path, problem.code, problem.message, hint=problem.hint)
            return None

    def _located(self, name: str) -> Path:
        try:
            return locate(self.root, name)
        except FileProblem as problem:
            shown = self.shown(name)
            diagnostic = Diagnostic(shown, 1, 1, problem.code, problem.message, problem.hint)
            raise SourceError(diagnostic) from None

    def content_hash(self) -> str:
        """A hash of every file's name and text. The text as read (a byte-order mark
        dropped), its line endings unified: an editor that saves CR LF changes no rule, and
        must not invalidate an approved release or the idempotency keys of follow-ups."""
        digest = hashlib.sha256()
        for name in sorted(self.texts):
            text = unix_lines(self.texts[name])
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        return digest.hexdigest()[:16]

    def source_lines(self) -> dict[str, list[str]]:
        shown = {n: t for n, t in self.texts.items() if not n.lower().endswith(SHEETS)}
        return {self.shown(n): t.splitlines() for n, t in shown.items()}

    # --- diagnostics at a place in a YAML file -----------------------------------------

    def error(
        self, file: str, path: Sequence[PathKey], code: str, message: str, **extra: Any
    ) -> None:
        source = self.sources[file]
        value = source.value(path)
        length = len(str(value)) if isinstance(value, str | int) else 1
        extra.setdefault("length", length)
        self.add(source.diagnostic(source.position(path), code, message, **extra))

    def warn(
        self, file: str, path: Sequence[PathKey], code: str, message: str, **extra: Any
    ) -> None:
        self.error(file, path, code, message, severity="warning", **extra)

    def condition(
        self,
        file: str,
        path: Sequence[PathKey],
        fields: Mapping[str, str],
        numeric: bool = False,
        domains: Mapping[str, Domain] | None = None,
        customer: bool = True,
    ) -> Condition | None:
        """Parse the expression at `path` and check its text values against `domains` (by
        default the project's); add a diagnostic at the exact column of each problem.
        `customer`: its fields are the customer's (not an event's), and the texts compared
        with them are noted for the store to check."""
        source = self.sources[file]
        raw = source.value(path)
        text = ("TRUE" if raw else "FALSE") if isinstance(raw, bool) else str(raw)
        try:
            parsed = (parse_value if numeric else parse_condition)(text, fields)
        except ConditionError as error:
            if error.code == "unknown-field":  # 'low_value' in quotes is a value, not a
                error.hint = self._field_hint(text, error) or error.hint  # misspelt field
            self._condition_error(source, path, error)
            return None
        for problem in condition_problems(parsed, self.domains if domains is None else domains):
            self._condition_error(source, path, problem)
        if customer:
            self._note_compared(source, path, parsed)
        return parsed

    def _note_compared(self, source: Source, path: Sequence[PathKey], parsed: Condition) -> None:
        for name, value, offset, length in compared_texts(parsed):
            at = source.diagnostic(source.expression_position(path, offset), "", "")
            self.compared.append(ComparedValue(name, value, at.file, at.line, at.col, length))

    def _field_hint(self, text: str, error: ConditionError) -> str | None:
        word = text[error.offset : error.offset + error.length]
        quoted = word.startswith('"')  # the checker points at a quoted name's quote
        if quoted:
            word = text[error.offset + 1 :].split('"')[0]
        return unknown_field_hint(word, quoted, self.labels, self.domains)

    def _condition_error(
        self, source: Source, path: Sequence[PathKey], error: ConditionError
    ) -> None:
        line, col = source.expression_position(path, error.offset)
        self.add(
            source.diagnostic(
                (line, col), error.code, error.message, length=error.length, hint=error.hint
            )
        )
