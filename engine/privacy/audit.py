"""The audit trail: who viewed unmasked personal data, exported it, erased it, or changed the
rules, and when (个人信息保护法 art. 51; a bank's change control).

One append-only table, `audit_log`: the store refuses to delete a row or change one, except
that erasure replaces a customer id in `subject` with the customer's pseudonym. A view of many
customers (`tasks list --unmask`) names those it showed in its detail (`viewed`) by their
pseudonyms, which no erasure needs to take out: the entries about a customer are those whose
subject is their id or that viewed them. The actor is
`GUANXI_ACTOR` when set (a bank's launcher sets it to the signed-in employee), else the OS user.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from guanxi.engine.ids import same_id
from guanxi.engine.store.base import Row, Store

ACTOR_VARIABLE = "GUANXI_ACTOR"
RELEASE_ACTIONS = "release %"  # release propose, approve, reject, rollback: about a release


def current_actor(environ: Mapping[str, str] = os.environ) -> str:
    """The person behind this command: GUANXI_ACTOR, else the OS user."""
    named = environ.get(ACTOR_VARIABLE, "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        return f"uid:{os.getuid()}"


def same_person(actor: str, other: str) -> bool:
    """Whether two actors are one person: sign-in names are not case-sensitive, and a
    Chinese keyboard may type them full-width (`ｌｉ．ｎａ`)."""
    return same_id(actor).casefold() == same_id(other).casefold()


def record(
    store: Store,
    at: dt.datetime,
    action: str,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one entry: `actor` did `action` (e.g. `explain --unmask`, `customer export`) on
    `subject` (a customer id, a release id, or None for the whole store) at `at`."""
    store.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail)"
        " VALUES (:at, :actor, :action, :subject, :detail)",
        {
            "at": utc(at),
            "actor": actor or current_actor(),
            "action": action,
            "subject": subject,
            "detail": json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
        },
    )


def entries(
    store: Store,
    subject: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 1000,
) -> list[Row]:
    """The newest entries first, filtered by subject (an entry about them, or a view that
    showed them), actor and time when given."""
    where: list[str] = []
    parameters: dict[str, Any] = {"limit": limit}
    if subject is not None:
        subject = same_id(subject)
        where.append("(subject = :subject OR detail LIKE :viewed)")
        parameters |= {"subject": subject, "viewed": f'%"{viewed(store, [subject])[0]}"%'}
    if actor is not None:
        where.append("actor = :actor")
        parameters["actor"] = actor
    if since is not None:
        where.append("at >= :since")
        parameters["since"] = utc(since)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = store.execute(
        f"SELECT id, at, actor, action, subject, detail FROM audit_log{clause}"
        " ORDER BY id DESC LIMIT :limit",
        parameters,
    )
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]


def viewed(store: Store, customer_ids: Iterable[str]) -> list[str]:
    """The customers a view showed, as the audit log names them: their pseudonyms."""
    from guanxi.engine.privacy.erasure import pseudonym, store_secret  # erasure reads the log

    secret = store_secret(store)
    return sorted({pseudonym(secret, str(customer_id)) for customer_id in customer_ids})


def utc(moment: dt.datetime) -> str:
    """Times are stored in UTC, so that the text compares as the time does (`since`)."""
    return moment.astimezone(dt.UTC).isoformat()


# The entries about a customer: a release's subject (`release:1`) may read like an id.
ABOUT_CUSTOMER = f"subject = :id AND action NOT LIKE '{RELEASE_ACTIONS}'"


def pseudonymise_subject(store: Store, customer_id: str, pseudonym: str) -> int:
    """Erasure: the entries about customer `customer_id` now name its pseudonym; how many.
    (The store refuses any other change of a subject.)"""
    parameters = {"pseudonym": pseudonym, "id": customer_id}
    before = store.execute(
        f"SELECT count(*) AS n FROM audit_log WHERE {ABOUT_CUSTOMER}", parameters
    )
    store.execute(f"UPDATE audit_log SET subject = :pseudonym WHERE {ABOUT_CUSTOMER}", parameters)
    return int(before[0]["n"])
