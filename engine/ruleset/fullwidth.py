"""Full-width punctuation typed where a rule file needs ASCII, found and repaired.

A Chinese input method types '，' for ',', '：' for ':', '（' for '(' and '１８０' for '180'.
In free text (labels, descriptions, template texts, comments, quoted text in a condition) that
is right; anywhere else it silently changes the meaning or breaks the file far from the place
it was typed. Each such character becomes a `Replacement`: where it stands in the file's text,
and the ASCII it stands for. Validation reports each one and goes on with the repaired text;
`guanxi validate --fix` writes the repairs into the files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from guanxi.engine.diagnostics import Diagnostic
from guanxi.engine.i18n import N_, _

CODE = "full-width"
HINT = N_("switch the input method to English punctuation, or run 'guanxi validate --fix'")
WORD_HINT = N_("run 'guanxi validate --fix': it makes them ordinary spaces")
DASH_HINT = N_(
    "a list item starts with the ASCII '-' and a space: switch the input method to English"
    " punctuation, or run 'guanxi validate --fix'"
)
LIST_DASHES = "－—"

# character -> (its name, the ASCII it stands for)
NAMES: dict[str, tuple[str, str]] = {
    "，": (N_("comma"), ","),
    "：": (N_("colon"), ":"),
    "；": (N_("semicolon"), ";"),
    "（": (N_("opening bracket"), "("),
    "）": (N_("closing bracket"), ")"),
    "【": (N_("opening square bracket"), "["),  # 方头括号, typed for '[' on a Chinese keyboard
    "】": (N_("closing square bracket"), "]"),
    "［": (N_("opening square bracket"), "["),
    "］": (N_("closing square bracket"), "]"),
    "＜": (N_("less-than sign"), "<"),
    "＞": (N_("greater-than sign"), ">"),
    "＝": (N_("equals sign"), "="),
    "！": (N_("exclamation mark"), "!"),
    "‘": (N_("opening quote"), "'"),
    "’": (N_("closing quote"), "'"),
    "“": (N_("opening double quote"), '"'),
    "”": (N_("closing double quote"), '"'),
    "％": (N_("percent sign"), "%"),
    "＋": (N_("plus sign"), "+"),
    "－": (N_("dash"), "-"),
    "—": (N_("dash"), "-"),  # an input method's 破折号 (typed twice: ——), for a list's '-'
    "．": (N_("full stop"), "."),
    "\u3000": (N_("space"), " "),
    "\u00a0": (N_("non-breaking space"), " "),  # Word's, kept by a copy into the file
    "、": (N_("enumeration comma"), ","),  # 顿号: a list's separator in Chinese
    "≥": (N_("greater-than-or-equal sign"), ">="),
    "≧": (N_("greater-than-or-equal sign"), ">="),
    "≤": (N_("less-than-or-equal sign"), "<="),
    "≦": (N_("less-than-or-equal sign"), "<="),
    "≠": (N_("not-equal sign"), "<>"),
    "×": (N_("multiplication sign"), "*"),  # an input method's 乘号, Word's too
    "÷": (N_("division sign"), "/"),
    **{chr(0xFF10 + d): (N_("digit"), str(d)) for d in range(10)},
}
PLURALS = {
    "comma": N_("commas"),
    "colon": N_("colons"),
    "semicolon": N_("semicolons"),
    "opening bracket": N_("opening brackets"),
    "closing bracket": N_("closing brackets"),
    "opening square bracket": N_("opening square brackets"),
    "closing square bracket": N_("closing square brackets"),
    "less-than sign": N_("less-than signs"),
    "greater-than sign": N_("greater-than signs"),
    "equals sign": N_("equals signs"),
    "exclamation mark": N_("exclamation marks"),
    "opening quote": N_("opening quotes"),
    "closing quote": N_("closing quotes"),
    "opening double quote": N_("opening double quotes"),
    "closing double quote": N_("closing double quotes"),
    "percent sign": N_("percent signs"),
    "plus sign": N_("plus signs"),
    "dash": N_("dashes"),
    "full stop": N_("full stops"),
    "space": N_("spaces"),
    "non-breaking space": N_("non-breaking spaces"),
    "enumeration comma": N_("enumeration commas"),
    "greater-than-or-equal sign": N_("greater-than-or-equal signs"),
    "less-than-or-equal sign": N_("less-than-or-equal signs"),
    "not-equal sign": N_("not-equal signs"),
    "multiplication sign": N_("multiplication signs"),
    "division sign": N_("division signs"),
    "digit": N_("digits"),
}
QUOTES = "‘’“”"
SPACES = "\u3000\u00a0"
# Read as a space in a value or a condition (which strip it or skip it): only where YAML's
# structure trips on it (an indentation, after a list dash or a key's colon) is it repaired.
# An em dash (—) is at home in text too: only a list's dash typed as one is repaired.
STRUCTURE_ONLY = "\u00a0—"  # Word's non-breaking space; an input method's em dash
# A condition lists values in round brackets (`tier IN ('a', 'b')`); a table cell's ranges
# and YAML's lists are in square ones.
IN_CONDITION = {"【": "(", "】": ")", "［": "(", "］": ")"}


@dataclass(frozen=True)
class Replacement:
    """The full-width character at `index` of a file's text is to be `ascii`."""

    index: int
    char: str
    ascii: str
    reported: bool = True  # False: a '"' put around a table cell, not a character typed


