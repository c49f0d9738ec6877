"""Parquet files that unpack to far more than they weigh.

Parquet compresses each page and may store a text once in a dictionary that every row then
refers to: a 24 KB file of 10,000 rows naming one 50 KB text is half a gigabyte once each row
holds its own copy, and a 7 KB file one 200 MB text. Read as it comes, such a file costs the
load gigabytes of memory (the machine's, shared with the daemon and the store). So:

- text and binary columns are read as dictionaries (`text_columns`): a text repeated across
  rows is held once while the batch is checked;
- a row whose values would together be longer than `LINE_CHARS` characters (as a JSON line
  longer than that) is not made Python values but unreadable, and the others are made Python
  values at most SLICE_CHARS characters at a time (`pieces`);
- a column chunk that claims to unpack to more than `LINE_CHARS` bytes a row, and a column of
  lists or records (a list of a billion zeros packs into a few bytes; a field holds one value
  a row), are refused before a row is read (`refusal`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from guanxi.engine.i18n import _

LINE_CHARS = 1 << 20  # no customer or event is longer (formats.py: nor a JSON line)
SLICE_CHARS = 16 * LINE_CHARS  # text made Python values at once; a batch is 10,000 rows


def _is_text(kind: Any) -> bool:
    import pyarrow

    types = pyarrow.types
    return bool(
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_binary(kind)
        or types.is_large_binary(kind)
    )


def text_columns(schema: Any) -> list[str]:
    """The columns of an Arrow schema to read as dictionaries."""
    return [field.name for field in schema if _is_text(field.type)]


def refusal(file: Any) -> str | None:
    """Why the Parquet file (a `pyarrow.parquet.ParquetFile`) is not read, or None."""
    import pyarrow

    for field in file.schema_arrow:
        if pyarrow.types.is_nested(field.type):
            return _(
                "column '{column}' holds lists or records; each column of the file must"
                " hold one value a row (save the file with plain columns)"
            ).format(column=field.name)
    metadata = file.metadata
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group)
        for index in range(rows.num_columns):
            chunk = rows.column(index)
            if chunk.total_uncompressed_size > max(rows.num_rows, 1) * LINE_CHARS:
                return _(
                    "column '{column}' unpacks to more than {limit} bytes a row: not read"
                ).format(column=chunk.path_in_schema, limit=f"{LINE_CHARS:,}")
    return None


def pieces(batch: Any) -> Iterator[Any]:
    """The batch in slices of rows holding at most SLICE_CHARS characters of text each (the
    whole batch, as a rule), to make Python values of one at a time; None in the place of a
    row longer than LINE_CHARS."""
    sizes = _row_sizes(batch)
    if sizes is None:
        yield batch
        return
    start, held = 0, 0
    for row, size in enumerate(sizes):
        if size > LINE_CHARS or held + size > SLICE_CHARS:
            if row > start:
                yield batch.slice(start, row - start)
            start, held = row, 0
        if size > LINE_CHARS:
            yield None
            start = row + 1
        else:
            held += size
    if len(sizes) > start:
        yield batch.slice(start, len(sizes) - start)


def _row_sizes(batch: Any) -> list[int] | None:
    """The characters of text of each row; None when the batch holds at most SLICE_CHARS
    and no row more than LINE_CHARS (found without looking at each row from Python)."""
    import pyarrow.compute as pc

    total = None
    for column in batch.columns:
        lengths = _lengths(column)
        if lengths is not None:
            total = lengths if total is None else pc.add(total, lengths)
    if total is None:
        return None
    if (pc.sum(total).as_py() or 0) <= SLICE_CHARS and (pc.max(total).as_py() or 0) <= LINE_CHARS:
        return None
    return list(total.to_pylist())


def _lengths(column: Any) -> Any:
    """The length of each row's value of a text column (a dictionary's as each row refers to
    it), as 64-bit integers, 0 for a missing value; None for a column of other values."""
    import pyarrow
    import pyarrow.compute as pc

    if pyarrow.types.is_dictionary(column.type):
        if not _is_text(column.type.value_type):
            return None
        lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
    elif _is_text(column.type):
        lengths = pc.binary_length(column)
    else:
        return None
    return pc.fill_null(lengths.cast(pyarrow.int64()), 0)
