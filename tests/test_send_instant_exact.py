"""A withdrawal committed before a send stops it, on each store, with several daemons: the
store tells cheaply whether what the consent checks read was written (SQLite's data_version,
PostgreSQL's consent_version), so a batch reads consent again as soon as it was, however soon
after the claim or the last read, with a clock that does not move."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator

import psycopg
import pytest

from guanxi.adapters.base import Message
from guanxi.engine.classify import classify
from guanxi.engine.clock import FixedClock
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.postgresql import PostgresStore
from tests.conftest import POSTGRES
from tests.test_send_instant import (
    MORNING,
    Slow,
    ask_not_to_be_contacted,
    plan_sms,
    run_batch,
    withdraw_consent,
)
from tests.test_send_time_policy import customer, open_again

Withdrawal = Callable[[Store, RuleSet, dt.datetime], None]


@pytest.fixture(params=["the dispatcher's", "another daemon's"])
def writer(request: pytest.FixtureRequest, store: Store) -> Iterator[Store]:
    """The connection the withdrawal is made on: the dispatching one, or another's."""
    if request.param == "the dispatcher's":
        yield store
        return
    own = open_again(store)
    yield own
    own.close()


@pytest.mark.every_store
@pytest.mark.parametrize(
    ("withdrawal", "policy"),
    [(withdraw_consent, "channel_consent"), (ask_not_to_be_contacted, "do_not_contact")],
)
def test_a_withdrawal_committed_a_moment_before_a_send_stops_it(
    store: Store, writer: Store, ruleset: RuleSet, withdrawal: Withdrawal, policy: str
) -> None:
    """One batch of three; C0001 withdraws while C0000's message is being sent, in the same
    instant (the clock stands still: no once-a-second reading helps). Their message is not
    sent; the two others are."""
    plan_sms(store, 3, MORNING)
    clock = FixedClock(MORNING)

    def withdraw(message: Message) -> None:
        if message.customer_id == "C0000":
            withdrawal(writer, ruleset, clock.now())

    instant = Slow(clock, dt.timedelta(0), withdraw)
    report = run_batch(store, ruleset, instant, clock)
    assert (report.sent, report.suppressed, len(instant.keys)) == (2, {policy: 1}, 2)
    rows = store.execute("SELECT customer_id, status, policy FROM followups ORDER BY customer_id")
    assert [(row["status"], row["policy"]) for row in rows] == [
        ("sent", None), ("suppressed", policy), ("sent", None)
    ]  # fmt: skip


@pytest.mark.every_store
def test_the_token_moves_when_a_write_commits_not_before(store: Store, ruleset: RuleSet) -> None:
    """Another connection's consent record moves the token once it is committed."""
    other = open_again(store)
    try:
        before = store.change_token()
        with other.transaction():
            withdraw_consent(other, ruleset, MORNING)
            assert store.change_token() == before
        assert store.change_token() != before
    finally:
        other.close()


# --- PostgreSQL: what counts, and who waits -------------------------------------------------


@pytest.fixture
def postgres(postgres_emptied: str, ruleset: RuleSet) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_emptied)
    opened.prepare(ruleset.schema)
    opened.upsert_customers([customer(i) for i in range(2)])
    yield opened
    opened.close()


def test_every_write_the_consent_checks_read_counts(postgres: PostgresStore) -> None:
    """A customer changed, a customer deleted (erasure), consent records: each commit counts;
    a write elsewhere does not."""
    seen = [postgres.change_token()]
    postgres.upsert_customers([customer(0, do_not_contact=True)])
    seen.append(postgres.change_token())
    postgres.execute("DELETE FROM customers WHERE customer_id = 'C0001'")
    seen.append(postgres.change_token())
    postgres.execute(
        "INSERT INTO consent_ledger (customer_id, channel, purpose, granted, source,"
        " effective_at, recorded_at) VALUES ('C0000', 'all', 'marketing', FALSE, 'app', '', '')"
    )
    seen.append(postgres.change_token())
    postgres.execute("INSERT INTO audit_log (at, actor, action) VALUES ('', 'test', 'nothing')")
    seen.append(postgres.change_token())
    assert seen[:4] == sorted(set(seen[:4])) and seen[4] == seen[3]


def test_a_write_by_hand_counts_whatever_its_search_path(postgres: PostgresStore) -> None:
    """An administrator sets a do-not-contact flag in psql, naming the store's schema."""
    [row] = postgres.execute("SELECT current_schema() AS name")
    before = postgres.change_token()
    with psycopg.connect(POSTGRES, autocommit=True) as by_hand:
        by_hand.execute(
            f"UPDATE {row['name']}.customers SET do_not_contact = TRUE WHERE customer_id = 'C0001'"
        )
    assert postgres.change_token() != before


def test_a_long_load_holds_back_no_consent_record(
    postgres: PostgresStore, ruleset: RuleSet
) -> None:
    """A customer load still running does not make a withdrawal at the branch wait: the
    count is taken when each commits."""
    load, branch = open_again(postgres), open_again(postgres)
    try:
        branch.execute("SET lock_timeout = '2s'")
        before = postgres.change_token()
        with load.transaction():
            load.upsert_customers([customer(0, do_not_contact=True)])
            withdraw_consent(branch, ruleset, MORNING)
            during = postgres.change_token()
        assert len({before, during, postgres.change_token()}) == 3
    finally:
        load.close()
        branch.close()


def test_a_long_classification_holds_back_no_consent_record(
    postgres: PostgresStore, ruleset: RuleSet, unheld: RuleSet
) -> None:
    """A classification that has written its assignments and works on (the planning that
    commits with it) does not make a withdrawal at the branch wait; its writes count when it
    commits (the level the send-time checks read)."""
    night, branch = open_again(postgres), open_again(postgres)
    try:
        branch.execute("SET lock_timeout = '2s'")
        before = postgres.change_token()
        during: list[Hashable] = []

        def planning(run_id: int) -> None:
            withdraw_consent(branch, ruleset, MORNING)
            during.append(postgres.change_token())

        classify(night, unheld, MORNING, after=planning)
        assert len({before, *during, postgres.change_token()}) == 3
    finally:
        night.close()
        branch.close()


def test_customers_made_before_the_migration_are_counted(
    postgres_url: str, ruleset: RuleSet
) -> None:
    """A store whose customers table came first (prepared, then migrated)."""
    store = PostgresStore(postgres_url, migrate=False)
    try:
        store.prepare(ruleset.schema)
        store.migrate()
        before = store.change_token()
        store.upsert_customers([customer(0)])
        assert store.change_token() != before
    finally:
        store.close()
