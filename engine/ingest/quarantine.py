"""The quarantine table: rows a load or a snapshot could not take, and why. One record per
problem; a bad row with two problems has two records with the same source and row number.

A record marked `loaded` is a warning of a row that was loaded all the same (a value left
out, an address no message can go to): the customer is in the store. The listing tells the
two apart and counts each in rows, not records: a bank user reads "12 quarantined" as twelve
customers not loaded."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guanxi.engine.clock import stored_in_zone
from guanxi.engine.csv_cells import cell
from guanxi.engine.i18n import _
from guanxi.engine.store import Store
from guanxi.engine.store.base import Row

COLUMNS = (
    *("id", "kind", "source", "row_number", "field", "value", "reason", "at", "loaded"),
    "customer_id",  # the customer a row (of customers, events, consents) names, its id good
)
SELECT = f"SELECT {', '.join(COLUMNS)} FROM quarantine"


@dataclass(frozen=True)
class QuarantineFilter:
    """Which records: of one kind (customers, events, snapshot), one file (its path as
    loaded, or its name) and one customer."""

    kind: str | None = None
    source: str | None = None
    customer: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, parameters = [], {}
        if self.kind is not None:
            clauses.append("kind = :kind")
            parameters["kind"] = self.kind
        if self.source is not None:
            clauses.append("(source = :source OR source LIKE :tail)")
            parameters.update(source=self.source, tail=f"%/{self.source}")
        if self.customer is not None:
            clauses.append("customer_id = :customer")
            parameters["customer"] = self.customer
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def list_quarantined(store: Store, chosen: QuarantineFilter, limit: int) -> list[Row]:
    """The newest records first."""
    where, parameters = chosen.where()
    sql = f"{SELECT}{where} ORDER BY id DESC LIMIT :limit"
    return _flagged(store.execute(sql, {**parameters, "limit": limit}))


def _flagged(records: list[Row]) -> list[Row]:
    """`loaded` as the yes or no it is (the stores keep it as 1 or 0)."""
    return [{**record, "loaded": bool(record["loaded"])} for record in records]


def count_quarantined(store: Store, chosen: QuarantineFilter) -> int:
    where, parameters = chosen.where()
    [row] = store.execute(f"SELECT COUNT(*) AS n FROM quarantine{where}", parameters)
    return int(row["n"])


@dataclass(frozen=True)
class RowCounts:
    """How many rows the records are of: not loaded, and loaded with a warning."""

    not_loaded: int
    loaded: int


def count_rows(store: Store, chosen: QuarantineFilter) -> RowCounts:
    """The rows of files the chosen records are of, by whether they were loaded: a row with
    two problems, or listed by two loads of its file (a reason worded anew), is one row."""
    where, parameters = chosen.where()
    rows = store.execute(
        "SELECT loaded, COUNT(*) AS n FROM (SELECT DISTINCT kind, source, row_number,"
        f" loaded FROM quarantine{where}) AS quarantined_rows GROUP BY loaded",
        parameters,
    )
    counts = {bool(row["loaded"]): int(row["n"]) for row in rows}
    return RowCounts(not_loaded=counts.get(False, 0), loaded=counts.get(True, 0))


def status(record: Row) -> str:
    """Whether the record's row was loaded, in the reader's language."""
    return _("loaded, with a warning") if record["loaded"] else _("not loaded")


def quarantined_row(store: Store, record_id: int) -> list[Row]:
    """The record, and the other problems of the same row from the same load, in order."""
    found = store.execute(f"{SELECT} WHERE id = :id", {"id": record_id})
    if not found:
        return []
    first = found[0]
    same = (
        " WHERE kind = :kind AND source IS NOT DISTINCT FROM :source"
        " AND row_number IS NOT DISTINCT FROM :row_number AND at IS NOT DISTINCT FROM :at"
    )
    keys = ("kind", "source", "row_number", "at")
    return _flagged(store.execute(f"{SELECT}{same} ORDER BY id", {k: first[k] for k in keys}))


def customer_not_loaded(
    store: Store, customer_id: str, since: str | None = None, kind: str = "customers"
) -> list[Row]:
    """The records of the customer's rows of `kind` (customers, events, consents) that were
    not loaded (`since`: by loads at or after that time), oldest first."""
    later = "" if since is None else " AND at >= :since"
    rows = store.execute(
        f"{SELECT} WHERE customer_id = :id AND kind = :kind AND loaded = 0{later} ORDER BY id",
        {"id": customer_id, "kind": kind, **({"since": since} if since else {})},
    )
    return _flagged(rows)


def row_problems(records: list[Row], zone: str) -> list[str]:
    """The records as lines a reader follows: each row (file, number, day of the load in the
    project's `zone`), then each of its problems, `field: reason`."""
    lines: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for record in records:
        row = (record["source"], record["row_number"], record["at"])
        if row not in seen:
            seen.add(row)
            lines.append(_row_of_file(record, zone))
        lines.append(f"  {record['field'] or _('(the row)')}: {record['reason']}")
    return lines


def _row_of_file(record: Row, zone: str) -> str:
    parquet = str(record["source"]).lower().endswith(".parquet")
    where = (
        _("row {number} of {source}, quarantined when loaded on {day}:")
        if parquet
        else _("line {number} of {source}, quarantined when loaded on {day}:")
    )
    day = load_day(record["at"], zone)
    return where.format(number=record["row_number"], source=record["source"], day=day)


def load_day(at: str | None, zone: str) -> str:
    """The day of a load's time (stored in UTC) in the project's zone: a load at 01:30 in
    Shanghai is stamped the evening before in UTC."""
    return stored_in_zone(at, zone).date().isoformat() if at else ""


def clear_quarantine(store: Store, chosen: QuarantineFilter) -> int:
    """Delete the records; how many."""
    where, parameters = chosen.where()
    with store.transaction():
        count = count_quarantined(store, chosen)
        store.execute(f"DELETE FROM quarantine{where}", parameters)
    return count


def write_quarantine_csv(rows: list[Row], path: Path) -> None:
    """UTF-8 with a BOM, so Excel shows 中文; a value Excel would run as a formula (a hostile
    file's `=HYPERLINK(…)`) is written as text."""
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*COLUMNS, "status"])
        writer.writerows([*(cell(row[c]) for c in COLUMNS), status(row)] for row in rows)
