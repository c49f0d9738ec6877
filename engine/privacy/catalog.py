"""The store's tables and columns, read from its own catalog (never a list kept by hand), so
that erasure and subject access cover every table, those added later included."""

from __future__ import annotations

from dataclasses import dataclass

from guanxi.engine.store.base import CONSENT_COUNT, STORE_MARKS, Row, Store
from guanxi.engine.store.dialect import quoted_name

# Columns that name a customer: the schema's key (in the customers table) and these.
CUSTOMER_COLUMNS = frozenset({"customer_id"})
# Columns that tie a row to a follow-up, and so to the follow-up's customer.
FOLLOWUP_COLUMNS = frozenset({"followup_id"})
# Bookkeeping of the store itself: holds no customer data.
OWN_TABLES = frozenset(
    {"_sqlite_migrations", "guanxi_migrations", "store_secrets", STORE_MARKS, *CONSENT_COUNT}
)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    text: tuple[str, ...]  # the columns holding text
    primary_key: tuple[str, ...]  # empty: SQLite's rowid, PostgreSQL's ctid

    def customer_columns(self, key: str) -> tuple[str, ...]:
        names = CUSTOMER_COLUMNS | ({key} if self.name == "customers" else set())
        return tuple(c for c in self.columns if c in names)

    def followup_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c in FOLLOWUP_COLUMNS)


def tables(store: Store) -> list[Table]:
    """Every table of the store but its own bookkeeping, by name."""
    found = _sqlite_tables(store) if store.dialect == "sqlite" else _postgres_tables(store)
    return sorted((t for t in found if t.name not in OWN_TABLES), key=lambda t: t.name)


def _sqlite_tables(store: Store) -> list[Table]:
    names = store.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    found = []
    for row in names:
        columns = store.execute(f"PRAGMA table_info({quoted_name(row['name'])})")
        found.append(
            Table(
                row["name"],
                tuple(c["name"] for c in columns),
                tuple(c["name"] for c in columns if _is_text(c["type"])),
                tuple(c["name"] for c in sorted(columns, key=lambda c: c["pk"]) if c["pk"]),
            )
        )
    return found


def _is_text(declared: str) -> bool:
    """SQLite's type affinity: TEXT for CHAR, CLOB, TEXT; none declared holds anything."""
    kind = declared.upper()
    return not kind or any(word in kind for word in ("CHAR", "CLOB", "TEXT"))


def _postgres_tables(store: Store) -> list[Table]:
    columns = store.execute(
        "SELECT table_name AS t, column_name AS c, data_type AS type"
        " FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name IN (SELECT table_name FROM information_schema.tables"  # not views
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')"
        " ORDER BY table_name, ordinal_position"
    )
    keys = store.execute(
        "SELECT k.table_name AS t, k.column_name AS c FROM information_schema.table_constraints p"
        " JOIN information_schema.key_column_usage k"
        " ON k.constraint_name = p.constraint_name AND k.constraint_schema = p.constraint_schema"
        " WHERE p.constraint_type = 'PRIMARY KEY' AND p.table_schema = current_schema()"
        " ORDER BY k.ordinal_position"
    )
    by_table: dict[str, list[Row]] = {}
    for row in columns:
        by_table.setdefault(row["t"], []).append(row)
    return [
        Table(
            name,
            tuple(c["c"] for c in listed),
            tuple(c["c"] for c in listed if c["type"] in ("text", "character varying")),
            tuple(k["c"] for k in keys if k["t"] == name),
        )
        for name, listed in by_table.items()
    ]
