"""Customers an earlier guanxi stored under an id as a float export wrote it (`123.0`).

A CSV cell's `123.0` in an id column is read as `123`, as an Excel number cell or a JSON
number always was. Before, such a cell was stored as written; a store holding a customer so
keeps them: a later row naming `123` (written `123.0` or `123`) is that stored customer, so
upgrading does not make a second customer, with a second message, of them.
"""

from __future__ import annotations

import re
from typing import Any

from guanxi.engine.ingest.rows import Check, Problem
from guanxi.engine.ingest.values import WRITTEN_AS_REAL
from guanxi.engine.store.base import Row, Store
from guanxi.engine.store.dialect import quoted_name


def stored_as_reals(store: Store, customer_key: str) -> dict[str, str]:
    """The stored ids written as reals whose digits name no other customer: digits → id."""
    key = quoted_name(customer_key)
    rows = store.execute(
        f"SELECT a.{key} AS id FROM customers a WHERE a.{key} LIKE :written AND NOT EXISTS"
        f" (SELECT 1 FROM customers b WHERE b.{key} = substr(a.{key}, 1, length(a.{key}) - 2))",
        {"written": "%.0"},
    )
    found = (re.fullmatch(WRITTEN_AS_REAL, str(row["id"])) for row in rows)
    return {match.group(1): match.group(0) for match in found if match}


def keeping_stored_reals(check: Check, store: Store, customer_key: str, key: str) -> Check:
    """`check`, and a row whose `key` names the digits of an id stored as a real names that
    id (`customer_key`: the customers' key field)."""
    stored = stored_as_reals(store, customer_key)
    if not stored:
        return check

    def checked(record: Any) -> tuple[Row, list[Problem]]:
        row, problems = check(record)
        given = row.get(key)
        kept = stored.get(given) if isinstance(given, str) else None
        return ({**row, key: kept} if kept else row), problems

    return checked
