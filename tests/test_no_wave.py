"""No wave of sends: loads done late, twice or in another form never make many customers
contacted at once. Each test drives the CLI over a store of demo customers classified once
(the store's baseline), as an operator would."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from guanxi.cli.main import cli
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.store import Store
from tests.conftest import RULES

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai, a Monday
CUSTOMERS = 120


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapters of a PostgreSQL store write their files into the working folder."""
    monkeypatch.chdir(tmp_path)


def invoke(store: Store, *args: str, now: dt.datetime | None = NOW) -> Result:
    """`guanxi ARGS` on `store` at `now` (None: a command without --now)."""
    where = ["--rules", str(RULES), "--store", store.location]
    at = [] if now is None else ["--now", now.isoformat()]
    return CliRunner().invoke(cli, [*args, *where, *at])


def demo_ids(tmp_path: Path) -> list[dict[str, str]]:
    write_demo_data(tmp_path, CUSTOMERS, 7, NOW.date(), bad_rows=False)
    with (tmp_path / "customers.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def written(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def classified(store: Store, path: Path, now: dt.datetime = NOW) -> None:
    loaded = invoke(store, "load", "customers", str(path), now=None)
    assert loaded.exit_code == 0, loaded.output
    ran = invoke(store, "classify", now=now)
    assert ran.exit_code == 0, ran.output


def reasons(loaded: Result) -> list[str]:
    """The reasons of the rows `load --json` quarantined."""
    return [problem["reason"] for problem in json.loads(loaded.stdout)["problems"]]


def count(store: Store, sql: str) -> int:
    return int(store.execute(f"SELECT count(*) AS n FROM {sql}")[0]["n"])


def sales(ids: list[str], at: str, prefix: str) -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{n}", "type": "sale", "customer_id": customer, "at": at,
         "product": "基金", "amount": 10_000.0}
        for n, customer in enumerate(ids)
    ]  # fmt: skip


def jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), "utf-8")
    return path


@pytest.mark.every_store
def test_a_customers_file_whose_ids_lost_their_leading_zeros_makes_no_new_customer(
    store: Store, tmp_path: Path
) -> None:
    """Numeric ids `00000001` saved by Excel as `1`: without the check the store held every
    customer twice and the next night welcomed every partner a second time."""
    rows = [{**row, "customer_id": "0" + row["customer_id"][1:]} for row in demo_ids(tmp_path)]
    classified(store, written(tmp_path / "bank.csv", rows))
    resaved = [{**row, "customer_id": str(int(row["customer_id"]))} for row in rows]
    resaved_file = written(tmp_path / "resaved.csv", resaved)
    loaded = invoke(store, "load", "customers", str(resaved_file), "--json", now=None)
    assert loaded.exit_code == 3, loaded.output
    assert reasons(loaded)[0] == (
        "no customer has id 1, but 00000001 does: the id lost its leading zeros (Excel reads a"
        " column of digits as numbers); format the id column as text, or export the file"
        " again, and load it again"
    )
    later = invoke(store, "classify", now=NOW + dt.timedelta(days=1))
    assert later.exit_code == 0, later.output
    assert count(store, "customers") == CUSTOMERS
    assert count(store, "followups WHERE step_id = 'partner_welcome_visit'") == 0


@pytest.mark.every_store
def test_events_naming_ids_without_their_leading_zeros_are_quarantined(
    store: Store, tmp_path: Path
) -> None:
    rows = [{**row, "customer_id": "0" + row["customer_id"][1:]} for row in demo_ids(tmp_path)]
    classified(store, written(tmp_path / "bank.csv", rows))
    events = jsonl(tmp_path / "sales.jsonl", sales(["7", "00000008"], "2026-11-29T10:00", "S"))
    loaded = invoke(store, "load", "events", str(events), "--json")
    assert loaded.exit_code == 3, loaded.output
    assert reasons(loaded)[0].startswith("no customer has id 7, but 00000007 does")
    assert count(store, "events") == 1


