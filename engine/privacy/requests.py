"""A person's requests: access (`guanxi customer export`) and erasure (`guanxi customer
erase`), each recorded in the audit log; an erasure leaves a receipt in `erasures`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from guanxi.engine import consent
from guanxi.engine.errors import DataError
from guanxi.engine.i18n import _
from guanxi.engine.ids import is_stored, near_hint, same_id
from guanxi.engine.plan.followups import iso
from guanxi.engine.privacy import audit
from guanxi.engine.privacy.erasure import (
    ERASURE_REASON,
    Fields,
    Person,
    Receipt,
    erase_rows,
    erased_on,
    export_customer,
    find_person,
    pseudonym,
    store_secret,
)
from guanxi.engine.privacy.files import columnar_copy, erase_from_files, may_name
from guanxi.engine.privacy.meanwhile import hold_erasures
from guanxi.engine.store.base import Row, Store


def export_request(
    store: Store, fields: Fields, customer_id: str, at: dt.datetime, actor: str | None = None
) -> dict[str, Any]:
    """Everything held about the person (by table), for an access request; audited.
    NothingHeld when no row is theirs or names them (an id mistyped, or erased before)."""
    customer_id = same_id(customer_id)
    found = export_customer(store, fields, customer_id)
    counts = {name: len(rows) for name, rows in found.items()}
    audit.record(store, at, "customer export", customer_id, {"rows": counts}, actor=actor)
    if not found.keys() - {"audit_log"}:  # at most the log of earlier requests about the id
        raise NothingHeld(_nothing_to_export(store, fields, customer_id))
    return {"customer_id": customer_id, "exported_at": at.isoformat(), "tables": found}


class NothingHeld(DataError):
    """An export or erasure found nothing of the person in the store (nor, erasing, in the
    files): no file, no receipt."""


def _nothing_to_export(store: Store, fields: Fields, customer_id: str) -> str:
    erased = erased_on(store, customer_id)
    if erased is not None:
        return _(
            "customer {id} was erased on {date} (receipt {receipt}): the store holds nothing"
            " of them, so nothing was exported"
        ).format(id=customer_id, date=erased.date, receipt=erased.receipt)
    message = _(
        "no customer {id} in the store, and no row names them: nothing was exported; check"
        " the id (as in the customer file)"
    ).format(id=customer_id)
    return message + near_hint(store, fields.key, customer_id)


def erase_request(
    store: Store,
    fields: Fields,
    customer_id: str,
    at: dt.datetime,
    files: Iterable[Path] = (),
    actor: str | None = None,
) -> Receipt:
    """Erase the person from the files (first: their values are read from the store) and
    then from the store, in one transaction with the receipt and the audit entry. NothingHeld
    when no row nor line was theirs or named them (an id mistyped, or erased before): then
    only the audit log says that it was asked."""
    customer_id = same_id(customer_id)
    _refuse_while_sending(store, customer_id, at)
    alias = pseudonym(store_secret(store), customer_id)
    person = find_person(store, fields, customer_id)
    cleaned = erase_from_files([*files, *columnar_copy(store)], person, fields.key, alias)
    who = actor or audit.current_actor()
    try:
        with store.transaction():
            done = _erase_in_store(store, person, fields.key, alias, at)
            if not done and not any(cleaned.values()):
                raise NothingHeld(_nothing_held(store, customer_id, fields.key))
            number = _write_receipt(store, at, who, alias, done, cleaned)
    except NothingHeld:
        audit.record(store, at, "customer erase", alias, {"found": False}, actor=who)
        raise
    return Receipt(number, at.isoformat(), who, alias, done, cleaned)


def refuse_unknown(
    store: Store,
    fields: Fields,
    customer_id: str,
    at: dt.datetime,
    files: Iterable[Path] = (),
    actor: str | None = None,
) -> None:
    """NothingHeld, as `erase_request` would end, when no row of the store is the person's
    or names them and no file may: told before anyone is asked to confirm an erasure of a
    mistyped id. Nothing is written but the audit entry that it was asked."""
    customer_id = same_id(customer_id)
    if is_stored(store, fields.key, customer_id):
        return  # a stored customer: nothing more to read before asking
    if export_customer(store, fields, customer_id).keys() - {"audit_log"}:
        return
    if may_name([*files, *columnar_copy(store)], find_person(store, fields, customer_id)):
        return
    alias = pseudonym(store_secret(store), customer_id)
    who = actor or audit.current_actor()
    audit.record(store, at, "customer erase", alias, {"found": False}, actor=who)
    raise NothingHeld(_nothing_held(store, customer_id, fields.key))


def _erase_in_store(
    store: Store, person: Person, key: str, alias: str, at: dt.datetime
) -> dict[str, dict[str, int]]:
    """The person's follow-ups stopped, their rows erased and their audit entries renamed,
    inside the caller's transaction; what was done, by table. Not while a night writes back
    (privacy/meanwhile.py)."""
    hold_erasures(store)
    _refuse_while_sending(store, person.customer_id, at)
    unused = _drop_unused_consent(store, person.customer_id)  # before their cancellations
    stopped = _stop_contact(store, person.customer_id, at)
    done = erase_rows(store, person, key, alias)
    if unused:
        done.setdefault("consent_ledger", {})["deleted"] = unused
    for table, count in stopped.items():
        if count:
            done.setdefault(table, {})["stopped"] = count
    audited = audit.pseudonymise_subject(store, person.customer_id, alias)
    if audited:
        done["audit_log"] = {"pseudonymised": audited}
    return done


def _write_receipt(
    store: Store,
    at: dt.datetime,
    who: str,
    alias: str,
    done: dict[str, dict[str, int]],
    cleaned: dict[str, int],
) -> int:
    """The receipt and its audit entry; the receipt's number."""
    [row] = store.execute(
        "INSERT INTO erasures (at, actor, pseudonym, tables, files)"
        " VALUES (:at, :actor, :pseudonym, :tables, :files) RETURNING id",
        {
            "at": at.isoformat(),
            "actor": who,
            "pseudonym": alias,
            "tables": json.dumps(done, sort_keys=True),
            "files": json.dumps(cleaned, ensure_ascii=False, sort_keys=True),
        },
    )
    audit.record(store, at, "customer erase", alias, {"receipt": row["id"]}, actor=who)
    return int(row["id"])


