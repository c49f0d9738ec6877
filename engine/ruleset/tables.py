"""CSV decision tables for tiers, levels and strategies, as business users keep them in Excel
(an .xlsx sheet is read as its CSV twin: read_sheet_table).

    name,label,label_en,days_idle,balance,products_held
    dormant,睡眠客户,dormant,>= 180,< 100,
    high_value_added,高附加值客户,high value added,,>= 1000000,>= 3

Output columns: name, label, label_en, priority, description. Every other column names a
customer field or measure; a cell is a test on it: empty or '-' (any value), '>= 180',
'[1..10]' (between), 'personal, corporate' (one of), 'not personal', 'null', or a plain value.
Numbers may be written as bankers do: '>= 50万', '>= 1.2亿', '>= 70%' (0.7), '>= 500,000'.
Each row becomes one condition in the ordinary condition language.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from guanxi.engine.diagnostics import Diagnostic, did_you_mean
from guanxi.engine.i18n import N_, _
from guanxi.engine.language.dates import impossible_day, written_day
from guanxi.engine.language.mistakes import WORD_OPERATORS
from guanxi.engine.language.numbers import cell_number, check_list
from guanxi.engine.language.yes_no import yes_or_no
from guanxi.engine.ruleset.models import Rule
from guanxi.engine.ruleset.priority import priority_hint
from guanxi.engine.sheets import cell_name, cell_text

CELL_HINT = N_("a cell is empty, '-', '>= 180', '[1..10]', 'a, b', 'not a', 'null' or a value")
OUTPUT_COLUMNS = ("name", "label", "label_en", "priority", "description")
FREE_TEXT_COLUMNS = ("label", "label_en", "description")  # text for people, any punctuation
ColumnHint = Callable[[str], str | None] | None
_OPERATOR = re.compile(r"^(>=|<=|<>|!=|>|<|=)\s*(.+)$")
_RANGE = re.compile(r"^\[\s*(\S+?)\s*\.\.\s*(\S+?)\s*\]$")

Interval = tuple[float, bool, float, bool]  # low, low included, high, high included
Constraint = Interval | frozenset[str] | None  # None: any value


@dataclass(frozen=True)
class TableRow:
    rule: Rule
    line: int
    constraints: Mapping[str, Constraint] = field(default_factory=dict)


@dataclass
class DecisionTable:
    path: str
    text: str
    rows: list[TableRow] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    cell_positions: dict[tuple[int, str], int] = field(default_factory=dict)
    # what to write for a header that names no field (a field's label: 年龄 for age)
    column_hint: Callable[[str], str | None] = field(default=lambda name: None)

    def line(self, number: int) -> str | None:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else None


def read_table(
    path: str, text: str, fields: Mapping[str, str], column_hint: ColumnHint = None
) -> DecisionTable:
    raw_lines = text.splitlines()

    def starts(number: int) -> Sequence[int]:
        return cell_starts(raw_lines[number - 1]) if number <= len(raw_lines) else [0]

    table = DecisionTable(path, text)
    table.column_hint = column_hint or table.column_hint
    return _read_records(table, list(csv.reader(io.StringIO(text))), starts, fields)


def read_sheet_table(
    path: str,
    rows: Iterable[tuple[int, list[Any]]],
    fields: Mapping[str, str],
    column_hint: ColumnHint = None,
) -> DecisionTable:
    """A decision table kept as an Excel sheet, read as its CSV twin would be: each cell's
    diagnostics at line = row, col = column, naming the cell (B4) in the message."""
    records: list[list[str]] = []
    for number, values in rows:
        records += [[] for _ in range(number - 1 - len(records))]
        records.append([cell_text(value) for value in values])
    width = max((len(r) for r in records), default=0)
    records = [r + [""] * (width - len(r)) for r in records]  # a sheet's cells never shift
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(records)

    def starts(number: int) -> Sequence[int]:  # a cell's "column" is its column number
        return range(len(records[number - 1]) + 1 if number <= len(records) else 1)

    table = DecisionTable(path, text.getvalue())
    table.column_hint = column_hint or table.column_hint
    table = _read_records(table, records, starts, fields)
    table.diagnostics = [_at_cell(d) for d in table.diagnostics]
    return table


def _at_cell(diagnostic: Diagnostic) -> Diagnostic:
    cell = cell_name(diagnostic.line, diagnostic.col)
    return dataclasses.replace(
        diagnostic,
        message=_("{message} (cell {cell})").format(message=diagnostic.message, cell=cell),
    )


def _read_records(
    table: DecisionTable,
    records: list[list[str]],
    starts: Callable[[int], Sequence[int]],
    fields: Mapping[str, str],
) -> DecisionTable:
    path = table.path
    if not records or not any(c.strip() for c in records[0]):
        table.diagnostics.append(Diagnostic(path, 1, 1, "decision-table", _("no header row")))
        return table
    header = [h.strip() for h in records[0]]
    if not _header_ok(table, header, starts(1), fields):
        return table
    for number, cells in enumerate(records[1:], start=2):
        if any(c.strip() for c in cells):
            _read_row(table, header, cells, number, starts(number), fields)
    return table


def _header_ok(
    table: DecisionTable, header: list[str], starts: Sequence[int], fields: Mapping[str, str]
) -> bool:
    ok = True
    for index, name in enumerate(header):
        if name in OUTPUT_COLUMNS or name in fields:
            continue
        hint = did_you_mean(name, [*OUTPUT_COLUMNS, *fields]) or table.column_hint(name)
        table.diagnostics.append(
            Diagnostic(
                table.path,
                1,
                starts[index] + 1,
                "unknown-field",
                _("column '{name}' is neither an output column nor a customer field").format(
                    name=name
                ),
                hint=hint,
                length=len(name),
            )
        )
        ok = False
    for required in ("name", "label"):
        if required not in header:
            message = _("the header has no '{column}' column").format(column=required)
            table.diagnostics.append(Diagnostic(table.path, 1, 1, "decision-table", message))
            ok = False
    return ok


def _read_row(
    table: DecisionTable,
    header: list[str],
    cells: list[str],
    number: int,
    starts: Sequence[int],
    fields: Mapping[str, str],
) -> None:
    if len(cells) != len(header):
        table.diagnostics.append(_cell_count(table.path, header, cells, number, starts))
        return
    values = dict(zip(header, [c.strip() for c in cells], strict=False))
    tests: list[str] = []
    constraints: dict[str, Constraint] = {}
    for index, column in enumerate(header):
        table.cell_positions[(number, column)] = starts[index] + 1 if index < len(starts) else 1
        cell = values.get(column, "")
        if column in OUTPUT_COLUMNS or cell in ("", "-"):
            continue
        try:
            test, constraint = cell_test(column, cell, fields[column])
        except ValueError as error:
            col = table.cell_positions[(number, column)]
            table.diagnostics.append(
                Diagnostic(
                    table.path,
                    number,
                    col,
                    getattr(error, "code", "decision-table"),
                    _("column '{column}': {problem}").format(column=column, problem=error),
                    length=len(cell),
                    hint=getattr(error, "hint", None) or _cell_hint(cell),
                )
            )
            continue
        tests.append(test)
        constraints[column] = constraint
    _add_rule(table, values, number, tests, constraints)


def _cell_count(
    path: str, header: list[str], cells: list[str], number: int, starts: Sequence[int]
) -> Diagnostic:
    """A row with more cells than the header has columns, or fewer: every cell after the
    place where one was split or lost would be read as the next column's test."""
    if len(cells) > len(header):
        message = _("this row has {cells} cells but the header has {columns} columns")
        col = starts[len(header)] + 1 if len(starts) > len(header) else 1
        hint = _("a comma inside a cell needs the cell in double quotes")
    else:
        message = _("this row has {cells} cells, fewer than the header's {columns} columns")
        col = 1
        hint = _(
            "a cell is missing, or two cells are joined: each row has a comma between every"
            " two columns, an empty cell included (,,)"
        )
    shown = message.format(cells=len(cells), columns=len(header))
    return Diagnostic(path, number, col, "decision-table", shown, hint=hint)


