"""CSV output: one file per table, for Excel.

UTF-8 with a byte-order mark, so Excel shows 中文 labels instead of mojibake; numbers are
plain (shares as fractions, 0.913), a missing value is an empty cell. Cells come from customer
data: one Excel would run as a formula is written as text (guanxi.engine.csv_cells).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from guanxi.engine.csv_cells import cell
from guanxi.engine.report.model import Section, Table


def write_csv(sections: Iterable[Section], folder: Path) -> list[Path]:
    """Every table of the sections (a report's, a simulation's), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_table(table, folder) for s in sections for table in s.tables()]


def write_table(table: Table, folder: Path) -> Path:
    path = folder / f"{table.name}.csv"
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([cell(c.label) for c in table.columns])
            writer.writerows([cell(v) for v in row] for row in table.rows)
    except OSError as error:
        error.filename = error.filename or str(path)  # a failed write does not say which file
        raise
    return path
