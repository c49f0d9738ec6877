"""The Store contract: every store (see STORES in conftest.py) must pass these tests."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import FieldSpec
from guanxi.engine.store import Store, open_store
from guanxi.engine.store.base import CONSENT_COUNT
from guanxi.engine.store.dialect import (
    epoch_seconds,
    json_array_rows,
    json_item,
    json_texts,
)
from guanxi.engine.store.postgresql import STREAM_ROWS, PostgresStore
from guanxi.engine.store.sqlite import SQLiteStore

pytestmark = pytest.mark.every_store

AT = "2026-11-28T02:00:00+00:00"


def customer(key: str, **fields: object) -> dict[str, object]:
    return {"customer_id": key, "name": f"客户{key}", **fields}


def stored(store: Store, key: str) -> dict[str, object]:
    rows = store.execute("SELECT * FROM customers WHERE customer_id = :key", {"key": key})
    assert len(rows) == 1
    return rows[0]


def count(store: Store, table: str) -> int:
    return int(store.execute(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


class TestCustomers:
    def test_prepare_gives_a_column_per_schema_field(self, store: Store, ruleset: RuleSet) -> None:
        store.upsert_customers([customer("C1")])
        columns = set(stored(store, "C1"))
        assert set(ruleset.schema.fields) <= columns
        assert "_loaded_at" in columns

    def test_prepare_adds_columns_when_the_schema_grows(
        self, store: Store, ruleset: RuleSet
    ) -> None:
        store.upsert_customers([customer("C1", balance=10.0)])
        segment = FieldSpec(type="string", label="细分")
        grown = ruleset.schema.model_copy(
            update={"fields": {**ruleset.schema.fields, "segment": segment}}
        )
        store.prepare(grown)
        store.prepare(grown)  # a second time changes nothing
        assert store.upsert_customers([customer("C1", balance=10.0, segment="私行")]) == {
            "inserted": 0,
            "updated": 1,
            "unchanged": 0,
        }
        row = stored(store, "C1")
        assert (row["segment"], row["balance"]) == ("私行", 10.0)

    def test_upsert_counts_inserted_updated_and_unchanged(self, store: Store) -> None:
        first = [customer("C1", balance=1.0), customer("C2", balance=2.0)]
        assert store.upsert_customers(first) == {"inserted": 2, "updated": 0, "unchanged": 0}
        assert store.upsert_customers(first) == {"inserted": 0, "updated": 0, "unchanged": 2}
        again = [customer("C1", balance=1.5), customer("C2", balance=2.0), customer("C3")]
        assert store.upsert_customers(again) == {"inserted": 1, "updated": 1, "unchanged": 1}
        assert stored(store, "C1")["balance"] == 1.5
        assert count(store, "customers") == 3

    def test_a_field_a_row_does_not_give_is_left_as_it_is(self, store: Store) -> None:
        store.upsert_customers([customer("C1", balance=5.0, age=40)])
        counts = store.upsert_customers([{"customer_id": "C1", "name": "新名字"}])
        assert counts == {"inserted": 0, "updated": 1, "unchanged": 0}
        row = stored(store, "C1")
        assert (row["name"], row["balance"], row["age"]) == ("新名字", 5.0, 40)

    def test_unchanged_is_judged_on_the_fields_a_row_gives(self, store: Store) -> None:
        store.upsert_customers([customer("C1", balance=5.0)])
        assert store.upsert_customers([{"customer_id": "C1", "balance": 5.0}]) == {
            "inserted": 0,
            "updated": 0,
            "unchanged": 1,
        }

    def test_rows_giving_different_fields_in_one_call(self, store: Store) -> None:
        rows = [customer("C1", balance=1.0), {"customer_id": "C2", "age": 30}, customer("C3")]
        assert store.upsert_customers(rows)["inserted"] == 3
        assert stored(store, "C1")["balance"] == 1.0
        assert stored(store, "C2")["age"] == 30
        assert stored(store, "C3")["name"] == "客户C3"

    def test_none_clears_a_value(self, store: Store) -> None:
        store.upsert_customers([customer("C1", balance=5.0)])
        assert store.upsert_customers([customer("C1", balance=None)])["updated"] == 1
        assert stored(store, "C1")["balance"] is None

    def test_booleans_and_chinese_text_round_trip(self, store: Store) -> None:
        store.upsert_customers([customer("C1", branch="长沙芙蓉支行", consent_sms=True)])
        row = stored(store, "C1")
        assert row["branch"] == "长沙芙蓉支行"
        assert bool(row["consent_sms"]) is True
        again = [customer("C1", branch="长沙芙蓉支行", consent_sms=True)]
        assert store.upsert_customers(again)["unchanged"] == 1

    def test_an_empty_call_changes_nothing(self, store: Store) -> None:
        assert store.upsert_customers([]) == {"inserted": 0, "updated": 0, "unchanged": 0}

    def test_dates_and_times_read_back_as_iso_text(self, store: Store, ruleset: RuleSet) -> None:
        seen = FieldSpec(type="datetime", label="最近登录")
        store.prepare(
            ruleset.schema.model_copy(update={"fields": {**ruleset.schema.fields, "seen": seen}})
        )
        given = customer("C1", opened_on="2019-03-01", seen="2026-11-28T02:00:00+00:00")
        store.upsert_customers([given])
        row = stored(store, "C1")
        assert (row["opened_on"], row["seen"]) == ("2019-03-01", "2026-11-28T02:00:00+00:00")
        assert store.upsert_customers([given])["unchanged"] == 1

    def test_the_last_row_of_a_key_given_twice_wins(self, store: Store) -> None:
        twice = [customer("C1", balance=1.0), customer("C1", balance=2.0)]
        assert store.upsert_customers(twice)["inserted"] >= 1
        assert stored(store, "C1")["balance"] == 2.0


class TestEvents:
    def event(self, event_id: str, **payload: object) -> dict[str, object]:
        return {"id": event_id, "type": "sale", "customer_id": "C1", "at": AT, "payload": payload}

    def test_loading_events_again_inserts_nothing(self, store: Store) -> None:
        events = [self.event("E1", product="理财产品", amount=100.0), self.event("E2")]
        assert store.insert_events(events) == {"inserted": 2, "unchanged": 0}
        assert store.insert_events(events) == {"inserted": 0, "unchanged": 2}
        assert store.insert_events([*events, self.event("E3")]) == {"inserted": 1, "unchanged": 2}
        assert count(store, "events") == 3

    def test_an_id_already_there_is_left_alone(self, store: Store) -> None:
        store.insert_events([self.event("E1", amount=1.0)])
        store.insert_events([self.event("E1", amount=2.0)])
        payload = store.execute("SELECT payload FROM events WHERE id = 'E1'")[0]["payload"]
        assert json.loads(payload) == {"amount": 1.0}

    def test_the_payload_is_json_and_keeps_chinese(self, store: Store) -> None:
        store.insert_events([self.event("E1", product="理财产品")])
        row = store.execute("SELECT * FROM events WHERE id = 'E1'")[0]
        assert (row["type"], row["customer_id"], row["at"]) == ("sale", "C1", AT)
        assert "理财产品" in row["payload"]


class TestQuarantine:
    def test_quarantined_rows_keep_where_they_came_from_and_why(self, store: Store) -> None:
        record = {"kind": "customers", "source": "客户.csv", "row_number": 7, "field": "balance",
                  "value": "12,3x4", "reason": "'12,3x4' is not a number", "at": AT}  # fmt: skip
        assert store.quarantine([record, {**record, "row_number": 9}]) == 2
        rows = store.execute("SELECT * FROM quarantine ORDER BY row_number")
        assert [r["row_number"] for r in rows] == [7, 9]
        assert {k: rows[0][k] for k in record} == record


class TestStatements:
    def test_named_parameters_and_text_that_looks_like_one(self, store: Store) -> None:
        rows = store.execute("SELECT ':x' AS a, '50%' AS b, :v AS c, 7 % 4 AS d", {"v": "值"})
        assert rows == [{"a": ":x", "b": "50%", "c": "值", "d": 3}]

    def test_execute_many_runs_once_per_parameter_set(self, store: Store) -> None:
        store.upsert_customers([customer("C1"), customer("C2")])
        store.execute_many(
            "UPDATE customers SET balance = :b WHERE customer_id = :k",
            [{"k": "C1", "b": 1.5}, {"k": "C2", "b": 2.5}],
        )
        assert (stored(store, "C1")["balance"], stored(store, "C2")["balance"]) == (1.5, 2.5)

    def test_iter_rows_streams_more_rows_than_one_fetch(self, store: Store) -> None:
        store.upsert_customers(customer(f"C{i:05d}") for i in range(STREAM_ROWS + 5))
        keys = [r["customer_id"] for r in store.iter_rows("SELECT customer_id FROM customers")]
        assert len(set(keys)) == STREAM_ROWS + 5

    def test_an_integer_sum_is_an_int_and_an_average_a_float(self, store: Store) -> None:
        store.upsert_customers([customer("C1", age=40), customer("C2", age=3)])
        [row] = store.execute("SELECT SUM(age) AS n, AVG(age) AS mean FROM customers")
        assert (row["n"], type(row["n"]), row["mean"]) == (43, int, 21.5)

    def test_the_dialect_pieces_run_on_the_store(self, store: Store) -> None:
        d = store.dialect
        rows = store.execute(
            f"SELECT {json_item(0, d, 'BIGINT')} AS id, {json_item(1, d)} AS name"
            f" FROM {json_array_rows('rows', d)}",
            {"rows": json.dumps([[1, "甲"], [2, "乙"]], ensure_ascii=False)},
        )
        assert rows == [{"id": 1, "name": "甲"}, {"id": 2, "name": "乙"}]
        texts = store.execute(f"{json_texts('t', d)}", {"t": '["a", "b"]'})
        assert [next(iter(r.values())) for r in texts] == ["a", "b"]
        epoch = store.execute(f"SELECT {epoch_seconds(':at', d)} AS s", {"at": AT})
        assert epoch == [{"s": 1795831200}]


class TestMigrations:
    def test_an_opened_store_has_every_migration_applied(self, store: Store) -> None:
        assert store.pending_migrations() == []
        assert store.migrate() == []


def test_every_store_has_the_same_migrations_tables_and_columns(
    tmp_path: Path, postgres_url: str
) -> None:
    stores = {
        "sqlite": open_store(str(tmp_path / "guanxi.db"), migrate=False),
        "postgresql": open_store(postgres_url, migrate=False),
    }
    try:
        pending = {kind: s.pending_migrations() for kind, s in stores.items()}
        assert pending["sqlite"] == pending["postgresql"]
        assert pending["sqlite"][0] == "m001_core_tables"
        assert {kind: s.migrate() for kind, s in stores.items()} == pending
        assert _columns(stores["sqlite"]) == _columns(stores["postgresql"])
        for table in ("followups", "events"):
            assert _indexes(stores["sqlite"], table) == _indexes(stores["postgresql"], table)
    finally:
        for opened in stores.values():
            opened.close()


def _indexes(store: Store, table: str) -> dict[str, tuple[list[str], bool]]:
    """The table's named indexes: their columns, and whether they are partial."""
    if store.dialect == "sqlite":
        sql = (
            "SELECT l.name AS i, l.partial AS p, c.name AS c FROM pragma_index_list(:table) l,"
            " pragma_index_info(l.name) c WHERE l.origin = 'c' ORDER BY l.name, c.seqno"
        )
    else:
        sql = (
            "SELECT i.relname AS i, x.indpred IS NOT NULL AS p, a.attname AS c FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()"
            " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, seqno)"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
            " WHERE t.relname = :table AND NOT x.indisprimary AND NOT x.indisunique"
            " ORDER BY i.relname, k.seqno"
        )
    found: dict[str, tuple[list[str], bool]] = {}
    for row in store.execute(sql, {"table": table}):
        found.setdefault(row["i"], ([], bool(row["p"])))[0].append(row["c"])
    return found