def _nothing_held(store: Store, customer_id: str, key: str) -> str:
    erased = erased_on(store, customer_id)
    if erased is not None:
        return _(
            "customer {id} was already erased on {date} (receipt {receipt}): nothing more"
            " of them was found, and no new receipt was written"
        ).format(id=customer_id, date=erased.date, receipt=erased.receipt)
    message = _(
        "no customer {id} in the store, and no row or file names them: nothing was erased"
        " and no receipt was written; check the id (as in the customer file)"
    ).format(id=customer_id)
    return message + near_hint(store, key, customer_id)


def _refuse_while_sending(store: Store, customer_id: str, at: dt.datetime) -> None:
    """DataError while a dispatcher holds a claim on one of the person's follow-ups: it
    writes the attempt, their id in its key, after the send, so an erasure meanwhile would
    leave the id behind (a lapsed claim's dispatcher is gone). In a transaction PostgreSQL
    locks the person's open follow-ups, so none is claimed until it ends."""
    lock = " FOR UPDATE" if store.dialect == "postgres" else ""
    rows = store.execute(
        "SELECT status, lease_until FROM followups WHERE customer_id = :id"
        f" AND status IN ('pending', 'claimed', 'failed'){lock}",
        {"id": customer_id},
    )
    held = [r["lease_until"] for r in rows if r["status"] == "claimed" and r["lease_until"]]
    if held and max(held) > iso(at):
        raise DataError(
            _(
                "customer {id} cannot be erased while a message to them is being sent"
                " (claimed until {until}); erase them again after that"
            ).format(id=customer_id, until=max(held))
        )


DECIDED = "f.status NOT IN ('pending', 'claimed')"  # a follow-up sent, tried or stopped


def _drop_unused_consent(store: Store, customer_id: str) -> int:
    """Delete the person's consent records that no follow-up of theirs relied on (none was
    due or decided while one was in force, but those still waiting); those that one did stay,
    pseudonymised, as the proof that what was sent was allowed and what was withheld was
    withdrawn. How many went."""
    records = consent.history(store, customer_id)
    if not records:
        return 0
    moments = store.execute(
        "SELECT f.channel, f.purpose, f.due_at AS at FROM followups f WHERE f.customer_id = :id"
        f" AND {DECIDED} UNION ALL SELECT f.channel, f.purpose, d.at FROM followups f"
        f" JOIN followup_decisions d ON d.followup_id = f.id WHERE f.customer_id = :id"
        f" AND {DECIDED}",
        {"id": customer_id},
    )
    relied = {
        record["id"]
        for m in moments
        for record in consent.relied_on(records, m["channel"], m["purpose"], m["at"])
    }
    unused = [{"id": r["id"]} for r in records if r["id"] not in relied]
    store.execute_many("DELETE FROM consent_ledger WHERE id = :id", unused)
    return len(unused)


def _stop_contact(store: Store, customer_id: str, at: dt.datetime) -> dict[str, int]:
    """Nothing more goes to an erased person: the follow-ups not sent yet are cancelled (with
    a decision saying why) and their open tasks closed; how many of each."""
    now = iso(at)
    waiting = store.execute(
        "SELECT id FROM followups WHERE customer_id = :id AND status IN ('pending', 'claimed',"
        " 'failed')",
        {"id": customer_id},
    )
    for row in waiting:
        store.execute(
            "UPDATE followups SET status = 'cancelled', policy = 'erasure', reason = :reason,"
            " lease_until = NULL, updated_at = :now WHERE id = :followup",
            {"reason": ERASURE_REASON, "now": now, "followup": row["id"]},
        )
    store.execute_many(
        "INSERT INTO followup_decisions (followup_id, at, status, policy, reason)"
        " VALUES (:followup, :now, 'cancelled', 'erasure', :reason)",
        [{"followup": r["id"], "now": now, "reason": ERASURE_REASON} for r in waiting],
    )
    tasks = store.execute(
        "SELECT count(*) AS n FROM tasks WHERE customer_id = :id AND status = 'open'",
        {"id": customer_id},
    )[0]["n"]
    store.execute(
        "UPDATE tasks SET status = 'done', outcome = 'erased', done_at = :now"
        " WHERE customer_id = :id AND status = 'open'",
        {"id": customer_id, "now": now},
    )
    return {"followups": len(waiting), "tasks": int(tasks)}


def receipts(store: Store, limit: int = 100) -> list[Row]:
    """The erasure receipts, newest first."""
    rows = store.execute(
        "SELECT id, at, actor, pseudonym, tables, files FROM erasures ORDER BY id DESC"
        " LIMIT :limit",
        {"limit": limit},
    )
    return [{**r, "tables": json.loads(r["tables"]), "files": json.loads(r["files"])} for r in rows]