@pytest.mark.every_store
def test_events_dated_in_the_future_are_quarantined_not_planned_for_that_day(
    store: Store, tmp_path: Path
) -> None:
    """A sales file dated a year ahead (a wrong year) planned a thank-you for every customer,
    all due on that day."""
    ids = [row["customer_id"] for row in demo_ids(tmp_path)]
    classified(store, tmp_path / "customers.csv")
    before = count(store, "followups")
    ahead = jsonl(tmp_path / "sales.jsonl", sales(ids, "2027-11-29T10:00:00+08:00", "F"))
    loaded = invoke(store, "load", "events", str(ahead), "--json")
    assert loaded.exit_code == 3, loaded.output
    assert reasons(loaded)[0].startswith("dated 2027-11-29 10:00, after now (2026-11-30 10:00)")
    assert count(store, "events WHERE id LIKE 'F%'") == 0
    assert count(store, "followups") == before
    soon = jsonl(tmp_path / "soon.jsonl", sales(ids[:1], "2026-12-01T09:00:00+08:00", "T"))
    assert invoke(store, "load", "events", str(soon)).exit_code == 0  # a day's leeway


def test_an_event_posted_with_a_date_in_the_future_is_refused(store: Store, tmp_path: Path) -> None:
    ids = [row["customer_id"] for row in demo_ids(tmp_path)]
    classified(store, tmp_path / "customers.csv")
    post = ["events", "post", "sale", "--customer", ids[0], "--field", "product=基金"]
    refused = invoke(store, *post, "--at", "2027-03-01T10:00")
    assert refused.exit_code == 1
    assert "the event was not recorded: at: dated 2027-03-01 10:00, after now" in refused.output
    zh = CliRunner().invoke(
        cli, ["--lang", "zh", *post, "--at", "2027-03-01T10:00", "--rules", str(RULES),
              "--store", store.location, "--now", NOW.isoformat()],
    )  # fmt: skip
    assert zh.exit_code == 1 and "晚于当前时间" in zh.output
    assert count(store, "events") == 0


def test_the_same_events_loaded_twice_or_renamed_plan_nothing_more(
    store: Store, tmp_path: Path
) -> None:
    ids = [row["customer_id"] for row in demo_ids(tmp_path)]
    classified(store, tmp_path / "customers.csv")
    recent = jsonl(tmp_path / "recent.jsonl", sales(ids, "2026-11-29T10:00:00+08:00", "R"))
    assert invoke(store, "load", "events", str(recent)).exit_code == 0
    planned = count(store, "followups")
    renamed = tmp_path / "recent_renamed.jsonl"
    renamed.write_bytes(recent.read_bytes())
    for again in (recent, renamed):
        assert invoke(store, "load", "events", str(again)).exit_code == 0
    assert count(store, "followups") == planned


def test_a_backfill_of_last_year_plans_nothing(store: Store, tmp_path: Path) -> None:
    ids = [row["customer_id"] for row in demo_ids(tmp_path)]
    classified(store, tmp_path / "customers.csv")
    before = count(store, "followups")
    old = jsonl(tmp_path / "old.jsonl", sales(ids, "2025-12-15T10:00:00+08:00", "B"))
    loaded = invoke(store, "load", "events", str(old))
    assert loaded.exit_code == 0, loaded.output
    assert "came after the window of a step they trigger had closed" in loaded.stdout
    assert count(store, "followups") == before


def test_a_customers_file_with_ids_in_full_width_or_spaced_is_the_same_customers(
    store: Store, tmp_path: Path
) -> None:
    rows = demo_ids(tmp_path)
    classified(store, tmp_path / "customers.csv")
    wide = str.maketrans("C0123456789", "Ｃ０１２３４５６７８９")
    retyped = [
        {**row, "customer_id": row["customer_id"].translate(wide) if n % 2 else
         f"  {row['customer_id']}\u3000"}
        for n, row in enumerate(rows)
    ]  # fmt: skip
    classified(store, written(tmp_path / "retyped.csv", retyped), NOW + dt.timedelta(days=1))
    assert count(store, "customers") == CUSTOMERS
    assert count(store, "followups WHERE step_id = 'partner_welcome_visit'") == 0