def replacement(
    index: int, char: str, in_condition: bool = False, csv_cell: bool = False
) -> Replacement:
    """The repair of `char`; in a condition (or a table cell) every quote is a text quote
    ('), and in a condition a square bracket is a round one."""
    ascii_text = "'" if in_condition and char in QUOTES else NAMES[char][1]
    if in_condition and not csv_cell:
        ascii_text = IN_CONDITION.get(char, ascii_text)
    return Replacement(index, char, ascii_text)


def apply(text: str, replacements: Iterable[Replacement]) -> str:
    """`text` with every replacement made (each replaces exactly its one character)."""
    parts: list[str] = []
    last = 0
    for r in sorted(replacements, key=lambda r: r.index):
        parts.append(text[last : r.index])
        parts.append(r.ascii)
        last = r.index + 1
    parts.append(text[last:])
    return "".join(parts)


def shifts(replacements: Iterable[Replacement]) -> list[tuple[int, int]]:
    """Where a repair changed the length of the text: (index in the repaired text, the
    characters it added). A ':' that needed a space after it adds one: columns after it are
    one more than in the file. The second dash of a list's '——' is removed: columns from
    the index on are one less."""
    changed: list[tuple[int, int]] = []
    extra = 0
    for r in sorted(replacements, key=lambda r: r.index):
        extra += len(r.ascii) - 1
        if len(r.ascii) != 1:
            changed.append((r.index + extra, len(r.ascii) - 1))
    return changed


def scan_expression(chars: Sequence[tuple[int, str]], csv_cell: bool = False) -> list[Replacement]:
    """Full-width characters of a condition (or a decision-table cell) outside quoted text.
    `chars` are the expression's characters with their index in the file. A Chinese quote
    opens or closes quoted text like an ASCII one does (and is itself reported); a closing
    Chinese quote ends text opened by an ASCII quote unless a letter follows. In a CSV
    cell '"' is the spreadsheet's own quoting, not part of the expression."""
    found: list[Replacement] = []
    closers = ""
    for at, (index, char) in enumerate(chars):
        if closers:
            following = chars[at + 1][1] if at + 1 < len(chars) else " "
            if char in closers or (char in "’”" and not following.isalnum()):
                closers = ""
                if char in QUOTES:
                    found.append(replacement(index, char, in_condition=True))
            continue
        if char == "'" or (char == '"' and not csv_cell):
            closers = char
        elif char in QUOTES:
            closers = "‘’'" if char in "‘’" else '“”"'
            found.append(replacement(index, char, in_condition=True))
        elif char in NAMES and char not in STRUCTURE_ONLY:
            found.append(replacement(index, char, in_condition=True, csv_cell=csv_cell))
    return found


def scan_all(chars: Iterable[tuple[int, str]]) -> list[Replacement]:
    """Every full-width character of text that must be ASCII throughout (a name, a time)."""
    return [
        replacement(index, char)
        for index, char in chars
        if char in NAMES and char not in STRUCTURE_ONLY
    ]


def diagnostics(shown: str, text: str, found: Sequence[Replacement]) -> list[Diagnostic]:
    """One diagnostic per run of adjacent full-width characters, at the run's first one."""
    result: list[Diagnostic] = []
    for run in _runs([r for r in found if r.reported]):
        line = text.count("\n", 0, run[0].index) + 1
        col = run[0].index - (text.rfind("\n", 0, run[0].index) + 1) + 1
        hint = _(_hint(run, text))
        result.append(Diagnostic(shown, line, col, CODE, _message(run), hint=hint, length=len(run)))
    return result


def _hint(run: Sequence[Replacement], text: str) -> str:
    if all(r.char == "\u00a0" for r in run):
        return WORD_HINT
    first = run[0]
    line_start = text.rfind("\n", 0, first.index) + 1
    before = text[line_start : first.index].strip(f"{SPACES} -－")  # an item's own dashes
    return DASH_HINT if first.char in LIST_DASHES and not before else HINT


