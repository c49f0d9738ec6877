"""Ids whose leading zeros were lost, refused.

Excel reads a column of digits as numbers: a customers file of ids `000123`, opened and saved
again, says `123`. Taken as written, each row would be a new customer beside the stored
`000123`, welcomed by the next classification (`on_enter:`) and contacted apart from the
first one's caps: ten thousand rows, ten thousand welcomes. So a row whose id is digits that
no stored customer has, while one has those digits with zeros in front, is quarantined with
the stored id and how to keep the zeros; an event or consent record naming such an id is
quarantined likewise (it would find no customer).

The lengths of the stored ids that begin with a zero are read once a load; a row is looked up
only when its id is digits shorter than one of them, so a file that kept its zeros costs no
look-up at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guanxi.engine.i18n import _
from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import quoted_name


def refusing_lost_zeros(check: Check, store: Store, customer_key: str, key: str) -> Check:
    """`check`, and a row whose `key` is a stored customer's id (`customer_key` of the
    customers table) but for its leading zeros is refused."""
    widths = _zero_led_widths(store, customer_key)
    if not widths:
        return check
    column = quoted_name(customer_key)

    def checked(record: Mapping[str, Any]) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        given = row.get(key)
        if not isinstance(given, str) or not (given.isascii() and given.isdigit()):
            return row, problems
        padded = [given.lstrip("0").rjust(width, "0") for width in widths if width > len(given)]
        found = _stored(store, column, [given, *padded]) if padded else set()
        if not found or given in found:
            return row, problems
        return row, [*problems, (key, given, lost_zeros_reason(given, min(found)))]

    return checked


def lost_zeros_reason(given: str, stored: str) -> str:
    return _(
        "no customer has id {given}, but {stored} does: the id lost its leading zeros (Excel"
        " reads a column of digits as numbers); format the id column as text, or export the"
        " file again, and load it again"
    ).format(given=given, stored=stored)


def _zero_led_widths(store: Store, customer_key: str) -> list[int]:
    """The lengths of the stored customer ids that begin with a zero."""
    column = quoted_name(customer_key)
    rows = store.execute(
        f"SELECT DISTINCT length({column}) AS width FROM customers WHERE {column} LIKE '0%'"
    )
    return sorted(int(row["width"]) for row in rows)


def _stored(store: Store, column: str, ids: list[str]) -> set[str]:
    """Those of `ids` that name a stored customer."""
    names = {f"id{n}": value for n, value in enumerate(ids)}
    listed = ", ".join(f":{name}" for name in names)
    rows = store.execute(
        f"SELECT {column} AS id FROM customers WHERE {column} IN ({listed})", names
    )
    return {str(row["id"]) for row in rows}
