"""Full-width punctuation in a YAML rule file: where it breaks the structure, and where a
value that must be ASCII (a name, a time, a condition) contains it.

The file is parsed into events, which know where every key and value stands in the text.
Where a full-width character keeps the file from parsing at all (`after：5 business days`,
an indentation of ideographic spaces, a '－' or '——' list dash), the lines around the parser's
complaint are repaired first and the file is parsed again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingStartEvent,
    ScalarEvent,
)

from guanxi.engine.ruleset.fullwidth import (
    NAMES,
    Replacement,
    apply,
    replacement,
    scan_all,
    scan_expression,
    shifts,
)

PathKey = str | int
MAX_PASSES = 200
FREE_TEXT_KEYS = {"label", "label_en", "description"}
CONDITION_KEYS = {"when", "unless", "expr"}
FILE_NAME_KEYS = {"store", "calendar_overrides", "decision_table", "population"}
_KEY = r"[A-Za-z_][\w.-]*"
# a space as typed: an ordinary one, an input method's wide one (U+3000), or Word's
# non-breaking one (U+00A0), which YAML takes for text
_S = " \u3000\u00a0"
_WIDE = "\u3000\u00a0"
_STRUCTURE = (
    re.compile(rf"^[{_S}]*[{_WIDE}][{_S}]*(?=[^{_S}#\r\n])"),  # indentation
    re.compile(rf"^[{_S}]*(?:[-－][{_S}]+)*－[{_S}]"),  # a list dash
    # a list dash typed as an input method's 破折号: `——id:`, `—— id:`, `— id:`
    re.compile(rf"^[{_S}]*(?:[-－][{_S}]+)*——?(?=[{_S}]|{_KEY})"),
    # a wide space after a list dash: YAML reads `-　name:` as text, not an item
    re.compile(rf"^[{_S}]*(?:[-－][{_S}]+)*[-－] *[{_WIDE}]"),
    re.compile(rf"^[{_S}]*(?:[-－][{_S}]+)*{_KEY}[{_S}]*："),  # a key's colon
    # a wide space after a key's colon: YAML reads `after:　5` as no key at all
    re.compile(rf"^[{_S}]*(?:[-－][{_S}]+)*{_KEY}[{_S}]*[:：][{_WIDE}]+"),
)
_FLOW_KEY = re.compile(rf"[{{,，][{_S}]*{_KEY}[{_S}]*(?:：|:[{_WIDE}]+)")
_PLAIN_KEY = re.compile(rf"{_KEY}[{_S}]*：")


def repair_yaml(text: str, file: str) -> tuple[str, list[Replacement]]:
    """`text` with its full-width characters repaired, and the repairs (indices in `text`).
    `file` is the file's name in the project, which tells what its free text is."""
    repaired, found, _events = repaired_events(text, file)
    return repaired, found


def repaired_events(text: str, file: str) -> tuple[str, list[Replacement], list[Event] | None]:
    """As repair_yaml, with the parse events of the repaired text (None when it does not
    parse): the last pass parsed it already, and the limits walk reads the same events."""
    found: list[Replacement] = []
    current = text
    for _ in range(MAX_PASSES):
        new, events = _pass(current, file)
        new = [_indentation(r, current) for r in new]
        if not new:
            return current, found, events
        added = shifts(found)
        found += [dataclasses.replace(r, index=_original(r.index, added)) for r in new]
        current = apply(text, found)
    return current, found, None


def _indentation(r: Replacement, text: str) -> Replacement:
    """A full-width space in a line's indentation is two spaces: it shows two columns wide
    in a Chinese editor, and the user aligned the line by what they saw (a non-breaking
    space shows one column wide: it stays one space)."""
    line_start = text.rfind("\n", 0, r.index) + 1
    if r.char == "\u3000" and text[line_start : r.index].strip(_S) == "":
        return dataclasses.replace(r, ascii="  ")
    return r


