"""The `releases` table: propose, approve, reject, roll back; every step in the audit log.

    proposed ──approve (another person)──► live ──a newer one approved──► superseded
       │                                     │                               │
       └──reject──► rejected                 └──rollback──► rolled_back      │
                                          live again ◄──rollback of its successor

A release records the release that was live when it was proposed (its base). It may only be
approved while that base is still live: its diff and its simulation were made against the
base, and approving it over another release would put live a change nobody reviewed (and
silently undo the other one). It is proposed again instead.

A rollback makes the current release's base live again, at once and by one person: that
base's files are exactly those two people approved before, and a rollback is the lever for
an incident at night. Who did it, when and why is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from guanxi.engine.errors import ReleaseError
from guanxi.engine.i18n import N_, _
from guanxi.engine.privacy import audit
from guanxi.engine.releases.files import Files, from_json, to_json
from guanxi.engine.store.base import Row, Store

STATUSES = {
    "proposed": N_("proposed"),
    "live": N_("live"),
    "superseded": N_("superseded"),
    "rejected": N_("rejected"),
    "rolled_back": N_("rolled back"),
}
COLUMNS = (
    "id, hash, source, base_id, proposer, proposed_at, checks, simulation, status, approver,"
    " approved_at, live_at, note"
)


@dataclass(frozen=True)
class Release:
    id: int
    hash: str  # the rule-set hash: what classification runs and follow-ups are stamped with
    source: str | None  # the folder it was proposed from
    base_id: int | None  # the release live when it was proposed
    proposer: str
    proposed_at: str
    checks: dict[str, Any]  # validation warnings and scenario results
    simulation: dict[str, Any]  # the simulate summary against the base
    status: str  # proposed, live, superseded, rejected, rolled_back
    approver: str | None
    approved_at: str | None
    live_at: str | None
    note: str | None  # why it was rejected or rolled back

    @classmethod
    def of(cls, row: Row) -> Release:
        values = {**row, "checks": json.loads(row["checks"])}
        values["simulation"] = json.loads(row["simulation"])
        values["id"] = int(row["id"])
        values["base_id"] = None if row["base_id"] is None else int(row["base_id"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def releases(store: Store) -> list[Release]:
    """Every release, the newest first."""
    rows = store.execute(f"SELECT {COLUMNS} FROM releases ORDER BY id DESC")
    return [Release.of(row) for row in rows]


def get(store: Store, release_id: int) -> Release:
    rows = store.execute(f"SELECT {COLUMNS} FROM releases WHERE id = :id", {"id": release_id})
    if not rows:
        message = _("there is no release {id} (guanxi release list shows them)")
        raise ReleaseError(message.format(id=release_id))
    return Release.of(rows[0])


def live(store: Store) -> Release | None:
    rows = store.execute(f"SELECT {COLUMNS} FROM releases WHERE status = 'live'")
    return Release.of(rows[0]) if rows else None


def live_id(store: Store) -> int | None:
    """The id of the live release: one row of a unique index, cheap enough to ask before
    every send."""
    rows = store.execute("SELECT id FROM releases WHERE status = 'live'")
    return int(rows[0]["id"]) if rows else None


def files_of(store: Store, release_id: int) -> Files:
    """The files of the release; ReleaseError when the store holds them damaged (a row
    edited by hand, a restore cut short)."""
    rows = store.execute("SELECT files FROM releases WHERE id = :id", {"id": release_id})
    if not rows:
        return {}
    try:
        return from_json(rows[0]["files"])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        message = _(
            "the files of release {id} in the store are damaged ({error}): roll it back"
            " (guanxi release rollback) or propose the rules again"
        )
        raise ReleaseError(message.format(id=release_id, error=error)) from None


def propose(
    store: Store,
    files: Files,
    ruleset_hash: str,
    now: dt.datetime,
    *,
    source: str,
    checks: dict[str, Any],
    simulation: dict[str, Any],
    base_id: int | None,
    actor: str | None = None,
) -> Release:
    """Keep `files` as a new proposed release against the base `base_id`."""
    actor = actor or audit.current_actor()
    with store.transaction():
        [row] = store.execute(
            "INSERT INTO releases (hash, files, source, base_id, proposer, proposed_at, checks,"
            " simulation) VALUES (:hash, :files, :source, :base, :actor, :at, :checks, :sim)"
            " RETURNING id",
            {
                "hash": ruleset_hash,
                "files": to_json(files),
                "source": source,
                "base": base_id,
                "actor": actor,
                "at": now.isoformat(),
                "checks": json.dumps(checks, ensure_ascii=False),
                "sim": json.dumps(simulation, ensure_ascii=False),
            },
        )
        detail = {"hash": ruleset_hash, "base": base_id, "source": source}
        audit.record(store, now, "release propose", _subject(row["id"]), detail, actor)
    return get(store, int(row["id"]))


def approve(store: Store, release_id: int, now: dt.datetime, actor: str | None = None) -> Release:
    """Make a proposed release live; ReleaseError when `actor` proposed it, when it is not
    proposed (any more), or when its base is no longer the live release."""
    actor = actor or audit.current_actor()
    with store.transaction():
        release = get(store, release_id)
        check_approver(release, actor)
        _take_over(store, release)
        store.execute(
            "UPDATE releases SET status = 'live', approver = :actor, approved_at = :at,"
            " live_at = :at WHERE id = :id",
            {"actor": actor, "at": now.isoformat(), "id": release.id},
        )
        detail = {"hash": release.hash, "replaces": release.base_id}
        audit.record(store, now, "release approve", _subject(release.id), detail, actor)
    return get(store, release_id)


def check_approver(release: Release, actor: str | None = None) -> None:
    """ReleaseError when `release` is not proposed (any more) or `actor` proposed it: asked
    before approving, and again by `approve`."""
    actor = actor or audit.current_actor()
    _must_be_proposed(release)
    if audit.same_person(release.proposer, actor):
        message = _(
            "release {id} was proposed by {actor}: another person must approve it (四眼原则)"
        )
        raise ReleaseError(message.format(id=release.id, actor=actor))


def reject(
    store: Store, release_id: int, now: dt.datetime, reason: str, actor: str | None = None
) -> Release:
    """Turn a proposed release down (its proposer may withdraw it too)."""
    actor = actor or audit.current_actor()
    with store.transaction():
        release = get(store, release_id)
        _must_be_proposed(release)
        store.execute(
            "UPDATE releases SET status = 'rejected', note = :reason WHERE id = :id",
            {"reason": reason, "id": release.id},
        )
        detail = {"hash": release.hash, "reason": reason}
        audit.record(store, now, "release reject", _subject(release.id), detail, actor)
    return get(store, release_id)


def rollback(
    store: Store, now: dt.datetime, reason: str, actor: str | None = None
) -> tuple[Release, Release]:
    """Make the live release's base live again; (the release rolled back, the one now live).
    ReleaseError when no release is live, or the live one has no earlier release to go to."""
    actor = actor or audit.current_actor()
    with store.transaction():
        current = live(store)
        if current is None:
            raise ReleaseError(_("no release is live: there is nothing to roll back"))
        if current.base_id is None:
            message = _("release {id} is the first release: there is no earlier one to go back to")
            raise ReleaseError(message.format(id=current.id))
        store.execute(
            "UPDATE releases SET status = 'rolled_back', note = :reason WHERE id = :id",
            {"reason": reason, "id": current.id},
        )
        store.execute(
            "UPDATE releases SET status = 'live', live_at = :at WHERE id = :id",
            {"at": now.isoformat(), "id": current.base_id},
        )
        detail = {"from": current.id, "to": current.base_id, "reason": reason}
        audit.record(store, now, "release rollback", _subject(current.base_id), detail, actor)
    return get(store, current.id), get(store, current.base_id)


def _must_be_proposed(release: Release) -> None:
    if release.status != "proposed":
        message = _("release {id} is {status}, not proposed: only a proposed release can change")
        raise ReleaseError(message.format(id=release.id, status=_(STATUSES[release.status])))


def _take_over(store: Store, release: Release) -> None:
    """Supersede the base, which must still be the live release (the statement checks it
    again, under the row's lock, for an approval of another release at the same moment)."""
    current = live(store)
    if (current.id if current else None) == release.base_id:
        superseded = store.execute(
            "UPDATE releases SET status = 'superseded' WHERE status = 'live' AND id = :base"
            " RETURNING id",
            {"base": release.base_id},
        )
        if superseded or release.base_id is None:
            return
        current = live(store)
    raise ReleaseError(_stale(release, current))


def _stale(release: Release, current: Release | None) -> str:
    again = _(
        "propose it again (guanxi release propose DIR), so that its diff and simulation"
        " are against the rules in use"
    )
    if current is None:
        message = _("release {id} was proposed against release {base}, but no release is live now")
    elif release.base_id is None:
        message = _(
            "release {id} was proposed when no release was live, but release {live} is live now"
        )
    else:
        message = _(
            "release {id} was proposed against release {base}, but release {live} is live now"
        )
    live_id = current.id if current else None
    return f"{message.format(id=release.id, base=release.base_id, live=live_id)}: {again}"


def _subject(release_id: int) -> str:
    """A release as the audit log names it."""
    return f"release:{release_id}"
