"""A customer id given twice in a nightly snapshot (an export glitch, or the id typed once in
full width) is quarantined as `load` quarantines it: the first good row wins, the later ones
are quarantined with load's reason, and every other customer is classified: one repeated id
never stops the night.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.classify import classify, snapshot_ids
from guanxi.engine.classify.snapshot import classify_snapshot
from guanxi.engine.ingest import check_customer_file, load_customers
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.test_ingest import write

pytestmark = pytest.mark.every_store

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
ORDINARY = {"name": "张三", "kind": "personal", "balance": "1000", "products_held": "1",
            "last_txn_date": "2026-11-20", "annual_contribution": "100",
            "cost_to_serve": "50"}  # fmt: skip
RICH = {**ORDINARY, "balance": "90000000", "products_held": "6", "annual_contribution": "5000000"}


def rows() -> list[dict[str, Any]]:
    """Ordinary customers; C02 twice (the later row rich), C05 twice in full width, C07 thrice
    (the first row refused for its balance, so the second is the one kept)."""
    ids = [f"C{n:02d}" for n in range(1, 9)]
    found = [{"customer_id": i, **ORDINARY} for i in ids]
    found.insert(3, {"customer_id": "C02", **RICH})
    found.append({"customer_id": "Ｃ０５", **RICH})
    at = found.index({"customer_id": "C07", **ORDINARY})
    found.insert(at, {"customer_id": "C07", **ORDINARY, "balance": "-5"})
    found.append({"customer_id": "C07", **RICH})
    return found


def snapshot(folder: Path, form: str) -> Path:
    records = rows()
    if form == "csv":
        lines = (",".join(r.values()) for r in records)
        return write(folder, "customers.csv", ",".join(records[0]), *lines)
    path = folder / "customers.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def assigned(store: Store) -> dict[str, tuple[Any, ...]]:
    found = store.execute("SELECT * FROM current_assignments")
    return {r["customer_id"]: (r["tier"], r["level"], r["strategy"], r["gold"]) for r in found}


def quarantined(store: Store) -> list[tuple[Any, ...]]:
    found = store.execute("SELECT row_number, field, value, reason FROM quarantine")
    return sorted((r["row_number"], r["field"], r["value"], r["reason"]) for r in found)


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_an_id_given_twice_in_a_snapshot_is_quarantined_as_load_does(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    path = snapshot(tmp_path, form)
    report = classify_snapshot(store, ruleset, NOW, path)
    night, night_quarantine = assigned(store), quarantined(store)
    assert report.customers == 8
    assert report.rejected == 4  # C07's bad balance and three later rows of known ids
    where, header = ("line", 1) if form == "csv" else ("row", 0)
    repeated = [(4, "C02", 2), (11, "C05", 6), (12, "C07", 9)]  # row, id, its first good row
    assert [q for q in night_quarantine if q[1] == "customer_id"] == [
        (at + header, "customer_id", key, f"duplicate customer_id '{key}': already on {where} "
         f"{first + header}")
        for at, key, first in repeated
    ]  # fmt: skip

    named = named_customers(store)  # a later row of a known id names that customer
    assert [named[at + header] for at, _key, _first in repeated] == ["C02", "C05", "C07"]

    store.execute("DELETE FROM quarantine")
    load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    assert assigned(store) == night  # the rows load kept, as the store's own engine sorts them
    assert quarantined(store) == night_quarantine
    assert named_customers(store) == named


def named_customers(store: Store) -> dict[int, Any]:
    found = store.execute("SELECT row_number, customer_id FROM quarantine")
    return {r["row_number"]: r["customer_id"] for r in found}


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_a_refused_row_does_not_take_its_id_in_any_path(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str
) -> None:
    """C07's first row is refused for its balance: its next row is C07's, in load, in the
    snapshot night and in the check of a scenario's population file alike."""
    path = snapshot(tmp_path, form)
    classify_snapshot(store, ruleset, NOW, path)
    night = quarantined(store)
    store.execute("DELETE FROM quarantine")
    load_customers(store, ruleset, path, NOW)
    checked = check_customer_file(ruleset.schema, ruleset.settings.timezone, path)
    found = sorted((n, f, None if v is None else str(v), why) for n, f, v, why in checked.problems)
    assert quarantined(store) == night == found
    assert [q[1:3] for q in found if q[2] == "C07"] == [("customer_id", "C07")]  # the third row
    assert "C07" in assigned(store)


