"""The DuckDB night's last screen: the snapshot's ids, as `load` takes them.

A row whose every value load would accept (snapshot.py, ingest/screen.py) may still be named
otherwise or refused for what its id is, to the store or to the snapshot's other rows:

    an id an earlier version stored as `123.0`  the row names that stored customer
                                                (Screen.keeping_stored_reals, ingest/real_ids.py)
    an id of a customer erased at their request refused as theirs, with the pseudonym only
                                                (ingest/erased_rows.py)
    an id an earlier accepted row has           refused as load refuses it: the first row wins

An erased customer's rows are refused before repeated ids are looked for: their second row is
theirs too, not a "duplicate customer_id 'C007'" that would name them in the quarantine.
Spark's night takes the same steps on its own tables (spark.py).

    snapshot_view(duck, screen, accepted, unit, name)  the view of the rows to classify
    shared_fingerprints(fingerprints)                  the id hashes more than one row has
"""

from __future__ import annotations

import duckdb
import numpy
import pyarrow

from guanxi.engine.classify.duck_tables import relation_columns, table_from_arrow
from guanxi.engine.classify.mirror import TABLE
from guanxi.engine.ingest.erased_rows import Erasures
from guanxi.engine.ingest.screen import ROW, Screen, quoted

REPEATED = "repeated"  # accepted rows whose id an earlier accepted row has: rejected
SHARED = "shared_hashes"  # the id hashes that more than one accepted row has
FINGERPRINT = "hash({})"  # an id's hash: the rows of a hash no other row has are unique
STORED_REALS = "stored_reals"  # the store's ids stored as `123.0`, by their digits
KEPT_REALS = "kept_reals"  # accepted rows, an id stored as `123.0` named so
ERASURES = "erasures"  # the pseudonyms of the customers erased at their request
ERASED = "erased_rows"  # accepted rows of erased customers: refused
UNERASED = "unerased"  # the accepted rows but those of ERASED
BATCH = 100_000  # repeated rows fetched at a time


def snapshot_view(
    duck: duckdb.DuckDBPyConnection, screen: Screen, accepted: str, unit: str, name: str
) -> None:
    """The view `name`: the `accepted` rows (numbered by ROW), a customer stored as `123.0`
    named so, but those refused as load refuses them: an erased customer's, then a repeated
    id's (`unit`: how the file counts, by line or by row)."""
    kept = _keeping_stored_reals(duck, screen, accepted)
    left_out: list[str] = []
    unrefused = accepted
    if _refuse_erased(duck, screen, kept):
        left_out.append(ERASED)
        duck.execute(f"CREATE TEMP VIEW {UNERASED} AS SELECT * FROM {accepted}{_without([ERASED])}")
        unrefused = UNERASED
    if _reject_repeated(duck, screen, unit, unrefused):
        left_out.append(REPEATED)
    duck.execute(
        f"CREATE TEMP VIEW {name} AS SELECT * EXCLUDE ({ROW}) FROM {kept}{_without(left_out)}"
    )


def _without(tables: list[str]) -> str:
    """SQL: what leaves out the rows (by ROW) of each of `tables`."""
    return "".join(f" ANTI JOIN {table} USING ({ROW})" for table in tables)


def _keeping_stored_reals(duck: duckdb.DuckDBPyConnection, screen: Screen, relation: str) -> str:
    """`relation`; where the store holds customers an earlier version stored as `123.0`, the
    view KEPT_REALS of its rows, a row naming `123` naming that customer as load does."""
    reals = screen.stored_reals()
    if reals is None:  # nearly every store: nothing joined
        return relation
    table_from_arrow(duck, STORED_REALS, reals)
    columns = relation_columns(duck, relation)
    kept = screen.keeping_stored_reals(relation, columns, STORED_REALS, "duckdb")
    duck.execute(f"CREATE TEMP VIEW {KEPT_REALS} AS {kept}")
    return KEPT_REALS


def _refuse_erased(duck: duckdb.DuckDBPyConnection, screen: Screen, relation: str) -> bool:
    """Refuse the rows of `relation` (numbered) of customers erased at their request
    (ingest/erased_rows.py) into the table ERASED; whether there are any. Looked for among
    the ids new to the store alone: the copy of its assignments (open) holds every other
    one, and no erased customer."""
    erasures = Erasures.of(screen)
    if erasures is None:  # nearly every store
        return False
    table_from_arrow(duck, ERASURES, erasures.table())
    key = quoted(screen.schema.key, "duckdb")
    new = f"(SELECT * FROM {relation} s ANTI JOIN {TABLE} m ON m.customer_id = s.{key})"
    duck.execute(f"CREATE TEMP TABLE {ERASED} AS {erasures.rows_sql(new, ERASURES, 'duckdb')}")
    return erasures.reject(duck.execute(f"SELECT * FROM {ERASED} ORDER BY {ROW}").fetchall())


def _reject_repeated(
    duck: duckdb.DuckDBPyConnection, screen: Screen, unit: str, accepted: str
) -> bool:
    """Reject the `accepted` rows whose id an earlier one has, as load quarantines them (the
    first good row wins), into the table REPEATED; whether there are any."""
    fingerprints = duck.sql(screen.fingerprints(accepted, FINGERPRINT, "duckdb"))
    shared = shared_fingerprints(fingerprints.to_arrow_table().column("hashed"))
    if not len(shared):
        return False
    table_from_arrow(duck, SHARED, pyarrow.table({"hashed": shared}))
    repeated = screen.repeated_ids(accepted, SHARED, FINGERPRINT, "duckdb")
    duck.execute(f"CREATE TEMP TABLE {REPEATED} AS {repeated}")
    later = duck.execute(f"SELECT * FROM {REPEATED} ORDER BY {ROW}")
    found = False
    while batch := later.fetchmany(BATCH):
        screen.reject_repeated(batch, unit)
        found = True
    return found


def shared_fingerprints(fingerprints: pyarrow.ChunkedArray) -> pyarrow.Array:
    """The values that occur more than once among `fingerprints` (NULLs aside), each once:
    found by sorting them, where a GROUP BY in DuckDB builds a hash table of every one
    (at 10M rows it took four times the CPU)."""
    if fingerprints.null_count:
        fingerprints = fingerprints.drop_null()
    if len(fingerprints) < 2:
        return pyarrow.array([], fingerprints.type)
    ordered = numpy.sort(fingerprints.to_numpy())
    again = ordered[1:][ordered[1:] == ordered[:-1]]
    return pyarrow.array(numpy.unique(again), fingerprints.type)
