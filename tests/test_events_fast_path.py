"""The event path's fast paths give the answers of the paths they spare: the same rows,
quarantine records and warnings when loading, the same follow-ups, verdicts and event states
when planning."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zoneinfo
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.engine.ingest import load, load_events
from guanxi.engine.ingest.rows import event_check
from guanxi.engine.plan.events import _Planner, plan_new_events
from guanxi.engine.plan.followups import iso
from guanxi.engine.ruleset import RuleSet
from guanxi.engine.store import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.test_plan_events import customer

NOW = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
PAYLOAD_KEYS = [
    "product", "amount", "category", "severity", "score", "comment", "channel", "outcome",
    "step", "note", "金额", "结果", "unknown", "type",
]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", " 12 ", "1,234", "abc", "-5", "3.0", "done", "已完成", "nope", "x\x01"]),
    st.integers(-3, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
)
TYPES = [
    "sale", "complaint", "complaint_resolved", "feedback", "product_maturity", "balance_drop",
    "login", "task_outcome", "销售", " sale", "unknown", "", None, 5,
]  # fmt: skip
MOMENTS = st.one_of(
    st.datetimes(dt.datetime(2026, 9, 1), dt.datetime(2026, 11, 28)).map(
        lambda d: d.replace(microsecond=0).isoformat() + "+08:00"
    ),
    st.sampled_from(
        [
            "2026-11-27T10:00:00Z",
            "2026-11-27 10:00",
            "2026/11/27T10:00",
            "2026-11-27T10:00:00.5+08:00",
            "2026-02-30T10:00:00+08:00",
            "2026-11-27T25:00:00",
            "1899-01-01T00:00:00Z",
            "2026年11月27日10:00",
            " 2026-11-26T09:00:00+08:00 ",
            "garbage",
            "",
        ]
    ),
    st.none(),
)


GOOD_PAYLOADS = {
    "sale": {"product": st.sampled_from(["理财", "基金"]), "amount": st.integers(0, 10**6)},
    "complaint": {"category": st.just("fees"), "severity": st.integers(1, 5)},
    "complaint_resolved": {"category": st.just("fees")},
    "feedback": {"score": st.integers(1, 5), "comment": st.just("好")},
    "product_maturity": {"product": st.just("定期"), "amount": st.floats(0, 1e6)},
    "balance_drop": {"amount": st.floats(0, 1e6)},
    "task_outcome": {"outcome": st.sampled_from(["done", "complaint", "未接通"])},
}

RECENT = st.datetimes(dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 28)).map(
    lambda d: d.replace(microsecond=0).isoformat() + "+08:00"
)  # mostly in time: windows of days to weeks (one planned later is too late)


@st.composite
def usual(draw: st.DrawFn) -> dict[str, Any]:
    """A record as feeds write them: a known type, its fields, good values."""
    kind = draw(st.sampled_from(list(GOOD_PAYLOADS)))
    fields = GOOD_PAYLOADS[kind]
    given = draw(st.lists(st.sampled_from(list(fields)), unique=True))
    return {
        "id": f"E{draw(st.integers(1, 30))}",
        "type": kind,
        "customer_id": draw(st.sampled_from(["C1", "C2", "C3", "C9"])),
        "at": draw(RECENT),
        **{name: draw(fields[name]) for name in given},
    }


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """Usual records mostly, and some that are anything but."""
    if draw(st.integers(0, 2)):
        return draw(usual())
    ids = st.one_of(st.sampled_from(["E1", "E2", "E3", " E4", "", "E\x00"]), st.integers(1, 4))
    envelope = {
        "id": draw(ids),
        "type": draw(st.sampled_from(TYPES)),
        "customer_id": draw(st.sampled_from(["C1", "C2", "C3", "C9", "", " C1"])),
        "at": draw(MOMENTS),
    }
    kept = draw(st.lists(st.sampled_from(list(envelope)), unique=True, min_size=2, max_size=4))
    record = {k: v for k, v in envelope.items() if k in kept or draw(st.booleans())}
    for key in draw(st.lists(st.sampled_from(PAYLOAD_KEYS), unique=True, max_size=4)):
        record[key] = draw(VALUES)
    if draw(st.integers(0, 9)) == 0:
        record["payload"] = {"amount": draw(VALUES)}
    return dict(draw(st.permutations(list(record.items()))))


def checks(ruleset: RuleSet, fast: bool) -> tuple[Any, list[str]]:
    warnings: list[str] = []
    zone = zoneinfo.ZoneInfo(ruleset.settings.timezone)
    return event_check(ruleset.schema, zone, warnings.append, fast=fast), warnings


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=12))
def test_the_fast_check_gives_the_full_checks_rows_problems_and_warnings(
    ruleset: RuleSet, batch: list[dict[str, Any]]
) -> None:
    fast, fast_warnings = checks(ruleset, fast=True)
    full, full_warnings = checks(ruleset, fast=False)
    for record in batch + batch:  # again: shapes seen before take the fast path
        got, expected = fast(record), full(record)
        assert json.dumps(got, default=repr) == json.dumps(expected, default=repr)  # key order too
    assert fast_warnings == full_warnings


@st.composite
def files(draw: st.DrawFn) -> str:
    """A JSON Lines file: records good and bad, repeated ids, and lines that are no record."""
    written = [json.dumps(r, ensure_ascii=False) for r in draw(st.lists(records(), max_size=14))]
    broken = st.sampled_from(["{", "[1, 2]", "", "   ", '{"id": "E5", "type": "sale"', "null"])
    for _ in range(draw(st.integers(0, 3))):
        written.insert(draw(st.integers(0, len(written))), draw(broken))
    return "\n".join(written) + "\n"


TABLES = {  # every column but those that differ between any two runs (batch names)
    "events": "SELECT * FROM events ORDER BY id",
    "quarantine": "SELECT * FROM quarantine ORDER BY id",
    "followups": "SELECT * FROM followups ORDER BY id",
    "followup_decisions": "SELECT * FROM followup_decisions ORDER BY id",
}


def loaded_and_planned(ruleset: RuleSet, folder: Path, text: str, fast: bool) -> dict[str, Any]:
    store: Store = SQLiteStore(folder / f"{fast}.db")
    try:
        store.prepare(ruleset.schema)
        for number, level in enumerate(["responsible", "proactive", "partner"], 1):
            customer(store, ruleset, f"C{number}", level)
        path = folder / "events.jsonl"
        path.write_text(text, encoding="utf-8")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(load, "event_check", partial(event_check, fast=fast))
            report = load_events(store, ruleset, path, NOW)
        planned = plan_new_events(store, ruleset, NOW)
        found = {name: store.execute(sql) for name, sql in TABLES.items()}
        for row in found["followups"]:
            row.pop("batch")
        found["load"] = report.as_dict()
        found["plan"] = (planned.events, planned.matched, planned.planned, planned.too_old)
        return found
    finally:
        store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_a_file_loads_and_plans_as_the_full_checks_load_and_plan_it(
    ruleset: RuleSet, text: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        fast = loaded_and_planned(ruleset, Path(folder), text, fast=True)
        full = loaded_and_planned(ruleset, Path(folder), text, fast=False)
    assert fast == full


@given(st.datetimes(dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)))
def test_a_window_closes_when_its_text_says_so(expires: dt.datetime) -> None:
    early = dt.datetime(999, 5, 1, tzinfo=dt.UTC)
    for now in (NOW, expires, expires.replace(microsecond=0), early):
        planner = _Planner.__new__(_Planner)
        planner.now_text = iso(now)
        planner.now_second = now.replace(microsecond=0)
        assert planner._closed(expires) == (iso(expires) <= iso(now))
