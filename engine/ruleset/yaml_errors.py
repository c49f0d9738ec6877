"""A YAML parser's complaint in plain words, at the line that is actually wrong.

The parser speaks of tokens ('<block end>', '?', '<block mapping start>') and often notices a
mistake a line after it was made. Each known complaint is turned into what a person editing
the file would say, pointing at the line to change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.tokens import ScalarToken

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import N_, _

if TYPE_CHECKING:
    from guanxi.engine.ruleset.source import Source

LAYOUT_HINT = N_("check the indentation, colons and quotes on this line and the one before")
INDENT_HINT = N_("indent it exactly like the lines above it in the same block (spaces only)")
FLOW_LIST, FLOW_BLOCK = N_("[ … ] list"), N_("{ … } block")
# What a token or character the parser names (as Python's repr) is, in a user's words
NAMES = {
    "'<block end>'": N_("the end of the block"),
    "'<block mapping start>'": N_("a new block of keys"),
    "'<block sequence start>'": N_("a new list"),
    "'<scalar>'": N_("a value"),
    "'?'": N_("a key"),
    "'-'": N_("a list item ('- ')"),
    "'<document start>'": "'---'",
    "'<document end>'": "'...'",
    "'<stream end>'": N_("the end of the file"),
    "'<alias>'": N_("a reference ('*name')"),
    "'<anchor>'": N_("an anchor ('&name')"),
    "'<tag>'": N_("a tag ('!name')"),
    "'<directive>'": N_("a directive ('%')"),
    "'\\x00'": N_("the end of the file"),
    # characters, and the kinds of value a merge (<<) complains of: English keeps them as the
    # parser writes them, the catalog names them
    "' '": N_("' '"),
    "'\\n'": N_("'\\n'"),
    "'\\t'": N_("'\\t'"),
    "scalar": N_("scalar"),
    "sequence": N_("sequence"),
    "mapping": N_("mapping"),
}
# The parser's own complaints (ruamel.yaml's scanner, parser, composer and constructor), word
# for word with what varies as a {placeholder}; the handlers above catch the common ones first.
PROBLEMS = (
    N_("expected the node content, but found {found}"),
    N_("sequence entries are not allowed here"),
    N_("mapping keys are not allowed here"),
    N_("mapping values are not allowed here"),
    N_("could not find expected ':'"),
    N_("found unexpected ':'"),
    N_("found unexpected end of stream"),
    N_("found unexpected document separator"),
    N_("found unknown escape character {found}"),
    N_("expected escape sequence of {length} hexdecimal numbers, but found {found}"),
    N_("expected URI escape sequence of 2 hexdecimal numbers, but found {found}"),
    N_("expected alphabetic or numeric character, but found {found}"),
    N_("expected a digit or '.', but found {found}"),
    N_("expected a digit, but found {found}"),
    N_("expected ' ', but found {found}"),
    N_("expected a comment or a line break, but found {found}"),
    N_("expected '!', but found {found}"),
    N_("expected '!' but found {found}"),
    N_("expected '>' but found {found}"),
    N_("expected URI, but found {found}"),
    N_("expected chomping or indentation indicators, but found {found}"),
    N_("expected indentation indicator in the range 1-9, but found 0"),
    N_("more indented follow up line than first in a block scalar"),
    N_("expected <block end>, but found {found}"),
    N_("found non-comment content after document end marker, {found}"),
    N_("found undefined tag handle {found}"),
    N_("duplicate tag handle {found}"),
    N_("found duplicate YAML directive"),
    N_("found incompatible YAML document (version 1.* is required)"),
    N_("but found another document"),
    N_("found undefined alias {found}"),
    N_(
        "maximum depth of data structure exceeded ({depth}), if necessary increase YAML().max_depth"
    ),
    N_("expected a mapping or list of mappings for merging, but found {found}"),
    N_("expected a mapping for merging, but found {found}"),
    N_("found unhashable key"),
)


def plain_yaml_error(source: Source, error: MarkedYAMLError) -> Diagnostic:
    """The diagnostic for `error` in `source`."""
    problem = str(error.problem or error.context or error)
    for handler in HANDLERS:
        found = handler(source, error, problem)
        if found is not None:
            return found
    return _fallback(source, error, problem)


def control_character(source: Source, error: ReaderError) -> Diagnostic:
    """The diagnostic for a character YAML does not allow (a control character pasted in),
    at its place in the file rather than as a character count."""
    before = source.text[: error.position]
    at = (before.count("\n") + 1, error.position - before.rfind("\n"))
    code = f"U+{error.character:04X}" if isinstance(error.character, int) else "?"
    return source.diagnostic(
        at,
        "yaml-syntax",
        _("an invisible control character ({code}) that a rule file cannot hold").format(code=code),
        hint=_("delete it (retype the text around it if you cannot see it)"),
    )


def _at(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _quote_runs_on(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    """A quote not closed on its line runs on to the next quote, lines further down, where
    the parser then complains: point at the quote that was opened."""
    if error.problem_mark is None:
        return None
    quoted = None
    try:
        for token in YAML(typ="rt").scan(source.text):
            if token.end_mark.index > error.problem_mark.index:
                break
            if isinstance(token, ScalarToken) and token.style in ("'", '"'):
                quoted = token
    except YAMLError:
        pass
    if quoted is None or quoted.start_mark.line == quoted.end_mark.line:
        return None
    if quoted.end_mark.line != error.problem_mark.line:
        return None
    quote = quoted.style
    return source.diagnostic(
        _at(quoted.start_mark),
        "yaml-syntax",
        _("the quote {quote} opened here is not closed on its line").format(quote=quote),
        hint=_("end the value with {quote} on the same line").format(quote=quote),
    )


def _tab(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    """A tab where YAML takes spaces: indenting a line, or after a key's colon (`label:<Tab>`,
    as editors that move between cells with Tab write it)."""
    if "'\\t'" not in problem:
        return None
    at = _at(error.problem_mark)
    before = (source.line(at[0]) or "")[: at[1] - 1].rstrip(" \t")
    if before.endswith(":"):
        message = _("a tab after the colon; YAML takes only spaces between a key and its value")
        hint = _("replace the tab with a space")
    elif before.strip():
        message = _("a tab in the middle of the line; YAML takes only spaces there")
        hint = _("replace the tab with a space, or put a value that holds a tab in quotes")
    else:
        message = _("a tab is used for indentation")
        hint = _("YAML allows only spaces for indentation; replace the tab with spaces")
    return source.diagnostic(at, "yaml-tab", message, hint=hint)


def _duplicate(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    if "duplicate key" not in problem:
        return None
    key = problem.split('"')[1] if '"' in problem else "?"
    return source.diagnostic(
        _at(error.problem_mark),
        "duplicate-key",
        _("the key '{key}' is given twice in this block").format(key=key),
        length=len(key),
        hint=_("remove one of them or rename it"),
    )


def _unclosed(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    ended = "end of stream" in problem or "<stream end>" in problem
    if not ended or error.context_mark is None:
        return None
    opened = _at(error.context_mark)
    if "quoted scalar" in str(error.context):
        text = source.line(opened[0]) or ""
        quote = text[opened[1] - 1 : opened[1]] or '"'
        return source.diagnostic(
            opened,
            "yaml-syntax",
            _("the quote {quote} opened here is never closed").format(quote=quote),
            hint=_("end the value with {quote} on the same line").format(quote=quote),
        )
    what = _(FLOW_LIST) if "sequence" in str(error.context) else _(FLOW_BLOCK)
    return source.diagnostic(
        opened,
        "yaml-syntax",
        _("this {what} is never closed (the file ends first)").format(what=what),
        hint=_("a '[', '{' or quote opened here needs its closing partner"),
    )


def _no_colon(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    if "could not find expected ':'" not in problem or error.context_mark is None:
        return None
    at = _at(error.context_mark)
    text = (source.line(at[0]) or "")[at[1] - 1 :].rstrip()
    if (glued := re.match(r"([^\s:'\"{}\[\]#]+):(?=[^\s/])(.+)", text)) is not None:
        key, value = glued.groups()
        return source.diagnostic(
            (at[0], at[1] + len(key)),
            "yaml-syntax",
            _("a space is missing after the ':' of '{key}'").format(key=key),
            hint=_("write {text}").format(text=f"{key}: {value}"),
        )
    return source.diagnostic(
        at,
        "yaml-syntax",
        _("'{text}' has no ':' after its key").format(text=text),
        length=len(text),
        hint=_(
            "a line in a block is 'key: value'; a text that goes on from the line above "
            "must be indented more than its key"
        ),
    )


def _indented_less(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    """'expected <block end>, but found …' at the start of a line: that line is indented
    less than the block it is in, but more than the block around that."""
    if not problem.startswith("expected <block end>") or error.problem_mark is None:
        return None
    at = _at(error.problem_mark)
    text = source.line(at[0]) or ""
    if text[: at[1] - 1].strip():
        return _after_value(source, at)
    what = _("list") if text.lstrip().startswith("- ") else _("block")
    above = _indent_above(source, at[0])
    spaces = ""
    if above > at[1] - 1:
        spaces = _(" ({count} spaces instead of {above})").format(count=at[1] - 1, above=above)
    message = _("this line is indented less than the lines above it in the same {what}{spaces}")
    return source.diagnostic(
        at,
        "yaml-syntax",
        message.format(what=what, spaces=spaces),
        hint=_(INDENT_HINT),
    )


def _indent_above(source: Source, line: int) -> int:
    """How far the keys of the nearest line above with content are indented."""
    for number in range(line - 1, 0, -1):
        text = source.line(number) or ""
        content = text.lstrip(" ")
        if content and not content.startswith("#"):
            dash = re.match(r"(-\s+)*", content)
            return len(text) - len(content) + (dash.end() if dash else 0)
    return 0


def _after_value(source: Source, at: tuple[int, int]) -> Diagnostic:
    return source.diagnostic(
        at,
        "yaml-syntax",
        _("there is more text after a complete value on this line"),
        hint=_(
            "a value in quotes ends at its closing quote; put the whole value inside the quotes"
        ),
    )


def _colon_in_value(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic | None:
    if "mapping values are not allowed" not in problem or error.problem_mark is None:
        return None
    at = _at(error.problem_mark)
    before = (source.line(at[0]) or "")[: at[1] - 1]
    if re.search(r":\s", before):
        return source.diagnostic(
            at,
            "yaml-syntax",
            _("a second ': ' on this line; a value that contains ': ' must be in quotes"),
            hint=_('write it as  key: "the value: with its colon"'),
        )
    return _dash_glued_above(source, at[0]) or source.diagnostic(
        (at[0], len(before) - len(before.lstrip()) + 1),
        "yaml-syntax",
        _("this line is indented more than the line above it, which already has a value"),
        hint=_(INDENT_HINT),
    )


def _dash_glued_above(source: Source, line: int) -> Diagnostic | None:
    """`-id: x` above: a list item's '-' without its space is part of a key, so the item's
    next key reads as indented too far; point at the '-'."""
    number = next(
        (n for n in range(line - 1, 0, -1) if (source.line(n) or "").strip()[:1] not in ("", "#")),
        0,
    )
    text = source.line(number) or ""
    content = text.lstrip(" ")
    if re.match(r"-[^\s-]", content) is None:
        return None
    return source.diagnostic(
        (number, len(text) - len(content) + 1),
        "yaml-syntax",
        _("a space is missing after the '-' that starts a list item"),
        hint=_("write {text}").format(text=f"- {content[1:].rstrip()}"),
    )


HANDLERS = (
    _quote_runs_on,
    _tab,
    _duplicate,
    _unclosed,
    _no_colon,
    _indented_less,
    _colon_in_value,
)


def _fallback(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic:
    if found := re.search(r"found character '(.+)' that cannot start any token", problem):
        return source.diagnostic(
            _at(error.problem_mark),
            "yaml-syntax",
            _("a value cannot start with '{sign}'").format(sign=found.group(1)),
            hint=_("put the value in quotes"),
        )
    if (flow := re.match(r"expected ',' or '([\]}])'", problem)) is not None:
        what = _(FLOW_LIST) if flow.group(1) == "]" else _(FLOW_BLOCK)
        message = _("a ',' or '{sign}' is missing in this {what}")
        return source.diagnostic(
            _at(error.problem_mark),
            "yaml-syntax",
            message.format(sign=flow.group(1), what=what),
            hint=_("separate the items with ',' and close the list"),
        )
    if problem.startswith("expected '<document start>'"):
        return source.diagnostic(
            _at(error.problem_mark),
            "yaml-syntax",
            _("this line belongs to no key above it"),
            hint=_("is the ':' missing after the key above it?"),
        )
    return _in_words(source, error, problem)


def _in_words(source: Source, error: MarkedYAMLError, problem: str) -> Diagnostic:
    """The parser's complaint as it stands, translated phrase by phrase (PROBLEMS) with the
    tokens and characters it names in words."""
    at = _at(error.problem_mark or error.context_mark)
    for template, pattern in PATTERNS:
        if (found := pattern.fullmatch(problem)) is not None:
            named = {key: _named(value) for key, value in found.groupdict().items()}
            message = _(template).format(**named)
            return source.diagnostic(at, "yaml-syntax", message, hint=_(LAYOUT_HINT))
    words = problem
    for token, word in NAMES.items():
        if token.startswith("'"):
            words = words.replace(token, _(word))
    return source.diagnostic(at, "yaml-syntax", words, hint=_(LAYOUT_HINT))


def _named(value: str) -> str:
    """A token or character the parser names, in words where NAMES has them."""
    single = re.fullmatch(r"\(('.*'),\)", value)  # some complaints name a token as a tuple
    value = single.group(1) if single else value
    return _(NAMES[value]) if value in NAMES else value


def _pattern(template: str) -> re.Pattern[str]:
    """The complaint `template` as a regular expression, each {placeholder} a named group."""
    parts = re.split(r"\{(\w+)\}", template)  # text, name, text, name, …, text
    texts = [re.escape(part) for part in parts[::2]]
    groups = [f"(?P<{name}>.+)" for name in parts[1::2]] + [""]
    return re.compile("".join(text + group for text, group in zip(texts, groups, strict=True)))


PATTERNS = tuple((template, _pattern(template)) for template in PROBLEMS)
