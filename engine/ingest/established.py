"""Customers loaded as established (`guanxi load customers FILE --existing`).

A bank going live branch by branch loads a branch's customers after the store's first
classification. They were customers for years: their first classification is a baseline for
them, as the store's first run is for everyone (plan/transitions.py), not a wave of welcomes.
The load marks those of the file that no run has classified yet; the run that first
classifies a marked customer plans their `on_enter:` steps only if the step says
`initial: true`, and unmarks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guanxi.engine.store.base import ESTABLISHED, Store


def mark_established(store: Store, keys: Iterable[Any], at: str) -> None:
    """Mark the customers of `keys` that no run has classified yet."""
    store.execute_many(
        f"INSERT INTO {ESTABLISHED} (customer_id, marked_at)"
        " SELECT CAST(:id AS TEXT), CAST(:at AS TEXT)"
        " WHERE NOT EXISTS (SELECT 1 FROM assignments WHERE customer_id = :id)"
        " ON CONFLICT (customer_id) DO NOTHING",
        [{"id": str(key), "at": at} for key in keys],
    )
