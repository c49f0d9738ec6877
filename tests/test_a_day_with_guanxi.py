"""The README's "A day with guanxi" on the demo data, as a new user follows it: load the
customers, classify, load 180 days of events, then `guanxi run --once` at 06:04 in Shanghai.

Nothing reaches a customer in the quiet hours (21:00–08:30), nothing past its bound on
lateness is sent, no customer goes over a cap (counted from the deliveries ledger), and what
expired is counted as expired, not dead. At 09:31 the messages held back by the quiet hours
go, spread over the hour after 08:30, still inside every promise.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from guanxi.cli.main import cli
from guanxi.engine.demo_data import write_demo_data
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store, open_store
from tests.conftest import RULES
from tests.policy_helpers import LOCAL, broken_promises, sent

DAWN = dt.datetime(2026, 12, 4, 6, 4, tzinfo=LOCAL)  # a Friday
OPENS = DAWN.replace(hour=8, minute=30)  # the quiet hours end
MORNING = DAWN.replace(hour=9, minute=31)


def guanxi(store: str, now: dt.datetime | None, *args: str, code: int = 0) -> dict[str, Any]:
    """The command's JSON, if it prints some; `code`: its exit code (3: a load with rows
    quarantined)."""
    where = ["--rules", str(RULES), "--store", store]
    where += ["--now", now.isoformat()] if now else []
    result = CliRunner().invoke(cli, [*args, *where], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else {}


def statuses(store: Store) -> dict[str, int]:
    rows = store.execute("SELECT status, count(*) AS n FROM followups GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "guanxi.db")


def test_a_day_with_guanxi_sends_only_what_a_bank_would_send_at_that_hour(
    tmp_path: Path, location: str, ruleset: RuleSet
) -> None:
    write_demo_data(tmp_path, 400, 7, DAWN.date())
    outbox = ["--outbox", str(tmp_path / "outbox.jsonl")]
    evening = DAWN - dt.timedelta(hours=10)
    # the demo data's deliberately bad rows are quarantined: exit code 3
    guanxi(location, None, "load", "customers", str(tmp_path / "customers.csv"), code=3)
    guanxi(location, evening, "classify")
    loaded = guanxi(location, evening, "load", "events", str(tmp_path / "events.jsonl"),
                    "--json", code=3)  # fmt: skip
    assert loaded["planned"]["too_old"] > 0  # history, not a to-do list

    dawn = guanxi(location, DAWN, "run", "--once", *outbox, "--json")
    store = open_store(location)
    try:
        assert sent(store) == []  # 06:04: not one message
        assert sum(dawn["deferred"].values()) > 0
        held = store.execute(
            "SELECT due_at FROM followups WHERE status = 'pending' AND kind = 'message'"
            " AND due_at <= :morning",
            {"morning": MORNING.astimezone(dt.UTC).isoformat()},
        )
        moved = {dt.datetime.fromisoformat(row["due_at"]).astimezone(LOCAL) for row in held}
        assert moved and all(OPENS <= at <= OPENS + dt.timedelta(hours=1) for at in moved)
        assert len(moved) > len(held) // 2  # spread over the hour, not a burst at 08:30
        counted = statuses(store)
        assert counted.get("dead", 0) == dawn["dead"] == 0
        assert counted.get("expired", 0) >= dawn["expired"]
    finally:
        store.close()

    morning = guanxi(location, MORNING, "run", "--once", *outbox, "--json")
    store = open_store(location)
    try:
        delivered = sent(store)
        assert delivered and len(delivered) + tasks_sent(store) == dawn["sent"] + morning["sent"]
        assert broken_promises(store, ruleset) == []
        late = store.execute(
            "SELECT f.key FROM deliveries d JOIN followups f ON f.id = d.followup_id"
            " WHERE d.outcome = 'sent' AND f.expires_at IS NOT NULL AND f.expires_at <= d.at"
        )
        assert late == []  # nothing past its bound on lateness
    finally:
        store.close()


def tasks_sent(store: Store) -> int:
    rows = store.execute(
        "SELECT count(*) AS n FROM deliveries d JOIN followups f ON f.id = d.followup_id"
        " WHERE d.outcome = 'sent' AND f.kind = 'task'"
    )
    return int(rows[0]["n"])