def _original(index: int, changed: Sequence[tuple[int, int]]) -> int:
    return index - sum(count for at, count in changed if at < index)


def _pass(text: str, file: str) -> tuple[list[Replacement], list[Event] | None]:
    """The repairs one parse of `text` finds, and its events (None: it does not parse)."""
    try:
        events = list(YAML(typ="rt").parse(text))
    except MarkedYAMLError as error:
        return _structural(text, error), None
    except YAMLError:
        return [], None
    walk = _Walk(text, file)
    found = walk.run(events)
    # A repaired key or key colon changes which value is where: repair those, parse again.
    return walk.structural or found, events


def _structural(text: str, error: MarkedYAMLError) -> list[Replacement]:
    """Repairs of the structure on the lines the parser complained about."""
    marks = [m.line for m in (error.context_mark, error.problem_mark) if m is not None]
    if not marks:
        return []
    starts = _line_starts(text)
    found: list[Replacement] = []
    first = _content_lines_back(text, starts, min(marks), 2)
    for number in range(first, min(max(marks), len(starts) - 1) + 1):
        line = text[starts[number] : starts[number + 1] if number + 1 < len(starts) else None]
        found += _line_structure(line, starts[number])
    return found


def _content_lines_back(text: str, starts: list[int], line: int, count: int) -> int:
    """The line `count` lines with content (not blank, not a comment) above `line`."""
    while line > 0 and count > 0:
        line -= 1
        content = text[starts[line] : starts[line + 1]].strip()
        count -= 1 if content and not content.startswith("#") else 0
    return line


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _line_structure(line: str, start: int) -> list[Replacement]:
    spans = [m.span() for pattern in _STRUCTURE if (m := pattern.match(line))]
    spans += [m.span() for m in _FLOW_KEY.finditer(line)]
    chars = {(start + i, line[i]) for a, b in spans for i in range(a, b) if line[i] in NAMES}
    repairs = [replacement(i, c) for i, c in sorted(chars)]
    return [_list_dash(_spaced_colon(r, line, start), line, start) for r in repairs]


def _spaced_colon(r: Replacement, line: str, start: int) -> Replacement:
    """A key's ':' needs a space after it in YAML: 'after：5' is 'after: 5'."""
    after = line[r.index - start + 1 : r.index - start + 2]
    if r.char == "：" and after and not after.isspace():
        return dataclasses.replace(r, ascii=": ")
    return r


def _list_dash(r: Replacement, line: str, start: int) -> Replacement:
    """A list's '- ' typed as '——' (or '—'): the first dash is '-', the second the space
    after it, or nothing when a space follows already (`—— id:` is `- id:`)."""
    if r.char != "—":
        return r
    before, after = line[r.index - start - 1 : r.index - start], line[r.index - start + 1 :][:1]
    if before == "—":
        return dataclasses.replace(r, ascii="" if after.isspace() else " ")
    return dataclasses.replace(r, ascii="-" if after in ("—", "") or after.isspace() else "- ")


@dataclasses.dataclass
class _Frame:
    path: tuple[PathKey, ...]
    mapping: bool
    key: PathKey | None = None  # in a mapping: the key whose value comes next
    index: int = 0  # in a list: the next item's index

    def advance(self) -> None:
        if self.mapping:
            self.key = "?" if self.key is None else None
        else:
            self.index += 1


