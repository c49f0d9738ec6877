"""Tables that fit the terminal without cutting a date, a time, an id or a number.

rich shrinks a table that is too wide by cutting cells to `2026-0…`. Here a column is either
text, which may wrap between words (Chinese between characters), or a value (a date, an id,
an amount), which stays whole on one line. When the terminal is too narrow even so, columns
marked droppable are left out, least useful first, and the caption says which; when nothing
more can go, the table is printed wider than the terminal (which wraps the lines) rather
than cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from guanxi.cli.masking import shown
from guanxi.cli.widths import CellTextWrapper, bind_columns
from guanxi.engine.i18n import _

EDGE = 1  # the table's left border
PER_COLUMN = 3  # a column's right border and one space either side of its cells
CJK_LEAST = 8  # cells: four Chinese characters a line, at the least


@dataclass(frozen=True)
class Col:
    """A column: `wrap` for text; False for a value kept whole on one line. `drop`: 0 always
    shown; on a narrow terminal the highest is left out first."""

    name: str
    wrap: bool = False
    drop: int = 0
    right: bool = False


def localized(columns: Sequence[Col]) -> list[Col]:
    """The columns with their headings (marked with N_) in the reader's language."""
    return [replace(column, name=_(column.name)) for column in columns]


def text(name: str, drop: int = 0) -> Col:
    return Col(name, wrap=True, drop=drop)


def number(name: str, drop: int = 0) -> Col:
    return Col(name, drop=drop, right=True)


def _least(part: str, wrap: bool) -> int:
    """A word stays whole, but Chinese text may break between any two characters (as it
    does in print), so in a text column it needs only a few characters' room."""
    width = cell_len(part)
    wide = width > len(part)  # holds double-width (CJK) characters
    return min(width, CJK_LEAST) if wrap and wide else width


def _lines(cell: str, width: int) -> str:
    """A text cell holding Chinese, broken into lines of `width` columns as rich breaks it,
    but a run of Chinese cut where it does not fit a line never leaves a closing mark to
    start the next (rich cut it anywhere: a line began with `）` or `。`). A cell without
    wide characters is left to rich."""
    if cell_len(cell) == len(cell):
        return cell
    bind_columns()  # the wrapper measures in terminal columns
    wrapper = CellTextWrapper(width, break_long_words=True)
    return "\n".join("\n".join(wrapper.wrap(line)) for line in cell.split("\n"))


class FitTable:
    """A table that lays itself out for the width it is given when printed."""

    def __init__(self, title: str, columns: Sequence[Col | str], rows: Iterable[Iterable[Any]]):
        self.title = title
        self.columns = [c if isinstance(c, Col) else Col(c, wrap=True) for c in columns]
        self.rows = [[shown(str(v)) for v in row] for row in rows]  # widths of what is shown
        self.least = [self._least(i) for i in range(len(self.columns))]
        self.natural = [self._natural(i) for i in range(len(self.columns))]

    def _natural(self, index: int) -> int:
        """The width this column takes when nothing in it wraps."""
        texts = [self.columns[index].name, *(row[index] for row in self.rows)]
        return max((cell_len(line) for t in texts for line in t.splitlines()), default=1)

    def _least(self, index: int) -> int:
        """The narrowest this column can be without cutting anything (its heading may wrap)."""
        column = self.columns[index]
        values = (row[index] for row in self.rows)
        parts = [p for v in values for p in (v.split() if column.wrap else v.splitlines())]
        widths = [_least(part, column.wrap) for part in parts]
        widths += [_least(word, True) for word in column.name.split()]
        return max(widths, default=1)

    def kept(self, width: int) -> list[int]:
        """The columns shown at `width`: droppable ones go, highest `drop` first."""
        kept = list(range(len(self.columns)))
        while self._width(kept) > width:
            droppable = [i for i in kept if self.columns[i].drop]
            if not droppable:
                break
            kept.remove(max(droppable, key=lambda i: (self.columns[i].drop, i)))
        return kept

    def _width(self, kept: list[int]) -> int:
        return EDGE + sum(self.least[i] + PER_COLUMN for i in kept)

    def widths(self, kept: list[int], width: int) -> dict[int, int]:
        """Each kept column's width: its natural one, the widest column narrowed a character
        at a time (never below its least: only text and headings wrap) until the table fits."""
        widths = {i: self.natural[i] for i in kept}
        while EDGE + sum(w + PER_COLUMN for w in widths.values()) > width:
            narrower = [i for i in kept if widths[i] > self.least[i]]
            if not narrower:
                break
            widths[max(narrower, key=lambda i: (widths[i], -i))] -= 1
        return widths

    def table(self, width: int) -> Table:
        kept = self.kept(width)
        widths = self.widths(kept, width)
        left_out = [c.name for i, c in enumerate(self.columns) if i not in kept]
        caption = None
        if left_out:
            caption = _("left out to fit the terminal: {columns} (--csv, --json)").format(
                columns=", ".join(left_out)
            )
        shown = Table(caption=caption)
        shown.caption_justify = "left"
        for i in kept:
            column = self.columns[i]
            shown.add_column(
                Text(column.name, no_wrap=False, overflow="fold"),  # a heading always may wrap
                no_wrap=not column.wrap,
                overflow="fold",  # only Chinese text is ever narrower than its longest word
                width=widths[i],
                justify="right" if column.right else "left",
            )
        for row in self.rows:
            cells = [_lines(row[i], widths[i]) if self.columns[i].wrap else row[i] for i in kept]
            shown.add_row(*map(escape, cells))
        return shown

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title:  # a line of its own, not wrapped to the table's width; data, not markup
            yield escape(self.title)
        shown = self.table(options.max_width)
        least = self._width(self.kept(options.max_width))
        yield shown if least <= options.max_width else _Wider(shown, least)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table(options.max_width))


@dataclass(frozen=True)
class _Wider:
    """A table wider than the terminal: laid out at its own width, never cut."""

    table: Table
    width: int

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.table, options.update_width(self.width))