SPREAD = {  # one row a row group: ids, and the rows repeating an earlier one's (row, first)
    "another row group": (["C01", "C02", "C03", "C01"], {4: 1}),
    "full width": (["C01", "C02", "C03", "Ｃ０２"], {4: 2}),  # the same id once normalised
    "no id": (["C01", None, "C02", None], {}),  # refused for the missing id, not repeated
}


@pytest.mark.parametrize("case", list(SPREAD))
def test_the_hashes_miss_no_repeated_id(
    store: Store, ruleset: RuleSet, tmp_path: Path, case: str
) -> None:
    ids, repeated = SPREAD[case]
    path = tmp_path / "spread.parquet"
    records = [{"customer_id": i, **ORDINARY} for i in ids]
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=1)
    assert pq.read_metadata(path).num_row_groups == len(ids)
    classify_snapshot(store, ruleset, NOW, path)
    night, night_quarantine = assigned(store), quarantined(store)
    assert [(q[0], q[3]) for q in night_quarantine if q[3].startswith("duplicate")] == [
        (row, f"duplicate customer_id '{ids[first - 1]}': already on row {first}")
        for row, first in repeated.items()
    ]
    assert len(night) == len(set(ids) - {None}) - (case == "full width")

    store.execute("DELETE FROM quarantine")
    load_customers(store, ruleset, path, NOW)
    classify(store, ruleset, NOW)
    assert assigned(store) == night
    assert quarantined(store) == night_quarantine


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_ids_of_the_same_hash_are_told_apart_by_the_ids(
    store: Store, ruleset: RuleSet, tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id of the same "hash" (its length): the hashes prove nothing, and the ids decide
    which rows repeat one: the same as with their true hashes."""
    path = snapshot(tmp_path, form)
    monkeypatch.setattr(snapshot_ids, "FINGERPRINT", "length({})")
    report = classify_snapshot(store, ruleset, NOW, path)
    assert (report.customers, report.rejected) == (8, 4)
    assert [q[0] for q in quarantined(store) if q[3].startswith("duplicate")] == (
        [5, 12, 13] if form == "csv" else [4, 11, 12]
    )


FINGERPRINTS = st.one_of(st.none(), st.integers(0, 5), st.integers(0, 2**63 - 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(FINGERPRINTS, max_size=40), st.sampled_from([pa.uint64(), pa.int64()]), st.data())
def test_repeated_fingerprints_are_those_a_group_by_finds(
    values: list[int | None], kind: pa.DataType, data: st.DataObject
) -> None:
    """The fingerprints found more than once by sorting (NULLs aside, each once) are the ones
    DuckDB's GROUP BY … HAVING COUNT(*) > 1 finds, however the column is chunked."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=4)))
    bounds = [0, *cuts, len(values)]
    column = pa.chunked_array([values[a:b] for a, b in itertools.pairwise(bounds)], kind)
    duck = duckdb.connect()
    duck.register("fingerprints", pa.table({"hashed": column}))
    grouped = duck.execute(
        "SELECT hashed FROM fingerprints WHERE hashed IS NOT NULL"
        " GROUP BY 1 HAVING COUNT(*) > 1 ORDER BY 1"
    ).fetchall()
    found = snapshot_ids.shared_fingerprints(column)
    assert found.type == kind
    assert found.to_pylist() == [row[0] for row in grouped]
