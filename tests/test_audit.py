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


def test_erasing_an_id_that_names_a_release_leaves_the_release_entries(store: Store) -> None:
    """`guanxi customer erase release:1` must not hide who proposed and approved release 1."""
    audit.record(store, AT, "release propose", "release:1", actor="li.na")
    audit.record(store, AT, "release approve", "release:1", actor="wang")
    audit.record(store, AT, "explain --unmask", "release:1", actor="li.na")  # a customer's id

    assert audit.pseudonymise_subject(store, "release:1", "erased:3f2a") == 1
    subjects = [(e["action"], e["subject"]) for e in audit.entries(store)]
    assert subjects == [
        ("explain --unmask", "erased:3f2a"),
        ("release approve", "release:1"),
        ("release propose", "release:1"),
    ]


@pytest.mark.parametrize(
    ("action", "subject", "new"),
    [
        ("release approve", "release:1", "erased:3f2a"),  # a release's entry: never
        ("customer export", "C001", "C002"),  # a subject becomes only a pseudonym
        ("customer export", "C001", None),
    ],
)
def test_the_store_lets_a_subject_change_only_to_an_erased_customers_pseudonym(
    store: Store, action: str, subject: str, new: str | None
) -> None:
    audit.record(store, AT, action, subject, actor="wang")
    with pytest.raises(Exception, match="append-only"):
        store.execute("UPDATE audit_log SET subject = :new", {"new": new})