def _runs(found: Sequence[Replacement]) -> list[list[Replacement]]:
    runs: list[list[Replacement]] = []
    for r in sorted(found, key=lambda r: r.index):
        if runs and runs[-1][-1].index + 1 == r.index:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _message(run: Sequence[Replacement]) -> str:
    chars = "".join(r.char for r in run)
    # ': ' is shown as ':', the list dash '- ' typed as '——' as '-'; spaces as they are
    wanted = "".join(r.ascii.strip() for r in run) or "".join(r.ascii for r in run)
    needed = {"'": _("a straight quote '"), '"': _('a straight double quote "')}.get(wanted)
    if chars.strip("\u00a0") == "":
        if len(run) == 1:
            return _("a non-breaking space (copied from Word) where an ordinary space is needed")
        message = _("{count} non-breaking spaces (from Word) where ordinary spaces are needed")
        return message.format(count=len(run))
    if chars.strip(SPACES) == "":
        if len(run) == 1:
            return _("a full-width space where an ordinary space is needed")
        message = _("{count} full-width spaces where ordinary spaces are needed")
        return message.format(count=len(run))
    kinds = {NAMES[r.char][0] for r in run}
    if len(run) == 1:
        kind = _(NAMES[run[0].char][0])
    else:
        kind = _(PLURALS[kinds.pop()]) if len(kinds) == 1 else _("characters")
    if needed is None:
        message = _("full-width {kind} '{chars}' where '{wanted}' is needed")
        return message.format(kind=kind, chars=chars, wanted=wanted)
    # a quote is named in words (Chinese joins words without a space, a quoted sign with one)
    message = _("full-width {kind} '{chars}' where {needed} is needed")
    return message.format(kind=kind, chars=chars, needed=needed)


def scan_table(text: str, free_columns: Sequence[str]) -> list[Replacement]:
    """Full-width characters of a CSV decision table outside its free-text columns: in the
    header (column names) and in every cell that is a test on a field."""
    found: list[Replacement] = []
    header: list[str] | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        chars = list(enumerate(content, offset))
        if header is None:
            found += scan_all(chars)
            if content.strip():
                header = [_cell(content, a, b).strip() for a, b in _cells(content)]
        else:
            separators = _typed_separators(content, header, free_columns)
            found += [replacement(offset + index, content[index]) for index in separators]
            cells = _cells(content, separators)
            if len(cells) != len(header) and content.strip():
                cells = []  # which cell is which is not known: the row is reported as it is
            for column, (a, b) in zip(header, cells, strict=False):
                if column not in free_columns:
                    found += _kept_in_cell(chars[a:b], scan_expression(chars[a:b], csv_cell=True))
        offset += len(line)
    return found


def _typed_separators(line: str, header: Sequence[str], free: Sequence[str]) -> set[int]:
    """Where a row short of cells has exactly the cells it lacks once its full-width commas
    (，、) outside quotes are read as commas: those were typed to separate cells. A cell that
    is free text counted from either end of the row (a label, the description) keeps its
    commas. Otherwise none: the short row is reported as it is."""
    cells = _cells(line)
    missing = len(header) - len(cells)
    if missing <= 0:
        return set()
    typed: set[int] = set()
    for index, (a, b) in enumerate(cells):
        if header[index] in free or header[index + missing] in free or '"' in line[a:b]:
            continue
        typed |= {a + i for i, char in enumerate(line[a:b]) if char in "，、"}
    return typed if len(typed) == missing else set()


def _kept_in_cell(chars: Sequence[tuple[int, str]], found: list[Replacement]) -> list[Replacement]:
    """A cell's repairs; when one is a comma in a cell not in double quotes, the cell is put
    in quotes too, so that the comma separates the cell's values, not the table's columns."""
    text = "".join(char for _index, char in chars)
    if not any(r.ascii == "," for r in found) or '"' in text or not text.strip():
        return found
    filled = [(index, char) for index, char in chars if not char.isspace()]
    (first, first_char), (last, last_char) = filled[0], filled[-1]
    if {first, last} & {r.index for r in found}:
        return found  # a cell starting or ending with the comma: left as it was typed
    if first == last:
        return [*found, Replacement(first, first_char, f'"{first_char}"', reported=False)]
    opening = Replacement(first, first_char, f'"{first_char}', reported=False)
    closing = Replacement(last, last_char, f'{last_char}"', reported=False)
    return [opening, *found, closing]


def in_file(text: str, found: Sequence[Replacement], diagnostic: Diagnostic) -> Diagnostic:
    """`diagnostic`, found in the repaired `text`, with its column in the file as typed."""
    start = sum(len(line) for line in text.splitlines(keepends=True)[: diagnostic.line - 1])
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    col, shift = diagnostic.col - 1, 0
    for r in sorted((r for r in found if start <= r.index < end), key=lambda r: r.index):
        at = r.index - start + shift  # where the repair begins in the repaired line
        if col < at:
            break
        if col < at + len(r.ascii):
            return replace(diagnostic, col=r.index - start + 1)
        shift += len(r.ascii) - 1
    return replace(diagnostic, col=col - shift + 1)


def _cells(line: str, typed: Collection[int] = ()) -> list[tuple[int, int]]:
    """Start and end of each cell of one CSV line (a ',' inside double quotes is text);
    `typed`: the indices of full-width commas that separate cells too."""
    spans, start, quoted = [], 0, False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif (char == "," or index in typed) and not quoted:
            spans.append((start, index))
            start = index + 1
    return [*spans, (start, len(line))]


def _cell(line: str, start: int, end: int) -> str:
    return apply(line[start:end], scan_all(enumerate(line[start:end]))).strip('"')