@dataclasses.dataclass
class _Walk:
    """The parse events of a file in order, each scalar with its path from the top."""

    text: str
    file: str
    stack: list[_Frame] = dataclasses.field(default_factory=list)
    structural: list[Replacement] = dataclasses.field(default_factory=list)

    def run(self, events: Sequence[Event]) -> list[Replacement]:
        found: list[Replacement] = []
        for event in events:
            if isinstance(event, ScalarEvent | AliasEvent | CollectionStartEvent):
                path, is_key = self._place()
                if isinstance(event, ScalarEvent):
                    found += self._scalar(event, path, is_key)
                if isinstance(event, CollectionStartEvent):
                    self.stack.append(_Frame(path, isinstance(event, MappingStartEvent)))
                elif is_key and isinstance(event, ScalarEvent):
                    self.stack[-1].key = str(event.value)
                elif self.stack:
                    self.stack[-1].advance()
            elif isinstance(event, CollectionEndEvent):
                self.stack.pop()
                if self.stack:
                    self.stack[-1].advance()
        return found

    def _place(self) -> tuple[tuple[PathKey, ...], bool]:
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if not top.mapping:
            return (*top.path, top.index), False
        if top.key is None:
            return (*top.path, "?"), True
        return (*top.path, top.key), False

    def _scalar(
        self, event: ScalarEvent, path: tuple[PathKey, ...], is_key: bool
    ) -> list[Replacement]:
        start, end = event.start_mark.index, event.end_mark.index
        chars = list(enumerate(self.text[start:end], start))
        if event.style in ("|", ">"):
            chars = _without_header_comment(chars)
        if is_key:
            self.structural += self._key_colon(event, chars) or scan_all(chars)
            return []
        if free_text(self.file, path):
            return []
        self.structural += self._key_colon(event, chars)[:1]
        if path and path[-1] in CONDITION_KEYS:
            return scan_expression(_unquoted(chars, event.style))
        return scan_all(chars)

    def _key_colon(self, event: ScalarEvent, chars: list[tuple[int, str]]) -> list[Replacement]:
        """A plain value `name：x` is a key and its value typed with a full-width colon: the
        colon's repair first (with the space YAML needs after it), then the others."""
        start, end = event.start_mark.index, event.end_mark.index
        key = _PLAIN_KEY.match(self.text, start, end) if event.style is None else None
        if key is None:
            return []
        colon = _spaced_colon(scan_all([(key.end() - 1, "：")])[0], self.text, 0)
        return [colon, *(r for r in scan_all(chars) if r.index != colon.index)]


def _without_header_comment(chars: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """A block value's characters without a comment on its '|' or '>' line."""
    newline = next((i for i, (_, c) in enumerate(chars) if c == "\n"), len(chars))
    hash_at = next((i for i, (_, c) in enumerate(chars[:newline]) if c == "#"), newline)
    return chars[:hash_at] + chars[newline:]


def _unquoted(chars: list[tuple[int, str]], style: str | None) -> list[tuple[int, str]]:
    """A quoted YAML value's characters inside its quotes; in single quotes '' is one '."""
    if style not in ("'", '"') or len(chars) < 2:
        return chars
    inner = chars[1:-1]
    if style == '"':
        return inner
    kept: list[tuple[int, str]] = []
    skip = False
    for i, (index, char) in enumerate(inner):
        if skip:
            skip = False
            continue
        kept.append((index, char))
        skip = char == "'" and i + 1 < len(inner) and inner[i + 1][1] == "'"
    return kept


def free_text(file: str, path: Sequence[PathKey]) -> bool:
    """Whether the value at `path` of `file` is text for people (or data, or a file name),
    where full-width punctuation is at home."""
    if not path:
        return False
    last = path[-1]
    if last in FREE_TEXT_KEYS or last in FILE_NAME_KEYS:
        return True
    if file == "templates.yaml":
        return len(path) == 3 and path[0] == "templates" and last in ("subject", "body")
    if file == "guanxi.yaml":
        return tuple(path) == ("name",)
    if file == "schema.yaml":
        return "values" in path
    if file.startswith("tests/"):
        return _scenario_text(path)
    return False


def _scenario_text(path: Sequence[PathKey]) -> bool:
    """A scenario's name, a customer's or an event's field values, an expected reason."""
    if len(path) < 3 or path[0] != "scenarios":
        return False
    inside = path[2:]
    if inside == ("name",) or (len(inside) >= 2 and inside[0] in ("customer", "before")):
        return True
    if len(inside) >= 4 and inside[0] == "events" and inside[2] == "fields":
        return True
    return inside[-1] == "reason"
