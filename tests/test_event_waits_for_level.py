"""A new customer's event waits for their first classification, in a store classified before.

A customer who opens an account and buys today is classified tonight: the sale's follow-up of
their level is planned at the first planning after that run, from the sale's own time. So
does a recent event loaded before the store's first classification: a history load plans what
is still due after the baseline, as when the same events are loaded after it.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.classify import classify
from guanxi.engine.ingest import load_customers
from guanxi.engine.plan.events import WAITS_AT_MOST, plan_new_events
from guanxi.engine.plan.history import customer_history
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from tests.conftest import RULES
from tests.daemon_helpers import post

pytestmark = pytest.mark.every_store

# Monday 28 Sep 2026, the night's classification (02:00 in Shanghai on the 29th is 18:00 UTC)
FIRST_NIGHT = dt.datetime(2026, 9, 28, 18, 0, tzinfo=dt.UTC)
SALE = "2026-09-29T07:00:00+00:00"  # Tuesday 29 Sep, 15:00 in Shanghai
AFTER_SALE = dt.datetime(2026, 9, 29, 7, 5, tzinfo=dt.UTC)
NEXT_NIGHT = FIRST_NIGHT + dt.timedelta(days=1)
PLANNING = NEXT_NIGHT + dt.timedelta(minutes=5)

# a customer the default rules classify responsible (low value, value ratio above 3)
RESPONSIBLE = {
    "name": "付琪", "kind": "personal", "branch": "郴州北湖支行", "rm_id": "RM001",
    "opened_on": "2023-01-21", "age": "30", "occupation": "工人", "annual_income": "38100",
    "credit_rating": "BB", "balance": "118295.66", "loan_balance": "0.00",
    "wealth_balance": "0.00", "monthly_txn_count": "4", "last_txn_date": "2026-09-25",
    "products_held": "1", "annual_contribution": "1227.83", "cost_to_serve": "85.73",
    "acquisition_cost": "130.00", "expected_years": "6.5", "satisfaction": "1",
    "loyalty": "33", "preferred_channel": "phone", "consent_sms": "true",
}  # fmt: skip


def load(store: Store, ruleset: RuleSet, folder: Path, *customers: str) -> None:
    """Load `customers` as responsible ones, through the CSV loader."""
    file = folder / f"customers-{'-'.join(customers)}.csv"
    with file.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, ["customer_id", *RESPONSIBLE])
        writer.writeheader()
        writer.writerows({"customer_id": c, **RESPONSIBLE} for c in customers)
    assert load_customers(store, ruleset, file, FIRST_NIGHT).loaded == len(customers)


def calls(store: Store) -> list[dict[str, Any]]:
    return store.execute("SELECT key, level, due_at, status FROM followups ORDER BY key")


def planned_at(store: Store, event_id: str) -> Any:
    [row] = store.execute("SELECT planned_at FROM events WHERE id = :id", {"id": event_id})
    return row["planned_at"]


@pytest.fixture
def classified(store: Store, ruleset: RuleSet, tmp_path: Path) -> Store:
    """A store running for a while: its customers classified on Monday night."""
    load(store, ruleset, tmp_path, "OLD1")
    classify(store, ruleset, FIRST_NIGHT)
    return store


def test_a_new_customers_sale_is_planned_after_their_first_classification(
    classified: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store = classified
    load(store, ruleset, tmp_path, "NEW1")  # opened an account on Tuesday
    post(store, "E1", "sale", "NEW1", SALE, product="理财", amount=5e4)

    waiting = plan_new_events(store, ruleset, AFTER_SALE)
    assert (waiting.waiting, waiting.no_profile, waiting.planned) == (1, 0, 0)
    assert planned_at(store, "E1") is None
    [event] = customer_history(store, ruleset, "NEW1").events
    assert event.waiting and not event.planned
    # until a new run, later plannings do not read the waiting event again
    again = plan_new_events(store, ruleset, AFTER_SALE + dt.timedelta(minutes=1))
    assert (again.events, again.waiting) == (0, 0)

    classify(store, ruleset, NEXT_NIGHT)
    report = plan_new_events(store, ruleset, PLANNING)
    assert (report.events, report.waiting, report.planned) == (1, 0, 1)
    # 29 Sep (Tue) + 3 business days skips National Day (1-7 Oct): 9 Oct, 10:00 in Shanghai
    assert calls(store) == [
        {
            "key": "responsible_post_sale_call:NEW1:E1",
            "level": "responsible",
            "due_at": "2026-10-09T02:00:00Z",
            "status": "pending",
        }
    ]
    assert planned_at(store, "E1") is not None
    assert plan_new_events(store, ruleset, PLANNING).planned == 0  # once only


def test_explain_shows_a_waiting_event(classified: Store, ruleset: RuleSet, tmp_path: Path) -> None:
    load(classified, ruleset, tmp_path, "NEW1")
    post(classified, "E1", "sale", "NEW1", SALE, product="理财", amount=5e4)
    plan_new_events(classified, ruleset, AFTER_SALE)
    classified.close()
    where = ["--rules", str(RULES), "--store", classified.location, "--now", "2026-09-29T15:10"]
    result = CliRunner().invoke(cli, ["explain", "NEW1", *where])
    assert result.exit_code == 0, result.output
    assert (
        "sale E1: waiting: the customer is not classified yet; the event is planned after"
        f" their first classification, for up to {WAITS_AT_MOST.days} days from the event"
    ) in result.output


def test_explain_shows_an_event_waiting_for_the_stores_first_classification(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    load(store, ruleset, tmp_path, "OLD1")
    post(store, "E1", "sale", "OLD1", "2025-09-29T07:00:00+00:00", product="理财", amount=5e4)
    plan_new_events(store, ruleset, AFTER_SALE)
    store.close()
    where = ["--rules", str(RULES), "--store", store.location, "--now", "2026-09-29T15:10"]
    result = CliRunner().invoke(cli, ["explain", "OLD1", *where])
    assert result.exit_code == 0, result.output
    assert (
        "sale E1: waiting: the store has not been classified yet; the event is planned after"
        " its first classification"
    ) in result.output


def test_an_event_older_than_the_wait_is_not_kept_waiting(
    classified: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    store = classified
    load(store, ruleset, tmp_path, "NEW1")
    late = PLANNING + WAITS_AT_MOST  # the sale is loaded more than a week after it happened
    post(store, "E1", "sale", "NEW1", SALE, product="理财", amount=5e4)

    report = plan_new_events(store, ruleset, late)
    assert (report.no_profile, report.waiting) == (1, 0)
    assert planned_at(store, "E1") is not None
    classify(store, ruleset, late)
    assert plan_new_events(store, ruleset, late).events == 0
    assert calls(store) == []


def test_a_history_load_before_the_first_classification_plans_only_what_is_still_due(
    store: Store, ruleset: RuleSet, tmp_path: Path
) -> None:
    """As the same events loaded after it: the sales whose calls are still due get them, even
    one older than a week, and a year-old one nothing, whichever the bank loads first, events
    or the baseline."""
    load(store, ruleset, tmp_path, "OLD1")
    for event, at in {"E0": "2025-09-29", "E1": "2026-09-29", "E2": "2026-09-20"}.items():
        post(store, event, "sale", "OLD1", f"{at}T07:00:00+00:00", product="理财", amount=5e4)

    report = plan_new_events(store, ruleset, AFTER_SALE)
    assert (report.no_profile, report.waiting) == (0, 3)
    assert all(e.waits_for_first_run for e in customer_history(store, ruleset, "OLD1").events)
    classify(store, ruleset, NEXT_NIGHT)  # the baseline
    assert plan_new_events(store, ruleset, PLANNING).planned == 2
    assert [call["key"] for call in calls(store)] == [
        "responsible_post_sale_call:OLD1:E1",
        "responsible_post_sale_call:OLD1:E2",
    ]


def test_an_event_of_a_customer_never_loaded_ends_as_no_profile(
    classified: Store, ruleset: RuleSet
) -> None:
    store = classified
    post(store, "E1", "sale", "GHOST", SALE, product="理财", amount=5e4)
    assert plan_new_events(store, ruleset, AFTER_SALE).waiting == 1

    classify(store, ruleset, NEXT_NIGHT)  # the customer is still not loaded: waits again
    again = plan_new_events(store, ruleset, PLANNING)
    assert (again.waiting, again.no_profile) == (1, 0)

    over = dt.datetime.fromisoformat(SALE) + WAITS_AT_MOST + dt.timedelta(minutes=1)
    report = plan_new_events(store, ruleset, over)  # no run since: the wait alone is over
    assert (report.events, report.no_profile, report.waiting) == (1, 1, 0)
    assert planned_at(store, "E1") is not None
    assert calls(store) == []