def _add_rule(
    table: DecisionTable,
    values: dict[str, str],
    number: int,
    tests: list[str],
    constraints: dict[str, Constraint],
) -> None:
    priority = values.get("priority") or None
    if not values.get("name") or not values.get("label"):
        message = _("every row needs a name and a label")
        table.diagnostics.append(Diagnostic(table.path, number, 1, "missing-key", message))
        return
    if priority is not None and not re.fullmatch(r"-?\d+", priority):
        col = table.cell_positions[(number, "priority")]
        message = _("priority '{priority}' is not a whole number").format(priority=priority)
        hint = priority_hint(priority)
        table.diagnostics.append(
            Diagnostic(table.path, number, col, "wrong-type", message, hint=hint)
        )
        return
    rule = Rule(
        name=values["name"],
        label=values["label"],
        label_en=values.get("label_en") or None,
        priority=int(priority) if priority is not None else None,
        description=values.get("description") or None,
        **({"when": " AND ".join(tests)} if tests else {}),  # no tests: a catch-all row
    )
    table.rows.append(TableRow(rule, number, constraints))


def _cell_hint(cell: str) -> str:
    """What the cell allows; for a cell that starts with a Chinese comparison word (大于 30),
    or a range written as in a sentence (25-45, 25到45岁), the cell to write instead."""
    written = cell.strip()
    match = _SPOKEN_RANGE.fullmatch(written) or _BOUNDS.fullmatch(written)
    if match is not None:
        low, high = (part.replace(" ", "") for part in match.groups() if part)
        return _("write '[{low}..{high}]' ({low} to {high}, both included)").format(
            low=low, high=high
        )
    for word, operator in sorted(WORD_OPERATORS.items(), key=lambda w: -len(w[0])):
        if cell.startswith(word) and operator in _CELL_OPERATORS:
            written = f"{_CELL_OPERATORS[operator]}{cell[len(word) :].strip()}"
            return _("write '{cell}' in place of '{word}'").format(cell=written, word=word)
    return _(CELL_HINT)


