"""The audit trail: entries are appended, read back newest first, and cannot be deleted or
altered, on both stores; only erasure may replace a subject with its pseudonym."""

from __future__ import annotations

import datetime as dt

import pytest

from guanxi.engine.privacy import audit
from guanxi.engine.store.base import Store

AT = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)

pytestmark = pytest.mark.every_store


def test_entries_are_read_back_newest_first_and_filtered(store: Store) -> None:
    audit.record(store, AT, "explain --unmask", "C001", {"fields": ["phone"]}, actor="li.na")
    audit.record(store, AT + dt.timedelta(minutes=1), "customer export", "C002", actor="wang")
    audit.record(store, AT + dt.timedelta(minutes=2), "release approve", "R7", actor="li.na")

    assert [e["action"] for e in audit.entries(store)] == [
        "release approve",
        "customer export",
        "explain --unmask",
    ]
    (only,) = audit.entries(store, subject="C001")
    assert only["actor"] == "li.na"
    assert only["detail"] == {"fields": ["phone"]}
    assert [e["subject"] for e in audit.entries(store, actor="li.na")] == ["R7", "C001"]
    assert [e["subject"] for e in audit.entries(store, since=AT + dt.timedelta(minutes=1))] == [
        "R7",
        "C002",
    ]


def test_the_log_refuses_deletes_and_edits_but_erasure_pseudonymises(store: Store) -> None:
    audit.record(store, AT, "customer export", "C001", actor="wang")
    with pytest.raises(Exception, match="append-only"):
        store.execute("DELETE FROM audit_log")
    with pytest.raises(Exception, match="append-only"):
        store.execute("UPDATE audit_log SET actor = 'someone else'")

    assert audit.pseudonymise_subject(store, "C001", "erased:3f2a") == 1
    (entry,) = audit.entries(store)
    assert (entry["subject"], entry["actor"]) == ("erased:3f2a", "wang")


def test_the_actor_is_guanxi_actor_else_the_os_user() -> None:
    assert audit.current_actor({"GUANXI_ACTOR": " 张伟 "}) == "张伟"
    assert audit.current_actor({}) not in ("", None)
