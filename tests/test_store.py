"""The Store contract: every store (see STORES in conftest.py) must pass these tests."""

from __future__ import annotations

import json

import pytest

from guanxi.engine.ruleset import RuleSet
from guanxi.engine.ruleset.models import FieldSpec
from guanxi.engine.store import Store

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


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_customers([customer("C1")])
        raise RuntimeError("stop")
    assert count(store, "customers") == 0
