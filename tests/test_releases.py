"""Rule releases on both stores: four eyes, a base that must still be live, rollback, the
audit trail, and a real daemon in `rules: {mode: releases}` that ignores an unapproved edit
and picks up an approved release without a restart."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guanxi.engine.errors import ReleaseError
from guanxi.engine.privacy import audit
from guanxi.engine.releases import ledger
from guanxi.engine.releases.files import differences, materialise, read_files, to_json
from guanxi.engine.releases.ledger import Release
from guanxi.engine.store.base import Store
from guanxi.engine.store.sqlite import SQLiteStore
from tests.daemon_helpers import (
    free_port,
    log_messages,
    rules_copy,
    start_daemon,
    stop,
    wait_for,
)

pytestmark = pytest.mark.every_store

AT = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
GREETING, CHANGED = "感谢您购买", "谢谢您选择"


def releases_mode(tmp_path: Path) -> Path:
    """The default rules, ticking every second, in `rules: {mode: releases}`."""
    rules = rules_copy(tmp_path)
    with (rules / "guanxi.yaml").open("a", encoding="utf-8") as settings:
        settings.write("\nrules:\n  mode: releases\n")
    return rules


def edit_template(rules: Path) -> None:
    templates = rules / "templates.yaml"
    templates.write_text(templates.read_text("utf-8").replace(GREETING, CHANGED, 1), "utf-8")


def propose(store: Store, folder: Path, by: str = "li.na", minutes: int = 0) -> Release:
    """`folder` proposed as it is, against the live release (the checks are the CLI's; a
    digest of the files stands for the rule-set hash, which takes a validation)."""
    base = ledger.live(store)
    files = read_files(folder)
    return ledger.propose(
        store,
        files,
        hashlib.sha256(to_json(files).encode()).hexdigest()[:16],
        AT + dt.timedelta(minutes=minutes),
        source=str(folder),
        checks={},
        simulation={},
        base_id=base.id if base else None,
        actor=by,
    )


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return releases_mode(tmp_path_factory.mktemp("releases"))


def test_a_release_cannot_be_approved_by_its_proposer(store: Store, rules: Path) -> None:
    first = propose(store, rules, by="li.na")
    with pytest.raises(ReleaseError, match=r"proposed by li\.na: another person must approve"):
        ledger.approve(store, first.id, AT, actor="li.na")
    assert ledger.live(store) is None

    approved = ledger.approve(store, first.id, AT, actor="wang")
    assert (approved.status, approved.approver, approved.live_at) == (
        "live",
        "wang",
        AT.isoformat(),
    )
    with pytest.raises(ReleaseError, match="release 1 is live, not proposed"):
        ledger.approve(store, first.id, AT, actor="zhao")
    actions = [(e["action"], e["actor"], e["subject"]) for e in audit.entries(store)]
    assert actions == [
        ("release approve", "wang", "release:1"),
        ("release propose", "li.na", "release:1"),
    ]


@pytest.mark.parametrize("same_person", ["LI.NA", "Li.Na", "ｌｉ．ｎａ"])
def test_the_proposer_cannot_approve_under_another_spelling_of_their_name(
    store: Store, rules: Path, same_person: str
) -> None:
    """Sign-in names are not case-sensitive, and a Chinese keyboard types full-width: the
    same employee, whom four eyes must not let approve their own release."""
    first = propose(store, rules, by="li.na")
    with pytest.raises(ReleaseError, match="another person must approve"):
        ledger.approve(store, first.id, AT, actor=same_person)
    assert ledger.live(store) is None


def test_approving_supersedes_the_base_and_a_rollback_restores_it(
    store: Store, rules: Path
) -> None:
    first = propose(store, rules)
    ledger.approve(store, first.id, AT, actor="wang")
    second = propose(store, rules, minutes=1)
    assert second.base_id == first.id
    ledger.approve(store, second.id, AT + dt.timedelta(minutes=2), actor="wang")
    assert [(r.id, r.status) for r in ledger.releases(store)] == [(2, "live"), (1, "superseded")]

    undone, restored = ledger.rollback(store, AT + dt.timedelta(hours=1), "complaints", "zhao")
    assert (undone.status, undone.note) == ("rolled_back", "complaints")
    assert (restored.id, restored.status) == (1, "live")
    assert restored.live_at == (AT + dt.timedelta(hours=1)).isoformat()
    (entry, *_) = audit.entries(store)
    assert (entry["action"], entry["actor"]) == ("release rollback", "zhao")
    assert entry["detail"] == {"from": 2, "to": 1, "reason": "complaints"}
    with pytest.raises(ReleaseError, match="release 1 is the first release"):
        ledger.rollback(store, AT, "again", "zhao")


def test_a_release_proposed_against_a_release_no_longer_live_is_proposed_again(
    store: Store, rules: Path
) -> None:
    first = propose(store, rules)
    ledger.approve(store, first.id, AT, actor="wang")
    late, early = propose(store, rules, minutes=1), propose(store, rules, minutes=2)
    ledger.approve(store, early.id, AT, actor="wang")
    with pytest.raises(ReleaseError, match="against release 1, but release 3 is live now"):
        ledger.approve(store, late.id, AT, actor="wang")
    rejected = ledger.reject(store, late.id, AT, "superseded by 3", actor="li.na")
    assert rejected.status == "rejected"
    assert [r.id for r in ledger.releases(store) if r.status == "live"] == [early.id]


def test_what_was_proposed_cannot_be_changed_and_one_release_at_most_is_live(
    store: Store, rules: Path
) -> None:
    first, second = propose(store, rules), propose(store, rules)
    with pytest.raises(Exception, match="cannot be changed"):
        store.execute("UPDATE releases SET files = '{}' WHERE id = :id", {"id": first.id})
    with pytest.raises(Exception, match="cannot be changed"):
        store.execute("UPDATE releases SET proposer = 'wang'")
    store.execute("UPDATE releases SET status = 'live' WHERE id = :id", {"id": first.id})
    with pytest.raises(Exception, match=r"(?i)unique"):
        store.execute("UPDATE releases SET status = 'live' WHERE id = :id", {"id": second.id})


def test_the_files_come_back_as_they_were_proposed(
    store: Store, rules: Path, tmp_path: Path
) -> None:
    (rules / "tests" / "sheet.xlsx").write_bytes(b"PK\x03\x04\xff binary")
    try:
        proposed = propose(store, rules)
    finally:
        (rules / "tests" / "sheet.xlsx").unlink()
    files = ledger.files_of(store, proposed.id)
    assert files["tests/sheet.xlsx"] == b"PK\x03\x04\xff binary"
    folder = materialise(files, tmp_path / "cache", proposed.hash)
    assert read_files(folder) == files
    changed = {**files, "templates.yaml": str(files["templates.yaml"]).replace(GREETING, CHANGED)}
    diff = differences(files, changed)
    assert diff[:2] == ["--- a/templates.yaml", "+++ b/templates.yaml"]
    assert sum(line.startswith(("-", "+")) for line in diff) == 4


def test_the_daemon_ignores_an_unapproved_edit_and_takes_an_approved_release(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = releases_mode(tmp_path)
    first = propose(store, rules)
    ledger.approve(store, first.id, AT, actor="wang")
    monkeypatch.chdir(tmp_path)  # a daemon on PostgreSQL keeps its files in its folder
    log = tmp_path / "daemon.log"
    process = start_daemon(rules, store.location, "--port", str(free_port()), log=log)
    try:
        wait_for(lambda: bool(said(log, "guanxi daemon started")), 30, "the daemon to start")
        edit_template(rules)
        wait_for(lambda: bool(said(log, "not released")), 15, "the daemon to see the edit")
        assert not said(log, "rules reloaded")

        second = propose(store, rules, minutes=1)
        ledger.approve(store, second.id, AT, actor="wang")
        wait_for(lambda: bool(said(log, "rules reloaded")), 15, "the approved release taken")
    finally:
        assert stop(process) == 0
    (started,) = said(log, "guanxi daemon started")
    assert started["release"] == first.id
    (taken,) = said(log, "release is live")
    (reloaded,) = said(log, "rules reloaded")
    assert taken["release"] == second.id and reloaded["ruleset"] != started["ruleset"]
    assert len(said(log, "not released")) == 1  # said once, not at every check
    cached = tmp_path / ".guanxi-releases" / second.hash / "templates.yaml"
    assert CHANGED in cached.read_text("utf-8")


def said(log: Path, words: str) -> list[dict[str, object]]:
    """The daemon's log lines so far whose message has `words`."""
    return [m for m in log_messages(log) if words in str(m["message"])]


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["propose", "approve", "reject", "rollback"]),
        st.sampled_from(["li.na", "wang", "zhao"]),
        st.integers(1, 6),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(operations=OPERATIONS)