def test_planning_indexes_of_follow_ups(store: Store) -> None:
    """m022: by experiment only those in one; by batch with status, step and policy."""
    indexes = _indexes(store, "followups")
    assert indexes["followups_experiment"] == (["experiment", "step_id"], True)
    assert indexes["followups_batch"] == (["batch", "status", "step_id", "policy"], False)


def test_only_events_still_to_plan_are_indexed_for_planning(store: Store) -> None:
    """m023: the unplanned events in the order they are planned; a planned one leaves."""
    assert _indexes(store, "events")["events_unplanned"] == (["at", "id"], True)


def _columns(store: Store) -> dict[str, list[str]]:
    """Each table's and view's column names (the stores' own bookkeeping aside)."""
    if store.dialect == "sqlite":
        sql = (
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p"
            " WHERE m.type IN ('table', 'view') AND m.name NOT LIKE '%migrations'"
            " ORDER BY m.name, p.cid"
        )
    else:
        sql = (
            "SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name NOT LIKE '%migrations'"
            " ORDER BY table_name, ordinal_position"
        )
    found: dict[str, list[str]] = {}
    for row in store.execute(sql):
        if row["t"] not in CONSENT_COUNT:  # PostgreSQL's alone
            found.setdefault(row["t"], []).append(row["c"])
    return found


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_customers([customer("C1")])
        raise RuntimeError("stop")
    assert count(store, "customers") == 0


