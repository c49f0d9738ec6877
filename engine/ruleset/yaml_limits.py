"""Limits a YAML rule file must keep before it is built into Python values.

A few hundred bytes of YAML can stand for billions of values (aliases of aliases: the
"billion laughs"), nest deeper than the YAML library's recursion can follow, or hold a number
with more digits than Python converts. The file's parse events are walked once, without
building anything, and the first place over a limit is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    ScalarEvent,
)

from guanxi.engine.i18n import N_, _

MAX_DEPTH = 50  # blocks and lists inside each other; a rule file needs fewer than ten
MAX_ALIASED = 10_000  # values copied in by `*name` aliases, counted through every level
MAX_DIGITS = 30  # digits of a number written in a rule file

_BRACKET = re.compile(r"[\[\]{}]")
_NUMBER = re.compile(r"[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class LimitExceeded:
    """Where (0-based line and column) a limit is passed, what happened, and a hint."""

    line: int
    col: int
    code: str
    message: str
    hint: str


@dataclass
class _Walk:
    sizes: dict[str, int] = field(default_factory=dict)  # anchor -> values it stands for
    open: list[tuple[str | None, int]] = field(default_factory=list)  # (anchor, values so far)
    aliased: int = 0


def first_limit_exceeded(text: str, events: Iterable[Event] | None = None) -> LimitExceeded | None:
    """The first place where `text` passes a limit, or None. Raises ruamel's YAMLError for
    a syntax error, as loading would. `events`: the text's parse events, if parsed already."""
    deep = bracket_too_deep(text)
    if deep is not None:
        return deep
    walk = _Walk()
    for event in YAML(typ="rt").parse(text) if events is None else events:
        problem = _step(walk, event)
        if problem is not None:
            return problem
    return None


def bracket_too_deep(text: str) -> LimitExceeded | None:
    """The first '[' or '{' opened more than MAX_DEPTH deep, found by counting characters:
    the YAML scanner would look ahead over thousands of them first, slowly."""
    depth = 0
    for match in _BRACKET.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_DEPTH:
            line = text.count("\n", 0, match.start())
            col = match.start() - (text.rfind("\n", 0, match.start()) + 1)
            return LimitExceeded(line, col, "too-deep", _too_deep(), _hint("too-deep"))
    return None


def _step(walk: _Walk, event: Event) -> LimitExceeded | None:
    if isinstance(event, CollectionStartEvent):
        walk.open.append((event.anchor, 1))
        if len(walk.open) > MAX_DEPTH:
            return _at(event, "too-deep", _too_deep())
    elif isinstance(event, CollectionEndEvent):
        anchor, size = walk.open.pop()
        _count(walk, anchor, size)
    elif isinstance(event, AliasEvent):
        size = walk.sizes.get(str(event.anchor), 1)
        walk.aliased += size
        if walk.aliased > MAX_ALIASED:
            message = _("aliases repeat more than {count} values").format(count=MAX_ALIASED)
            return _at(event, "too-many-aliases", message)
        _count(walk, None, size)
    elif isinstance(event, ScalarEvent):
        digits = sum(c.isdigit() for c in event.value)
        if event.style is None and digits > MAX_DIGITS and _NUMBER.fullmatch(event.value):
            message = _("this number has {count} digits").format(count=digits)
            return _at(event, "number-out-of-range", message)
        _count(walk, event.anchor, 1)
    return None


def _count(walk: _Walk, anchor: str | None, size: int) -> None:
    """A finished value of `size` values: remember its anchor's size, add it to its parent."""
    if anchor is not None:
        walk.sizes[anchor] = size
    if walk.open:
        parent, so_far = walk.open[-1]
        walk.open[-1] = (parent, so_far + size)


HINTS = {
    "too-deep": N_("a rule file needs only a few levels of indentation; is a bracket not closed?"),
    "too-many-aliases": N_("write the values out, or use fewer '*' aliases of aliases"),
    "number-out-of-range": N_("numbers in rule files have at most {count} digits"),
}


def _hint(code: str) -> str:
    return _(HINTS[code]).format(count=MAX_DIGITS)


def _too_deep() -> str:
    return _("blocks and lists are nested more than {count} deep").format(count=MAX_DEPTH)


def _at(event: Event, code: str, message: str) -> LimitExceeded:
    mark = event.start_mark
    return LimitExceeded(mark.line, mark.column, code, message, _hint(code))
