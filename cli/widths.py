"""Help text measured in terminal columns, not characters.

Click measures every width with `term_len` (characters, ANSI escapes left out), wraps
with a `TextWrapper` that cuts long words by that count, and shortens a command's help line
by characters: a Chinese character takes two columns, so Chinese help ran past the
terminal's edge, and a run of Chinese (no spaces to break at) was cut as one word. Those
three names are pointed at measures in columns here, and a run of Chinese may break
between any two of its characters.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable

import click
import click._compat
import click._textwrap
import click.core
import click.formatting

WIDE = "WF"  # East Asian Wide and Fullwidth: two columns each
ELLIPSIS = "..."
CLOSING = "，。、；：！？）】」』》〉”’"  # Chinese punctuation that never starts a line


def is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in WIDE


def columns(text: str) -> int:
    """Terminal columns `text` takes, ANSI escapes left out."""
    return sum(2 if is_wide(c) else 1 for c in click._compat.strip_ansi(text))


def fitting(text: str, width: int) -> str:
    """The longest start of `text` that fits in `width` columns (at least one character, so
    wrapping always moves on); ANSI escapes are kept whole and take no room."""
    used, end, position = 0, 0, 0
    while position < len(text):
        escape = click._compat._ansi_re.match(text, position)
        if escape is not None:
            position = escape.end()
            continue
        used += columns(text[position])
        if used > width and end:
            break
        position += 1
        end = position
    return text[:end]


# the wide ranges (Chinese, Japanese, Korean, full-width signs): one chunk each
_WIDE_CHAR = re.compile(
    "([\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60"
    "\uffe0-\uffe6])"
)


class ColumnsTextWrapper(click._textwrap.TextWrapper):
    """Click's wrapper, where a line may also break between two Chinese characters."""

    def _split(self, text: str) -> list[str]:
        chunks = super()._split(text)
        return _glued(piece for chunk in chunks for piece in filter(None, _WIDE_CHAR.split(chunk)))

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        """Cut a chunk wider than the line where the rest does not start with 。 or ）: the
        cut moves back a character or more (to the chunk's start when the line holds
        something already); a run of such marks wider than the line is cut where it fits."""
        if not self.break_long_words:
            super()._handle_long_word(reversed_chunks, cur_line, cur_len, width)
            return
        chunk = reversed_chunks[-1]
        fits = len(fitting(chunk, max(width - cur_len, 1)))
        cut = fits
        while cut > (0 if cur_line else 1) and _closes(chunk[cut:]):
            cut -= 1
        if _closes(chunk[cut:]):
            cut = fits
        cur_line.append(chunk[:cut])
        reversed_chunks[-1] = chunk[cut:]


class CellTextWrapper(ColumnsTextWrapper):
    """A table cell's wrapper, breaking as rich does: between words, a run of Chinese kept
    whole when it fits a line of its own; but a run cut where it does not fit is cut as
    above, so that no line starts with 。 or ）."""

    def _split(self, text: str) -> list[str]:
        return _glued(textwrap.TextWrapper._split(self, text))

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        """A word wider than the line starts a line of its own (`C2` / `长沙湘江科` …, a
        name's start kept together), and is cut there."""
        if any(chunk.strip() for chunk in cur_line):
            return
        super()._handle_long_word(reversed_chunks, cur_line, cur_len, width)


def _glued(pieces: Iterable[str]) -> list[str]:
    """The pieces a line may break between, each starting with a closing mark joined to the
    one before it: no line starts with 。 or ）, nor with a space and then ）."""
    glued: list[str] = []
    for piece in pieces:
        if piece[0] not in CLOSING or not glued:
            glued.append(piece)
        elif glued[-1].strip():
            glued[-1] += piece
        elif len(glued) > 1:
            space = glued.pop()
            glued[-1] += space + piece
        else:
            glued.append(piece)
    return glued


def _closes(text: str) -> bool:
    """Whether `text` would start a line with a closing mark (spaces before it dropped)."""
    return text.lstrip()[:1] in tuple(CLOSING)


def short_help(text: str, limit: int = 45) -> str:
    """The first sentence of `text`, or as much of its first paragraph as fits in `limit`
    columns with '...' after it, as click's own short help but counted in columns."""
    words = text.split("\n\n", 1)[0].split()
    if words and words[0] == "\b":
        words = words[1:]
    line = " ".join(words)
    sentence = re.match(r"(.*?(?:[.](?=\s|$)|。))", line)
    if sentence and columns(sentence.group(1)) <= limit:
        return sentence.group(1)
    if columns(line) <= limit:
        return line
    cut = fitting(line, limit - len(ELLIPSIS))
    if line[len(cut)] != " " and " " in cut and not is_wide(cut[-1]):
        cut = cut.rsplit(" ", 1)[0]  # English: whole words only
    return cut.rstrip() + ELLIPSIS


def bind_columns() -> None:
    """Point click's measures at columns (idempotent). Click looks these names up in its
    modules at each call, so setting them there is enough."""
    for module, name, measure in (
        (click.formatting, "term_len", columns),
        (click._textwrap, "term_len", columns),
        (click._textwrap, "_truncate_visible", fitting),
        (click._textwrap, "TextWrapper", ColumnsTextWrapper),
        (click.core, "make_default_short_help", short_help),
    ):
        setattr(module, name, measure)
