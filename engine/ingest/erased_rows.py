"""A snapshot's rows of customers erased at their request, refused as `load` refuses them.

The store keeps no erased id, only its pseudonym (privacy/erasure.py), so finding an erased
customer among a night's rows means hashing each row's id as erasure hashed it. Nobody the
store still holds is erased (erasure deleted their customer row and assignment and left only
pseudonyms elsewhere): only the ids new to the store need it, a few a night. DuckDB finds
them against its copy of the store's assignments (mirror.py) and hashes them in SQL; Spark,
which has no copy of the assignments, hashes every id on its own workers (with a function
that carries the key, which a query's text would show in Spark's UI and logs). A store
where nobody was erased (nearly every one) costs one query of an empty table.

    erasures = Erasures.of(screen)        None: nobody was erased
    erasures.table()                      their pseudonyms, to join with
    erasures.rows_sql(relation, table, dialect[, numbering])
                                          SQL: the rows of erased customers, numbered
    erasures.reject(rows)                 quarantine them, with the receipt and pseudonym only
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow

from guanxi.engine.ingest.load import erased_reason
from guanxi.engine.ingest.screen import FILE, ROW, Screen, quoted
from guanxi.engine.privacy.erasure import ErasedIds, pseudonym_sql

ALIAS = "pseudonym"
SPARK_PSEUDONYM = "gx_pseudonym"  # Spark's function of `pseudonym_function`


class Erasures:
    """The store's erased customers, as a screen refuses their rows."""

    def __init__(self, screen: Screen, known: ErasedIds) -> None:
        self.screen, self.known = screen, known

    @classmethod
    def of(cls, screen: Screen) -> Erasures | None:
        known = ErasedIds(screen.store)
        return cls(screen, known) if known else None

    def table(self) -> pyarrow.Table:
        """The pseudonyms of the erased customers, one a row (ALIAS)."""
        return pyarrow.table({ALIAS: pyarrow.array(list(self.known.receipts), pyarrow.string())})

    def rows_sql(
        self, relation: str, table: str, dialect: str, numbering: Sequence[str] = (ROW,)
    ) -> str:
        """SQL: the rows of `relation` whose id is an erased customer's (one of `table`'s
        pseudonyms), as ROW, ALIAS (and FILE when numbered by it), as reject takes them."""
        key = quoted(self.screen.schema.key, dialect)
        alias = (
            f"{SPARK_PSEUDONYM}(r.{key})"  # registered by the night (spark.py)
            if dialect == "spark"
            else pseudonym_sql(self.known.secret, f"r.{key}")
        )
        numbers = ", ".join(numbering)
        shown = ", ".join([ROW, ALIAS, *([FILE] if FILE in numbering else [])])
        return (
            f"SELECT {shown} FROM (SELECT {numbers}, {alias} AS {ALIAS} FROM {relation} r) h"
            f" WHERE {ALIAS} IN (SELECT {ALIAS} FROM {table})"
        )

    def reject(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Reject each (row, pseudonym[, file]) as load quarantines an erased customer's row:
        the pseudonym for the id, the receipt, nothing they gave; whether there were any."""
        found = False
        for number, alias, *files in rows:
            problem = (self.screen.schema.key, alias, erased_reason(self.known.receipts[alias]))
            self.screen.reject(number, [problem], files[0] if files else None)
            found = True
        self.screen.flush()
        return found
