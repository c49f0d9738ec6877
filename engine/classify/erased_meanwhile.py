"""A night's customers erased while it ran: nothing of them written back (privacy/meanwhile.py).

    mark = erasures_so_far(store)      before the night reads any customer
    leave_out_erased(store, mark, …)   inside the store: out of the result before any write
    unwrite_erased(duck, store, mark, …)
                                       DuckDB and Spark: what the write-back wrote, deleted
                                       before the run plans its follow-ups
    unwrite_output(duck, store, mark, folder, key)
                                       Spark: its output of every assignment, without them

Both first take the lock erasures take, so that no erasure commits between the look and the
commit of the night.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from guanxi.engine.privacy.erasure import Person, pseudonym, pseudonym_sql
from guanxi.engine.privacy.files import erase_from_files
from guanxi.engine.privacy.meanwhile import ErasedSince, erased_since, hold_erasures, unwrite
from guanxi.engine.store.base import Store
from guanxi.engine.store.dialect import quoted_name


def leave_out_erased(store: Store, mark: int, result: str, key: str) -> None:
    """Leave out of the in-store `result` the customers erased since `mark`: only those
    whose customer row is gone since the night read it need hashing."""
    hold_erasures(store)
    erased = erased_since(store, mark)
    if erased is None:
        return
    column = quoted_name(key)
    rows = store.execute(
        f"SELECT CAST(r.{column} AS TEXT) AS id FROM {result} r"
        f" WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.{column} = r.{column})"
    )
    gone = erased.among(str(r["id"]) for r in rows)
    store.execute_many(
        f"DELETE FROM {result} WHERE CAST({column} AS TEXT) = :id", [{"id": i} for i in gone]
    )


def unwrite_erased(
    duck: duckdb.DuckDBPyConnection, store: Store, mark: int, result: str, key: str, run: int
) -> bool:
    """Delete what run `run` wrote for the customers of DuckDB's `result` erased since
    `mark` (the caller holds the erasures off: `hold_erasures`); whether anyone was erased
    since (then the night's columnar copy may name them: it must not be kept)."""
    erased = erased_since(store, mark)
    if erased is None:
        return False
    unwrite(store, erased, erased_among(duck, erased, result, key), key, run)
    return True


def unwrite_output(
    duck: duckdb.DuckDBPyConnection, store: Store, mark: int, folder: Path, key: str
) -> None:
    """Spark's output `folder` (every customer's assignment, written before the write-back)
    without the customers erased since `mark`: an erasure that came before it was written
    could not remove them."""
    erased = erased_since(store, mark)
    if erased is None:
        return
    parts = str(folder / "*.parquet").replace("'", "''")
    for customer_id in erased_among(duck, erased, f"read_parquet('{parts}')", key):
        alias = pseudonym(erased.secret, customer_id)
        erase_from_files([folder], Person(customer_id), key, alias)


def erased_among(
    duck: duckdb.DuckDBPyConnection, erased: ErasedSince, relation: str, key: str
) -> list[str]:
    """The ids of DuckDB's `relation` whose customers were `erased`, hashed in SQL."""
    alias = pseudonym_sql(erased.secret, "id")
    found = duck.execute(
        f"SELECT DISTINCT id FROM (SELECT CAST({quoted_name(key)} AS VARCHAR) AS id"
        f" FROM {relation}) WHERE list_contains(?, {alias})",
        [sorted(erased.pseudonyms)],
    ).fetchall()
    return [str(i) for (i,) in found]