_NUMBER = r"(\d+(?:\.\d+)?\s*[万亿]?)"
_SPOKEN_RANGE = re.compile(
    rf"\[?\s*{_NUMBER}\s*(?:-|~|～|—|–|到|至|\.\.)\s*{_NUMBER}\s*[^\d\s.,\]]?\]?"
)
_BOUNDS = re.compile(  # [25, 45] or >= 25 AND <= 45
    rf"\[\s*{_NUMBER}\s*[,，]\s*{_NUMBER}\s*\]"
    rf"|>=\s*{_NUMBER}\s*(?:AND|and|且|并且)\s*<=\s*{_NUMBER}"
)
_CELL_OPERATORS = {">": "> ", "<": "< ", ">=": ">= ", "<=": "<= ", "=": "", "<>": "not "}


def cell_test(column: str, cell: str, field_type: str) -> tuple[str, Constraint]:
    """One cell as a condition on `column`, and the set of values it admits."""
    name = f'"{column}"' if not column.isidentifier() else column
    if cell.lower() == "null":
        return f"{name} IS NULL", frozenset({"<null>"})
    if (match := _RANGE.match(cell)) is not None:
        low, high = (cell_number(match.group(i)) for i in (1, 2))
        return f"{name} BETWEEN {low} AND {high}", (float(low), True, float(high), True)
    if (match := _OPERATOR.match(cell)) is not None:
        return _comparison(name, match.group(1), match.group(2).strip(), field_type)
    if cell.lower().startswith("not "):
        literal = _literal(cell[4:].strip(), field_type)
        return f"{name} <> {literal}", _complement()
    if field_type in ("integer", "number"):
        check_list(cell)
    options = [_literal(v.strip(), field_type) for v in _split_options(cell)]
    if len(options) == 1:
        return f"{name} = {options[0]}", _point(options[0], field_type)
    return f"{name} IN ({', '.join(options)})", frozenset(options)


def _comparison(name: str, op: str, value: str, field_type: str) -> tuple[str, Constraint]:
    literal = _literal(value, field_type)
    op = "<>" if op == "!=" else op
    constraint: Constraint = _complement() if op == "<>" else _point(literal, field_type)
    if field_type in ("integer", "number") and op in ("<", "<=", ">", ">="):
        number = float(literal)
        constraint = {
            "<": (float("-inf"), False, number, False),
            "<=": (float("-inf"), False, number, True),
            ">": (number, False, float("inf"), False),
            ">=": (number, True, float("inf"), False),
        }[op]
    return f"{name} {op} {literal}", constraint


def _complement() -> Constraint:
    return None  # '<>' admits almost everything; treat it as overlapping anything


def _point(literal: str, field_type: str) -> Constraint:
    if field_type in ("integer", "number"):
        number = float(literal)
        return (number, True, number, True)
    return frozenset({literal})


def _split_options(cell: str) -> list[str]:
    return next(csv.reader([cell], skipinitialspace=True))


def _literal(value: str, field_type: str) -> str:
    if field_type in ("integer", "number"):
        return cell_number(value)
    if field_type == "boolean":
        said = yes_or_no(value)
        if said is not None:
            return "TRUE" if said else "FALSE"
        raise ValueError(_("'{value}' is not yes or no").format(value=value))
    if field_type in ("date", "datetime"):
        return f"DATE '{_cell_day(value)}'"
    text = value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value
    return "'" + text.replace("'", "''") + "'"


class CellSpelling(ValueError):
    """A cell that cannot be read as its column's kind; `hint` says what to write."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _cell_day(value: str) -> str:
    """A date cell as ISO text: Excel saves the 2026-03-01 typed in a cell as 2026/3/1."""
    written = value.strip().strip("'")
    day = written_day(written)
    if day is None:
        message = _("'{value}' is not a date").format(value=written)
        hint = impossible_day(written) or _("write the year first: 2026-03-01 or 2026/3/1")
        raise CellSpelling(message, hint)
    return day.isoformat()


def cell_starts(raw: str) -> list[int]:
    """0-based character offsets where each CSV cell of one physical line begins."""
    starts, quoted = [0], False
    for index, char in enumerate(raw):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(index + 1)
    return starts


def overlaps(a: Mapping[str, Constraint], b: Mapping[str, Constraint]) -> bool:
    """Whether some customer could satisfy both rows (unknown tests count as overlapping)."""
    return all(_intersect(a.get(c), b.get(c)) for c in set(a) | set(b))


def _intersect(x: Constraint, y: Constraint) -> bool:
    if x is None or y is None:
        return True
    if isinstance(x, frozenset) and isinstance(y, frozenset):
        return bool(x & y)
    if isinstance(x, tuple) and isinstance(y, tuple):
        return _intervals_meet(x, y)
    return True


def _intervals_meet(x: Interval, y: Interval) -> bool:
    low, low_in = max((x[0], x[1]), (y[0], y[1]), key=lambda p: (p[0], not p[1]))
    high, high_in = min((x[2], x[3]), (y[2], y[3]), key=lambda p: (p[0], p[1]))
    return low < high or (low == high and low_in and high_in)
