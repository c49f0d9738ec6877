"""Erasures and a night's write-back, one after the other, never interleaved.

A night reads its customers (the store's or a snapshot's) well before it writes back what it
found. An erasure committed in between has deleted the person's rows, and the write-back
would write them again under their id: an assignment, a transition, kept field values and
the follow-ups their move plans. So the write-back and the erasure take the same lock inside
their transactions (`hold_erasures`: on PostgreSQL an advisory lock kept until the commit;
SQLite's write transaction holds the whole database already), and the write-back, once it
holds it, leaves out the customers erased since the night began: the receipts numbered after
`erasures_so_far`, read before the night read anyone (`erased_since`). An erasure that waits
for the lock commits after the write-back and deletes what it wrote, as any erasure does.
A night during which nobody was erased pays one query of the receipts' primary key.

The night takes the lock before it writes a row an erasure may delete: an erasure holding
the lock could otherwise wait for such a row while the night waits for the lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from guanxi.engine.privacy.erasure import Person, erase_rows, pseudonym, store_secret
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import transaction_lock

ERASURE_LOCK = 7_416_013  # with the schema's hash, the advisory lock's key


def hold_erasures(store: Store) -> None:
    """Keep any erasure from committing until the caller's transaction ends (and wait for
    one committing now)."""
    statement = transaction_lock(ERASURE_LOCK, store.dialect)
    if statement:
        store.execute(statement)


def erasures_so_far(store: Store) -> int:
    """The number of the last erasure receipt (0: none): a night's starting mark."""
    [row] = store.execute("SELECT coalesce(max(id), 0) AS last FROM erasures")
    return int(row["last"])


@dataclass(frozen=True)
class ErasedSince:
    """The pseudonyms of the customers erased after a mark, and the key that makes them."""

    pseudonyms: frozenset[str]
    secret: bytes

    def among(self, customer_ids: Iterable[str]) -> list[str]:
        """The ids among `customer_ids` that are of customers erased since the mark."""
        return [i for i in customer_ids if pseudonym(self.secret, i) in self.pseudonyms]


def erased_since(store: Store, mark: int) -> ErasedSince | None:
    """The customers erased after the receipt `mark` (None: nobody)."""
    rows = store.execute("SELECT DISTINCT pseudonym FROM erasures WHERE id > :mark", {"mark": mark})
    if not rows:
        return None
    return ErasedSince(frozenset(str(r["pseudonym"]) for r in rows), store_secret(store))


def unwrite(
    store: Store, erased: ErasedSince, customer_ids: Iterable[str], key: str, run: int
) -> None:
    """Delete what classification run `run` wrote for erased customers, inside its
    transaction: their transitions of the run (a move from nothing that never was), then
    whatever else names them, as their erasure did."""
    for customer_id in customer_ids:
        store.execute(
            "DELETE FROM transitions WHERE run_id = :run AND customer_id = :id",
            {"run": run, "id": customer_id},
        )
        erase_rows(store, Person(customer_id), key, pseudonym(erased.secret, customer_id))
