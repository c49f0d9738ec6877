"""Stores: where customers, events, classification results and follow-ups live.

base.py        the Store interface and the table layout every store shares
sqlite.py      the embedded default: one SQLite file through sqlite-utils
postgresql.py  the shared store: a PostgreSQL database through psycopg 3
dialect.py     the SQL constructs the two spell differently, written once
assignments.py each customer's current assignment: the table and the changes kept apart
"""

from guanxi.engine.store.base import Store, open_store, store_exists

__all__ = ["Store", "open_store", "store_exists"]