def test_a_query_repeated_while_another_process_adds_a_column(
    store: Store, ruleset: RuleSet
) -> None:
    store.upsert_customers([customer("C1")])
    for _ in range(6):  # often enough for a driver to prepare it on the server
        stored(store, "C1")
    other = open_store(store.location)
    note = FieldSpec(type="string", label="备注")
    other.prepare(
        ruleset.schema.model_copy(update={"fields": {**ruleset.schema.fields, "note": note}})
    )
    other.close()
    assert stored(store, "C1")["note"] is None


def test_a_postgresql_store_reconnects_after_losing_its_connection(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    try:
        pid = store.conn.info.backend_pid
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError):  # the statement that met the loss
            store.execute("SELECT 1 AS one")
        assert store.execute("SELECT 1 AS one") == [{"one": 1}]  # the next, on a new session
        assert store.conn.info.backend_pid != pid
    finally:
        store.close()


def test_the_sqlite_store_opens_without_importing_pandas() -> None:
    """sqlite-utils imports pandas (0.15 s) only for a column type guanxi never writes: the
    store hides it while sqlite-utils loads, and pandas still imports afterwards."""
    script = (
        "import sys; import guanxi.engine.store.sqlite; seen = 'pandas' in sys.modules;"
        " import pandas; print(seen, sys.modules['sqlite_utils.db'].pd is None,"
        " pandas.Timestamp.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True", "Timestamp"]


def test_a_new_sqlite_store_has_16_kb_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as made:  # a store made before: SQLite's default 4 KB pages
        made.execute("CREATE TABLE kept (x)")
    stores = [SQLiteStore(tmp_path / "new.db"), SQLiteStore(old)]
    try:
        sizes = [s.db.execute("PRAGMA page_size").fetchone()[0] for s in stores]
    finally:
        for opened in stores:
            opened.close()
    assert sizes == [16384, 4096]
