"""Classified customers the store keeps no customer row for.

A snapshot night (`classify --input`) writes assignments for the snapshot's customers; the
store keeps their rows only once `guanxi load customers` has loaded them. Follow-ups are
planned and sent from those rows (name, phone, consent), so a customer classified from a
snapshot alone moves between tiers and levels with no follow-up planned for the move.
"""

from __future__ import annotations

from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import column_names, quoted_name


def without_customer_row(store: Store, key: str) -> int:
    """How many customers hold an assignment but have no row in `customers` (keyed by
    `key`). A store without any customer row counts its assignments, one pass over them."""
    if not _any_customer(store):
        [row] = store.execute("SELECT COUNT(*) AS n FROM assignments")
        return int(row["n"])
    [row] = store.execute(
        "SELECT COUNT(*) AS n FROM assignments AS a WHERE NOT EXISTS"
        f" (SELECT 1 FROM customers AS c WHERE c.{quoted_name(key)} = a.customer_id)"
    )
    return int(row["n"])


def _any_customer(store: Store) -> bool:
    if not store.execute(column_names("customers", store.dialect)):
        return False  # no customers table: nothing was ever loaded
    [row] = store.execute("SELECT EXISTS (SELECT 1 FROM customers) AS found")
    return bool(row["found"])
