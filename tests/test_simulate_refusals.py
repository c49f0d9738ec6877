"""`simulate` applies the recipient check of each channel's live adapter: a message the daemon
would refuse (a phone field holding the letter O) is refused in the simulation too, listed with
its reason, and not counted as delivered. Before, the recording adapter took everything."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from guanxi.engine.plan.followups import insert_followups
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.simulate.results import RunSection, measure
from guanxi.engine.simulate.run import Window, run
from guanxi.engine.store import Store
from tests.daemon_helpers import invitation

ZONE = ZoneInfo("Asia/Shanghai")
FIRST = dt.date(2026, 12, 1)
DUE = dt.datetime(2026, 12, 1, 10, 0, tzinfo=ZONE)  # a Tuesday morning, no quiet hours


def simulated(store: Store, ruleset: RuleSet, phones: dict[str, str]) -> RunSection:
    store.upsert_customers(
        [
            {"customer_id": c, "name": "张三", "phone": phone, "consent_sms": True}
            for c, phone in phones.items()
        ]
    )
    insert_followups(store, [invitation(c, "E1", DUE) for c in phones], "b1", DUE)
    window = Window(FIRST, 1, ZONE)
    ran = run(store, ruleset, window, None)
    return RunSection(measure("rules", store, ruleset, window, {}, ran, 0.0))


def test_simulate_refuses_what_the_daemon_would_refuse(store: Store, ruleset: RuleSet) -> None:
    section = simulated(store, ruleset, {"C0001": "1380013800O", "C0002": "13900139000"})
    result = section.result
    invited = [d.customer_id for d in result.deliveries if d.step_id == "maturity_notice"]
    assert invited == ["C0002"]
    [refusal] = result.refused
    assert (refusal.customer_id, refusal.channel, refusal.day) == ("C0001", "sms", FIRST)
    assert "letter 'O'" in refusal.reason and "'phone'" in refusal.reason
    [table] = [t for t in section.tables() if t.name == "rules_refused"]
    [row] = table.records()
    assert (row["channel"], row["followups"], row["customers"]) == ("sms", 1, "C0001")
    assert any("refused: 1 follow-ups" in line for line in section.notes())
    [status] = store.execute("SELECT status FROM followups WHERE customer_id = 'C0001'")
    assert status["status"] == "dead"  # as the daemon leaves it


def test_a_simulation_of_good_addresses_refuses_nothing(store: Store, ruleset: RuleSet) -> None:
    section = simulated(store, ruleset, {"C0001": "13800138000", "C0002": "+86 139-0013-9000"})
    assert section.result.refused == [] and section.refusals().rows == ()
    assert "rules_refused" not in [table.name for table in section.tables()]
    assert not any(line.startswith("refused") for line in section.notes())