def test_whatever_people_do_two_people_stand_behind_every_release_that_went_live(
    operations: list[tuple[str, str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = SQLiteStore(Path(scratch) / "guanxi.db")
        done = sum(_attempt(store, *operation) for operation in operations)
        went_live = [r for r in ledger.releases(store) if r.approver is not None]
        assert len([r for r in ledger.releases(store) if r.status == "live"]) <= 1
        assert all(r.approver != r.proposer for r in went_live)
        assert len(audit.entries(store)) == done  # every change, and only those, recorded
        store.close()


def _attempt(store: Store, action: str, actor: str, release_id: int) -> bool:
    """Do `action` as `actor`; whether it was done (refused: ReleaseError)."""
    try:
        if action == "propose":
            base = ledger.live(store)
            files = {"guanxi.yaml": f"name: by {actor}\n"}
            base_id = base.id if base else None
            ledger.propose(store, files, "h", AT, source="rules", checks={}, simulation={},
                           base_id=base_id, actor=actor)  # fmt: skip
        elif action == "approve":
            ledger.approve(store, release_id, AT, actor)
        elif action == "reject":
            ledger.reject(store, release_id, AT, "no", actor)
        else:
            ledger.rollback(store, AT, "incident", actor)
    except ReleaseError:
        return False
    return True
