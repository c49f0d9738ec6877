"""The channel a `preferred` step uses, as SQL (`preferred_channel_sql`), against the rule read
plainly: the preferred channel if it carries the step's kind and the customer consents to it
(the consent ledger's latest record in force for the channel or 'all', else the column), else
the first fallback that does, else none."""

from __future__ import annotations

import sqlite3

from hypothesis import example, given, settings
from hypothesis import strategies as st

from guanxi.engine.plan.policy import preferred_channel_sql
from guanxi.engine.ruleset import load_ruleset
from guanxi.engine.ruleset.models import PoliciesFile
from guanxi.engine.store.base import CONSENT_LEDGER, CONSENT_LEDGER_INDEX
from tests.conftest import RULES

NOW = "2026-12-01T00:00:00Z"
DUE = "2026-12-05T02:00:00Z"
TIMES = ("2026-11-01T00:00:00Z", DUE, "2026-12-20T00:00:00Z")  # before, at and after due

Record = tuple[str, bool, str]  # channel, granted, effective_at


def policies() -> PoliciesFile:
    found = load_ruleset(RULES).policies
    assert found is not None and found.preferred is not None
    return found


POLICIES = policies()
CHANNELS = sorted(POLICIES.channels)
FIELDS = sorted({c.consent_field for c in POLICIES.channels.values() if c.consent_field})

customers = st.fixed_dictionaries(
    {
        "preferred": st.sampled_from([*CHANNELS, None, "fax"]),
        "columns": st.fixed_dictionaries({f: st.sampled_from([True, False, None]) for f in FIELDS}),
        "records": st.lists(
            st.tuples(st.sampled_from([*CHANNELS, "all"]), st.booleans(), st.sampled_from(TIMES)),
            max_size=4,
        ),
    }
)


def consents(channel: str, columns: dict[str, bool | None], records: list[Record]) -> bool:
    """The customer may be contacted on `channel` at the due time: the latest record in force
    (by effective time; at the same instant a withdrawal, then the order recorded), else the
    channel's column."""
    in_force = [
        (at, not granted, order, granted)
        for order, (name, granted, at) in enumerate(records)
        if name in (channel, "all") and at <= DUE
    ]
    if in_force:
        return max(in_force)[3]
    field_name = POLICIES.channels[channel].consent_field
    return True if field_name is None else columns[field_name] is True


def chosen(kind: str, preferred: str | None, columns: dict[str, bool | None],
           records: list[Record]) -> str | None:  # fmt: skip
    assert POLICIES.preferred is not None
    candidates = [preferred] if preferred in POLICIES.channels else []
    candidates += [n for n in POLICIES.preferred.fallback if n in POLICIES.channels]
    for name in candidates:
        if POLICIES.channels[name].kind == kind and consents(name, columns, records):
            return name
    return None


def chosen_by_sql(kind: str, preferred: str | None, columns: dict[str, bool | None],
                  records: list[Record]) -> str | None:  # fmt: skip
    db = sqlite3.connect(":memory:")
    names = ", ".join(f'"{f}"' for f in FIELDS)
    db.execute(f"CREATE TABLE customers (customer_id TEXT, preferred_channel TEXT, {names})")
    db.execute(CONSENT_LEDGER.format(id="INTEGER PRIMARY KEY", boolean="INTEGER"))
    db.execute(CONSENT_LEDGER_INDEX)
    marks = ", ".join("?" for _ in FIELDS)
    db.execute(
        f"INSERT INTO customers VALUES ('C1', ?, {marks})",
        [preferred, *(columns[f] for f in FIELDS)],
    )
    db.executemany(
        "INSERT INTO consent_ledger (customer_id, channel, purpose, granted, source,"
        " effective_at, recorded_at) VALUES ('C1', ?, 'service', ?, 'test', ?, ?)",
        [(name, granted, at, NOW) for name, granted, at in records],
    )
    sql = preferred_channel_sql(POLICIES, ":kind", "c", "c.customer_id", "CAST(:due AS TEXT)")
    [(found,)] = db.execute(
        f"SELECT {sql} FROM customers c", {"kind": kind, "due": DUE, "now": NOW}
    ).fetchall()
    return found


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["message", "task"]), customer=customers)
@example(  # a withdrawal and a grant of the app at one instant: the withdrawal holds
    kind="message",
    customer={
        "preferred": "app",
        "columns": dict.fromkeys(FIELDS, True),
        "records": [("app", False, TIMES[0]), ("app", True, TIMES[0])],
    },
)
def test_the_channel_chosen_in_sql_is_the_rule_read_plainly(
    kind: str, customer: dict[str, object]
) -> None:
    preferred, columns, records = customer["preferred"], customer["columns"], customer["records"]
    assert chosen_by_sql(kind, preferred, columns, records) == chosen(  # type: ignore[arg-type]
        kind,
        preferred,
        columns,
        records,  # type: ignore[arg-type]
    )
